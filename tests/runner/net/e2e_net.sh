#!/usr/bin/env bash
# e2e: guest networking inside the emulated KVM host (scripts/kvm-host.sh --auto), all traffic to a
# server the test starts in its own namespace there (busybox httpd, 10.201.0.2:8000):
#   1. booted VM (functions/fetch, --network, namespace snapfaas-0): fetches the page
#   2. the same function without --network: a clear "Network is unreachable" error
#   3. snapshots with the network device (base + fetch diff; fetch opens a keep-alive connection
#      at import, i.e. before the diff point), server restarted, restored VM in snapfaas-1: the
#      pre-snapshot connection is dead, the handler reconnects; a plain fetch works
#   4. 4 clones restored from that snapshot at once, one per namespace (same IP/MAC): all fetch
# Usage: e2e_net.sh FC_WRAPPER FIRERUNNER WORKDIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
wrapper="${1:?usage: e2e_net.sh FC_WRAPPER FIRERUNNER WORKDIR}" firerunner="${2:?}" work="${3:?}"

if [[ ${4:-} != --inner ]]; then
  vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
  rootfs="$("$root/scripts/images.sh" --check rootfs)"
  rm -rf "$work" && mkdir -p "$work/fetch"
  cp "$root/functions/fetch/handler.py" "$work/fetch/"
  echo "10.201.0.2:8000" > "$work/fetch/preconnect.txt"
  "$root/scripts/build-appfs.sh" "$work/fetch" "$work/fetch.ext2" 2>/dev/null
  mkfs.ext2 -q -F -b 1024 -m 0 -L appfs "$work/placeholder.ext2" 1024k
  set +e
  "$root/scripts/kvm-host.sh" --auto --mem 3072 --timeout 2400 -- \
    "$here/e2e_net.sh" "$wrapper" "$firerunner" "$work" --inner "$vmlinux" "$rootfs" 2>&1 | tr -d '\r' | tail -25
  set -e
  python3 - "$work" <<'PY'
import glob, json, sys
work = sys.argv[1]
fails = []
def results(name):
    try:
        return [json.loads(l) for l in open(f"{work}/{name}.out") if l.strip()]
    except (OSError, ValueError) as e:
        fails.append(f"{name}: no output ({e})")
        return []
def check(cond, what):
    if not cond: fails.append(what)
def page_ok(r):
    res = r.get("result") or {}
    return r.get("ok") is True and res.get("status") == 200 and res.get("length") == 12345
b = results("booted")
check(len(b) == 2 and all(page_ok(r) for r in b), f"booted: {b}")
n = results("nonet")
check(len(n) == 1 and n[0].get("ok") is True and "unreachable" in (n[0]["result"].get("error") or "").lower(),
      f"no network: {n}")
r = results("restored")
check(len(r) == 2 and all(page_ok(x) for x in r), f"restored: {r}")
if len(r) == 2:
    check(r[0]["result"].get("reconnected") is True and r[0]["result"].get("stale_error"),
          f"restored: the pre-snapshot connection was not found dead: {r[0]}")
for i in range(4):
    c = results(f"clone{i}")
    if not (len(c) == 1 and page_ok(c[0])):  # with the VMM's and the guest's last words
        tail = open(f"{work}/clone{i}.err", errors="replace").read().splitlines()[-20:] if glob.glob(f"{work}/clone{i}.err") else []
        check(False, f"clone {i}: {c}; clone{i}.err:\n    " + "\n    ".join(l[:300] for l in tail))
if fails:
    print("FAIL:\n  " + "\n  ".join(fails))
    sys.exit(1)
print("PASS: booted fetch, no-network error, restored fetch + reconnect, 4 clones at once")
PY
  exit $?
fi

# ---- inside L1 ----
vmlinux="$5" rootfs="$6"
source "$here/lib.sh"
mac=06:00:ac:10:00:02
req() { printf '{"time": %s, "user_id": 1, "function": "fetch", "payload": %s}\n' "$1" "$2"; }
page='{"url": "http://10.201.0.2:8000/page.txt"}'
reuse='{"url": "http://10.201.0.2:8000/page.txt", "reuse": true}'
common=(--kernel "$vmlinux" --rootfs "$rootfs" --mem_size 256 --firerunner "$firerunner" --boot_timeout_ms 900000)

ip link set lo up
"$root/scripts/setup-network.sh" 4
server() {  # (re)starts busybox httpd in the server namespace (every process there killed first)
  if ip netns list | grep -q "^$SRV_NS"; then
    for p in $(ip netns pids "$SRV_NS"); do kill "$p" 2>/dev/null || true; done
    sleep 0.5
  else
    server_namespace
    make_page /tmp/page
  fi
  ip netns exec "$SRV_NS" busybox httpd -f -vv -p "$SRV_ADDR:$SRV_PORT" -h /tmp/page 2>>"$work/httpd.log" &
  sleep 0.5
}
server
step() { echo "e2e_net: $* ($(date +%T))"; }

step "1. booted VM with --network in snapfaas-0"
{ req 1 "$page"; req 2 "$reuse"; } | ip netns exec snapfaas-0 "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" \
  --id 10 --network "tap0/$mac" >"$work/booted.out" 2>"$work/booted.err" || step "booted: fc_wrapper exit $?"

step "2. the same function without a network device"
req 1 "$page" | ip netns exec snapfaas-0 "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" --id 11 \
  >"$work/nonet.out" 2>"$work/nonet.err" || step "nonet: fc_wrapper exit $?"

step "3. snapshots with the network device: base, then the fetch diff (keep-alive opened at import)"
ip netns exec snapfaas-0 "$wrapper" "${common[@]}" --appfs "$work/placeholder.ext2" --id 12 --network "tap0/$mac" \
  --dump_dir "$work/snap-base" </dev/null >"$work/snap-base.log" 2>&1 || step "base snapshot: fc_wrapper exit $?"
ip netns exec snapfaas-0 "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" --id 13 --network "tap0/$mac" \
  --load_dir "$work/snap-base" --dump_dir "$work/snap-fetch" </dev/null >"$work/snap-fetch.log" 2>&1 ||
  step "diff snapshot: fc_wrapper exit $?"
server  # a new server process: nothing from before the snapshot is known there
step "3. restored VM in snapfaas-1"
{ req 1 "$reuse"; req 2 "$page"; } | ip netns exec snapfaas-1 "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" \
  --id 14 --network "tap0/$mac" --load_dir "$work/snap-base,$work/snap-fetch" \
  >"$work/restored.out" 2>"$work/restored.err" || step "restored: fc_wrapper exit $?"

step "4. four clones from the same snapshot at once"
pids=()
for i in 0 1 2 3; do
  req 1 "$page" | ip netns exec "snapfaas-$i" "$wrapper" "${common[@]}" --appfs "$work/fetch.ext2" --id "2$i" \
    --network "tap0/$mac" --load_dir "$work/snap-base,$work/snap-fetch" >"$work/clone$i.out" 2>"$work/clone$i.err" &
  pids+=($!)
done
wait "${pids[@]}" || true
step "done"
for p in $(ip netns pids "$SRV_NS"); do kill "$p" 2>/dev/null || true; done
ip link del sfsrv-h 2>/dev/null || true
ip netns del "$SRV_NS" 2>/dev/null || true
"$root/scripts/cleanup-network.sh"
