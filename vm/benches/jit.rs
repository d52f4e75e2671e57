//! The JIT against the tree walker (issue 16).
//!
//! - `expression/*`: one expression, evaluated again and again on a frame
//!   whose values are set: interpreted, and compiled (at its first run).
//! - `scoring run/*`: whole runs (compile time included) of a flow that
//!   scores 1,000,000 records with lambdas (arithmetic, a comparison chain,
//!   field reads, a `.filter`), with the JIT off and on.
//! - `map step/*`: a `map` step over 100,000 items whose body has three
//!   pure steps, with the JIT off and on: the engine's per-item work
//!   dominates there.
//!
//! `cargo bench -p flow-vm --bench jit`; figures in BENCHMARKS.md.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use flow_vm::test_support::compile;
use flow_vm::{Engine, ExprEval, Frame, RunOptions, TreeWalker, Value};
use std::hint::black_box;

const SHAPES: &[(&str, &str)] = &[
    ("comparison chain", "a > b && b > 0"),
    ("arithmetic and comparison", "a * 3 + b - 7 > 10"),
    ("float arithmetic", "(x * 2.5 + y) / 3.0 - x"),
    ("logic over fields", "r.n > 3 && r.f < 2.5 || !p"),
    ("if over ints", "if a > b { a * 2 } else { b - a }"),
];

fn expression(c: &mut Criterion) {
    let mut group = c.benchmark_group("expression");
    for (name, text) in SHAPES {
        let source = format!(
            "type R {{ n: int, f: float }}\nflow f(a: int, b: int, x: float, y: float, p: bool, r: R) -> json {{\n  return {text}\n}}\n"
        );
        let source = source.replace(
            "-> json",
            &format!(
                "-> {}",
                if text.contains("2.5 + y") {
                    "float"
                } else if text.starts_with("if") {
                    "int"
                } else {
                    "bool"
                }
            ),
        );
        let engine = Engine::new().jit_after(Some(0));
        let program = compile(&engine, &source);
        let flow = &program.flows[0];
        let frame = Frame::new(flow.body.slots, None);
        let record =
            Value::object([("n".into(), Value::Int(5)), ("f".into(), Value::Float(1.5))].into_iter().collect());
        let values = [Value::Int(7), Value::Int(4), Value::Float(1.25), Value::Float(0.5), Value::Bool(false), record];
        for (param, value) in flow.params.iter().zip(values) {
            frame.set(param.slot, value);
        }
        let expr = &flow.body.ret;
        let jit = engine.jit_evaluator().expect("the JIT is on");
        let expected = TreeWalker.eval(expr, &frame).expect("evaluates");
        assert_eq!(jit.eval(expr, &frame).expect("evaluates"), expected);
        assert_eq!(engine.jit_compiled(), 1, "{name} compiles");
        println!("{name}: compiled in {:?}", engine.jit_compile_time());
        group.bench_function(format!("{name}/interpreted"), |b| b.iter(|| TreeWalker.eval(black_box(expr), &frame)));
        group.bench_function(format!("{name}/compiled"), |b| b.iter(|| jit.eval(black_box(expr), &frame)));
    }
    group.finish();
}

const SCORING: &str = r#"
flow score(n: int) -> int {
  step items = range(n).map(i => { score: i, weight: i / 7, flag: i > 3 })
  step scores = items.map(it => it.score * 3 + it.weight * 2.0 - 7.0)
  step good = items.filter(it => it.score * 2 > 1000 && it.weight < 100000.0 && it.flag)
  return len(good) + len(scores)
}
"#;

const MAP_STEP: &str = r#"
flow score(n: int) -> int {
  step scored = map i in range(n) {
    step s = i * 3 + 7
    step w = s * 2 - i
    step keep = s > 100 && w < 1000000 || i == 0
    return if keep { w } else { 0 }
  }
  return len(scored)
}
"#;

fn whole_runs(c: &mut Criterion, group_name: &str, source: &str, n: i64, samples: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let mut group = c.benchmark_group(group_name);
    group.sample_size(samples);
    // Large lists are the point here: the value limits are raised.
    let mut limits = flow_vm::Limits::default();
    limits.max_value_bytes = 1 << 30;
    limits.max_list_items = 10_000_000;
    let base = Engine::new().limits(limits);
    let background = base.clone().jit_in_background(flow_vm_threshold());
    for (name, engine) in [
        ("jit off", base.clone()),
        ("jit on", base.clone().jit(true)),
        ("jit on, compiling in the background", background),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || engine.clone(),
                |engine| {
                    // A fresh compile each time: compiling the expressions is part of the run.
                    let program = compile(&engine, source);
                    let outcome = runtime.block_on(async {
                        let options = RunOptions::new("score", serde_json::json!({ "n": n }));
                        engine.start(&program, options).expect("starts").wait().await
                    });
                    assert!(outcome.output.is_some(), "{:?}", outcome.error);
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

fn scoring(c: &mut Criterion) {
    whole_runs(c, "scoring run of 1,000,000 records", SCORING, 1_000_000, 10);
    whole_runs(c, "map step over 100,000 items", MAP_STEP, 100_000, 10);
}

/// The JIT's threshold (`Engine::jit(true)` uses it).
fn flow_vm_threshold() -> u32 {
    10_000
}

criterion_group!(benches, expression, scoring);
criterion_main!(benches);
