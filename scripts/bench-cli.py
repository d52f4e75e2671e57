#!/usr/bin/env python3
"""Whole-process benchmarks of the command line (issue 17; BENCHMARKS.md).

Start-up, chains, wide joins and nested maps of 1k/10k/100k steps, fan-outs of
10k/100k/1M items, and `flowc check` of the 30,018-line front-end bench input
(the generator of compiler/benches/check.rs, ported). Each figure is the
median of several runs of the release binary, output to /dev/null, no store.
Growth ratios compare the time per step (or item) at the largest size with
that at the smallest.

    cargo build --release -p flowc && scripts/bench-cli.py
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

FLOWC = os.environ.get("FLOWC", "target/release/flowc")


def timed(args, runs):
    """The median wall time of `flowc ARGS` in milliseconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run([FLOWC, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append((time.perf_counter() - start) * 1000)
        if done.returncode != 0:
            sys.exit(f"flowc {' '.join(args)} failed: {done.stderr.decode()[-500:]}")
    return statistics.median(times)


def chain(n):
    lines = ["flow chain(start: int) -> int {", "  step s0 = start + 1"]
    lines += [f"  step s{i} = s{i - 1} + 1" for i in range(1, n)]
    lines += [f"  return s{n - 1}", "}"]
    return "\n".join(lines) + "\n", {"start": 0}


def wide(n):
    lines = ["flow wide(x: int) -> int {"]
    lines += [f"  step s{i} = x + {i}" for i in range(n)]
    lines += ["  step all = [" + ", ".join(f"s{i}" for i in range(n)) + "]", "  return len(all)", "}"]
    return "\n".join(lines) + "\n", {"x": 1}


def nested(n):
    """Maps with a map inside, three steps each, each using the one before."""
    lines = ["flow nested(xs: [int]) -> int {"]
    for i in range(n // 3):
        before = "0" if i == 0 else f"len(m{i - 1})"
        lines += [f"  step m{i} = map x in xs {{", "    step inner = map y in [x] {", f"      step z = y + {i}",
                  "      return z", "    }", f"    return len(inner) + {before}", "  }"]
    lines += [f"  return len(m{n // 3 - 1})", "}"]
    return "\n".join(lines) + "\n", {"xs": [1, 2, 3]}


def fan(n):
    source = "flow fan(xs: [int]) -> int {\n  step ys = map x in xs (concurrency: 1000) {\n    step y = x * 2\n    return y\n  }\n  return len(ys)\n}\n"
    return source, {"xs": list(range(n))}


def fan_range(n):
    """The same fan-out over `range(n)`: no input to parse."""
    source = f"flow fan() -> int {{\n  step ys = map x in range({n}) (concurrency: 1000) {{\n    step y = x * 2\n    return y\n  }}\n  return len(ys)\n}}\n"
    return source, {}


def bench_input(steps):
    """compiler/benches/check.rs's `generate`, the same text."""
    s = ['type Item {\n  /// a name\n  name: string\n  score: float\n  tags: [string]\n}\n\n',
         'type Verdict {\n  label: "good" | "bad"\n  confidence: float\n}\n\n',
         'model fast = openai("gpt-4o-mini") { temperature: 0.2 }\n\n',
         'tool lookup(id: string) -> Item\n\n',
         'flow big(seed: string) -> int {\n',
         '  step s0 = lookup(id: seed)\n']
    for i in range(1, steps):
        p = f"{i - 1}[0]" if (i - 1) % 5 == 4 else f"{i - 1}"
        k = i % 5
        if k == 0:
            s.append(f'  step s{i} = lookup(id: "${{s{p}.name}}-{i}")\n    retry 2 backoff 1s..10s timeout 30s\n')
        elif k == 1:
            s.append(f'  step s{i} = {{ name: s{p}.name, score: s{p}.score * 2.0 + {i}.0, tags: s{p}.tags.filter(t => t != "x") }}\n')
        elif k == 2:
            s.append(f'  step s{i} = llm fast -> Item {{\n    prompt: "Improve ${{s{p}.name}} (score ${{s{p}.score}})"\n  }}\n')
        elif k == 3:
            s.append(f'  step s{i} = route {{\n    when s{p}.score > 0.5 => {{ name: s{p}.name, score: 1.0, tags: [] }}\n    else => s{p}\n  }}\n')
        else:
            s.append(f'  step s{i} = map t in s{p}.tags (concurrency: 4) {{\n    step v = llm fast -> Verdict {{ prompt: "${{t}}" }}\n    return {{ name: t, score: v.confidence, tags: [v.label] }}\n  }}\n  step u{i} = s{i}[0]\n')
    uses = [f"len(u{i}.tags)" for i in range(1, steps) if i % 5 == 4]
    last = steps - 1
    uses.append(f"len(s{last})" if last % 5 == 4 else f"len(s{last}.tags)")
    s.append(f"  return sum([{', '.join(uses)}])\n}}\n")
    return "".join(s)


def main():
    work = tempfile.mkdtemp(prefix="flowc-bench-")

    def files(name, shape):
        source, data = shape
        flow, inputs = os.path.join(work, f"{name}.flow"), os.path.join(work, f"{name}.json")
        with open(flow, "w") as f:
            f.write(source)
        with open(inputs, "w") as f:
            json.dump(data, f)
        return flow, inputs

    one, _ = files("one", ("flow f() -> int {\n  step a = 1\n  return a\n}\n", {}))
    check_one = timed(["check", one], 30)
    run_one = timed(["run", one, "--no-store"], 30)
    print(f"start-up: check {check_one:.2f} ms, run --no-store {run_one:.2f} ms ({run_one / check_one:.2f}x)")

    for label, make, sizes in [("chain", chain, [1_000, 10_000, 100_000]), ("wide join", wide, [1_000, 10_000, 100_000]),
                               ("nested maps", nested, [1_000, 10_000, 100_000]),
                               ("fan-out", fan, [10_000, 100_000, 1_000_000]),
                               ("fan-out over range", fan_range, [10_000, 100_000, 1_000_000])]:
        per = []
        for n in sizes:
            flow, inputs = files(f"{label.replace(' ', '_')}{n}", make(n))
            runs = 5 if n >= 100_000 else 9
            # A list of a million items is more than the default value limit (16 MiB).
            limits = ["--limit", "max_value_bytes=256MiB"] if label.startswith("fan-out") else []
            ms = timed(["run", flow, "--no-store", "--input", f"@{inputs}", *limits], runs)
            per.append(ms * 1000 / n)
            print(f"{label} {n:>9,}: {ms:9.1f} ms, {ms * 1000 / n:6.2f} µs per step")
        print(f"{label}: growth of the time per step, largest / smallest size: {per[-1] / per[0]:.2f}x")

    # --events jsonl against the default view, on the fan-out over range(100,000).
    flow, _ = files("jsonl", fan_range(100_000))
    view = timed(["run", flow, "--no-store"], 9)
    lines = timed(["run", flow, "--no-store", "--events", "jsonl"], 9)
    print(f"--events jsonl: {lines:.1f} ms against {view:.1f} ms with the progress view ({lines / view:.2f}x)")

    big = os.path.join(work, "big.flow")
    source = bench_input(10_000)
    with open(big, "w") as f:
        f.write(source)
    lines = source.count("\n")
    ms = timed(["check", big], 5)
    print(f"check of the {lines:,}-line bench input: {ms:.0f} ms, {lines / ms * 1000:,.0f} lines/s")


if __name__ == "__main__":
    main()
