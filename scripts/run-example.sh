#!/usr/bin/env bash
# The README's main job: the example workload through snapfaas-supervisor.
# Builds what is missing (scripts/setup.sh, build-images.sh, build-snapshots.sh), generates a seeded
# Poisson workload for the Python example functions hello, echo and markdown (configs/controller.yaml
# + configs/functions.yaml), and replays it through the supervisor: pre-spawned, jailed firerunner
# VMs, each cold start a restore of the python3 base + the function's diff snapshot, requests and
# responses through the shared-memory ring window. Prints the summary (requests, cold/warm, p50/p99
# in ms) and says where it ran: natively with VT-x/AMD-V, else inside the emulated KVM host
# (scripts/kvm-host.sh: QEMU TCG, so latencies there are emulation-slow; the kernel, images and
# snapshots the functions use are staged in its memory first, as a real host's page cache holds them).
# --ring3: the ring-3 echo functions of configs/ring3-functions.yaml instead, natively on any KVM
# (hardware or PVM).
# --node: the JavaScript example functions hello-js, gzip-js, sign-js and token-js instead
# (configs/node-controller.yaml + configs/node-functions.yaml: the nodejs runtime image, its base
# snapshot + one diff per function).
# --then CMD: after the replay, the shell command CMD in the same place (inside the same
# emulated-host boot on PVM machines), its output appended to supervisor.log (tests use it).
# Usage: scripts/run-example.sh [--ring3 | --node] [--end MS] [--mem MiB] [--out DIR] [--then CMD]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

ring3=0 node=0 end_ms="" mem="" out="" then_cmd=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ring3) ring3=1 ;;
    --node) node=1 ;;
    --end) end_ms="${2:?--end needs milliseconds}"; shift ;;
    --mem) mem="${2:?--mem needs MiB}"; shift ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    --then) then_cmd="${2:?--then needs a command}"; shift ;;
    *) die "run-example.sh: unknown argument '$1' (use --ring3, --node, --end MS, --mem MiB, --out DIR, --then CMD)" ;;
  esac
  shift
done

case_line="$("$ROOT/scripts/kvm-detect.sh" 2>/dev/null || true)"
case_word="${case_line%%:*}"
step "machine: ${case_line:-unknown}"
"$ROOT/scripts/setup.sh" --only release
bin="$BUILD_RELEASE/supervisor"
# Inside the repository: the emulated KVM host sees it read-write at the same path.
[[ -n "$out" ]] || out="$CACHE/run-example/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

if [[ $ring3 -eq 1 ]]; then
  end_ms="${end_ms:-5000}" mem="${mem:-128}"
  config="$ROOT/configs/ring3-controller.yaml"
  step "ring-3 echo guests run natively on every KVM (hardware or PVM); no emulated host needed"
  step "workload: Poisson arrivals, echo_a every 2 ms and echo_b every 10 ms on average, ${end_ms} ms, seed 1"
  "$bin/snapfaas-workload" --function echo_a=2 --function echo_b=10 --start 0 --end "$end_ms" \
    --users 4 --seed 1 --payload '{"text":"hello, snapfaas"}' --out "$out/workload.jsonl"
  where=(env) extra=()
else
  end_ms="${end_ms:-8000}" mem="${mem:-512}"
  "$ROOT/scripts/build-images.sh"
  if [[ $node -eq 1 ]]; then
    config="$ROOT/configs/node-controller.yaml"
    functions=(hello-js gzip-js sign-js token-js) runtime=nodejs
    "$ROOT/scripts/build-snapshots.sh" "${functions[@]}"
    step "workload: Poisson arrivals, hello-js every 300 ms, gzip-js every 500 ms, sign-js every 600 ms, token-js every 800 ms on average, ${end_ms} ms, seed 1"
    "$bin/snapfaas-workload" --function hello-js=300 --function gzip-js=500 --function sign-js=600 \
      --function token-js=800 --start 0 --end "$end_ms" --users 4 --seed 1 \
      --payload '{"text":"A cold start is a restore. ","repeat":40,"url":"https://example.com/a?b=2&a=1","key":"k","user":"u"}' \
      --out "$out/workload.jsonl"
  else
    config="$ROOT/configs/controller.yaml"
    functions=(hello echo markdown) runtime=python3
    "$ROOT/scripts/build-snapshots.sh" "${functions[@]}"
    step "workload: Poisson arrivals, hello every 300 ms, echo every 500 ms, markdown every 800 ms on average, ${end_ms} ms, seed 1"
    "$bin/snapfaas-workload" --function hello=300 --function echo=500 --function markdown=800 --start 0 \
      --end "$end_ms" --users 4 --seed 1 --payload '{"text":"# SnapFaaS\n\nA *cold start* is a **restore**."}' \
      --out "$out/workload.jsonl"
  fi
  if [[ $case_word == hardware ]]; then
    step "Linux guests run natively (hardware KVM)"
    where=(env) extra=()
  else
    step "Linux guests cannot run on this KVM ($case_word): the supervisor runs inside the emulated KVM host"
    # What the supervisor's VMs read (the controller files name these), staged in L1's memory.
    snaps="$CACHE/snapshots" stage=()
    for p in "$("$ROOT/scripts/images.sh" --check vmlinux)" "$("$ROOT/scripts/images.sh" --check "${runtime/python3/rootfs}")" \
      "$CACHE/images/appfs" "$snaps/$runtime" "${functions[@]/#/$snaps/}"; do
      stage+=(--stage "$p")
    done
    where=("$ROOT/scripts/kvm-host.sh" --mem 4096 --timeout 1200 "${stage[@]}" --)
    extra=(--start_timeout 60000)  # VM creation takes seconds under QEMU TCG, more on a busy host
  fi
fi
echo "$(wc -l < "$out/workload.jsonl") requests in $out/workload.jsonl"

step "snapfaas-supervisor --mem $mem (results: $out/results.jsonl, stats: $out/stats.json)"
run=("$bin/snapfaas-supervisor" --config "$config" --mem "$mem" \
  --requests_file "$out/workload.jsonl" --output "$out/results.jsonl" --stats "$out/stats.json" "${extra[@]}")
[[ -z $then_cmd ]] || run=(bash -c "$(printf '%q ' "${run[@]}") && { $then_cmd; }")
set +e
"${where[@]}" "${run[@]}" > "$out/supervisor.log" 2>&1
rc=$?
set -e
tr -d '\r' < "$out/supervisor.log" > "$out/supervisor.log.txt" && mv "$out/supervisor.log.txt" "$out/supervisor.log"
[[ $rc -eq 0 ]] || { tail -n 20 "$out/supervisor.log" >&2; die "snapfaas-supervisor${then_cmd:+ (or the --then command)} failed (status $rc, log: $out/supervisor.log)"; }
if [[ $ring3 -eq 1 || $case_word == hardware ]]; then
  echo "ran natively ($case_word)"
else
  echo "ran inside the emulated KVM host ($case_word machine; QEMU TCG: latencies are emulation-slow; images and snapshots staged in its memory)"
fi
grep '^summary: ' "$out/supervisor.log" | tail -n 1
