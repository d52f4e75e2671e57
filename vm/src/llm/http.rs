//! What the HTTP providers share: sending a request and turning a failed
//! answer into a typed error (429 → `rate_limited` with its `Retry-After`,
//! 5xx and unreachable servers → `provider`, no answer in time →
//! `timeout`), and reading a streamed body line by line (SSE and NDJSON)
//! with an idle timeout, so a stalled stream fails instead of hanging.

use crate::call_error::{ToolError, parse_retry_after, snippet};
use flow_compiler::ir::ErrorKind;
use futures::StreamExt;
use futures::stream::BoxStream;
use std::time::Duration;

/// Sends a request; a non-2xx answer is an error of the right kind.
pub async fn send(request: reqwest::RequestBuilder, url: &str) -> Result<reqwest::Response, ToolError> {
    let again = request.try_clone();
    let response = match (request.send().await, again) {
        (Ok(response), _) => response,
        // A pooled connection the server closed while it sat idle (llama.cpp
        // and others close after a few seconds): the request never reached
        // the server, and goes once more on a fresh connection.
        (Err(e), Some(again)) if stale_connection(&e) => again.send().await.map_err(|e| transport_error(url, &e))?,
        (Err(e), _) => return Err(transport_error(url, &e)),
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers();
    let retry_after = header(headers, "retry-after-ms")
        .and_then(|ms| ms.trim().parse::<f64>().ok())
        // A NaN or infinite figure from the server is ignored, not a panic.
        .filter(|ms| ms.is_finite())
        .map(|ms| Duration::from_secs_f64((ms / 1000.0).clamp(0.0, 3600.0)))
        .or_else(|| header(headers, "retry-after").and_then(|s| parse_retry_after(&s)));
    // An error body is read only as far as its message could need.
    let body = crate::net::read_capped(response, crate::net::ERROR_BODY_BYTES, url, |e| transport_error(url, e))
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body);
    let detail = error_detail(&body);
    let kind = match status.as_u16() {
        429 => ErrorKind::RateLimited,
        _ => ErrorKind::Provider,
    };
    let wait = retry_after.map(|d| format!(" (retry after {})", crate::fmt_duration(d))).unwrap_or_default();
    let hint = match status.as_u16() {
        401 | 403 => " — check the API key",
        404 => " — check the base URL and the model id",
        _ => "",
    };
    let error =
        ToolError::with_kind(kind, format!("{url} answered {status}{wait}{hint}: {detail}")).retry_after(retry_after);
    // As the providers' SDKs: a client error other than 408, 409 and 429 is not worth sending again.
    let permanent = status.is_client_error() && !matches!(status.as_u16(), 408 | 409 | 429);
    Err(if permanent { error.permanent() } else { error })
}

fn header(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// The message inside an API's error body (`{"error": {"message": ...}}`
/// for OpenAI and Anthropic, `{"error": "..."}` for Ollama), or the body.
fn error_detail(body: &str) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let message = parsed.as_ref().and_then(|v| {
        v.pointer("/error/message").or_else(|| v.get("error")).and_then(|m| m.as_str()).map(str::to_string)
    });
    snippet(&message.unwrap_or_else(|| body.to_string()))
}

pub fn transport_error(url: &str, e: &reqwest::Error) -> ToolError {
    if let Some(denied) = crate::net::denial(e) {
        denied
    } else if e.is_timeout() {
        ToolError::with_kind(ErrorKind::Timeout, format!("{url} did not answer in time"))
    } else if e.is_connect() {
        ToolError::with_kind(ErrorKind::Provider, format!("cannot connect to {url}: {}", root_cause(e)))
    } else {
        ToolError::with_kind(ErrorKind::Provider, format!("request to {url} failed: {}", root_cause(e)))
    }
}

