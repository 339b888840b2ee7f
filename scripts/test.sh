#!/usr/bin/env bash
# The README's test command: setup (packages + both builds), then every test:
#   unit + integration in the ASan+UBSan build; e2e, and the production-label tests (the seccomp
#   programs firerunner really installs: sanitizer builds allow extra calls), in the Release build.
# Exits non-zero on any failure; the last line is the combined "N passed, N failed" summary.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$ROOT/scripts/setup.sh"

logdir="$(mktemp -d)"
trap 'rm -rf "$logdir"' EXIT
status=0
run_ctest() {  # name, build dir, label regex
  local name="$1" dir="$2" labels="$3"
  step "ctest ($name): labels $labels in ${dir#"$ROOT"/}"
  ctest --test-dir "$dir" -L "$labels" --output-on-failure --no-tests=ignore -j "$JOBS" \
    2>&1 | tee "$logdir/$name.log" || status=1
  [[ ${PIPESTATUS[0]} -eq 0 ]] || status=1
}
run_ctest sanitized "$BUILD_ASAN" '^(unit|integration)$'
# Guest kernels, rootfs and app images for the e2e tests (cached; progress on stderr).
"$ROOT/scripts/build-images.sh" || { echo "error: scripts/build-images.sh failed" >&2; status=1; }
# Linux snapshots (python3 base + one diff per function) for the e2e tests and the main job (cached).
"$ROOT/scripts/build-snapshots.sh" || { echo "error: scripts/build-snapshots.sh failed" >&2; status=1; }
run_ctest release "$BUILD_RELEASE" '^(e2e|production)$'
# Benchmarks as a smoke test: `scripts/bench.sh all --quick` into a scratch directory. A benchmark
# counts as failed only when it errors or writes no JSON (never on a timing); plots/report too.
step "benchmarks: scripts/bench.sh all --quick (smoke test)"
bench_rc=0
"$ROOT/scripts/bench.sh" all --quick --results "$logdir/bench" 2>&1 | tee "$logdir/bench.out" || bench_rc=1
[[ ${PIPESTATUS[0]} -eq 0 ]] || bench_rc=1

passed=0 failed=0
for log in "$logdir"/*.log; do
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
  [[ -n "$line" ]] || continue
  f="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  t="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  failed=$((failed + f)); passed=$((passed + t - f))
done
read -r bench_ok bench_bad < <(/usr/bin/python3 -c 'import json,sys
try: b = json.load(open(sys.argv[1]))["benchmarks"]
except Exception: b = []
print(sum(x["ok"] for x in b), sum(not x["ok"] for x in b))' "$logdir/bench/run.json")
[[ $bench_rc -ne 0 && $bench_bad -eq 0 ]] && bench_bad=1  # bench.sh failed outside a benchmark (setup, plots, report)
echo "benchmarks (smoke): $bench_ok ran, $bench_bad failed"
passed=$((passed + bench_ok)); failed=$((failed + bench_bad))
[[ $((passed + failed)) -gt 0 ]] || { echo "error: no test ran" >&2; status=1; }
[[ $failed -eq 0 ]] || status=1
echo
echo "total: $passed passed, $failed failed"
exit $status
