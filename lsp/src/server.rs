//! The protocol side: open documents by URI, and each request answered by
//! the feature in `ide/` over the current analysis. Diagnostics are
//! published after every open and change.

use crate::document::Document;
use crate::ide;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

pub struct Backend {
    client: Client,
    documents: Mutex<HashMap<Uri, Arc<Document>>>,
}

impl Backend {
    pub fn new(client: Client) -> Self {
        Backend { client, documents: Mutex::new(HashMap::new()) }
    }

    fn document(&self, uri: &Uri) -> Option<Arc<Document>> {
        self.documents.lock().unwrap_or_else(PoisonError::into_inner).get(uri).cloned()
    }

    /// Runs `feature` on the document at `uri` and the offset of `position`.
    fn at<T>(&self, uri: &Uri, position: Position, feature: impl FnOnce(&Document, usize) -> T) -> Option<T> {
        let doc = self.document(uri)?;
        let offset = doc.offset(position);
        Some(feature(&doc, offset))
    }

    async fn publish(&self, uri: Uri, doc: Arc<Document>) {
        let diagnostics = ide::diagnostics::diagnostics(&doc, &uri);
        self.client.publish_diagnostics(uri, diagnostics, Some(doc.version)).await;
    }

    fn location(&self, uri: &Uri, doc: &Document, span: flow_grammar::Span) -> Location {
        Location { uri: uri.clone(), range: doc.range(span) }
    }
}

/// What the server can do.
pub fn capabilities() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Kind(TextDocumentSyncKind::INCREMENTAL)),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec![".".into()]),
            ..CompletionOptions::default()
        }),
        definition_provider: Some(OneOf::Left(true)),
        references_provider: Some(OneOf::Left(true)),
        rename_provider: Some(OneOf::Right(RenameOptions {
            prepare_provider: Some(true),
            work_done_progress_options: WorkDoneProgressOptions::default(),
        })),
        document_symbol_provider: Some(OneOf::Left(true)),
        document_formatting_provider: Some(OneOf::Left(true)),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX]),
            ..CodeActionOptions::default()
        })),
        semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
            SemanticTokensOptions {
                legend: ide::tokens::legend(),
                full: Some(SemanticTokensFullOptions::Bool(true)),
                range: None,
                work_done_progress_options: WorkDoneProgressOptions::default(),
            },
        )),
        ..ServerCapabilities::default()
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, _: InitializeParams) -> Result<InitializeResult> {
        Ok(InitializeResult {
            capabilities: capabilities(),
            server_info: Some(ServerInfo { name: "flowc lsp".into(), version: Some(env!("CARGO_PKG_VERSION").into()) }),
            offset_encoding: None,
        })
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = Arc::new(Document::new(params.text_document.text, params.text_document.version));
        let uri = params.text_document.uri;
        self.documents.lock().unwrap_or_else(PoisonError::into_inner).insert(uri.clone(), doc.clone());
        self.publish(uri, doc).await;
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let Some(current) = self.document(&uri) else { return };
        let mut doc =
            Document { text: current.text.clone(), version: current.version, analysis: current.analysis.clone() };
        doc.change(params.text_document.version, params.content_changes);
        let doc = Arc::new(doc);
        self.documents.lock().unwrap_or_else(PoisonError::into_inner).insert(uri.clone(), doc.clone());
        self.publish(uri, doc).await;
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.documents.lock().unwrap_or_else(PoisonError::into_inner).remove(&uri);
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        let uri = &p.text_document.uri;
        Ok(self
            .at(uri, p.position, |doc, offset| {
                ide::hover::hover(doc, offset).map(|(text, span)| Hover {
                    contents: HoverContents::Markup(MarkupContent { kind: MarkupKind::Markdown, value: text }),
                    range: Some(doc.range(span)),
                })
            })
            .flatten())
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        Ok(self.at(&p.text_document.uri, p.position, |doc, offset| {
            CompletionResponse::Array(ide::completion::complete(doc, offset))
        }))
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let p = params.text_document_position_params;
        let uri = &p.text_document.uri;
        Ok(self
            .at(uri, p.position, |doc, offset| {
                ide::navigation::definition(doc, offset)
                    .map(|span| GotoDefinitionResponse::Scalar(self.location(uri, doc, span)))
            })
            .flatten())
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let uri = &p.text_document.uri;
        let with_definition = params.context.include_declaration;
        Ok(self.at(uri, p.position, |doc, offset| {
            ide::navigation::references(doc, offset, with_definition)
                .into_iter()
                .map(|s| self.location(uri, doc, s))
                .collect()
        }))
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        let found = self.at(&params.text_document.uri, params.position, |doc, offset| {
            ide::navigation::prepare_rename(doc, offset).map(|span| PrepareRenameResponse::Range(doc.range(span)))
        });
        match found {
            None => Ok(None),
            Some(Ok(range)) => Ok(Some(range)),
            Some(Err(refused)) => Err(Error::invalid_params(refused.0)),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let p = params.text_document_position;
        let uri = &p.text_document.uri;
        let found = self.at(uri, p.position, |doc, offset| {
            ide::navigation::rename(doc, offset, &params.new_name).map(|spans| {
                let edits = spans
                    .into_iter()
                    .map(|s| TextEdit { range: doc.range(s), new_text: params.new_name.clone() })
                    .collect();
                WorkspaceEdit { changes: Some(HashMap::from([(uri.clone(), edits)])), ..WorkspaceEdit::default() }
            })
        });
        match found {
            None => Ok(None),
            Some(Ok(edit)) => Ok(Some(edit)),
            Some(Err(refused)) => Err(Error::invalid_params(refused.0)),
        }
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        Ok(self
            .document(&params.text_document.uri)
            .map(|doc| DocumentSymbolResponse::Nested(ide::symbols::outline(&doc))))
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let Some(doc) = self.document(&params.text_document.uri) else { return Ok(None) };
        // A file that does not parse is left alone (the diagnostics say why).
        let Ok(formatted) = flow_grammar::format::format(&doc.text) else { return Ok(None) };
        if formatted == doc.text {
            return Ok(Some(Vec::new()));
        }
        // One edit over the lines that changed, so marks and folds elsewhere stay.
        let (start, end, text) = changed_lines(&doc.text, &formatted);
        Ok(Some(vec![TextEdit { range: Range { start: doc.position(start), end: doc.position(end) }, new_text: text }]))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = &params.text_document.uri;
        let Some(doc) = self.document(uri) else { return Ok(None) };
        let actions = ide::actions::quick_fixes(&doc, uri, params.range);
        Ok(Some(actions.into_iter().map(CodeActionOrCommand::CodeAction).collect()))
    }

    async fn semantic_tokens_full(&self, params: SemanticTokensParams) -> Result<Option<SemanticTokensResult>> {
        let Some(doc) = self.document(&params.text_document.uri) else { return Ok(None) };
        Ok(Some(SemanticTokensResult::Tokens(SemanticTokens { result_id: None, data: ide::tokens::tokens(&doc) })))
    }
}

