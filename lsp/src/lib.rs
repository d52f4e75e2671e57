//! The Flow language server: `flowc lsp` runs [`serve`] over stdio.
//!
//! Every feature reads the compiler's [`Analysis`](flow_compiler::Analysis)
//! of the open text (the same one `flowc check` prints) and the language's
//! tables; the formatter is `flow_grammar::format`. The features live in
//! [`ide`], one module each, as plain functions of a [`Document`]; the
//! protocol glue (tower-lsp-server) is in `server.rs`.

mod document;
pub mod ide;
mod server;

pub use document::Document;
pub use server::capabilities;

use tokio::io::{AsyncRead, AsyncWrite};
use tower_lsp_server::{LspService, Server};

/// Serves the protocol over `input` and `output` until the client exits.
pub async fn serve(input: impl AsyncRead + Unpin, output: impl AsyncWrite) {
    let (service, socket) = LspService::new(server::Backend::new);
    Server::new(input, output, socket).serve(service).await;
}

/// Serves the protocol over stdin and stdout (what editors start).
pub async fn stdio() {
    serve(tokio::io::stdin(), tokio::io::stdout()).await;
}
