#!/usr/bin/env bash
# Runs CMD inside the emulated KVM host: QEMU TCG with nested SVM (-cpu EPYC,+svm,+npt, -M microvm)
# booting the L1 kernel (scripts/build-guest-kernel.sh --l1; built here if stale). Inside L1 the
# host's root is visible read-only and this repository read-write at the same absolute paths
# (virtio-9p), so CMD can be a repo script or a build/ binary, finds its shared libraries, QEMU's
# firmware and the guest images where they are on the host, and can write results back.
# CMD runs with /dev/kvm (nested KVM), in the caller's working directory, stdin /dev/null; its
# stdout and stderr both stream through L1's serial console to this script's stdout.
# Exit status: CMD's; 124 on --timeout; 125 when L1 fails to boot, cannot stage a path or dies
# before CMD finishes (one "error:" line on stderr names the cause).
# Usage: scripts/kvm-host.sh [--mem MiB] [--cpus N] [--timeout S] [--kernel VMLINUX]
#                            [--stage PATH]... [--native | --auto] [--verbose] -- CMD [ARG...]
#   --native  run CMD directly (only with hardware KVM); --auto: directly if hardware KVM, else in L1
#   --stage PATH  (a file or directory CMD only reads: images, snapshots) is copied into L1's memory
#             before CMD runs and mounted read-only over PATH, so CMD finds it at the same path. L1
#             reaches the host's files over 9p, whose repository mount keeps no page cache for a file
#             nobody holds open: without staging, every VM started from PATH would read its pages
#             through emulated virtio, where a real host serves them from its page cache.
#             Ignored with --native (the host's page cache does that there).
# Environment passed into L1: SNAPFAAS_* variables, plus PATH, LANG, HOME=/tmp.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mem=2048 cpus=2 timeout_s=600 kernel="" mode=emulated verbose=0 stage=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mem) mem="${2:?--mem needs MiB}"; shift ;;
    --cpus) cpus="${2:?--cpus needs a count}"; shift ;;
    --timeout) timeout_s="${2:?--timeout needs seconds}"; shift ;;
    --kernel) kernel="${2:?--kernel needs a path}"; shift ;;
    --stage) stage+=("${2:?--stage needs a path}"); shift ;;
    --native) mode=native ;;
    --auto) mode=auto ;;
    --verbose) verbose=1 ;;
    --) shift; break ;;
    *) die "kvm-host.sh: unknown argument '$1' (usage: kvm-host.sh [--mem MiB] [--cpus N] [--timeout S] [--kernel VMLINUX] [--stage PATH]... [--native|--auto] [--verbose] -- CMD...)" ;;
  esac
  shift
