#!/usr/bin/env bash
# The README's test command: setup (packages + both builds), then every test:
#   unit + integration in the ASan+UBSan build, e2e in the Release build.
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
run_ctest release "$BUILD_RELEASE" '^e2e$'

passed=0 failed=0
for log in "$logdir"/*.log; do
  line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1 || true)"
  [[ -n "$line" ]] || continue
  f="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  t="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  failed=$((failed + f)); passed=$((passed + t - f))
done
[[ $((passed + failed)) -gt 0 ]] || { echo "error: no test ran" >&2; status=1; }
[[ $failed -eq 0 ]] || status=1
echo
echo "total: $passed passed, $failed failed"
exit $status
