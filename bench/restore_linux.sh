#!/usr/bin/env bash
# Benchmark restore_linux: the Python function `hello` and its Node.js twin `hello-js` in a Linux
# guest, regular boot vs restore from the runtime base + the function's diff (python3 + hello,
# nodejs + hello-js; scripts/build-snapshots.sh), same run, same host: fc_wrapper start -> first
# response, and its parts (VM creation, boot/restore to the agent's first WAIT), plus the base and
# diff snapshot sizes. Natively with VT-x/AMD-V, else inside the emulated KVM host (QEMU TCG +
# nested SVM: every figure there is slowed by emulation — the ratio is what carries over). There the
# kernel, images and snapshots are staged in L1's memory first (kvm-host.sh --stage), as a real
# host serves them from its page cache; read over 9p instead, every restore would fetch its pages
# through emulated virtio (node restore to first response p50 940 ms that way, 256 staged). Writes
# JSON with boot_over_restore_emulated_hello and boot_over_restore_emulated_node_hello
# (boot_over_restore_hello / _node_hello natively).
# Working set (REAP-style, fc_wrapper --load_ws): hello restored lazily and with its working set
# (hello/working_set, recorded by build-snapshots.sh: the pages its first request touched)
# prefetched, alternating run by run in the same L1: ws_first_response_p50_ms and
# lazy_first_response_p50_ms are VM created -> first response (restore to the agent's first WAIT,
# which holds the prefetch, plus the first request's round trip).
# Page-fault floor: fc_wrapper prints KVM's page faults from the VM's load to its first response
# (restore_page_faults_p50); a ring-3 guest (tests/guests memtouch) writing every page of 8 and of
# 72 MiB of RAM, alternately, gives the cost of a guest page's first touch on this host
# (first_touch_us_per_page: the difference of the medians over the 16384 pages between). Their
# product, fault_floor_ms, is about the part of hello's restore, VM created -> first response,
# that is the first touches of its pages (a KVM page fault each; under the emulated host's shadow
# paging every 4 KiB page the guest touches is one), and fault_floor_share_of_first_response that
# part's share.
# Usage: bench/restore_linux.sh --out FILE.json [--quick]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
out="" boots=5 restores=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --quick) boots=2 restores=3; shift ;;
    --inner) shift; break ;;
    *) die "restore_linux.sh: unknown argument '$1' (use --out FILE --quick)" ;;
  esac
done

wrapper="$BUILD_RELEASE/wrapper/fc_wrapper"
firerunner="$BUILD_RELEASE/runner/firerunner"
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
snaps="${SNAPFAAS_SNAPSHOTS:-$CACHE/snapshots}"

if [[ ${1:-} == touch ]]; then  # inside the KVM host: touch N (N rounds of 8 and 72 MiB memtouch runs)
  err="$(mktemp "$CACHE/tmp/restore_linux.XXXXXX")"
  for ((i = 0; i < $2; i++)); do
    for mib in 8 72; do
      start=$(date +%s%N)
      "$firerunner" --kernel "$BUILD_RELEASE/tests/guests/guest_memtouch" --mem_size "$mib" --log-level warn \
        >/dev/null 2>"$err" || { tail -5 "$err"; echo "restore_linux: touch $mib MiB failed"; exit 1; }
      echo "restore_linux: touch mem_mib=$mib ms=$(( ($(date +%s%N) - start) / 1000000 ))"
    done
  done
  rm -f "$err"
  exit 0
fi

