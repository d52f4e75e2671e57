//! `flowc fmt`: formats files in place, checks them (`--check`), or formats
//! stdin to stdout. The layout itself is `flow_grammar::format`.

use flow_compiler::render;
use flow_grammar::format::{FormatError, format};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// The file listing paths (relative to the directory it is in) that
/// `flowc fmt DIR` skips, one per line: deliberately malformed test inputs.
pub const IGNORE_FILE: &str = ".flowfmtignore";

pub fn fmt(paths: &[PathBuf], check: bool) -> ExitCode {
    if paths.is_empty() || paths.iter().any(|p| p.as_os_str() == "-") {
        return stdin_to_stdout(paths.len() > 1);
    }
    let files = match crate::files::flow_files(paths, Some(IGNORE_FILE)) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let (mut unformatted, mut broken) = (0usize, 0usize);
    for path in &files {
        let source = match crate::files::read(path) {
            Ok(s) => s,
            Err(code) => return code,
        };
        let formatted = match format(&source) {
            Ok(formatted) => formatted,
            Err(e) => {
                report(&path.display().to_string(), &source, &e);
                broken += 1;
                continue;
            }
        };
        if formatted == source {
            continue;
        }
        unformatted += 1;
        if check {
            println!("{}", path.display());
        } else if let Err(e) = std::fs::write(path, formatted) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(2);
        }
    }
    summary(files.len(), unformatted, broken, check)
}

fn summary(files: usize, unformatted: usize, broken: usize, check: bool) -> ExitCode {
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    match (check, unformatted) {
        (true, 0) => eprintln!("{files} file{} formatted", plural(files)),
        (true, n) => eprintln!("{n} of {files} file{} would be reformatted", plural(files)),
        (false, n) => eprintln!("{n} of {files} file{} reformatted", plural(files)),
    }
    if broken > 0 {
        eprintln!("{broken} file{} not formatted: fix the errors above first", plural(broken));
    }
    if broken > 0 || (check && unformatted > 0) { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

fn stdin_to_stdout(more: bool) -> ExitCode {
    if more {
        eprintln!("error: `-` (stdin) cannot be mixed with file names");
        return ExitCode::from(2);
    }
    let mut source = String::new();
    if let Err(e) = std::io::stdin().read_to_string(&mut source) {
        eprintln!("error: cannot read stdin: {e}");
        return ExitCode::from(2);
    }
    match format(&source) {
        Ok(formatted) => {
            let _ = std::io::stdout().lock().write_all(formatted.as_bytes());
            ExitCode::SUCCESS
        }
        Err(e) => {
            report("<stdin>", &source, &e);
            ExitCode::from(1)
        }
    }
}

fn report(name: &str, source: &str, error: &FormatError) {
    match error {
        FormatError::Syntax(diagnostics) if !diagnostics.is_empty() => {
            eprint!("{}", render::human(name, source, diagnostics, false));
        }
        other => eprintln!("error: {name}: {other}"),
    }
}
