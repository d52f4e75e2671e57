//! Engine overhead: a chain of 10,000 trivial steps (pure, and host tool
//! calls), and a map over 100,000 items. Figures go to BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flow_vm::test_support::chain_source;
use flow_vm::{Engine, ToolError};
use serde::Deserialize;
use serde_json::json;
use std::hint::black_box;

#[derive(Deserialize)]
struct Inc {
    x: i64,
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let engine = Engine::new().tool("inc", |a: Inc| async move { Ok::<_, ToolError>(a.x + 1) });
    let n = 10_000;

    let mut group = c.benchmark_group("engine");
    group.sample_size(20);
    group.throughput(Throughput::Elements(n as u64));
    // The JIT on: the same programs, each expression compiled once it ran often enough.
    let jit = engine.clone().jit(true);
    let program = engine.compile(&chain_source(n, "", "start + 1", |prev| format!("{prev} + 1"))).expect("compiles");
    group.bench_function("chain of 10k pure steps", |b| {
        b.iter(|| runtime.block_on(engine.run(&program, "chain", json!({ "start": 0 }))).expect("runs"))
    });
    group.bench_function("chain of 10k pure steps, jit on", |b| {
        b.iter(|| runtime.block_on(jit.run(&program, "chain", json!({ "start": 0 }))).expect("runs"))
    });
    let program = engine
        .compile(&chain_source(n, "tool inc(x: int) -> int\n", "inc(x: start)", |prev| format!("inc(x: {prev})")))
        .expect("compiles");
    group.bench_function("chain of 10k host tool calls", |b| {
        b.iter(|| runtime.block_on(engine.run(&program, "chain", json!({ "start": 0 }))).expect("runs"))
    });

    let items = 100_000;
    let list: Vec<i64> = (0..items).collect();
    let input = json!({ "xs": list });
    let src = "flow fan(xs: [int]) -> int {
  step ys = map x in xs (concurrency: 1000) {
    step y = x * 2
    return y
  }
  return len(ys)
}";
    let program = engine.compile(src).expect("compiles");
    group.throughput(Throughput::Elements(items as u64));
    group.bench_function("map over 100k items", |b| {
        b.iter(|| runtime.block_on(engine.run(&program, "fan", black_box(input.clone()))).expect("runs"))
    });
    group.bench_function("map over 100k items, jit on", |b| {
        b.iter(|| runtime.block_on(jit.run(&program, "fan", black_box(input.clone()))).expect("runs"))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
