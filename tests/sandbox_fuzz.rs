//! The sandbox under fuzzing: every test program and example, mutated and
//! alongside hostile seeds (growth, nested loops, recursion), is compiled
//! and, when it compiles, every flow of it is *run* under small limits with
//! mocked models and tools and no network. No run may panic, end past its
//! deadline by more than a bound, or grow the process past a memory cap.

mod mutate;

use flow_vm::{Engine, Limits, RunOptions};
use mutate::{apply, edit};
use proptest::prelude::*;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

/// Programs written to go over every limit, to be mutated like the rest.
const HOSTILE: &[&str] = &[
    "flow grow(seed: string) -> int {\n  step a = seed + seed + seed + seed\n  step b = a + a + a + a\n  step c = b + b + b + b\n  step d = c + c + c + c\n  step e = d + d + d + d\n  step f = e + e + e + e\n  step g = f + f + f + f\n  step h = g + g + g + g\n  step i = h + h + h + h\n  step j = i + i + i + i\n  step k = j + j + j + j\n  step l = k + k + k + k\n  return len(l)\n}\n",
    "flow spin(xs: [int]) -> int {\n  step t = sum(xs.map(a => sum(xs.map(b => sum(xs.map(c => a * b + c))))))\n  return t\n}\n",
    "flow fan(n: int) -> int {\n  step parts = map i in [1, 2, 3, 4] {\n    step deeper = when n < 60 { fan(n: n + 1) }\n    return (deeper ?? 0) + i\n  }\n  return sum(parts)\n}\n",
    "flow bomb(xs: [string]) -> int {\n  step all = xs.map(x => xs).flatten()\n  step text = all.join(\"\")\n  step more = text.replace(\"a\", text)\n  return len(more)\n}\n",
    "flow nest(x: int) -> int {\n  step a = nest(x: x + 1)\n  return a\n}\n",
];

static CORPUS: LazyLock<Vec<String>> = LazyLock::new(|| {
    let mut files = flow_tests::examples();
    for folder in ["ok", "run"] {
        files.extend(flow_tests::cases(folder));
    }
    let mut corpus: Vec<String> = files.iter().map(|p| flow_tests::read(p)).collect();
    corpus.extend(HOSTILE.iter().map(|s| s.to_string()));
    corpus
});

/// The deadline every fuzzed run gets, and how far past it a run may end.
const DEADLINE: Duration = Duration::from_millis(500);
const OVERRUN: Duration = Duration::from_secs(5);
/// The most memory the whole test process may reach.
const MEMORY_CAP_KIB: u64 = 2 << 20;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime")
});

fn engine() -> Engine {
    let limits = Limits::sandbox()
        .max_run_time(DEADLINE)
        .max_steps(20_000)
        .max_fanout(1_000)
        .max_value_bytes(1 << 20)
        .max_list_items(50_000)
        .max_answer_bytes(64 << 10);
    Engine::new().mock_models(true).mock_tools(true).http_tools(false).builtin_providers(false).limits(limits)
}

/// Compiles `source` and runs each of its flows with an input made from its
/// parameters' types (and, for lists, long ones, so loops have work);
/// returns the kinds of the errors the runs ended with.
fn compile_and_run(source: &str) -> Vec<flow_vm::ErrorKind> {
    let engine = engine();
    let Ok(program) = engine.compile(source) else { return Vec::new() };
    let mut failures = Vec::new();
    for flow in &program.flows {
        let mut input = serde_json::Map::new();
        for p in &flow.params {
            let value = match &p.ty {
                flow_compiler::types::Ty::List(item) => {
                    let one = flow_vm::models::sample(item, &program.types, &p.name);
                    serde_json::Value::Array(vec![one; 300])
                }
                ty => flow_vm::models::sample(ty, &program.types, &p.name),
            };
            input.insert(p.name.clone(), value);
        }
        let started = Instant::now();
        let outcome = RUNTIME.block_on(async {
            match engine.start(&program, RunOptions::new(&flow.name, serde_json::Value::Object(input))) {
                Ok(run) => Some(run.wait().await),
                Err(_) => None,
            }
        });
        let took = started.elapsed();
        assert!(took < DEADLINE + OVERRUN, "flow `{}` ran {took:?}, past its deadline:\n{source}", flow.name);
        if let Some(error) = outcome.and_then(|o| o.error) {
            assert!(!error.message.contains("panicked"), "flow `{}` panicked: {}\n{source}", flow.name, error.message);
            failures.push(error.kind);
        }
    }
    failures
}

/// The process's peak resident memory, in KiB (0 where /proc is missing).
fn peak_memory_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap_or_default();
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).unwrap_or(0)
}

#[test]
fn hostile_seeds_are_bounded() {
    for source in HOSTILE {
        let failures = compile_and_run(source);
        assert!(!failures.is_empty(), "the seed compiles and goes over a limit:\n{source}");
        for kind in failures {
            assert!(matches!(kind, flow_vm::ErrorKind::Limit | flow_vm::ErrorKind::Timeout), "{kind:?} for\n{source}");
        }
    }
    assert!(peak_memory_kib() < MEMORY_CAP_KIB, "peak memory {} KiB", peak_memory_kib());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_programs_run_within_their_limits(file in any::<usize>(), edits in proptest::collection::vec(edit(), 0..4)) {
        let source = &CORPUS[file % CORPUS.len()];
        compile_and_run(&apply(source, &edits));
        prop_assert!(peak_memory_kib() < MEMORY_CAP_KIB, "peak memory {} KiB", peak_memory_kib());
    }
}