if [[ ${1:-} == run ]]; then  # inside the KVM host: run MODE N (MODE: boot, restore, node_boot, node_restore)
  mode="$2" n="$3"
  err="$(mktemp "$CACHE/tmp/restore_linux.XXXXXX")"
  extra=()
  if [[ $mode == node_* ]]; then
    rootfs="$("$root/scripts/images.sh" --check nodejs)" app="$("$root/scripts/images.sh" --check appfs hello-js)"
    [[ $mode == node_restore ]] && extra=(--load_dir "$snaps/nodejs,$snaps/hello-js")
  else
    rootfs="$("$root/scripts/images.sh" --check rootfs)" app="$("$root/scripts/images.sh" --check appfs hello)"
    [[ $mode == restore ]] && extra=(--load_dir "$snaps/python3,$snaps/hello")
  fi
  for ((i = 0; i < n; i++)); do
    label=$mode
    if [[ $mode == ws_pair ]]; then  # alternate: lazy on even runs, working set prefetched on odd ones
      label=$([[ $((i % 2)) -eq 0 ]] && echo lazy || echo ws)
      extra=(--load_dir "$snaps/python3,$snaps/hello")
      [[ $label == ws ]] && extra+=(--load_ws "$snaps/hello/working_set")
    fi
    start=$(date +%s%N)
    resp="$(echo '{"time":1,"user_id":1,"function":"hello","payload":{}}' |
      "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$app" --mem_size 128 --firerunner "$firerunner" \
        --id "bench-$mode-$i" --boot_timeout_ms 400000 "${extra[@]}" 2>"$err")" || {
      tail -5 "$err"; echo "restore_linux: $label run $i failed"; exit 1; }
    first_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    [[ $resp == *'"ok":true'* ]] || { echo "restore_linux: $label run $i: bad response $resp"; exit 1; }
    if [[ $label == ws ]] && ! grep -q 'prefetching a working set of' "$err"; then
      grep 'working set' "$err" | tail -2; echo "restore_linux: ws run $i: no working set prefetched"; exit 1
    fi
    parts="$(grep -oE '(vm_creation|boot_to_first_wait|restore_to_first_wait)_ms=[0-9.]+' "$err" | tr '\n' ' ' || true)"
    rtt_us="$(grep -oE 'request 1 rtt_us=[0-9]+' "$err" | grep -oE '[0-9]+$' || echo 0)"
    parts+="first_request_ms=$((rtt_us / 1000)).$(printf '%03d' $((rtt_us % 1000))) "
    pages="$(grep -oE 'prefetching a working set of [0-9]+' "$err" | grep -oE '[0-9]+$' || true)"
    [[ -z $pages ]] || parts+="ws_pages=$pages "
    faults="$(grep -oE 'load_to_first_response_page_faults=[0-9]+' "$err" | grep -oE '[0-9]+$' || true)"
    [[ -z $faults ]] || parts+="page_faults=$faults "
    echo "restore_linux: $label first_response_ms=$first_ms $parts"
  done
  rm -f "$err"
  exit 0
fi

[[ -n $out ]] || die "usage: bench/restore_linux.sh --out FILE.json [--quick]"
"$root/scripts/build-snapshots.sh" --out "$snaps" hello hello-js
mkdir -p "$CACHE/tmp"
case_word="$("$root/scripts/kvm-detect.sh" --short)"
# What the runs read, staged in L1's memory (ignored natively): boot and restore alike.
stage=()
for p in "$vmlinux" "$("$root/scripts/images.sh" --check rootfs)" "$("$root/scripts/images.sh" --check nodejs)" \
  "$("$root/scripts/images.sh" --check appfs hello)" "$("$root/scripts/images.sh" --check appfs hello-js)" \
  "$snaps/python3" "$snaps/hello" "$snaps/nodejs" "$snaps/hello-js"; do
  stage+=(--stage "$p")
done
step "restore_linux: $boots boots and $restores restores of hello and of hello-js, $restores lazy and $restores working-set restores of hello ($case_word)"
log="$(mktemp "$CACHE/tmp/restore_linux-log.XXXXXX")"
trap 'rm -f "$log"' EXIT
set +e
# Interleaved (boot, restore, boot, ...) would be fairer on a noisy host, but each fc_wrapper run is
# seconds long there; one L1 for both series keeps them side by side.
"$root/scripts/kvm-host.sh" --auto --timeout 1500 "${stage[@]}" -- bash -c \
  "'$0' --inner run boot $boots && '$0' --inner run restore $restores &&
   '$0' --inner run node_boot $boots && '$0' --inner run node_restore $restores &&
   '$0' --inner run ws_pair $((2 * restores)) && '$0' --inner touch $restores" 2>&1 | tr -d '\r' | grep "restore_linux:" | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || die "restore_linux: runs failed (status $rc)"
python3 - "$log" "$out" "$case_word" "$snaps" <<'PY'
import json, os, re, statistics, sys
log, out, case, snaps = sys.argv[1:5]
series = {"boot": [], "restore": [], "node_boot": [], "node_restore": [], "lazy": [], "ws": []}
for line in open(log):
    m = re.match(r"restore_linux: (boot|restore|node_boot|node_restore|lazy|ws) first_response_ms=(\d+) (.*)", line.strip())
    if not m:
        continue
    parts = {k: float(v) for k, v in re.findall(r"(\w+)_ms=([\d.]+)", m.group(3))}
    parts.update({k: float(v) for k, v in re.findall(r"(ws_pages|page_faults)=(\d+)", m.group(3))})
    series[m.group(1)].append({"first_response_ms": float(m.group(2)), **parts})
touch = {8: [], 72: []}
for line in open(log):
    m = re.match(r"restore_linux: touch mem_mib=(\d+) ms=(\d+)", line.strip())
    if m:
        touch[int(m.group(1))].append(float(m.group(2)))
