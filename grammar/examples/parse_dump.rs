//! Prints the AST and diagnostics of a file (a debugging aid).
fn main() {
    for path in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&path).expect("readable file");
        let parsed = flow_grammar::parse(&src);
        println!("{path}: {} items, {} broken", parsed.file.items.len(), parsed.broken_items.len());
        for d in &parsed.diagnostics {
            println!("  {} {} {:?} help={:?}", d.code, d.message, d.primary_span(), d.help);
        }
    }
}
