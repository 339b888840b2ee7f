#!/usr/bin/env bash
# Runs benchmark NAME (or "all"), prints its figures and writes RESULTS/NAME.json.
# A benchmark is either a program $BUILD_RELEASE/bench/bench_NAME or a script bench/NAME.sh; both take
#   --out FILE.json [--quick]
# "all" runs every benchmark present (ring_rtt, boot, request_rtt, restore, restore_linux, supervisor,
# http, density, peer, net, then any other), keeps going past a failing one, then renders the plots (bench/plots.py) and
# the report (bench/report.py) from the JSON, prints how long the run took, and exits non-zero when
# a benchmark failed or wrote no JSON (never because of a timing).
# Results: bench/results/ (plots and a copy of the JSON in docs/performance/, report docs/PERFORMANCE.md); with
# --results DIR everything goes to DIR instead (DIR/plots/, DIR/PERFORMANCE.md): the smoke test.
# Usage: scripts/bench.sh NAME|all [--quick] [--results DIR] [--no-build]
#   --no-build  run what is built (skip scripts/setup.sh --only release)
#   SNAPFAAS_BUILD_RELEASE=DIR  use that Release build instead of build/release
set -euo pipefail
source "$(dirname "$0")/lib.sh"

name="${1:-}"; shift || true
quick=() results="$ROOT/bench/results" build=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) quick=(--quick) ;;
    --results) results="$(realpath -m "${2:?--results needs a directory}")"; shift ;;
    --no-build) build=0 ;;
    *) die "bench.sh: unknown argument '$1' (use --quick, --results DIR, --no-build)" ;;
  esac
  shift
done
[[ -n "$name" ]] || die "usage: scripts/bench.sh NAME|all [--quick] [--results DIR] [--no-build]"
if [[ $results == "$ROOT/bench/results" ]]; then
  plots="$ROOT/docs/performance" report="$ROOT/docs/PERFORMANCE.md"
else
  plots="$results/plots" report="$results/PERFORMANCE.md"
fi

[[ $build -eq 0 ]] || "$ROOT/scripts/setup.sh" --only release
mkdir -p "$results"

available() {
  { ls "$BUILD_RELEASE/bench" 2>/dev/null | sed -n 's/^bench_//p'
    ls "$ROOT/bench" 2>/dev/null | sed -n 's/\.sh$//p'; } | grep -v '_inner$' | sort -u
}

run_one() {
  local n="$1" out="$results/$1.json"
  rm -f "$out"
  step "benchmark $n ${quick[*]}"
  if [[ -x "$BUILD_RELEASE/bench/bench_$n" ]]; then
    "$BUILD_RELEASE/bench/bench_$n" --out "$out" "${quick[@]}" || { echo "error: benchmark $n failed (status $?)" >&2; return 1; }
  elif [[ -f "$ROOT/bench/$n.sh" ]]; then
    bash "$ROOT/bench/$n.sh" --out "$out" "${quick[@]}" || { echo "error: benchmark $n failed (status $?)" >&2; return 1; }
  else
    die "unknown benchmark '$n' (available: $(available | tr '\n' ' '))"
  fi
  [[ -s "$out" ]] || { echo "error: benchmark $n wrote no JSON ($out)" >&2; return 1; }
  echo "wrote ${out#"$ROOT"/}"
}

if [[ "$name" != all ]]; then
  run_one "$name"
  exit
fi

order=(ring_rtt boot request_rtt restore restore_linux supervisor http density peer net)
mapfile -t present < <(available)
[[ ${#present[@]} -gt 0 ]] || die "no benchmarks are built"
names=()
for n in "${order[@]}"; do [[ " ${present[*]} " == *" $n "* ]] && names+=("$n"); done
for n in "${present[@]}"; do [[ " ${order[*]} " == *" $n "* ]] || names+=("$n"); done

start=$(date +%s)
failed=() runs="[]"
for n in "${names[@]}"; do
  t=$(date +%s) load="$(cut -d' ' -f1 /proc/loadavg)" ok=true
  run_one "$n" || { ok=false; failed+=("$n"); }
  runs="$(/usr/bin/python3 -c 'import json,sys; r=json.loads(sys.argv[1]); r.append({"name":sys.argv[2],"ok":sys.argv[3]=="true","seconds":int(sys.argv[4]),"loadavg_1m_at_start":float(sys.argv[5])}); print(json.dumps(r))' \
    "$runs" "$n" "$ok" $(($(date +%s) - t)) "$load")"
done
total=$(($(date +%s) - start))
/usr/bin/python3 -c 'import json,sys; json.dump({"quick":sys.argv[1]=="1","started_utc":sys.argv[2],"seconds":int(sys.argv[3]),"machine":sys.argv[4],"loadavg_1m_at_end":float(sys.argv[5]),"benchmarks":json.loads(sys.argv[6]),"source":sys.argv[8],"build":sys.argv[9]},open(sys.argv[7],"w"),indent=2)' \
  "${#quick[@]}" "$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)" "$total" "$("$ROOT/scripts/kvm-detect.sh")" \
  "$(cut -d' ' -f1 /proc/loadavg)" "$runs" "$results/run.json" \
  "$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)" "${BUILD_RELEASE#"$ROOT"/}"

step "plots and report"
mkdir -p "$plots"
# The committed report keeps the JSON it was made from next to its plots (bench/results/ is git-ignored).
[[ $plots != "$ROOT/docs/performance" ]] || cp "$results"/*.json "$plots"/
/usr/bin/python3 "$ROOT/bench/plots.py" --results "$results" --out "$plots" || failed+=(plots)
/usr/bin/python3 "$ROOT/bench/report.py" --results "$results" --plots "$plots" --out "$report" || failed+=(report)

echo
echo "bench.sh all${quick:+ ${quick[*]}}: ${#names[@]} benchmarks (${names[*]}) in $((total / 60)) min $((total % 60)) s; report ${report#"$ROOT"/}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "error: failed: ${failed[*]}" >&2
  exit 1
fi
