#!/usr/bin/env bash
# Benchmark `peer`: QEMU (-M microvm, KVM) vs firerunner on the same guest kernel + rootfs, same run,
# same host: Linux boot to a marker and snapshot restore to the guest's answer (bench/peer_inner.py).
# Runs inside the emulated KVM host (scripts/kvm-host.sh --auto: natively on hardware KVM).
# Writes medians, samples and the ratios qemu_boot_over_ours / qemu_restore_over_ours (null, with a
# reason, when firerunner cannot restore a Linux guest yet) to --out.
# Usage: bench/peer.sh --out FILE.json [--quick] [--runs N]
#   SNAPFAAS_L1_KERNEL=PATH   use this L1 kernel (kvm-host.sh --kernel) instead of the cached build
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"

out="" quick=0 runs=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a file}"; shift ;;
    --quick) quick=1 ;;
    --runs) runs="${2:?--runs needs a count}"; shift ;;
    *) die "peer.sh: unknown argument '$1' (usage: bench/peer.sh --out FILE.json [--quick] [--runs N])" ;;
  esac
  shift
done
[[ -n $out ]] || die "peer.sh: --out FILE.json is required"
[[ -n $runs ]] || runs=$([[ $quick -eq 1 ]] && echo 1 || echo 5)
inner_args=()
[[ $quick -eq 0 ]] || inner_args=(--no-warmup)  # --quick: one run each, no untimed warm-up (smoke use)
out="$(realpath -m "$out")"

firerunner="$BUILD_RELEASE/runner/firerunner" wrapper="$BUILD_RELEASE/wrapper/fc_wrapper"
kernel="$CACHE/images/vmlinux" rootfs="$CACHE/images/rootfs.ext4" appfs="$CACHE/images/appfs/hello.ext2"
for f in "$firerunner" "$wrapper" "$kernel" "$rootfs" "$appfs"; do
  [[ -f $f ]] || die "peer.sh: $f missing (build with scripts/setup.sh, images with scripts/build-images.sh)"
done
command -v qemu-system-x86_64 >/dev/null || die "peer.sh: qemu-system-x86_64 missing (package qemu-system-x86)"

host_args=(--auto --mem 2048 --timeout $((quick ? 900 : 1800)))
[[ -n ${SNAPFAAS_L1_KERNEL:-} ]] && host_args+=(--kernel "$SNAPFAAS_L1_KERNEL")
mkdir -p "$ROOT/bench/results"  # a fresh clone has no results folder yet (it is git-ignored)
inner_out="$(mktemp "$ROOT/bench/results/.peer-inner.XXXXXX")"  # inside the repo: L1 writes it over 9p
trap 'rm -f "$inner_out"' EXIT
machine="$("$ROOT/scripts/kvm-detect.sh")"
load_before="$(cut -d' ' -f1 /proc/loadavg)"
t0=$(date +%s.%N)
"$ROOT/scripts/kvm-host.sh" "${host_args[@]}" -- /usr/bin/python3 "$ROOT/bench/peer_inner.py" \
  --firerunner "$firerunner" --wrapper "$wrapper" --kernel "$kernel" --rootfs "$rootfs" --appfs "$appfs" \
  --mem 128 --runs "$runs" "${inner_args[@]}" --out "$inner_out" ||
  die "peer.sh: the run inside the emulated KVM host failed (status $?)"
[[ -s $inner_out ]] || die "peer.sh: the inner run wrote no results"

/usr/bin/python3 - "$inner_out" "$out" "$quick" "$machine" "$load_before" "$t0" <<'EOF'
import json, os, sys, time
inner, out, quick, machine, load_before, t0 = sys.argv[1:]
r = json.load(open(inner))
kind = machine.split(":")[0]
def p50(key):
    s = r.get(key)
    return s["p50"] if s else None
res = {
    "benchmark": "peer",
    "quick": quick == "1",
    "machine": {"cores": os.cpu_count(), "kernel": os.uname().release, "kvm": kind,
                "loadavg_1m": float(open("/proc/loadavg").read().split()[0]),
                "loadavg_1m_before": float(load_before)},
    "where": ("natively (hardware KVM)" if kind == "hardware" else
              "inside the emulated KVM host (QEMU TCG + nested SVM, scripts/kvm-host.sh); both VMMs use "
              "nested KVM in the same L1: absolute times are inflated, the ratios are the result"),
    "guest": "same vmlinux + rootfs.ext4 (read-only virtio-blk), %d MiB, 1 vCPU, same kernel command line" % r["mem_mib"],
    "boot_measures": "process start -> the guest init's command prints a marker on the serial console",
    "restore_measures": ("process start -> the restored guest answers its first request, both guests in "
                         "CPython when saved. QEMU: -incoming 'exec:cat FILE' of a QMP migrate 'exec:cat > FILE' "
                         "taken while python3 blocks reading the serial line; the request is a line written "
                         "once QMP reports the VM running, the answer its reply on the console. firerunner: "
                         "fc_wrapper --load_dir base,diff (python3 base at the agent's base point + the hello "
                         "function's diff at its first WAIT, both made with fc_wrapper --dump_dir in this run); "
                         "the request is a JSON line on stdin sent at start, the answer the handler's response "
                         "on stdout (includes the channel setup, the runner's start and the Python handler call)"),
    **r,
    "qemu_boot_p50_ms": p50("qemu_boot_ms"),
    "firerunner_boot_p50_ms": p50("firerunner_boot_ms"),
    "qemu_restore_p50_ms": p50("qemu_restore_ms"),
    "firerunner_restore_p50_ms": p50("firerunner_restore_ms"),
    "wall_s": round(time.time() - float(t0), 1),
}
def ratio(a, b):
    return a / b if a and b else None
res["qemu_boot_over_ours"] = ratio(res["qemu_boot_p50_ms"], res["firerunner_boot_p50_ms"])
res["qemu_restore_over_ours"] = ratio(res["qemu_restore_p50_ms"], res["firerunner_restore_p50_ms"])
with open(out, "w") as f:
    json.dump(res, f, indent=2, sort_keys=True)
    f.write("\n")
def fmt(v, unit=" ms"):
    return "n/a" if v is None else f"{v:.1f}{unit}"
print(f"peer ({kind}): boot p50 qemu {fmt(res['qemu_boot_p50_ms'])}, firerunner {fmt(res['firerunner_boot_p50_ms'])}, "
      f"qemu/ours {fmt(res['qemu_boot_over_ours'], 'x')}")
print(f"peer: restore p50 qemu {fmt(res['qemu_restore_p50_ms'])}, firerunner {fmt(res['firerunner_restore_p50_ms'])}, "
      f"qemu/ours {fmt(res['qemu_restore_over_ours'], 'x')}")
if res.get("firerunner_restore_reason"):
    print("peer: firerunner restore not measured: " + res["firerunner_restore_reason"])
EOF
