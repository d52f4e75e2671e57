//! `flowc submit` queues a run in a Postgres store; `flowc worker` takes
//! queued runs and runs them, as many processes on as many machines as
//! needed. The unit of work is a whole run (decision 0033): a worker claims
//! one, starts it (or takes it over from a worker that died, resuming from
//! its journal), and holds it by the run's heartbeat. SIGTERM stops claiming,
//! lets the runs in flight finish for `--grace`, then interrupts the rest,
//! which other workers take at once.

use crate::host::{HostArgs, StoreArgs};
use crate::run::{store_failed, usage};
use flow_store::{PgStore, Submission};
use flow_vm::{Canceller, Engine, Store};
use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinSet;

/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(200);

/// What `flowc worker` is given.
pub struct WorkerArgs<'a> {
    /// Runs at once.
    pub concurrency: usize,
    /// How old a running run's heartbeat may be before another worker takes it over.
    pub lease: Duration,
    /// How long SIGTERM waits for runs in flight before interrupting them.
    pub grace: Duration,
    pub host: &'a HostArgs,
}

/// The store a queue needs: Postgres, named by `--db`/`FLOW_DB`.
pub(crate) async fn queue_store(args: &StoreArgs) -> Result<Arc<PgStore>, ExitCode> {
    let Some(url) = args.db.as_deref().filter(|db| flow_store::is_postgres_url(db)) else {
        return Err(usage("workers and queued runs need a Postgres store: --db postgres://… (or FLOW_DB)".into()));
    };
    PgStore::connect(url).await.map(Arc::new).map_err(|e| store_failed(&e))
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| usage(format!("cannot start the runtime: {e}")))
}

/// `flowc submit TARGET --input JSON [--priority P]`: checks the input and
/// queues the run; prints its id.
pub fn submit(
    target: &str,
    flow: Option<String>,
    input: serde_json::Value,
    priority: u8,
    store: &StoreArgs,
) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let queue = match queue_store(store).await {
            Ok(q) => q,
            Err(code) => return code,
        };
        let engine = Engine::new().store(queue.clone() as Arc<dyn Store>);
        let (name, source, definition) = match crate::run::load_target(&engine, target).await {
            Ok(found) => found,
            Err(code) => return code,
        };
        let Some(program) = crate::run::compile(&name, &source) else { return ExitCode::from(1) };
        let flow = match crate::run::choose_flow(&program, flow, definition.as_deref(), &name) {
            Ok(flow) => flow,
            Err(code) => return code,
        };
        if let Err(e) = engine.check_input(&program, &flow, &input) {
            eprintln!("{e}");
            return ExitCode::from(1);
        }
        let id = flow_vm::new_run_id();
        let mut run = Submission::new(&id, &flow, &input, &source);
        run.definition = definition.as_deref();
        run.priority = priority;
        match queue.submit(&run).await {
            Ok(()) => {
                println!("{id}");
                ExitCode::SUCCESS
            }
            Err(e) => store_failed(&e),
        }
    })
}

/// `flowc worker`: claims and runs queued runs until SIGTERM or SIGINT.
pub fn worker(args: WorkerArgs<'_>) -> ExitCode {
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let code = runtime.block_on(async move {
        let queue = match queue_store(&args.host.store).await {
            Ok(q) => q,
            Err(code) => return code,
        };
        let engine = args.host.engine_with(Some(queue.clone() as Arc<dyn Store>)).shared_limits(queue.clone());
        eprintln!("worker {} takes runs ({} at once)", flow_vm::this_process(), args.concurrency);
        work(queue, engine, args.concurrency, args.lease, args.grace).await;
        ExitCode::SUCCESS
    });
    runtime.shutdown_background();
    code
}

/// Resolves at SIGTERM or SIGINT (never, if they cannot be listened for).
pub(crate) async fn stop_signal() {
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => std::future::pending().await,
    }
}

/// Claims and runs queued runs, `concurrency` at once, until a stop signal;
/// then drains (see [`drain`]).
pub(crate) async fn work(queue: Arc<PgStore>, engine: Engine, concurrency: usize, lease: Duration, grace: Duration) {
    let engine = Arc::new(engine);
    let held: Arc<Mutex<HashMap<String, Canceller>>> = Arc::default();
    let mut running = JoinSet::new();
    let lease_ms = lease.as_millis() as i64;
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        while running.try_join_next().is_some() {}
        if running.len() >= concurrency {
            tokio::select! {
                () = &mut stop => break,
                _ = running.join_next() => {}
            }
            continue;
        }
        let pause = match queue.claim(lease_ms).await {
            Ok(Some(id)) => {
                running.spawn(take(engine.clone(), queue.clone(), id, held.clone()));
                Duration::ZERO
            }
            Ok(None) => POLL,
            Err(e) => {
                eprintln!("{e}");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(pause) => {}
        }
    }
    drain(running, &held, grace).await;
}

/// Stops: the runs in flight may finish within `grace`; the rest are
/// interrupted (recorded as such, for another worker to take).
async fn drain(mut running: JoinSet<()>, held: &Mutex<HashMap<String, Canceller>>, grace: Duration) {
    eprintln!("worker stopping: {} run(s) in flight get {:?} to finish", running.len(), grace);
    let finished = tokio::time::timeout(grace, async { while running.join_next().await.is_some() {} }).await;
    if finished.is_err() {
        if let Ok(held) = held.lock() {
            for stop in held.values() {
                stop.interrupt();
            }
        }
        while running.join_next().await.is_some() {}
    }
}

/// Starts (or takes over) the claimed run `id` and waits for its end.
async fn take(engine: Arc<Engine>, queue: Arc<PgStore>, id: String, held: Arc<Mutex<HashMap<String, Canceller>>>) {
    let started = match engine.takeover_options(&id).await {
        Ok((program, options)) => engine.start_recorded(&program, options).await,
        Err(e) => Err(e),
    };
    let run = match started {
        Ok(run) => run,
        // Another worker took it first (the store saw a newer heartbeat): its claim is void.
        Err(flow_vm::RunError::Setup { code: flow_compiler::Code::NotResumable, .. }) => {
            let _ = queue.release(&id).await;
            return;
        }
        // It cannot start here: failed, with why, rather than claimed again and again.
        Err(e) => {
            eprintln!("run {id}: {e}");
            let error = serde_json::json!({ "kind": "setup", "message": e.to_string() });
            if let Err(e) = queue.fail_claimed(&id, &error).await {
                eprintln!("{e}");
            }
            return;
        }
    };
    if let Ok(mut held) = held.lock() {
        held.insert(id.clone(), run.canceller());
    }
    let outcome = run.wait().await;
    if let Ok(mut held) = held.lock() {
        held.remove(&id);
    }
    eprintln!("run {id}: {:?}", outcome.status);
}
