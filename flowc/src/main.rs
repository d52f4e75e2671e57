//! `flowc`: the Flow command-line tool. A thin shell over
//! `flow_compiler::check`: it reads files, prints diagnostics, and sets the
//! exit code (0 clean, 1 errors, 2 usage or I/O problems).

use clap::{Parser, Subcommand, ValueEnum};
use flow_compiler::render;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The language reference, printed by `flowc spec`.
const SPEC: &str = include_str!("../../docs/language.md");

#[derive(Parser)]
#[command(name = "flowc", version, about = "The Flow workflow language: check and explain .flow programs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check .flow files (or every .flow file in a directory) for errors.
    Check {
        /// Files or directories to check.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Fail (exit 1) on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Colour for human output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
    },
    /// Print the language reference (docs/language.md), e.g. for an LLM prompt.
    Spec,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match cli.command {
        Command::Spec => {
            print!("{SPEC}");
            ExitCode::SUCCESS
        }
        Command::Check { paths, format, deny_warnings, color } => check(&paths, format, deny_warnings, color),
    }
}

fn check(paths: &[PathBuf], format: Format, deny_warnings: bool, color: Color) -> ExitCode {
    let files = match collect_files(paths) {
        Ok(files) => files,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let color = match color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let (mut errors, mut warnings) = (0, 0);
    let mut json = Vec::new();
    for path in &files {
        let source = match std::fs::read_to_string(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let name = path.display().to_string();
        let checked = flow_compiler::check(&source);
        errors += checked.error_count();
        warnings += checked.warning_count();
        match format {
            Format::Human => eprint!("{}", render::human(&name, &source, &checked.diagnostics, color)),
            Format::Json => json.extend(render::json(&name, &source, &checked.diagnostics)),
        }
    }
    match format {
        Format::Json => {
            let out = serde_json::json!({
                "files": files.len(),
                "errors": errors,
                "warnings": warnings,
                "diagnostics": json,
            });
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        Format::Human => {
            let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
            if errors + warnings > 0 {
                eprintln!(
                    "{}, {} in {}",
                    plural(errors, "error"),
                    plural(warnings, "warning"),
                    plural(files.len(), "file")
                );
            } else {
                eprintln!("{} checked, no problems", plural(files.len(), "file"));
            }
        }
    }
    if errors > 0 || (deny_warnings && warnings > 0) { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// The files named, with directories expanded to the `.flow` files in them
/// (recursively, sorted).
fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_dir() {
            let before = files.len();
            walk(path, &mut files).map_err(|e| format!("cannot read directory {}: {e}", path.display()))?;
            if files.len() == before {
                return Err(format!("no .flow files in {}", path.display()));
            }
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, files)?;
        } else if entry.extension().is_some_and(|e| e == "flow") {
            files.push(entry);
        }
    }
    Ok(())
}
