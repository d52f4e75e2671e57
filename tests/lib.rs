//! Helpers shared by the data-driven tests: find the `.flow` files of a
//! phase folder and render what the front end says about one of them.

use std::path::{Path, PathBuf};

/// The `.flow` files directly in `tests/<folder>`, sorted.
pub fn cases(folder: &str) -> Vec<PathBuf> {
    flow_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join(folder))
}

/// The `.in` files directly in `tests/<folder>`, sorted: Flow programs
/// deliberately left unformatted (the formatter's inputs), so that every
/// `.flow` file of the repository stays formatted.
pub fn unformatted_cases(folder: &str) -> Vec<PathBuf> {
    files_with(&Path::new(env!("CARGO_MANIFEST_DIR")).join(folder), "in")
}

/// The example programs in `examples/`.
pub fn examples() -> Vec<PathBuf> {
    flow_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
}

fn flow_files(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, "flow")
}

fn files_with(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == extension))
        .collect();
    files.sort();
    files
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A case's name: its file name without `.flow`.
pub fn stem(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

pub fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Checks `source` and renders every diagnostic as a person would see it.
pub fn check_rendered(name: &str, source: &str) -> String {
    let checked = flow_compiler::check(source);
    flow_compiler::render::human(name, source, &checked.diagnostics, false)
}

/// The codes reported for `source`, in order.
pub fn codes(source: &str) -> Vec<String> {
    flow_compiler::check(source).diagnostics.iter().map(|d| d.code.to_string()).collect()
}

/// The code a case file's name starts with (`E0203_unknown_field.flow` → `E0203`).
pub fn expected_code(path: &Path) -> Option<String> {
    let name = file_name(path);
    let code = name.split('_').next()?;
    let valid = code.len() == 5
        && (code.starts_with('E') || code.starts_with('W'))
        && code[1..].chars().all(|c| c.is_ascii_digit());
    valid.then(|| code.to_string())
}
