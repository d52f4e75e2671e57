#!/usr/bin/env bash
# Scale figures for workers on Postgres (BENCHMARKS.md): runs per second and
# journal entries per second with 1, 2 and 4 workers, and how long a
# surviving worker takes to take over the run of a worker killed with
# SIGKILL. Uses the release flowc and the machine's Postgres (each
# measurement in a schema of its own, dropped after).
#
#   cargo build --release -p flowc && scripts/bench-workers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWC=${FLOWC:-target/release/flowc}
PG=${FLOW_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
RUNS=${RUNS:-200}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

sql() { PGOPTIONS="-c client_min_messages=warning" psql "$PG" -qtAc "$1"; }
now_ms() { date +%s%3N; }
use_schema() {
  sql "DROP SCHEMA IF EXISTS $1 CASCADE; CREATE SCHEMA $1" >/dev/null
  export FLOW_DB="$PG?options=-c%20search_path%3D$1"
}

# Each run: a map of 10 model calls (the type mock answers at once), so the
# figures are the engine's, the queue's and the journal's.
cat > "$work/batch.flow" <<'EOF'
model m = mock("any")

flow batch(n: int) -> int {
  step items = map i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] (concurrency: 10) {
    step a = llm m -> int { prompt: "item ${n} ${i}" }
    return a
  }
  return len(items)
}
EOF

echo "workers  runs  seconds  runs/s  journal entries/s"
for workers in 1 2 4; do
  schema="flow_bench_w${workers}_$$"
  use_schema "$schema"
  for i in $(seq 1 "$RUNS"); do "$FLOWC" submit "$work/batch.flow" --input "{\"n\": $i}" >/dev/null; done
  start=$(now_ms)
  for _ in $(seq 1 "$workers"); do
    "$FLOWC" worker --mock --concurrency 8 >/dev/null 2>&1 &
    pids+=($!)
  done
  while [ "$(sql "SELECT count(*) FROM $schema.runs WHERE state = 'succeeded'")" -lt "$RUNS" ]; do sleep 0.05; done
  end=$(now_ms)
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  entries=$(sql "SELECT count(*) FROM $schema.journal")
  awk -v w="$workers" -v r="$RUNS" -v ms="$((end - start))" -v e="$entries" \
    'BEGIN { s = ms / 1000; printf "%7d  %4d  %7.2f  %6.1f  %17.0f\n", w, r, s, r / s, e / s }'
  sql "DROP SCHEMA $schema CASCADE" >/dev/null
done

# Take-over: a run of 20 steps of 0.2 s, its worker killed; a second worker waits.
cat > "$work/slow.flow" <<'EOF'
tool nap(i: int) -> int = command ["sh", "-c", "cat >/dev/null; sleep 0.2; echo 1"]

flow slow() -> int {
  step naps = map i in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] (concurrency: 1) {
    step n = nap(i: i)
    return n
  }
  return len(naps)
}
EOF
schema="flow_bench_takeover_$$"
use_schema "$schema"
"$FLOWC" submit "$work/slow.flow" >/dev/null
"$FLOWC" worker --allow-commands --lease 5s >/dev/null 2>&1 &
first=$!
pids+=("$first")
until [ "$(sql "SELECT count(*) FROM $schema.journal WHERE key LIKE 's:%'")" -ge 3 ]; do sleep 0.05; done
owner=$(sql "SELECT owner FROM $schema.runs")
"$FLOWC" worker --allow-commands --lease 5s >/dev/null 2>&1 &
pids+=($!)
kill -9 "$first"
killed=$(now_ms)
until [ "$(sql "SELECT owner FROM $schema.runs")" != "$owner" ]; do sleep 0.02; done
taken=$(now_ms)
echo "take-over after SIGKILL (lease 5 s): $(awk -v ms="$((taken - killed))" 'BEGIN { printf "%.2f", ms / 1000 }') s"
until [ "$(sql "SELECT state FROM $schema.runs")" = "succeeded" ]; do sleep 0.1; done
echo "the run finished on the second worker: $(sql "SELECT output FROM $schema.runs")"
sql "DROP SCHEMA $schema CASCADE" >/dev/null