if not all(series.values()) or not all(touch.values()):
    sys.exit("restore_linux: no measurements for " + ", ".join(
        [k for k, v in series.items() if not v] + [f"touch {k} MiB" for k, v in touch.items() if not v]))
med = lambda mode, key: statistics.median(r[key] for r in series[mode] if key in r)
boot, restore = med("boot", "first_response_ms"), med("restore", "first_response_ms")
boot_ready, restore_ready = med("boot", "boot_to_first_wait"), med("restore", "restore_to_first_wait")
emulated = case != "hardware"
ratio_key = "boot_over_restore_emulated_hello" if emulated else "boot_over_restore_hello"
result = {
    "benchmark": "restore_linux",
    "machine_case": case,
    "where": ("inside the emulated KVM host (QEMU TCG + nested SVM); kernel, images and snapshots staged in "
              "L1's memory (kvm-host.sh --stage)") if emulated else "natively",
    "function": "hello", "mem_mib": 128,
    "definition": ("ratio = VM created -> agent's first WAIT: boot (kernel, init, agent, CPython, import) over "
                   "restore (python3 base + hello diff mapped, state and devices set, guest resumed); the "
                   "process start and VM creation before it are the same for both and are what pre-spawned "
                   "runners take off the cold path. end_to_end = fc_wrapper start -> first response."),
    "boot_to_first_wait_p50_ms": boot_ready,
    "restore_to_first_wait_p50_ms": restore_ready,
    ratio_key: round(boot_ready / restore_ready, 2),
    "boot_first_response_p50_ms": boot,
    "restore_first_response_p50_ms": restore,
    ratio_key + "_end_to_end": round(boot / restore, 2),
    "vm_creation_boot_p50_ms": med("boot", "vm_creation"),
    "vm_creation_restore_p50_ms": med("restore", "vm_creation"),
}
# The Node.js twin, hello-js (nodejs image: boot = kernel, init, Node + V8 start, the agent, require).
# Its ratio is to the first response: VM created -> first WAIT, plus the first request's round trip
# (the cold path of a pre-spawned runner, which has its process and VM before the request);
# also given to the first WAIT (as the Python key) and end to end (process start -> first response).
node_ready = med("node_boot", "boot_to_first_wait"), med("node_restore", "restore_to_first_wait")
node_response = (statistics.median(r["boot_to_first_wait"] + r["first_request"] for r in series["node_boot"]),
                 statistics.median(r["restore_to_first_wait"] + r["first_request"] for r in series["node_restore"]))
node_first = med("node_boot", "first_response_ms"), med("node_restore", "first_response_ms")
node_key = ratio_key.replace("_hello", "_node_hello")
result.update({
    "node_function": "hello-js",
    "node_definition": ("ratio = VM created -> first response (first WAIT + the first request's round trip): boot "
                        "(kernel, init, Node and V8, the agent, require handler.js) over restore (nodejs base + "
                        "hello-js diff mapped, guest resumed, generators reseeded); _to_first_wait: to the agent's "
                        "first WAIT, as the Python key; _end_to_end: fc_wrapper start -> first response."),
    "node_boot_to_first_response_p50_ms": node_response[0],
    "node_restore_to_first_response_p50_ms": node_response[1],
    node_key: round(node_response[0] / node_response[1], 2),
    "node_boot_to_first_wait_p50_ms": node_ready[0],
    "node_restore_to_first_wait_p50_ms": node_ready[1],
    node_key + "_to_first_wait": round(node_ready[0] / node_ready[1], 2),
    "node_boot_first_response_p50_ms": node_first[0],
    "node_restore_first_response_p50_ms": node_first[1],
    node_key + "_end_to_end": round(node_first[0] / node_first[1], 2),
})
# Working set (REAP-style): the same restore of hello, lazily (every page faulted in as the guest
# touches it) and with the recorded working set prefetched (MADV_POPULATE_READ before the vCPUs
# run), alternating in one L1. First response = VM created -> first response.
to_response = lambda mode: statistics.median(r["restore_to_first_wait"] + r["first_request"] for r in series[mode])
ws, lazy = to_response("ws"), to_response("lazy")
result.update({
    "ws_definition": ("first_response = VM created -> first response of hello (restore incl. any prefetch, "
                      "to the agent's first WAIT, + the first request's round trip); lazy: python3 base + "
                      "hello diff mapped, pages faulted in on touch; ws: the same + fc_wrapper --load_ws "
                      "hello/working_set (the pages its first request touched, recorded by "
                      "build-snapshots.sh with --dump_ws) prefetched; runs alternate lazy/ws."),
    "ws_first_response_p50_ms": ws,
    "lazy_first_response_p50_ms": lazy,
    "lazy_over_ws_first_response": round(lazy / ws, 2),
    "ws_restore_to_first_wait_p50_ms": med("ws", "restore_to_first_wait"),
    "lazy_restore_to_first_wait_p50_ms": med("lazy", "restore_to_first_wait"),
    "ws_first_request_p50_ms": med("ws", "first_request"),
    "lazy_first_request_p50_ms": med("lazy", "first_request"),
    "ws_end_to_end_p50_ms": med("ws", "first_response_ms"),
    "lazy_end_to_end_p50_ms": med("lazy", "first_response_ms"),
    "working_set_pages": med("ws", "ws_pages"),
})
# Page-fault floor (see the header).
restore_response = to_response("restore")
touch_us = (statistics.median(touch[72]) - statistics.median(touch[8])) * 1000 / ((72 - 8) * 256)
counted = [r["page_faults"] for r in series["restore"] if "page_faults" in r]
result.update({
    "fault_definition": ("restore_page_faults: KVM's page faults of hello's restore, VM load -> first response "
                         "(fc_wrapper); first_touch_us_per_page: (memtouch 72 MiB - memtouch 8 MiB, medians of "
                         "firerunner process runs) / 16384 pages; fault_floor_ms = their product; its share of the "
                         "restore's VM created -> first response (restore_first_response = to the first WAIT + "
                         "the first request's round trip)"),
    "first_touch_us_per_page": round(touch_us, 2),
    "touch_8mib_p50_ms": statistics.median(touch[8]),
    "touch_72mib_p50_ms": statistics.median(touch[72]),
    "restore_page_faults_counted": len(counted),
    "restore_page_faults_p50": statistics.median(counted) if counted else None,
    "restore_vm_created_to_first_response_p50_ms": restore_response,
})
if counted:
    floor = statistics.median(counted) * touch_us / 1000
    result["fault_floor_ms"] = round(floor, 1)
    result["fault_floor_share_of_first_response"] = round(floor / restore_response, 2)
