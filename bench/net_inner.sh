#!/usr/bin/env bash
# Runs inside the emulated KVM host (scripts/kvm-host.sh) for bench/net.sh. Sets up 4 runner
# namespaces (scripts/setup-network.sh), starts the servers in their own namespace (echo on 9001,
# sink on 9002, HTTP on 8000: busybox, nothing leaves L1), then alternates ROUNDS times:
#   firerunner (our virtio-net, tap0 in snapfaas-0) and QEMU -M microvm (virtio-net-device on a
#   tap, tap0 in snapfaas-1), the same guest kernel, rootfs and guest program
#   (bench/net_guest/handler.py from the app image: TCP round trips + bulk send).
# Then (CLONES=1) snapshots functions/fetch with the network device and restores 4 clones from it
# at once, one per namespace, each fetching the same page; counts the clones that got it.
# Writes WORK/result.json. Usage: net_inner.sh FIRERUNNER FC_WRAPPER WORK ROUNDS CLONES(0|1)
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
firerunner="$1" wrapper="$2" work="$3" rounds="$4" clones="${5:-1}"
source "$root/tests/runner/net/lib.sh"
vmlinux="$root/.cache/images/vmlinux" rootfs="$root/.cache/images/rootfs.ext4" app="$work/net_guest.ext2"
mac=06:00:ac:10:00:02
guest_ip="ip=172.16.0.2::172.16.0.1:255.255.255.252::eth0:off"

ip link set lo up
"$root/scripts/setup-network.sh" 4 || exit 1
start_bench_servers() {
  server_namespace
  printf '#!/bin/sh\nexec cat >/dev/null\n' > /tmp/sink.sh && chmod +x /tmp/sink.sh
  ip netns exec "$SRV_NS" busybox nc -ll -p 9001 -e /bin/cat &
  ip netns exec "$SRV_NS" busybox nc -ll -p 9002 -e /tmp/sink.sh &
  make_page /tmp/page
  ip netns exec "$SRV_NS" busybox httpd -f -vv -p "$SRV_ADDR:$SRV_PORT" -h /tmp/page 2>"$work/httpd.log" &
  sleep 1
}
start_bench_servers

# The guest program's command line (init runs it; the app image is at /srv).
args='{"count": 500, "size": 64, "warmup": 30, "bulk": 8388608}'
[[ $rounds -le 1 ]] && args='{"count": 200, "size": 64, "warmup": 10, "bulk": 2097152}'
cmd="python3 /srv/handler.py '$args'"
kargs="loglevel=1 $guest_ip snapfaas.cmd=$(printf '%s' "$cmd" | base64 -w0)"

run_firerunner() {
  ip netns exec snapfaas-0 timeout 600 "$firerunner" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$app" \
    --mem_size 256 --network "tap0/$mac" --kernel_args "$kargs" 2>&1 | tr -d '\r' | grep -a '^NETBENCH ' | tail -1
}
run_qemu() {
  ip netns exec snapfaas-1 timeout 600 qemu-system-x86_64 -accel kvm -cpu host -M microvm,acpi=off -m 256 \
    -nodefaults -no-user-config -nographic -serial stdio -no-reboot -kernel "$vmlinux" \
    -append "console=ttyS0 reboot=t panic=-1 root=/dev/vda ro rootfstype=ext4 $kargs" \
    -drive "id=root,file=$rootfs,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=root \
    -drive "id=app,file=$app,format=raw,if=none,readonly=on" -device virtio-blk-device,drive=app \
    -netdev tap,id=n0,ifname=tap0,script=no,downscript=no -device "virtio-net-device,netdev=n0,mac=$mac" \
    </dev/null 2>&1 | tr -d '\r' | grep -a '^NETBENCH ' | tail -1
}

: > "$work/firerunner.lines"
: > "$work/qemu.lines"
for ((r = 0; r < rounds; r++)); do
  run_firerunner >> "$work/firerunner.lines"
  run_qemu >> "$work/qemu.lines"
