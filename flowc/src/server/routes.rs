//! The API's routes: runs (submit, list, get, events, cancel, resume,
//! answer), definitions (deploy, list), health and the OpenAPI document.

use super::{Api, ApiError, OPENAPI};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use flow_compiler::Code;
use flow_store::Submission;
use flow_vm::{RunFilter, RunRecord, RunState};
use serde::Deserialize;
use serde_json::{Value as J, json};
use std::sync::Arc;
use std::time::Duration;

type Shared = State<Arc<Api>>;
type Answer = Result<Response, ApiError>;

/// How often an event stream looks for new events.
const EVENT_POLL: Duration = Duration::from_millis(200);

/// Routes anyone may call.
pub(super) fn open() -> Router<Arc<Api>> {
    Router::new().route("/health", get(health)).route("/openapi.json", get(openapi))
}

/// Routes that need an API key.
pub(super) fn protected() -> Router<Arc<Api>> {
    Router::new()
        .route("/v1/runs", get(list_runs).post(submit))
        .route("/v1/runs/{id}", get(get_run))
        .route("/v1/runs/{id}/events", get(events))
        .route("/v1/runs/{id}/cancel", post(cancel))
        .route("/v1/runs/{id}/resume", post(resume))
        .route("/v1/runs/{id}/answers/{step}", post(answer))
        .route("/v1/definitions", get(definitions).post(deploy))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A run as the API shows it (its shown state: a dead process's run is `interrupted`).
fn run_json(run: &RunRecord) -> J {
    let mut value = serde_json::to_value(run).unwrap_or_default();
    value["state"] = json!(run.shown_state(now_ms()).as_str());
    value
}

async fn health(State(api): Shared) -> Answer {
    let mut probe = RunFilter::default();
    probe.limit = Some(1);
    api.store.runs(&probe).await?;
    Ok(Json(json!({ "status": "ok" })).into_response())
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

#[derive(Deserialize)]
struct SubmitBody {
    /// A deployed flow's name (or, with `source`, the flow to run in it).
    flow: Option<String>,
    version: Option<u32>,
    /// A whole program, when the server allows it (`--allow-source`).
    source: Option<String>,
    #[serde(default)]
    input: J,
    priority: Option<String>,
}

async fn submit(State(api): Shared, body: Option<Json<SubmitBody>>) -> Answer {
    let Some(Json(body)) = body else {
        return Err(ApiError::bad_request("the body must be JSON: { \"flow\": NAME, \"input\": {...} }"));
    };
    let priority = body.priority.as_deref().map(flow_store::priority).transpose().map_err(ApiError::bad_request)?;
    let (source, definition, flow) = match (&body.source, &body.flow) {
        (Some(_), _) if !api.allow_source => {
            let message = "this server runs deployed flows only: deploy the program, then submit its flow by name";
            return Err(ApiError::new(StatusCode::FORBIDDEN, Code::UnknownDefinition, message));
        }
        (Some(source), flow) => (source.clone(), None, flow.clone()),
        (None, Some(name)) => match api.store.definition(name, body.version).await? {
            Some(d) => (d.source, Some(format!("{}@{}", d.name, d.version)), Some(d.name)),
            None => {
                let message = format!("there is no deployed flow `{name}`");
                return Err(ApiError::new(StatusCode::NOT_FOUND, Code::UnknownDefinition, message));
            }
        },
        (None, None) => {
            return Err(ApiError::bad_request("name the flow to run: { \"flow\": NAME, \"input\": {...} }"));
        }
    };
    let program = compiled(&source)?;
    let flow = match flow {
        Some(f) => f,
        None => match program.flows.as_slice() {
            [only] => only.name.clone(),
            _ => return Err(ApiError::bad_request("the program has several flows: say which with \"flow\"")),
        },
    };
    api.engine.check_input(&program, &flow, &body.input)?;
    let id = flow_vm::new_run_id();
    let mut run = Submission::new(&id, &flow, &body.input, &source);
    run.definition = definition.as_deref();
    run.priority = priority.unwrap_or(2);
    api.queue.submit(&run).await?;
    let priority = flow_store::PRIORITIES[usize::from(run.priority)];
    let body = json!({ "id": id, "state": "queued", "flow": flow, "priority": priority });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The program, or its first error as the answer.
fn compiled(source: &str) -> Result<Arc<flow_vm::Program>, ApiError> {
    match flow_compiler::compile(source) {
        Ok((program, _)) => Ok(Arc::new(program)),
        Err(analysis) => {
            let first = analysis.diagnostics.iter().find(|d| d.is_error());
            let (code, message) = first.map_or(("E0001", "the program does not compile".to_string()), |d| {
                (d.code.as_str(), d.message.clone())
            });
            let rendered = flow_compiler::render::human("program.flow", source, &analysis.diagnostics, false);
            Err(ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, code, message, help: Some(rendered) })
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    flow: Option<String>,
    limit: Option<usize>,
}

async fn list_runs(State(api): Shared, Query(query): Query<ListQuery>) -> Answer {
    let state = match query.state.as_deref() {
        Some(s) => Some(RunState::parse(s).ok_or_else(|| ApiError::bad_request(format!("`{s}` is not a run state")))?),
        None => None,
    };
    let mut filter = RunFilter::default();
    filter.flow = query.flow;
    let limit = query.limit.unwrap_or(100).min(1000);
    // Running and interrupted are told apart by liveness, after reading.
    let by_liveness = matches!(state, Some(RunState::Interrupted | RunState::Running));
    filter.state = state.filter(|_| !by_liveness);
    filter.limit = (!by_liveness).then_some(limit);
    let now = now_ms();
    let runs: Vec<J> = api
        .store
        .runs(&filter)
        .await?
        .iter()
        .filter(|r| state.is_none_or(|s| r.shown_state(now) == s))
        .take(limit)
        .map(run_json)
        .collect();
    Ok(Json(json!({ "runs": runs })).into_response())
}

async fn stored(api: &Api, id: &str) -> Result<RunRecord, ApiError> {
    api.store.run(id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, Code::UnknownRun, format!("there is no run `{id}` in the store"))
    })
}

async fn get_run(State(api): Shared, Path(id): Path<String>) -> Answer {
    let run = stored(&api, &id).await?;
    let mut value = run_json(&run);
    value["steps"] = serde_json::to_value(api.store.steps(&id).await?).unwrap_or_default();
    value["asks"] = serde_json::to_value(api.store.waiting(&id).await?).unwrap_or_default();
    Ok(Json(value).into_response())
}

/// The run's events as Server-Sent Events (`event:` the kind, `data:` the
/// JSON), from the first; the stream ends when the run does.
async fn events(State(api): Shared, Path(id): Path<String>) -> Answer {
    stored(&api, &id).await?;
    let stream = futures::stream::unfold((api, id, 0usize, false), |(api, id, sent, last)| async move {
        if last {
            return None;
        }
        loop {
            let events = api.store.events(&id).await.unwrap_or_default();
            if events.len() > sent {
                let batch: Vec<Result<SseEvent, std::convert::Infallible>> = events[sent..]
                    .iter()
                    .map(|e| {
                        let kind = e.get("event").and_then(J::as_str).unwrap_or("event").to_string();
                        Ok(SseEvent::default().event(kind).data(e.to_string()))
                    })
                    .collect();
                let ended = events.last().and_then(|e| e.get("event")).and_then(J::as_str) == Some("run_finished");
                return Some((futures::stream::iter(batch), (api, id, events.len(), ended)));
            }
            let running = matches!(api.store.run(&id).await, Ok(Some(r)) if matches!(r.shown_state(now_ms()), RunState::Queued | RunState::Running));
            if !running {
                return None;
            }
            tokio::time::sleep(EVENT_POLL).await;
        }
    });
    use futures::StreamExt;
    Ok(Sse::new(stream.flatten()).keep_alive(KeepAlive::default()).into_response())
}

async fn cancel(State(api): Shared, Path(id): Path<String>) -> Answer {
    let run = stored(&api, &id).await?;
    if run.ended_ms.is_some() && !matches!(run.state, RunState::Waiting | RunState::Interrupted) {
        let message = format!("run `{id}` has already ended ({})", run.state);
        return Err(ApiError::new(StatusCode::CONFLICT, Code::NotResumable, message));
    }
    api.store.request_cancel(&id).await?;
    let run = stored(&api, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(run_json(&run))).into_response())
}

#[derive(Deserialize, Default)]
struct ResumeBody {
    priority: Option<String>,
}

async fn resume(State(api): Shared, Path(id): Path<String>, body: Option<Json<ResumeBody>>) -> Answer {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let priority = body.priority.as_deref().map(flow_store::priority).transpose().map_err(ApiError::bad_request)?;
    stored(&api, &id).await?;
    if !api.queue.requeue(&id, priority).await? {
        let message = format!("run `{id}` is queued, running or has succeeded: there is nothing to resume");
        return Err(ApiError::new(StatusCode::CONFLICT, Code::NotResumable, message));
    }
    let run = stored(&api, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(run_json(&run))).into_response())
}

#[derive(Deserialize)]
struct AnswerBody {
    value: J,
}

/// Answers a waiting `ask`; a run that waited with no process is queued
/// again, for a worker to continue.
async fn answer(
    State(api): Shared,
    Path((id, step)): Path<(String, String)>,
    body: Option<Json<AnswerBody>>,
) -> Answer {
    let Some(Json(body)) = body else { return Err(ApiError::bad_request("the body must be { \"value\": ... }")) };
    let key = api.engine.answer(&id, &step, body.value).await?;
    let run = stored(&api, &id).await?;
    if run.state == RunState::Waiting {
        api.queue.requeue(&id, None).await?;
    }
    Ok(Json(json!({ "id": id, "key": key })).into_response())
}

#[derive(Deserialize)]
struct DeployBody {
    source: String,
}

async fn deploy(State(api): Shared, body: Option<Json<DeployBody>>) -> Answer {
    let Some(Json(body)) = body else { return Err(ApiError::bad_request("the body must be { \"source\": ... }")) };
    let program = compiled(&body.source)?;
    let mut deployed = Vec::new();
    for flow in &program.flows {
        deployed.push(definition_json(&api.store.deploy(&flow.name, &body.source).await?));
    }
    Ok((StatusCode::CREATED, Json(json!({ "definitions": deployed }))).into_response())
}

fn definition_json(d: &flow_vm::Definition) -> J {
    json!({ "name": d.name, "version": d.version, "hash": d.hash, "created_ms": d.created_ms })
}

async fn definitions(State(api): Shared) -> Answer {
    let all: Vec<J> = api.store.definitions().await?.iter().map(definition_json).collect();
    Ok(Json(json!({ "definitions": all })).into_response())
}
