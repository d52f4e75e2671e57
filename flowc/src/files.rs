//! The `.flow` files a command names: files as given, directories walked
//! (sorted), skipping hidden directories, `target` and `node_modules`, and,
//! for `flowc fmt`, the paths an ignore file in a named directory lists.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// A file's text, or exit code 2 after saying why it cannot be read.
pub fn read(path: &Path) -> Result<String, ExitCode> {
    std::fs::read_to_string(path).map_err(|e| {
        eprintln!("error: cannot read {}: {e}", path.display());
        ExitCode::from(2)
    })
}

/// The files named, with directories expanded; `ignore_file` names the file
/// (in a named directory) listing paths under it to skip, one per line.
pub fn flow_files(paths: &[PathBuf], ignore_file: Option<&str>) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let ignored: Vec<PathBuf> = ignore_file
            .and_then(|name| std::fs::read_to_string(path.join(name)).ok())
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| path.join(l.trim_end_matches('/')))
            .collect();
        let before = files.len();
        walk(path, &ignored, &mut files).map_err(|e| format!("cannot read directory {}: {e}", path.display()))?;
        if files.len() == before {
            return Err(format!("no .flow files in {}", path.display()));
        }
    }
    Ok(files)
}

fn walk(dir: &Path, ignored: &[PathBuf], files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if ignored.iter().any(|i| entry.starts_with(i)) {
            continue;
        }
        if entry.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "node_modules") {
                walk(&entry, ignored, files)?;
            }
        } else if entry.extension().is_some_and(|e| e == "flow") {
            files.push(entry);
        }
    }
    Ok(())
}
