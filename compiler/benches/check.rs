//! Parse + check throughput on a large generated program: one flow of
//! 10,000 steps (a mix of pure expressions, tool calls, `llm` calls, routes
//! and maps) plus the types, models and tools they use.
//!
//! Then whole compiles (parse + check + lower) of three shapes at 1,000,
//! 10,000 and 100,000 steps — a chain, a wide join, maps with maps inside —
//! whose time per step should not grow with the size (issue 17).
//!
//! Run: `cargo bench -p flow-compiler --bench check`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::fmt::Write;
use std::hint::black_box;

/// A program with `steps` steps, about three lines per step.
pub fn generate(steps: usize) -> String {
    let mut s = String::new();
    s.push_str("type Item {\n  /// a name\n  name: string\n  score: float\n  tags: [string]\n}\n\n");
    s.push_str("type Verdict {\n  label: \"good\" | \"bad\"\n  confidence: float\n}\n\n");
    s.push_str("model fast = openai(\"gpt-4o-mini\") { temperature: 0.2 }\n\n");
    s.push_str("tool lookup(id: string) -> Item\n\n");
    s.push_str("flow big(seed: string) -> int {\n");
    s.push_str("  step s0 = lookup(id: seed)\n");
    for i in 1..steps {
        // The value of the previous step: after a map, its first item.
        let p = if (i - 1) % 5 == 4 { format!("{}[0]", i - 1) } else { format!("{}", i - 1) };
        match i % 5 {
            0 => writeln!(s, "  step s{i} = lookup(id: \"${{s{p}.name}}-{i}\")\n    retry 2 backoff 1s..10s timeout 30s").expect("writing to a String cannot fail"),
            1 => writeln!(s, "  step s{i} = {{ name: s{p}.name, score: s{p}.score * 2.0 + {i}.0, tags: s{p}.tags.filter(t => t != \"x\") }}").expect("writing to a String cannot fail"),
            2 => writeln!(s, "  step s{i} = llm fast -> Item {{\n    prompt: \"Improve ${{s{p}.name}} (score ${{s{p}.score}})\"\n  }}").expect("writing to a String cannot fail"),
            3 => writeln!(s, "  step s{i} = route {{\n    when s{p}.score > 0.5 => {{ name: s{p}.name, score: 1.0, tags: [] }}\n    else => s{p}\n  }}").expect("writing to a String cannot fail"),
            _ => writeln!(s, "  step s{i} = map t in s{p}.tags (concurrency: 4) {{\n    step v = llm fast -> Verdict {{ prompt: \"${{t}}\" }}\n    return {{ name: t, score: v.confidence, tags: [v.label] }}\n  }}\n  step u{i} = s{i}[0]").expect("writing to a String cannot fail"),
        }
    }
    // Use every step that would otherwise be unused.
    let mut uses: Vec<String> = Vec::new();
    for i in 1..steps {
        if i % 5 == 4 {
            uses.push(format!("len(u{i}.tags)"));
        }
    }
    let last = steps - 1;
    uses.push(if last % 5 == 4 { format!("len(s{last})") } else { format!("len(s{last}.tags)") });
    writeln!(s, "  return sum([{}])", uses.join(", ")).expect("writing to a String cannot fail");
    s.push_str("}\n");
    s
}

fn bench(c: &mut Criterion) {
    let source = generate(10_000);
    let lines = source.lines().count() as u64;
    let checked = flow_compiler::check(&source);
    assert!(checked.diagnostics.is_empty(), "the generated program checks clean: {:?}", checked.diagnostics.first());

    let mut group = c.benchmark_group("front_end");
    group.throughput(Throughput::Elements(lines));
    group.sample_size(20);
    group.bench_function(format!("parse_10k_steps_{lines}_lines"), |b| {
        b.iter(|| flow_compiler::parse(black_box(&source)))
    });
    group.bench_function(format!("parse_check_10k_steps_{lines}_lines"), |b| {
        b.iter(|| flow_compiler::check(black_box(&source)))
    });
    let small =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/triage.flow")).unwrap_or_default();
    group.throughput(Throughput::Elements(small.lines().count() as u64));
    group.bench_function("parse_check_triage_example", |b| b.iter(|| flow_compiler::check(black_box(&small))));
    group.finish();
}

/// `step s{i} = s{i-1} + 1`, each step using the last.
fn chain(steps: usize) -> String {
    let mut s = String::from("flow chain(start: int) -> int {\n  step s0 = start + 1\n");
    for i in 1..steps {
        writeln!(s, "  step s{i} = s{} + 1", i - 1).expect("writing to a String cannot fail");
    }
    writeln!(s, "  return s{}\n}}", steps - 1).expect("writing to a String cannot fail");
    s
}

/// Independent steps, then one that uses them all.
fn wide(steps: usize) -> String {
    let mut s = String::from("flow wide(x: int) -> int {\n");
    for i in 0..steps {
        writeln!(s, "  step s{i} = x + {i}").expect("writing to a String cannot fail");
    }
    let all: Vec<String> = (0..steps).map(|i| format!("s{i}")).collect();
    writeln!(s, "  step all = [{}]\n  return len(all)\n}}", all.join(", ")).expect("writing to a String cannot fail");
    s
}

/// Steps that are maps with a map inside (three steps each), each using
/// the one before.
fn nested(steps: usize) -> String {
    let mut s = String::from("flow nested(xs: [int]) -> int {\n");
    for i in 0..steps / 3 {
        let before = if i == 0 { "0".to_string() } else { format!("len(m{})", i - 1) };
        writeln!(
            s,
            "  step m{i} = map x in xs {{\n    step inner = map y in [x] {{\n      step z = y + {i}\n      return z\n    }}\n    return len(inner) + {before}\n  }}"
        )
        .expect("writing to a String cannot fail");
    }
    writeln!(s, "  return len(m{})\n}}", steps / 3 - 1).expect("writing to a String cannot fail");
    s
}

fn compile(c: &mut Criterion) {
    let source = generate(10_000);
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.throughput(Throughput::Elements(source.lines().count() as u64));
    group.bench_function("bench_input_10k_steps", |b| b.iter(|| flow_compiler::compile(black_box(&source)).is_ok()));
    type Shape = fn(usize) -> String;
    for (name, shape) in [("chain", chain as Shape), ("wide_join", wide), ("nested_maps", nested)] {
        for steps in [1_000, 10_000, 100_000] {
            let source = shape(steps);
            let compiled = flow_compiler::compile(&source).map(|(_, analysis)| analysis.diagnostics);
            assert!(matches!(&compiled, Ok(d) if d.is_empty()), "the {name} of {steps} steps compiles clean");
            group.throughput(Throughput::Elements(steps as u64));
            group.bench_function(format!("{name}_{steps}_steps"), |b| {
                b.iter(|| flow_compiler::compile(black_box(&source)).is_ok())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench, compile);
criterion_main!(benches);
