//! Tools the interpreter can call: async Rust functions the host registers
//! (typed with serde), and the two kinds a `.flow` file can declare itself,
//! `= http METHOD "url"` and `= command ["prog", ...]`.

use crate::call_error::{ToolError, parse_retry_after, snippet};
use crate::net::{Net, Secret, read_capped};
use flow_compiler::ir::ErrorKind;
use flow_compiler::ir::Header;
use futures::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// The default limit on one HTTP or command tool call, when the tool gives
/// no `timeout`.
pub const DEFAULT_TOOL_TIMEOUT: Duration = Duration::from_secs(30);

/// What a host tool returns: its JSON result, later checked against the
/// tool's declared output type.
pub type ToolFuture = BoxFuture<'static, Result<serde_json::Value, ToolError>>;

/// A host tool, erased to JSON in and JSON out.
pub(crate) type HostTool = Arc<dyn Fn(serde_json::Value) -> ToolFuture + Send + Sync>;

/// Wraps a typed async function as a host tool: the arguments (a JSON object
/// of the named arguments) are deserialized into `A`, the result serialized.
pub(crate) fn host_tool<A, R, F, Fut>(f: F) -> HostTool
where
    A: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    F: Fn(A) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, ToolError>> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |args: serde_json::Value| {
        let f = f.clone();
        let fut = async move {
            let args: A = serde_json::from_value(args)
                .map_err(|e| ToolError::new(format!("the arguments do not fit the host function: {e}")))?;
            let result = f(args).await?;
            serde_json::to_value(result).map_err(|e| ToolError::new(format!("the result cannot be serialized: {e}")))
        };
        Box::pin(fut) as ToolFuture
    })
}

/// One HTTP tool call: where, how, and within which bounds.
pub(crate) struct HttpCall<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The headers, secrets filled in.
    pub headers: Vec<(String, String)>,
    /// The secrets among them, by name: redacted from the answer and
    /// errors; with any, redirects are not followed.
    pub secrets: Vec<(String, String)>,
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// Calls an HTTP tool: a JSON body for POST, PUT and PATCH, query parameters
/// for GET and DELETE; a JSON answer is the result. The URL must pass the
/// network policy, and the answer is read only up to `max_bytes`.
pub(crate) async fn call_http(
    net: &Net,
    call: HttpCall<'_>,
    args: serde_json::Value,
) -> Result<serde_json::Value, ToolError> {
    let secrets = call.secrets.clone();
    send_http(net, call, args).await.map_err(|mut e| {
        e.message = redact(&e.message, &secrets);
        e
    })
}

/// `text` with every secret's value, as written or as JSON escapes it,
/// replaced by `[secret NAME]`. Best effort: an encoding the service
/// invents (base64, say) is not recognised.
fn redact(text: &str, secrets: &[(String, String)]) -> String {
    let mut text = text.to_string();
    for (name, value) in secrets.iter().filter(|(_, v)| !v.is_empty()) {
        let mark = format!("[secret {name}]");
        text = text.replace(value.as_str(), &mark);
        let escaped = serde_json::to_string(value).unwrap_or_default();
        let escaped = escaped.trim_matches('"');
        // Some encoders also escape `/`.
        for form in [escaped.to_string(), escaped.replace('/', "\\/")] {
            if form != *value {
                text = text.replace(&form, &mark);
            }
        }
    }
    text
}