done

# Clones: a base + fetch diff snapshot made with the network device (snapfaas-0), then 4 fc_wrappers
# restore it at once, one per namespace, each fetching the page.
clones_ok=null
if [[ $clones == 1 ]]; then
  common=(--kernel "$vmlinux" --rootfs "$rootfs" --mem_size 256 --firerunner "$firerunner" --boot_timeout_ms 900000
          --network "tap0/$mac")
  ip netns exec snapfaas-0 "$wrapper" "${common[@]}" --appfs "$work/placeholder.ext2" --id 90 \
    --dump_dir "$work/snap-base" </dev/null >"$work/snap-base.log" 2>&1
  ip netns exec snapfaas-0 "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" --id 91 \
    --load_dir "$work/snap-base" --dump_dir "$work/snap-fetch" </dev/null >"$work/snap-fetch.log" 2>&1
  req='{"time": 1, "user_id": 1, "function": "fetch", "payload": {"url": "http://10.201.0.2:8000/page.txt"}}'
  pids=()
  for i in 0 1 2 3; do
    echo "$req" | ip netns exec "snapfaas-$i" timeout 900 "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" \
      --id "9$((i + 2))" --load_dir "$work/snap-base,$work/snap-fetch" >"$work/clone$i.out" 2>"$work/clone$i.err" &
    pids+=($!)
  done
  wait "${pids[@]}" || true
  clones_ok=counted
fi

python3 - "$work" "$clones_ok" <<'PY'
import json, statistics, sys
work, clones_ok = sys.argv[1], sys.argv[2]
def runs(name):
    out = []
    for line in open(f"{work}/{name}.lines"):
        if line.startswith("NETBENCH "):
            out.append(json.loads(line[len("NETBENCH "):]))
    return [r for r in out if "error" not in r]
def med(rs, key):
    v = [r[key] for r in rs if r.get(key) is not None]
    return round(statistics.median(v), 1) if v else None
fr, qm = runs("firerunner"), runs("qemu")
def clone_ok(i):
    try:
        lines = [json.loads(l) for l in open(f"{work}/clone{i}.out") if l.strip()]
    except (OSError, ValueError):
        return False
    return len(lines) == 1 and lines[0].get("ok") is True and \
        (lines[0].get("result") or {}).get("status") == 200 and lines[0]["result"].get("length") == 12345
if clones_ok == "counted":
    clones_ok = str(sum(clone_ok(i) for i in range(4)))
res = {
    "tcp_rtt_p50_us": med(fr, "tcp_rtt_p50_us"), "tcp_rtt_p99_us": med(fr, "tcp_rtt_p99_us"),
    "tcp_rtt_mean_us": med(fr, "tcp_rtt_mean_us"), "qemu_tcp_rtt_mean_us": med(qm, "tcp_rtt_mean_us"),
    "tcp_throughput_mbit_s": med(fr, "tcp_throughput_mbit_s"),
    "qemu_tcp_rtt_p50_us": med(qm, "tcp_rtt_p50_us"), "qemu_tcp_rtt_p99_us": med(qm, "tcp_rtt_p99_us"),
    "qemu_tcp_throughput_mbit_s": med(qm, "tcp_throughput_mbit_s"),
    "clones_ok": None if clones_ok == "null" else int(clones_ok),
    "rounds_ok": {"firerunner": len(fr), "qemu": len(qm)},
    "runs": {"firerunner": fr, "qemu": qm},
}
json.dump(res, open(f"{work}/result.json", "w"), indent=1)
print(json.dumps({k: v for k, v in res.items() if k != "runs"}))
PY
ip netns exec "$SRV_NS" true 2>/dev/null && { kill $(jobs -p) 2>/dev/null; ip link del sfsrv-h; ip netns del "$SRV_NS"; }
"$root/scripts/cleanup-network.sh"
