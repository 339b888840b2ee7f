#!/usr/bin/env bash
# e2e: firerunner boots our guest kernel + rootfs (virtio-blk /dev/vda) inside the emulated KVM host
# (scripts/kvm-host.sh --auto: directly on hardware KVM); the guest init runs python3, prints a JSON
# line and reboots (i8042 reset); firerunner must exit 0 and the serial console must hold the line.
# Usage: e2e_linux_boot.sh FIRERUNNER VCPUS
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
firerunner="${1:?usage: e2e_linux_boot.sh FIRERUNNER VCPUS}" vcpus="${2:-1}"
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
rootfs="$("$root/scripts/images.sh" --check rootfs)"

py="import json, os; print(json.dumps({'ok': 1, 'cpus': os.cpu_count()}))"
cmd="$(printf '%s' "python3 -c \"$py\"" | base64 -w0)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

set +e
"$root/scripts/kvm-host.sh" --auto --timeout 600 -- \
  "$firerunner" --kernel "$vmlinux" --rootfs "$rootfs" --mem_size 256 --vcpu_count "$vcpus" \
  --timeout 300 --kernel_args "snapfaas.cmd=$cmd" 2>&1 | tr -d '\r' | tee "$log"
status=${PIPESTATUS[0]}
set -e

fail() { echo "e2e_linux_boot: FAIL: $*" >&2; exit 1; }
[[ $status -eq 0 ]] || fail "firerunner (through kvm-host.sh) exited with $status"
grep -q "{\"ok\": 1, \"cpus\": $vcpus}" "$log" || fail "the guest's python3 line is missing from the console"
grep -q "snapfaas-init: exit status 0" "$log" || fail "guest init did not report exit status 0"
grep -q "guest requested a reset through the i8042" "$log" || fail "firerunner did not see the i8042 reset"
echo "e2e_linux_boot: PASS ($vcpus vCPU)"