done
[[ $# -gt 0 ]] || die "kvm-host.sh: no command given (usage: kvm-host.sh [options] -- CMD...)"
[[ $mem =~ ^[0-9]+$ && $cpus =~ ^[0-9]+$ && $timeout_s =~ ^[0-9]+$ ]] ||
  die "kvm-host.sh: --mem, --cpus and --timeout take whole numbers"
for i in "${!stage[@]}"; do
  [[ -e ${stage[$i]} ]] || die "kvm-host.sh: --stage ${stage[$i]}: no such file or directory"
  stage[$i]="$(realpath -- "${stage[$i]}")"
  [[ ${stage[$i]} != *[[:space:]]* ]] || die "kvm-host.sh: --stage paths must not contain whitespace: '${stage[$i]}'"
done

machine="$("$ROOT/scripts/kvm-detect.sh")"
echo "kvm-host: machine: $machine" >&2
if [[ $mode == native || ($mode == auto && ${machine%%:*} == hardware) ]]; then
  [[ ${machine%%:*} == hardware ]] || die "kvm-host.sh --native needs hardware KVM; this machine is '${machine%%:*}'"
  echo "kvm-host: running natively: $*" >&2
  exec "$@"
fi

command -v qemu-system-x86_64 >/dev/null ||
  die "qemu-system-x86_64 is not installed (package qemu-system-x86): run scripts/setup.sh --no-build"
[[ -x /bin/busybox ]] || die "/bin/busybox is not installed (package busybox-static): run scripts/setup.sh --no-build"
[[ $ROOT != *[[:space:]]* ]] || die "kvm-host.sh: the repository path must not contain whitespace: '$ROOT'"
if [[ -z $kernel ]]; then
  kernel="$CACHE/images/l1-vmlinux"
  "$ROOT/scripts/build-guest-kernel.sh" --l1 --check ||
    "$ROOT/scripts/build-guest-kernel.sh" --l1 >&2 || die "kvm-host.sh: building the L1 kernel failed"
fi
[[ -f $kernel ]] || die "L1 kernel not found: $kernel (build it with scripts/build-images.sh or scripts/build-guest-kernel.sh --l1)"

# The initramfs: busybox + guest/init/l1-init, cached by content.
initrd_key="$(cat /bin/busybox "$ROOT/guest/init/l1-init" | sha256sum | cut -c1-16)"
initrd="$CACHE/images/l1-initramfs-$initrd_key.cpio"
if [[ ! -f $initrd ]]; then
  mkdir -p "$CACHE/images"
  tree="$(mktemp -d)"
  mkdir -p "$tree/bin"
  cp /bin/busybox "$tree/bin/busybox"
  install -m 0755 "$ROOT/guest/init/l1-init" "$tree/init"
  find "$CACHE/images" -maxdepth 1 -name 'l1-initramfs-*.cpio' ! -name "${initrd##*/}" -delete
  (cd "$tree" && find . | cpio -o -H newc --quiet) >"$initrd.$$"
  mv "$initrd.$$" "$initrd"  # atomic: concurrent runs may build it at the same time
  rm -rf "$tree"
fi

# The run directory (inside the repo, so L1 reaches it read-write): command, environment, results.
mkdir -p "$CACHE/kvm-host"
run="$(mktemp -d "$CACHE/kvm-host/run.XXXXXX")"
qemu_pid=""
cleanup() { [[ -n $qemu_pid ]] && kill "$qemu_pid" 2>/dev/null; rm -rf "$run"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
{
  if [[ ${#stage[@]} -gt 0 ]]; then
    # Staging (--stage): copies in a tmpfs of their own (sparse files stay sparse), bound read-only
    # over the originals. Runs as root in L1 before CMD; a failure ends the run with status 125.
    cat <<'STAGE'
snapfaas_stage() {
  local t0=$(date +%s%N) dir=/run/snapfaas-stage i=0 p
  mkdir -p "$dir" && mount -t tmpfs -o mode=0755 snapfaas-stage "$dir" ||
    { echo "error: kvm-host: cannot mount a tmpfs at $dir in L1 to stage $*" >&2; return 1; }
  for p in "$@"; do
    i=$((i + 1))
    local err
    if ! err="$({ cp -a --sparse=always -- "$p" "$dir/$i" && mount --bind "$dir/$i" "$p" &&
                 mount -o remount,bind,ro "$p"; } 2>&1)"; then
      echo "error: kvm-host: cannot stage $p in L1's memory: ${err//$'\n'/; } (kvm-host.sh --mem sets L1's memory; a tmpfs holds up to half)" >&2
      return 1
    fi
  done
  echo "kvm-host: staged $# path(s), $(du -sm "$dir" | cut -f1) MiB, in L1's memory in $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2
}
STAGE
    printf 'snapfaas_stage'; printf ' %q' "${stage[@]}"; printf ' || exit 125\n'
  fi
  printf 'cd %q 2>/dev/null || cd /\n' "$PWD"
  printf 'exec'; printf ' %q' "$@"; printf '\n'
} >"$run/cmd.sh"
{
  echo "export HOME=/tmp PATH=$(printf %q "$PATH") LANG=C.UTF-8 SNAPFAAS_IN_KVM_HOST=1"
  while IFS='=' read -r -d '' name value; do
    [[ $name == SNAPFAAS_* ]] && printf 'export %s=%q\n' "$name" "$value"
  done < <(env -0)
} >"$run/env.sh"

# L1's TSC frequency. Under TCG the guest TSC ticks with the host's TSC, but L1 cannot calibrate it
# (no HPET/PM timer on microvm; PIT calibration fails when the host is busy) and then marks it
# unstable with tsc_khz = 0, and KVM_RUN in L1 spins forever waiting for a clock update. So tell
# L1 the host's figure: $SNAPFAAS_TSC_KHZ, else the kernel log, else /proc/cpuinfo.
tsc_khz="${SNAPFAAS_TSC_KHZ:-}"
[[ -n $tsc_khz ]] || tsc_khz="$(dmesg 2>/dev/null | sed -n 's/.*tsc: Refined TSC clocksource calibration: \([0-9]*\)\.\([0-9]\{3\}\) MHz.*/\1\2/p' | tail -n 1)"
[[ -n $tsc_khz ]] || tsc_khz="$(dmesg 2>/dev/null | sed -n 's/.*tsc: Detected \([0-9]*\)\.\([0-9]\{3\}\) MHz processor.*/\1\2/p' | head -n 1)"
[[ -n $tsc_khz ]] || tsc_khz="$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)"
[[ $tsc_khz =~ ^[1-9][0-9]*$ ]] || die "kvm-host.sh: cannot find the host's TSC frequency (set SNAPFAAS_TSC_KHZ)"

# kvm_amd.npt=0: L1's KVM runs its guests on shadow page tables instead of the nested paging that
# QEMU 7.2's TCG emulates. With NPT, L2 guests (ours, booted or restored alike) die now and then in a
# triple fault with nothing on their console, at any point (early boot, page touching, a busy
# loop): 10 of 72 booted VMs run 20 s each, 1 of 120 restored VMs run 5 s (4 runners, supervisor;
# the likely cause of stop 24's two red e2e cases). Shadow paging: 0 of 24 + 40 such VMs and 3
# clean e2e_failures + e2e_runner_net pairs, at the same speed (e2e_failures 82-88 s either way).
# tsc=reliable: L1's check of its vCPUs' TSCs fails under TCG ("TSCs unsynchronized"), and L1 then
# keeps time on jiffies: CLOCK_MONOTONIC in 10 ms steps and every timer rounded up to the next
# 10 ms tick (a 100 us sleep took 10 ms, and nested guests' timers, emulated with L1's hrtimers,
# the same). TCG's TSC is the host's, one counter for all vCPUs; on it a 100 us sleep takes 0.8 ms.
# Extra L1 kernel parameters: $SNAPFAAS_L1_ARGS, appended (kvm_amd.npt=1 brings NPT back).
append="console=ttyS0 reboot=k panic=-1 tsc_early_khz=$tsc_khz tsc=reliable kvm_amd.npt=0 snapfaas.root=$ROOT snapfaas.run=$run${SNAPFAAS_L1_ARGS:+ $SNAPFAAS_L1_ARGS}"
if [[ $verbose -eq 1 ]]; then append+=" snapfaas.verbose=1"; else append+=" loglevel=1"; fi
qemu=(qemu-system-x86_64 -accel tcg -cpu EPYC,+svm,+npt -M microvm,acpi=off -smp "$cpus" -m "$mem"
      -nodefaults -no-user-config -nographic -serial stdio -no-reboot
      -kernel "$kernel" -initrd "$initrd" -append "$append"
      -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
      -device virtio-9p-device,fsdev=hostroot,mount_tag=hostroot
      -fsdev local,id=repo,path="$ROOT",security_model=none,multidevs=remap
      -device virtio-9p-device,fsdev=repo,mount_tag=repo)
echo "kvm-host: booting L1 ($(basename "$kernel"), ${cpus} vCPUs, ${mem} MiB, timeout ${timeout_s} s): $*" >&2
t0=$(date +%s.%N)
# QEMU warns once per vCPU about each EPYC feature TCG lacks; those lines are noise here.
"${qemu[@]}" </dev/null 2> >(grep --line-buffered -v "TCG doesn't support requested feature" >&2) &
qemu_pid=$!
# Watch for L1's "started" file to report the boot time; enforce the timeout.
boot_s="" timed_out=0
while kill -0 "$qemu_pid" 2>/dev/null; do
  now=$(date +%s.%N)
  if [[ -z $boot_s && -f $run/started ]]; then boot_s=$(awk -v a="$t0" -v b="$now" 'BEGIN{printf "%.1f", b-a}'); fi
  if awk -v a="$t0" -v b="$now" -v t="$timeout_s" 'BEGIN{exit !(b-a > t)}'; then
    timed_out=1; kill "$qemu_pid" 2>/dev/null; break
  fi
  sleep 0.1
done
set +e; wait "$qemu_pid"; qemu_rc=$?; set -e
qemu_pid=""
total_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')

if [[ $timed_out -eq 1 ]]; then
  echo "error: kvm-host: timed out after ${timeout_s} s ($([[ -f $run/started ]] && echo "CMD still running" || echo "L1 never finished booting"))" >&2
  exit 124
fi
if [[ -f $run/status ]]; then
  status="$(cat "$run/status")"
  echo "kvm-host: L1 boot ${boot_s:-?} s, total ${total_s} s, exit status $status" >&2
  exit "$status"
fi
if [[ -f $run/started ]]; then
  echo "error: kvm-host: L1 stopped before the command finished (qemu exit $qemu_rc after ${total_s} s)" >&2
else
  echo "error: kvm-host: L1 failed to boot (qemu exit $qemu_rc after ${total_s} s; rerun with --verbose for the kernel log)" >&2
fi
exit 125