/// [`call_http`] before redaction of its errors.
async fn send_http(net: &Net, call: HttpCall<'_>, args: serde_json::Value) -> Result<serde_json::Value, ToolError> {
    let HttpCall { method, url, timeout, max_bytes, .. } = call;
    let method = reqwest::Method::from_bytes(method.as_bytes())
        .map_err(|_| ToolError::new(format!("`{method}` is not an HTTP method")))?;
    let client = net.program_client(url, !call.secrets.is_empty())?;
    let mut request = client.request(method.clone(), url).timeout(timeout);
    for (k, v) in &call.headers {
        request = request.header(k, v);
    }
    request = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
        let query: Vec<(String, String)> = match &args {
            serde_json::Value::Object(map) => {
                map.iter().map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string))).collect()
            }
            _ => Vec::new(),
        };
        request.query(&query)
    } else {
        request.json(&args)
    };
    let response = request.send().await.map_err(|e| request_error(url, &e, timeout))?;
    let status = response.status();
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let cap = if status.is_success() { max_bytes } else { crate::net::ERROR_BODY_BYTES.min(max_bytes) };
    let body = read_capped(response, cap, url, |e| request_error(url, e, timeout)).await?;
    // A service that echoes a secret back does not hand it to the program.
    let body = redact(&String::from_utf8_lossy(&body), &call.secrets);
    if status.is_redirection() {
        let to = location.unwrap_or_default();
        return Err(ToolError::new(format!(
            "{url} answered {status}, a redirect to {to}, which a request carrying a secret does not follow"
        )));
    }
    if !status.is_success() {
        let kind = if status.as_u16() == 429 { ErrorKind::RateLimited } else { ErrorKind::Tool };
        let wait = retry_after.as_ref().map(|s| format!(" (Retry-After: {s})")).unwrap_or_default();
        return Err(ToolError::with_kind(kind, format!("{url} answered {status}{wait}: {}", snippet(&body)))
            .retry_after(retry_after.as_deref().and_then(parse_retry_after)));
    }
    serde_json::from_str(&body)
        .map_err(|e| ToolError::new(format!("{url} answered with text that is not JSON ({e}): {}", snippet(&body))))
}

fn request_error(url: &str, e: &reqwest::Error, timeout: Duration) -> ToolError {
    if let Some(denied) = crate::net::denial(e) {
        denied
    } else if e.is_timeout() {
        ToolError::with_kind(
            ErrorKind::Timeout,
            format!("{url} did not answer within {}", crate::fmt_duration(timeout)),
        )
    } else {
        ToolError::new(format!("request to {url} failed: {e}"))
    }
}

/// Name and value pairs: headers, or secrets by name.
pub(crate) type Headers = Vec<(String, String)>;

/// An http tool's headers with the host's secrets filled in, and those
/// secrets by name. The checks before the run made sure each is granted
/// for the URL's host; a URL whose placeholders changed the host cannot,
/// but the check is made again here, where the URL is final.
pub(crate) fn fill_headers(
    headers: &[(String, Header)],
    granted: &HashMap<String, Secret>,
    url: &str,
) -> Result<(Headers, Headers), ToolError> {
    let (mut filled, mut secrets) = (Vec::with_capacity(headers.len()), Vec::new());
    for (name, value) in headers {
        match value {
            Header::Text(text) => filled.push((name.clone(), text.clone())),
            Header::Secret(secret) => {
                let parsed = reqwest::Url::parse(url).ok();
                let Some(grant) = granted.get(secret).filter(|g| parsed.as_ref().is_some_and(|u| g.goes_to(u))) else {
                    return Err(ToolError::with_kind(
                        ErrorKind::Limit,
                        format!("the secret {secret} is not granted for {url}"),
                    ));
                };
                filled.push((name.clone(), grant.value.clone()));
                secrets.push((secret.clone(), grant.value.clone()));
            }
        }
    }
    Ok((filled, secrets))
}

/// An http tool's URL with each `${param}` replaced by that argument,
/// percent-encoded (everything but unreserved characters), and taken out
/// of the arguments so that it is not sent again in the query or body.
pub(crate) fn fill_url(template: &str, args: &mut serde_json::Value) -> Result<String, ToolError> {
    let placeholders = flow_compiler::literal::url_placeholders(template);
    if placeholders.is_empty() {
        return Ok(template.to_string());
    }
    let mut url = String::with_capacity(template.len());
    let mut from = 0;
    for (range, name) in placeholders {
        url.push_str(&template[from..range.start]);
        let value = args.as_object_mut().and_then(|map| map.remove(name)).unwrap_or(serde_json::Value::Null);
        let text = match &value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        // A URL parser would read these as "this" and "the parent" path segment.
        if text == "." || text == ".." {
            return Err(ToolError::new(format!("`{name}` is `{text}`, which cannot stand for a part of a URL")));
        }
        percent_encode(&text, &mut url);
        from = range.end;
    }
    url.push_str(&template[from..]);
    Ok(url)
}

