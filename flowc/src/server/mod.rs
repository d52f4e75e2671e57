//! `flowc server`: the run store over HTTP (axum), for applications that
//! submit and watch runs from elsewhere. JSON everywhere; errors carry the
//! same codes as the command line; `/openapi.json` describes every route.
//! Bearer tokens (`FLOW_API_KEYS`) guard everything but `/health` and
//! `/openapi.json`; `--no-auth` is accepted only on a loopback address. With
//! `--execute N` the server also runs queued runs itself (one process), else
//! it leaves them to `flowc worker`s.

mod routes;

use crate::host::HostArgs;
use crate::run::usage;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use flow_compiler::Code;
use flow_store::PgStore;
use flow_vm::{Engine, Store, StoreError};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

/// The OpenAPI document, served at `/openapi.json` and tested against the
/// server's real answers.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What `flowc server` is given.
pub struct ServerArgs<'a> {
    pub listen: SocketAddr,
    /// Bearer tokens that may call the API.
    pub keys: Vec<String>,
    pub no_auth: bool,
    /// Accept programs as source in `POST /v1/runs` (else only deployed flows run).
    pub allow_source: bool,
    /// Runs this process runs itself (0: workers do).
    pub execute: usize,
    pub host: &'a HostArgs,
}

/// What every handler shares.
pub(crate) struct Api {
    pub queue: Arc<PgStore>,
    pub store: Arc<dyn Store>,
    pub engine: Engine,
    pub allow_source: bool,
}

/// An error answer: `{"error": {"code", "message", "help"}}`.
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, message: impl Into<String>) -> ApiError {
        ApiError { status, code: code.as_str(), message: message.into(), help: None }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into(), help: None }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match e.code {
            Code::UnknownRun | Code::UnknownDefinition => StatusCode::NOT_FOUND,
            Code::NotResumable | Code::BadAnswer => StatusCode::CONFLICT,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError { status, code: e.code.as_str(), message: e.message, help: None }
    }
}

impl From<flow_vm::RunError> for ApiError {
    fn from(e: flow_vm::RunError) -> ApiError {
        match e {
            flow_vm::RunError::Setup { code, message, help } => {
                let status = match code {
                    Code::UnknownRun | Code::UnknownDefinition | Code::UnknownFlow => StatusCode::NOT_FOUND,
                    Code::NotResumable | Code::BadAnswer => StatusCode::CONFLICT,
                    Code::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
                    _ => StatusCode::UNPROCESSABLE_ENTITY,
                };
                ApiError { status, code: code.as_str(), message, help }
            }
            other => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                code: "internal",
                message: other.to_string(),
                help: None,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message, "help": self.help } });
        (self.status, axum::Json(body)).into_response()
    }
}

/// `flowc server`: serves until SIGTERM or Ctrl-C.
pub fn serve(args: ServerArgs<'_>) -> ExitCode {
    if args.no_auth && !args.listen.ip().is_loopback() {
        return usage(format!("--no-auth only on a loopback address, not {}", args.listen.ip()));
    }
    if !args.no_auth && args.keys.is_empty() {
        return usage("no API keys: set FLOW_API_KEYS (comma-separated tokens), or --no-auth on 127.0.0.1".into());
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return usage(format!("cannot start the runtime: {e}")),
    };
    let code = runtime.block_on(run_server(args));
    runtime.shutdown_background();
    code
}

async fn run_server(args: ServerArgs<'_>) -> ExitCode {
    let queue = match crate::worker::queue_store(&args.host.store).await {
        Ok(q) => q,
        Err(code) => return code,
    };
    let store = queue.clone() as Arc<dyn Store>;
    let engine = args.host.engine_with(Some(store.clone()));
    let api = Arc::new(Api { queue: queue.clone(), store, engine, allow_source: args.allow_source });
    let keys = Arc::new(args.keys.clone());
    let protected = routes::protected().layer(axum::middleware::from_fn_with_state((keys, args.no_auth), authorize));
    let app: Router = routes::open().merge(protected).with_state(api.clone());
    let listener = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return usage(format!("cannot listen on {}: {e}", args.listen)),
    };
    let address = listener.local_addr().map_or_else(|_| args.listen.to_string(), |a| a.to_string());
    // The first line of stderr: scripts and tests read the port from it.
    eprintln!("listening on {address}");
    let executor = (args.execute > 0).then(|| {
        let engine = args.host.engine_with(Some(api.store.clone())).shared_limits(queue.clone());
        let (lease, grace) = (std::time::Duration::from_secs(5), std::time::Duration::from_secs(10));
        crate::worker::work(queue, engine, args.execute, lease, grace)
    });
    let served = axum::serve(listener, app).with_graceful_shutdown(crate::worker::stop_signal());
    let result = match executor {
        Some(executor) => tokio::join!(served, executor).0,
        None => served.await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage(format!("the server stopped: {e}")),
    }
}

/// Whether two keys are equal, in a time that does not depend on where
/// they differ (a guess cannot be refined byte by byte).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lets a request through with a configured bearer token (or with none
/// under `--no-auth`).
async fn authorize(State((keys, open)): State<(Arc<Vec<String>>, bool)>, request: Request, next: Next) -> Response {
    if open {
        return next.run(request).await;
    }
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match token {
        Some(t) if keys.iter().any(|k| same(k.as_bytes(), t.as_bytes())) => next.run(request).await,
        _ => ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "a valid API key is needed: `Authorization: Bearer <key>`".into(),
            help: None,
        }
        .into_response(),
    }
}
