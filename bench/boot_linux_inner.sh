#!/usr/bin/env bash
# Runs inside the emulated KVM host (scripts/kvm-host.sh), for bench_boot: boots the guest kernel +
# rootfs with firerunner N times; the guest init runs `echo snapfaas-boot-marker` and reboots. Prints
# "linux_boot_us=T" per boot: firerunner start -> the marker line read from its console.
# Usage: boot_linux_inner.sh FIRERUNNER N
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
firerunner="$1" runs="${2:-3}"
cmd="$(printf '%s' 'echo snapfaas-boot-marker' | base64 -w0)"
for ((i = 0; i < runs; i++)); do
  start=$(date +%s%N)
  "$firerunner" --kernel "$root/.cache/images/vmlinux" --rootfs "$root/.cache/images/rootfs.ext4" \
    --mem_size 256 --kernel_args "loglevel=1 snapfaas.cmd=$cmd" 2>&1 |
    while IFS= read -r line; do
      case "$line" in
        *snapfaas-boot-marker*) echo "linux_boot_us=$((($(date +%s%N) - start) / 1000))" ;;
      esac
    done
done
