#!/usr/bin/env bash
# Runs benchmark NAME (or "all"), prints its figures and writes bench/results/NAME.json.
# A benchmark is either a program build/release/bench/bench_NAME or a script bench/NAME.sh; both take
#   --out FILE.json [--quick]
# Usage: scripts/bench.sh NAME|all [--quick]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

name="${1:-}"; shift || true
quick=()
for arg in "$@"; do
  case "$arg" in
    --quick) quick=(--quick) ;;
    *) die "bench.sh: unknown argument '$arg' (use --quick)" ;;
  esac
done
[[ -n "$name" ]] || die "usage: scripts/bench.sh NAME|all [--quick]"

"$ROOT/scripts/setup.sh" --only release
results="$ROOT/bench/results"
mkdir -p "$results"

available() {
  { ls "$BUILD_RELEASE/bench" 2>/dev/null | sed -n 's/^bench_//p'
    ls "$ROOT/bench" 2>/dev/null | sed -n 's/\.sh$//p'; } | sort -u
}

run_one() {
  local n="$1" out="$results/$1.json"
  rm -f "$out"
  step "benchmark $n ${quick[*]}"
  if [[ -x "$BUILD_RELEASE/bench/bench_$n" ]]; then
    "$BUILD_RELEASE/bench/bench_$n" --out "$out" "${quick[@]}"
  elif [[ -f "$ROOT/bench/$n.sh" ]]; then
    bash "$ROOT/bench/$n.sh" --out "$out" "${quick[@]}"
  else
    die "unknown benchmark '$n' (available: $(available | tr '\n' ' '))"
  fi
  [[ -s "$out" ]] || die "benchmark $n wrote no JSON ($out)"
  echo "wrote ${out#"$ROOT"/}"
}

if [[ "$name" == all ]]; then
  mapfile -t names < <(available)
  [[ ${#names[@]} -gt 0 ]] || die "no benchmarks are built"
  for n in "${names[@]}"; do run_one "$n"; done
else
  run_one "$name"
fi