/// Percent-encodes `text` into `out`: RFC 3986's unreserved characters stay,
/// every other byte becomes `%XX` (so a value cannot add a path segment, a
/// query or another host).
fn percent_encode(text: &str, out: &mut String) {
    use std::fmt::Write;
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

/// Runs a command tool: the arguments as JSON on stdin, the result as JSON on
/// stdout. The process is killed if the call is cancelled or times out.
pub(crate) async fn call_command(
    argv: &[String],
    timeout: Duration,
    max_bytes: usize,
    args: serde_json::Value,
) -> Result<serde_json::Value, ToolError> {
    let Some((program, rest)) = argv.split_first() else {
        return Err(ToolError::new("the command is empty"));
    };
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| ToolError::new(format!("cannot start `{program}`: {e}")))?;
    let input = serde_json::to_vec(&args).unwrap_or_default();
    let (stdin, stdout, stderr) = (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let run = async move {
        let feed = async {
            if let Some(mut stdin) = stdin {
                // A program that exits without reading its input is not an error here.
                let _ = stdin.write_all(&input).await;
            }
        };
        // Both outputs are read at once (a full pipe would block the program)
        // and only up to their limits: a program printing forever is stopped
        // as soon as it is over (the child is killed when this is dropped).
        let out = async {
            match read_bounded(stdout, max_bytes).await {
                Ok(Some(out)) => Ok(out),
                Ok(None) => Err(ToolError::with_kind(
                    ErrorKind::Limit,
                    format!(
                        "`{program}` printed more than {} (the answer limit, max_answer_bytes)",
                        crate::fmt_bytes(max_bytes)
                    ),
                )),
                Err(e) => Err(ToolError::new(format!("reading `{program}`'s output failed: {e}"))),
            }
        };
        let (_, out, err) = tokio::try_join!(
            async {
                feed.await;
                Ok(())
            },
            out,
            async { Ok(read_head(stderr, 64 * 1024).await) }
        )?;
        let status = child.wait().await.map_err(|e| ToolError::new(format!("`{program}` failed: {e}")))?;
        Ok((status, out, err))
    };
    let (status, stdout, stderr) = match tokio::time::timeout(timeout, run).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(ToolError::with_kind(
                ErrorKind::Timeout,
                format!("`{program}` did not finish within {}", crate::fmt_duration(timeout)),
            ));
        }
    };
    if !status.success() {
        let stderr = String::from_utf8_lossy(&stderr);
        return Err(ToolError::new(format!("`{program}` exited with {status}: {}", snippet(&stderr))));
    }
    let stdout = String::from_utf8_lossy(&stdout);
    serde_json::from_str(&stdout)
        .map_err(|e| ToolError::new(format!("`{program}` printed text that is not JSON ({e}): {}", snippet(&stdout))))
}

/// Reads a pipe to its end, or `None` as soon as it has sent more than
/// `max` bytes.
async fn read_bounded(pipe: Option<impl tokio::io::AsyncRead + Unpin>, max: usize) -> std::io::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let Some(pipe) = pipe else { return Ok(Some(Vec::new())) };
    let mut out = Vec::new();
    pipe.take(max as u64 + 1).read_to_end(&mut out).await?;
    Ok((out.len() <= max).then_some(out))
}

/// Reads a pipe to its end, keeping its first `max` bytes (so that a
/// chatty program never blocks on a full pipe).
async fn read_head(pipe: Option<impl tokio::io::AsyncRead + Unpin>, max: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let Some(mut pipe) = pipe else { return Vec::new() };
    let (mut head, mut chunk) = (Vec::new(), [0u8; 8192]);
    while let Ok(n @ 1..) = pipe.read(&mut chunk).await {
        let room = max.saturating_sub(head.len()).min(n);
        head.extend_from_slice(&chunk[..room]);
    }
    head
}

#[cfg(test)]
mod tests {
    use super::fill_url;
    use serde_json::json;

    #[test]
    fn placeholders_are_filled_encoded_and_not_sent_again() {
        let mut args = json!({ "id": "a b/../c?x=1", "n": 7, "verbose": true });
        let url = fill_url("https://api.example.com/users/${id}/items/${ n }", &mut args).expect("fills");
        assert_eq!(url, "https://api.example.com/users/a%20b%2F..%2Fc%3Fx%3D1/items/7");
        assert_eq!(args, json!({ "verbose": true }));
        let mut none = json!({ "q": "x" });
        assert_eq!(fill_url("https://h/search", &mut none).expect("fills"), "https://h/search");
        assert_eq!(none, json!({ "q": "x" }));
        let mut parent = json!({ "id": ".." });
        assert!(fill_url("https://h/users/${id}/delete", &mut parent).is_err(), "no climbing up the path");
    }
}
