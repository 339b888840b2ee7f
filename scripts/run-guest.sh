#!/usr/bin/env bash
# Boots the guest kernel + rootfs (+ an app image) under QEMU -M microvm and runs CMD in the guest
# through its init (guest/init/init: CMD's argv, quoted as shell text, goes base64-encoded in
# snapfaas.cmd= on the kernel command line; use `sh -c '...'` for shell syntax).
# Accelerator: --accel tcg (default on machines without hardware KVM: pure emulation, no KVM at all)
# or kvm (hardware KVM, or inside scripts/kvm-host.sh). Exits with CMD's exit status as reported by
# the guest init; 124 on timeout; 125 when the guest never reports one (one "error:" line says why).
# Usage: scripts/run-guest.sh [--kernel VMLINUX] [--rootfs EXT4] [--appfs EXT2] [--mem MiB]
#                             [--cpus N] [--accel tcg|kvm|auto] [--timeout S] [--verbose] -- CMD...
# Defaults: the images scripts/build-images.sh puts in $CACHE/images (see scripts/images.sh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

kernel="$CACHE/images/vmlinux" rootfs="$CACHE/images/rootfs.ext4" appfs=""
mem=256 cpus=1 accel=auto timeout_s=300 verbose=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --kernel) kernel="${2:?--kernel needs a path}"; shift ;;
    --rootfs) rootfs="${2:?--rootfs needs a path}"; shift ;;
    --appfs) appfs="${2:?--appfs needs a path}"; shift ;;
    --mem) mem="${2:?--mem needs MiB}"; shift ;;
    --cpus) cpus="${2:?--cpus needs a count}"; shift ;;
    --accel) accel="${2:?--accel needs tcg, kvm or auto}"; shift ;;
    --timeout) timeout_s="${2:?--timeout needs seconds}"; shift ;;
    --verbose) verbose=1 ;;
    --) shift; break ;;
    *) die "run-guest.sh: unknown argument '$1' (usage: run-guest.sh [--kernel F] [--rootfs F] [--appfs F] [--mem MiB] [--cpus N] [--accel tcg|kvm|auto] [--timeout S] -- CMD...)" ;;
  esac
  shift
done
[[ $# -gt 0 ]] || die "run-guest.sh: no command given (usage: run-guest.sh [options] -- CMD...)"
[[ -f $kernel ]] || die "guest kernel not found: $kernel (build it with scripts/build-images.sh)"
[[ -f $rootfs ]] || die "guest rootfs not found: $rootfs (build it with scripts/build-images.sh)"
[[ -z $appfs || -f $appfs ]] || die "app image not found: $appfs (build it with scripts/build-images.sh or scripts/build-appfs.sh)"
command -v qemu-system-x86_64 >/dev/null ||
  die "qemu-system-x86_64 is not installed (package qemu-system-x86): run scripts/setup.sh --no-build"

machine="$("$ROOT/scripts/kvm-detect.sh" --short)"
if [[ $accel == auto ]]; then
  accel=tcg
  [[ $machine == hardware ]] && accel=kvm
fi
case "$accel" in
  tcg) accel_args=(-accel tcg) ;;
  kvm) accel_args=(-accel kvm -cpu host) ;;
  *) die "run-guest.sh: --accel must be tcg, kvm or auto" ;;
esac
echo "run-guest: machine: $machine; accel $accel; $(basename "$kernel") + $(basename "$rootfs")${appfs:+ + $(basename "$appfs")}" >&2

# CMD's argv as POSIX shell text (each word single-quoted) for the guest's `sh -c`.
cmd=""
for arg in "$@"; do cmd+="${cmd:+ }'${arg//\'/\'\\\'\'}'"; done
append="console=ttyS0 reboot=t panic=-1 root=/dev/vda ro rootfstype=ext4"
[[ $verbose -eq 1 ]] || append+=" loglevel=1"
append+=" snapfaas.cmd=$(printf '%s' "$cmd" | base64 -w0)"
(( ${#append} < 2000 )) || die "run-guest.sh: command too long for the kernel command line (${#append} bytes)"

drives=(-drive "id=root,file=$rootfs,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=root)
[[ -n $appfs ]] && drives+=(-drive "id=app,file=$appfs,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=app)

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
t0=$SECONDS
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 "${accel_args[@]}" -M microvm,acpi=off -smp "$cpus" -m "$mem" \
  -nodefaults -no-user-config -nographic -serial stdio -no-reboot \
  -kernel "$kernel" -append "$append" "${drives[@]}" </dev/null | tr -d '\r' | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[[ $rc -ne 124 ]] || { echo "error: run-guest: timed out after ${timeout_s} s" >&2; exit 124; }
status="$(sed -n 's/.*snapfaas-init: exit status \([0-9]*\)$/\1/p' "$log" | tail -n 1)"
if [[ -z $status ]]; then
  echo "error: run-guest: the guest did not report an exit status (qemu exit $rc after $((SECONDS - t0)) s; rerun with --verbose for the kernel log)" >&2
  exit 125
fi
echo "run-guest: exit status $status after $((SECONDS - t0)) s" >&2
exit "$status"
