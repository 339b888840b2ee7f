#!/usr/bin/env bash
# Benchmark `net`: guest → server TCP round trip (64 B, p50/p99) and bulk throughput through
# firerunner's virtio-net, with QEMU's virtio-net (-M microvm, tap backend) in the same emulated
# KVM host and the same run as the reference; plus clones_ok: how many of 4 clones restored from
# one snapshot (each in its own namespace, same guest IP/MAC) fetched a page at the same time.
# Everything runs inside scripts/kvm-host.sh (bench/net_inner.sh); no traffic leaves L1.
# Absolute figures under the emulated host mean little: compare firerunner with QEMU. The guest's
# clock may tick in 10 ms jiffies there, so round trips are timed in batches of 25 (p50/p99 over
# batch means; tcp_rtt_mean_us over all).
# JSON keys: tcp_rtt_p50_us, qemu_tcp_rtt_p50_us, clones_ok (+ p99, throughput, runs).
# Usage: bench/net.sh --out FILE.json [--quick]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
out="" quick=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a file}"; shift ;;
    --quick) quick=1 ;;
    *) die "net.sh: unknown argument '$1' (usage: net.sh --out FILE.json [--quick])" ;;
  esac
  shift
done
[[ -n $out ]] || die "usage: net.sh --out FILE.json [--quick]"
firerunner="$BUILD_RELEASE/runner/firerunner" wrapper="$BUILD_RELEASE/wrapper/fc_wrapper"
[[ -x $firerunner && -x $wrapper ]] || die "net.sh: build firerunner and fc_wrapper first ($BUILD_RELEASE)"
vmlinux="$("$ROOT/scripts/images.sh" --check vmlinux)"
rootfs="$("$ROOT/scripts/images.sh" --check rootfs)"
work="$CACHE/bench-net"
rm -rf "$work" && mkdir -p "$work"
"$ROOT/scripts/build-appfs.sh" "$ROOT/bench/net_guest" "$work/net_guest.ext2" >/dev/null

# The clones' function (functions/fetch) and the base snapshot's placeholder app disk.
"$ROOT/scripts/build-appfs.sh" "$ROOT/functions/fetch" "$work/fetch.ext2" >/dev/null 2>&1
mkfs.ext2 -q -F -b 1024 -m 0 -L appfs "$work/placeholder.ext2" 1024k

rounds=3
[[ $quick -eq 1 ]] && rounds=1
"$ROOT/scripts/kvm-host.sh" --timeout 3000 -- "$ROOT/bench/net_inner.sh" "$firerunner" "$wrapper" "$work" "$rounds" \
  1 2>&1 | tr -d '\r' | tail -5
[[ -s $work/result.json ]] || die "net.sh: no result (see the output above)"
python3 - "$work/result.json" "$out" "$rounds" "$("$ROOT/scripts/kvm-detect.sh" --short)" <<'PY'
import json, os, sys
res = json.load(open(sys.argv[1]))
res["benchmark"] = "net"
res["rounds"] = int(sys.argv[3])
res["machine"] = {"kvm": sys.argv[4], "nproc": os.cpu_count(), "loadavg": os.getloadavg()[0],
                  "where": "emulated KVM host (QEMU TCG + nested SVM), firerunner and QEMU side by side"}
json.dump(res, open(sys.argv[2], "w"), indent=1)
print(f"tcp_rtt_p50_us {res['tcp_rtt_p50_us']}  qemu_tcp_rtt_p50_us {res['qemu_tcp_rtt_p50_us']}  "
      f"throughput {res.get('tcp_throughput_mbit_s')} vs {res.get('qemu_tcp_throughput_mbit_s')} Mbit/s  "
      f"clones_ok {res['clones_ok']}")
PY