/// Whether a request failed because the connection it was sent on was
/// closed before any answer began (hyper's "incomplete message").
fn stale_connection(e: &reqwest::Error) -> bool {
    e.is_request() && root_cause(e).contains("connection closed before message completed")
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Whether an answer is a stream of events (not one whole JSON body, as a
/// server that ignores `stream: true` sends).
pub fn is_stream(response: &reqwest::Response) -> bool {
    let kind = response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    !kind.trim_start().starts_with("application/json")
}

/// Reads a whole JSON answer.
pub async fn json_body(response: reqwest::Response, max: usize, url: &str) -> Result<serde_json::Value, ToolError> {
    let body = crate::net::read_capped(response, max, url, |e| transport_error(url, e)).await?;
    let body = String::from_utf8_lossy(&body);
    serde_json::from_str(&body).map_err(|e| {
        ToolError::with_kind(
            ErrorKind::Provider,
            format!("{url} answered with a body that is not JSON ({e}): {}", snippet(&body)),
        )
        .permanent()
    })
}

/// A streamed body, one line at a time.
pub struct Lines {
    stream: BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: Vec<u8>,
    idle: Duration,
    /// Bytes the stream may still send, of `max`.
    left: usize,
    max: usize,
    url: String,
    done: bool,
}

impl Lines {
    pub fn new(response: reqwest::Response, idle: Duration, max: usize, url: &str) -> Lines {
        let stream = response.bytes_stream().boxed();
        Lines { stream, buffer: Vec::new(), idle, left: max, max, url: url.to_string(), done: false }
    }

    /// The next line (without its line ending), or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<String>, ToolError> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buffer.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Some(String::from_utf8_lossy(&line).into_owned()));
            }
            if self.done {
                if self.buffer.is_empty() {
                    return Ok(None);
                }
                let rest = std::mem::take(&mut self.buffer);
                return Ok(Some(String::from_utf8_lossy(&rest).into_owned()));
            }
            match tokio::time::timeout(self.idle, self.stream.next()).await {
                Err(_) => {
                    return Err(ToolError::with_kind(
                        ErrorKind::Timeout,
                        format!("the stream from {} sent nothing for {}", self.url, crate::fmt_duration(self.idle)),
                    ));
                }
                Ok(None) => self.done = true,
                Ok(Some(Ok(chunk))) => {
                    self.left =
                        self.left.checked_sub(chunk.len()).ok_or_else(|| crate::net::too_big(&self.url, self.max))?;
                    self.buffer.extend_from_slice(&chunk)
                }
                Ok(Some(Err(e))) => return Err(transport_error(&self.url, &e)),
            }
        }
    }
}

/// One server-sent event.
#[derive(Debug, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Reads server-sent events: `event:` and `data:` lines up to a blank line.
pub struct Sse {
    lines: Lines,
}

impl Sse {
    pub fn new(lines: Lines) -> Sse {
        Sse { lines }
    }

    pub async fn next(&mut self) -> Result<Option<SseEvent>, ToolError> {
        let mut event = SseEvent::default();
        let mut has_data = false;
        loop {
            let Some(line) = self.lines.next().await? else {
                return Ok(has_data.then_some(event));
            };
            if line.is_empty() {
                if has_data {
                    return Ok(Some(event));
                }
                continue;
            }
            if let Some(value) = line.strip_prefix("data:") {
                if has_data {
                    event.data.push('\n');
                }
                event.data.push_str(value.strip_prefix(' ').unwrap_or(value));
                has_data = true;
            } else if let Some(value) = line.strip_prefix("event:") {
                event.event = Some(value.trim().to_string());
            }
            // Comments (`:`), `id:` and `retry:` lines are not needed.
        }
    }
}

/// Parses one streamed JSON chunk; a garbled chunk is a `provider` error.
pub fn chunk(data: &str, url: &str) -> Result<serde_json::Value, ToolError> {
    serde_json::from_str(data).map_err(|e| {
        ToolError::with_kind(
            ErrorKind::Provider,
            format!("{url} streamed a chunk that is not JSON ({e}): {}", snippet(data)),
        )
    })
}
