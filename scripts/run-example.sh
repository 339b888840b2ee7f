#!/usr/bin/env bash
# The README's main job: the example workload through snapfaas-supervisor.
# Builds what is missing (scripts/setup.sh), generates a seeded Poisson workload for the two ring-3
# echo functions of configs/ring3-functions.yaml, replays it through the supervisor (pre-spawned,
# jailed firerunner VMs serving requests through the shared-memory ring window) and prints the
# summary: requests, cold/warm, latency p50/p99.
# What it does not run yet: the Python example functions (functions/) through the supervisor need
# runners that restore snapshots on command (issues 6 and 7); fc_wrapper runs them in one VM today.
# Usage: scripts/run-example.sh [--end MS] [--mem MiB] [--out DIR]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

end_ms=5000 mem=128 out=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --end) end_ms="${2:?--end needs milliseconds}"; shift ;;
    --mem) mem="${2:?--mem needs MiB}"; shift ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    *) die "run-example.sh: unknown argument '$1' (use --end MS, --mem MiB, --out DIR)" ;;
  esac
  shift
done

case_line="$("$ROOT/scripts/kvm-detect.sh" 2>/dev/null || true)"
step "machine: ${case_line:-unknown}"
step "ring-3 echo guests run natively on every KVM (hardware or PVM); no emulated host needed"
"$ROOT/scripts/setup.sh" --only release

[[ -n "$out" ]] || out="$(mktemp -d)"
mkdir -p "$out"
bin="$BUILD_RELEASE/supervisor"
step "workload: Poisson arrivals, echo_a every 2 ms and echo_b every 10 ms on average, ${end_ms} ms, seed 1"
"$bin/snapfaas-workload" --function echo_a=2 --function echo_b=10 --start 0 --end "$end_ms" \
  --users 4 --seed 1 --payload '{"text":"hello, snapfaas"}' --out "$out/workload.jsonl"
echo "$(wc -l < "$out/workload.jsonl") requests in $out/workload.jsonl"

step "snapfaas-supervisor --mem $mem (results: $out/results.jsonl, stats: $out/stats.json)"
"$bin/snapfaas-supervisor" --config "$ROOT/configs/ring3-controller.yaml" --mem "$mem" \
  --requests_file "$out/workload.jsonl" --output "$out/results.jsonl" --stats "$out/stats.json" \
  2> "$out/supervisor.log" || { tail -n 20 "$out/supervisor.log" >&2; die "snapfaas-supervisor failed (log: $out/supervisor.log)"; }
grep '^summary: ' "$out/supervisor.log" | tail -n 1
