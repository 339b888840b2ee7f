#!/usr/bin/env bash
# e2e: firerunner boots our guest kernel + rootfs (virtio-blk /dev/vda) inside the emulated KVM host
# (scripts/kvm-host.sh --auto: directly on hardware KVM); the guest init runs python3, prints a JSON
# line and reboots (i8042 reset); firerunner must exit 0 and the serial console must hold the line.
# With MODE "rw" the guest boots from a copy of the rootfs attached read-write (--rootfs_rw) and
# writes a marker file; the marker must then be in the image on the host.
# Usage: e2e_linux_boot.sh FIRERUNNER VCPUS [ro|rw]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
firerunner="${1:?usage: e2e_linux_boot.sh FIRERUNNER VCPUS [ro|rw]}" vcpus="${2:-1}" mode="${3:-ro}"
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
rootfs="$("$root/scripts/images.sh" --check rootfs)"

py="import json, os; print(json.dumps({'ok': 1, 'cpus': os.cpu_count()}))"
shell="python3 -c \"$py\""
log="$(mktemp)"
work="$(mktemp -d -p "$root/build")"  # inside the repository: writable inside the emulated host
trap 'rm -f "$log"; rm -rf "$work"' EXIT
rw_args=()
if [[ "$mode" == rw ]]; then
  cp "$rootfs" "$work/rootfs.ext4"
  rootfs="$work/rootfs.ext4"
  rw_args=(--rootfs_rw)
  shell="$shell && echo snapfaas-rw-probe > /rw-probe && sync"
fi
cmd="$(printf '%s' "$shell" | base64 -w0)"

set +e
"$root/scripts/kvm-host.sh" --auto --timeout 600 -- \
  "$firerunner" --kernel "$vmlinux" --rootfs "$rootfs" "${rw_args[@]}" --mem_size 256 --vcpu_count "$vcpus" \
  --timeout 300 --kernel_args "snapfaas.cmd=$cmd" 2>&1 | tr -d '\r' | tee "$log"
status=${PIPESTATUS[0]}
set -e

fail() { echo "e2e_linux_boot: FAIL: $*" >&2; exit 1; }
[[ $status -eq 0 ]] || fail "firerunner (through kvm-host.sh) exited with $status"
grep -q "{\"ok\": 1, \"cpus\": $vcpus}" "$log" || fail "the guest's python3 line is missing from the console"
grep -q "snapfaas-init: exit status 0" "$log" || fail "guest init did not report exit status 0"
grep -q "guest requested a reset through the i8042" "$log" || fail "firerunner did not see the i8042 reset"
if [[ "$mode" == rw ]]; then
  probe="$(debugfs -R 'cat /rw-probe' "$rootfs" 2>/dev/null)"
  [[ "$probe" == snapfaas-rw-probe ]] || fail "the guest's write through the read-write rootfs is not in the image (got '$probe')"
fi
echo "e2e_linux_boot: PASS ($vcpus vCPU, rootfs $mode)"
