//! Parse + check throughput on a large generated program: one flow of
//! 10,000 steps (a mix of pure expressions, tool calls, `llm` calls, routes
//! and maps) plus the types, models and tools they use.
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

criterion_group!(benches, bench);
criterion_main!(benches);