# Snapshot sizes: memory file bytes (apparent: the guest-physical span; on disk: the pages saved).
for label, name in (("python3_base", "python3"), ("hello_diff", "hello"), ("nodejs_base", "nodejs"),
                    ("hello_js_diff", "hello-js")):
    st = os.stat(f"{snaps}/{name}/memory")
    result[f"snapshot_{label}_apparent_mib"] = round(st.st_size / 2**20, 1)
    result[f"snapshot_{label}_on_disk_mib"] = round(st.st_blocks * 512 / 2**20, 2)
result["runs"] = series
json.dump(result, open(out, "w"), indent=1)
print(f"restore_linux: hello to the agent's first WAIT: boot p50 {boot_ready:.0f} ms, restore p50 {restore_ready:.0f} ms "
      f"-> {ratio_key} = {boot_ready / restore_ready:.1f}x; end to end (process start -> first response): "
      f"{boot:.0f} vs {restore:.0f} ms = {boot / restore:.1f}x")
print(f"restore_linux: hello-js, VM created -> first response: boot p50 {node_response[0]:.0f} ms, restore p50 "
      f"{node_response[1]:.0f} ms -> {node_key} = {node_response[0] / node_response[1]:.1f}x; to the first WAIT "
      f"{node_ready[0]:.0f} vs {node_ready[1]:.0f} ms = {node_ready[0] / node_ready[1]:.1f}x; end to end: {node_first[0]:.0f} vs {node_first[1]:.0f} ms "
      f"= {node_first[0] / node_first[1]:.1f}x; snapshots on disk: nodejs base {result['snapshot_nodejs_base_on_disk_mib']} MiB, "
      f"hello-js diff {result['snapshot_hello_js_diff_on_disk_mib']} MiB (python3 base {result['snapshot_python3_base_on_disk_mib']} MiB, "
      f"hello diff {result['snapshot_hello_diff_on_disk_mib']} MiB)")
if counted:
    print(f"restore_linux: hello's restore, VM created -> first response p50 {restore_response:.0f} ms: "
          f"{result['restore_page_faults_p50']:.0f} page faults x {touch_us:.1f} us per first touch = "
          f"{result['fault_floor_ms']:.0f} ms ({100 * result['fault_floor_share_of_first_response']:.0f} %)")
else:
    print("restore_linux: no page-fault counts from fc_wrapper (KVM binary stats unavailable?): no fault floor")
print(f"restore_linux: hello, VM created -> first response: lazy p50 {lazy:.0f} ms, working set prefetched "
      f"({result['working_set_pages']:.0f} pages) p50 {ws:.0f} ms -> lazy/ws = {lazy / ws:.2f}x (first request alone: "
      f"{result['lazy_first_request_p50_ms']:.1f} vs {result['ws_first_request_p50_ms']:.1f} ms)")
PY
