#!/usr/bin/env bash
# e2e: QEMU TCG (no KVM at all) boots our guest kernel + rootfs; the guest runs python3, mounts an
# app image at /srv and imports its handler, boots with 2 vCPUs, and reports its exit status.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
kernel="$(need_image vmlinux)" rootfs="$(need_image rootfs)" hello="$(need_image appfs hello)"
run=("$ROOT/scripts/run-guest.sh" --accel tcg --kernel "$kernel" --rootfs "$rootfs" --timeout 300)

t0=$(date +%s.%N)
out="$("${run[@]}" -- python3 -c 'import json; print(json.dumps({"ok": 1}))')" ||
  fail "python3 in the guest: exit $?; output: $out"
grep -qx '{"ok": 1}' <<<"$out" || fail "python3 in the guest printed no {\"ok\": 1} line; output: $out"
pass "python3 json in the guest under TCG ($(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s)"

out="$("${run[@]}" --appfs "$hello" -- python3 -c 'import sys; sys.path.insert(0, "/srv"); import json, handler; print(json.dumps(handler.handle({})))')" ||
  fail "hello handler from /srv: exit $?; output: $out"
grep -qx '{"body": "hello, world!"}' <<<"$out" || fail "hello handler from /srv gave: $out"
pass "app image mounted at /srv, handler imported"

set +e
out="$("${run[@]}" --cpus 2 -- sh -c 'echo cpus=$(nproc); exit 3')"
rc=$?
set -e
[[ $rc -eq 3 ]] || fail "guest command 'exit 3' gave exit status $rc; output: $out"
grep -qx 'cpus=2' <<<"$out" || fail "guest booted with --cpus 2 does not see 2 CPUs; output: $out"
pass "2 vCPUs (MP table) and exit status propagation"