/// The smallest run of whole lines of `old` to replace (by byte range) and
/// what to put there, for `old` to become `new`.
fn changed_lines(old: &str, new: &str) -> (usize, usize, String) {
    let line_starts =
        |s: &str| -> Vec<usize> { std::iter::once(0).chain(s.match_indices('\n').map(|(i, _)| i + 1)).collect() };
    let (old_starts, new_starts) = (line_starts(old), line_starts(new));
    let line = |s: &'_ str, starts: &[usize], i: usize| -> String {
        let end = starts.get(i + 1).copied().unwrap_or(s.len());
        s[starts[i]..end].to_string()
    };
    let common = |limit: usize, same: &dyn Fn(usize) -> bool| (0..limit).take_while(|&i| same(i)).count();
    let (n_old, n_new) = (old_starts.len(), new_starts.len());
    let prefix = common(n_old.min(n_new), &|i| line(old, &old_starts, i) == line(new, &new_starts, i));
    let suffix = common((n_old - prefix).min(n_new - prefix), &|i| {
        line(old, &old_starts, n_old - 1 - i) == line(new, &new_starts, n_new - 1 - i)
    });
    let old_end = old_starts.get(n_old - suffix).copied().unwrap_or(old.len());
    let new_end = new_starts.get(n_new - suffix).copied().unwrap_or(new.len());
    let (old_start, new_start) = (old_starts[prefix].min(old_end), new_starts[prefix].min(new_end));
    (old_start, old_end, new[new_start..new_end].to_string())
}

#[cfg(test)]
mod tests {
    use super::changed_lines;

    #[test]
    fn formatting_replaces_only_the_lines_that_change() {
        let old = "a\nb  =  1\nc\n";
        let new = "a\nb = 1\nc\n";
        let (start, end, text) = changed_lines(old, new);
        assert_eq!((&old[start..end], text.as_str()), ("b  =  1\n", "b = 1\n"));
        let (start, end, text) = changed_lines("x\n", "x\ny\n");
        assert_eq!((start, end, text.as_str()), (2, 2, "y\n"));
        let (start, end, text) = changed_lines("one line", "two\nlines\n");
        let mut applied = "one line".to_string();
        applied.replace_range(start..end, &text);
        assert_eq!(applied, "two\nlines\n");
    }
}
