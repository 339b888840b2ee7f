#!/usr/bin/env bash
# e2e: scripts/kvm-host.sh runs our KVM smoke program inside the emulated KVM host (nested KVM runs
# a real-mode guest to its hlt), propagates exit statuses, lets the command write into the repo,
# stages --stage paths in L1's memory (same content, read-only, sparse files sparse), keeps L1's time
# on the TSC (not 10 ms jiffies), and turns a timeout into one error line and status 124.
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
# One L1 boot for the rest: staging, the clock, writing into the repository, the exit status.
mkdir -p "$mark/dir"
head -c 300000 /dev/urandom >"$mark/file"
truncate -s 64M "$mark/dir/sparse" && echo tail >>"$mark/dir/sparse"
want="$(cat "$mark/file" "$mark/dir/sparse" | sha256sum | cut -c1-32)"
check="$mark/check.sh"
cat >"$check" <<CHECK
#!/bin/bash
m='$mark'
{
  echo "fstype \$(findmnt -n -o FSTYPE --target "\$m/file") \$(findmnt -n -o FSTYPE --target "\$m/dir/sparse")"
  echo "options \$(findmnt -n -o OPTIONS --target "\$m/file" | cut -d, -f1) \$(findmnt -n -o OPTIONS --target "\$m/dir" | cut -d, -f1)"
  echo "sum \$(cat "\$m/file" "\$m/dir/sparse" | sha256sum | cut -c1-32)"
  echo "sparse_kib \$(du -k "\$m/dir/sparse" | cut -f1)"
  if (echo x >>"\$m/file") 2>/dev/null || touch "\$m/dir/new" 2>/dev/null; then echo "write ok"; else echo "write refused"; fi
  echo "clocksource \$(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
  echo "hrtimer_ns \$(awk '/resolution:/ {print \$2; exit}' /proc/timer_list)"
} >"\$m/report"
echo from-l1 >"\$m/written"
exit 3
CHECK
chmod +x "$check"
report="$mark/report"
set +e
out="$("${host[@]}" --stage "$mark/file" --stage "$mark/dir" -- "$check" 2>&1)"
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "kvm-host.sh -- CHECK (exit 3) returned $rc; output: $out"
[[ "$(cat "$mark/written" 2>/dev/null)" == from-l1 ]] || fail "a file written inside L1 did not reach the host"
pass "exit status 3 propagated; L1 wrote into the repository"
[[ -f $report ]] || fail "the check inside L1 wrote no report; output: $out"
get() { awk -v k="$1" '$1 == k {$1 = ""; sub(/^ /, ""); print}' "$report"; }
[[ "$(get fstype)" == "tmpfs tmpfs" ]] || fail "--stage: staged paths not served from L1's memory: $(get fstype); output: $out"
[[ "$(get options)" == "ro ro" ]] || fail "--stage: staged paths not read-only: $(get options)"
[[ "$(get sum)" == "$want" ]] || fail "--stage: staged content differs from the host's"
[[ "$(get write)" == refused ]] || fail "--stage: a staged path took a write"
(( $(get sparse_kib) < 1024 )) || fail "--stage: a sparse 64 MiB file took $(get sparse_kib) KiB in L1's memory"
grep -q '^kvm-host: staged 2 path(s), ' <<<"$out" || fail "--stage: no 'staged' line; output: $out"
pass "--stage: a file and a directory served read-only from L1's memory, same content, sparse file sparse"
[[ "$(get clocksource)" == tsc ]] || fail "L1 keeps time on '$(get clocksource)', not the TSC (10 ms steps)"
[[ "$(get hrtimer_ns)" == 1 ]] || fail "L1's timer resolution is $(get hrtimer_ns) ns, not 1 (high-resolution timers off)"
pass "L1's clock: TSC, high-resolution timers"

set +e
err="$("${host[@]}" --stage "$mark/missing" -- true 2>&1 >/dev/null)"
rc=$?
set -e
[[ $rc -eq 1 && $(grep -c . <<<"$err") -eq 1 ]] && grep -q -- "--stage .*missing: no such file or directory" <<<"$err" ||
  fail "--stage of a missing path: expected one line and status 1, got $rc: $err"
pass "--stage of a missing path: one line, status 1, no L1 boot"

set +e
err="$("${host[@]}" --timeout 1 -- sleep 100 2>&1 >/dev/null)"
rc=$?
set -e
[[ $rc -eq 124 ]] || fail "--timeout 1 returned $rc, expected 124; stderr: $err"
[[ $(grep -c '^error:' <<<"$err") -eq 1 ]] && grep -q '^error: kvm-host: timed out after 1 s' <<<"$err" ||
  fail "--timeout: expected one 'error: kvm-host: timed out' line; stderr: $err"
pass "timeout gives one error line and status 124"
