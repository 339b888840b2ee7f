#!/usr/bin/env bash
# e2e: scripts/kvm-host.sh runs our KVM smoke program inside the emulated KVM host (nested KVM runs
# a real-mode guest to its hlt), propagates exit statuses, lets the command write into the repo,
# and turns a timeout into one error line and status 124.
# Usage: kvm_host_test.sh PATH/TO/images_kvm_smoke
set -euo pipefail
source "$(dirname "$0")/lib.sh"
smoke="${1:?usage: kvm_host_test.sh SMOKE_BINARY}"
[[ -x $smoke ]] || fail "smoke program not built: $smoke"
kernel="$(need_image l1-vmlinux)"
host=("$ROOT/scripts/kvm-host.sh" --kernel "$kernel" --timeout 300)

t0=$(date +%s.%N)
out="$("${host[@]}" -- "$smoke" 2>&1)" || fail "kvm smoke in L1: exit $?; output: $out"
grep -q '^kvm-smoke: ok' <<<"$out" || fail "kvm smoke in L1 did not report ok; output: $out"
grep -q '^kvm-host: machine: ' <<<"$out" || fail "kvm-host.sh did not print the machine case; output: $out"
pass "nested KVM guest ran to hlt inside L1 ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s)"

mark="$(mktemp -d "$ROOT/.cache/kvm-host-test.XXXXXX")"
trap 'rm -rf "$mark"' EXIT
set +e
out="$("${host[@]}" -- sh -c "echo from-l1 >'$mark/written'; exit 3" 2>&1)"
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "kvm-host.sh -- sh -c 'exit 3' returned $rc; output: $out"
[[ "$(cat "$mark/written" 2>/dev/null)" == from-l1 ]] || fail "a file written inside L1 did not reach the host"
pass "exit status 3 propagated; L1 wrote into the repository"

set +e
err="$("${host[@]}" --timeout 1 -- sleep 100 2>&1 >/dev/null)"
rc=$?
set -e
[[ $rc -eq 124 ]] || fail "--timeout 1 returned $rc, expected 124; stderr: $err"
[[ $(grep -c '^error:' <<<"$err") -eq 1 ]] && grep -q '^error: kvm-host: timed out after 1 s' <<<"$err" ||
  fail "--timeout: expected one 'error: kvm-host: timed out' line; stderr: $err"
pass "timeout gives one error line and status 124"
