#!/usr/bin/env bash
# e2e: snapfaas-supervisor acting on `network: true`, in the emulated KVM host (scripts/kvm-host.sh
# --auto). Jailed, pre-spawned runners (4), each in its own namespace snapfaas-i (setup-network.sh 4
# inside L1), started with --network tap0/MAC; every cold start a restore:
#   fetch        network: true,  python3-net base + fetch-net diff (built with the device)
#   fetch_nonet  network: false, python3 base + fetch diff (the same handler, no device)
# Workload: 3 fetches at once (3 runners, clones of one snapshot with the same guest IP/MAC, told
# apart by their namespaces) + 1 fetch_nonet, then warm fetches and fetch_nonet again. All traffic
# goes to a busybox httpd the test starts in its own namespace in L1 (10.201.0.2:8000, never an
# outside address). Checks: every fetch got the 12345-byte page (status 200), the 3 first ones on 3
# different runners, fetch_nonet answered "Network is unreachable" and its restore left the runner's
# device out (firerunner's log line), no runner failure.
# Isolation in the same L1 boot (issue 16): while the supervisor runs, every runner process is
# sampled (/proc): once it has a vcpu thread (it locked down) every one of its threads has
# "Seccomp: 2", virtio-net's receive thread (net-rx) included; runners run as distinct uids
# 100000+i; L1 has cgroup v2, so each runner sits in its own cgroup snapfaas-<pid>/runner-i from
# its first instruction (clone3 CLONE_INTO_CGROUP) with memory.max = largest VM + 256 MiB and
# pids.max = 64.
# Then the fetch restore loop (issue 15 item 6): $E2E_RESTORE_LOOP cold restores of fetch in a row
# (default 6; 200 for the investigation), each one fetching the page through its namespace; every
# one must answer and the kept consoles must show no kernel panic.
# Snapshots come from scripts/build-snapshots.sh --network fetch fetch (cached; in
# $SNAPFAAS_SNAPSHOTS or .cache/snapshots, made with this build's firerunner).
# Usage: e2e_supervisor_net.sh SUPERVISOR FIRERUNNER WORKDIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
supervisor="${1:?usage: e2e_supervisor_net.sh SUPERVISOR FIRERUNNER WORKDIR}" firerunner="${2:?}" work="${3:?}"
runners=4
loop="${E2E_RESTORE_LOOP:-6}"
[[ ${4:-} == --inner ]] && loop="${5:-6}"  # the emulated host gets no environment: an argument

if [[ ${4:-} != --inner ]]; then
  supervisor="$(realpath "$supervisor")" firerunner="$(realpath "$firerunner")"
  mkdir -p "$work" && work="$(realpath "$work")"
  build="$(cd "$(dirname "$firerunner")/.." && pwd)"
  snapshots="${SNAPFAAS_SNAPSHOTS:-$root/.cache/snapshots}"
  SNAPFAAS_BUILD_RELEASE="$build" "$root/scripts/build-snapshots.sh" --out "$snapshots" --network fetch fetch
  snapshots="$(cd "$snapshots" && pwd)"
  images="$(dirname "$("$root/scripts/images.sh" --check rootfs)")"
  rm -rf "$work" && mkdir -p "$work"
  cat > "$work/functions.yaml" <<EOF
fetch:
  runtimefs: rootfs.ext4
  appfs: fetch.ext2
  memory: 128
  concurrency_limit: 3
  network: true
  load_dir: python3-net
  diff_dirs: [fetch-net]
fetch_b:
  runtimefs: rootfs.ext4
  appfs: fetch.ext2
  memory: 128
  concurrency_limit: 1
  network: true
  load_dir: python3-net
  diff_dirs: [fetch-net]
fetch_nonet:
  runtimefs: rootfs.ext4
  appfs: fetch.ext2
  memory: 128
  concurrency_limit: 1
  load_dir: python3
  diff_dirs: [fetch]
EOF
  cat > "$work/controller.yaml" <<EOF
kernel_path: $images/vmlinux
runtimefs_dir: $images
appfs_dir: $images/appfs
snapshot_dir: $snapshots
function_config: functions.yaml
firerunner_path: $firerunner
EOF
  page='{"url": "http://10.201.0.2:8000/page.txt"}'
  {
    for f in fetch fetch fetch fetch_nonet; do printf '{"time": 0, "user_id": 1, "function": "%s", "payload": %s}\n' "$f" "$page"; done
    for t in 8000 8001 8002 9000 9500 10000; do printf '{"time": %s, "user_id": 2, "function": "fetch", "payload": %s}\n' "$t" "$page"; done
    printf '{"time": 10000, "user_id": 2, "function": "fetch_nonet", "payload": %s}\n' "$page"
  } > "$work/workload.jsonl"
  t0=$SECONDS
  set +e
  "$root/scripts/kvm-host.sh" --auto --mem 3072 --timeout $((600 + loop * 8)) -- \
    "$here/e2e_supervisor_net.sh" "$supervisor" "$firerunner" "$work" --inner "$loop" 2>&1 | tr -d '\r' | tail -n 15
  set -e
  echo "e2e_supervisor_net: L1 run took $((SECONDS - t0)) s"
  python3 - "$work" "$loop" <<'PY'
import glob, json, statistics, sys
work, loop = sys.argv[1], int(sys.argv[2])
fails = []
def check(cond, what):
    if not cond: fails.append(what)
try:
    rs = [json.loads(l) for l in open(f"{work}/results.jsonl") if l.strip()]
except (OSError, ValueError) as e:
    print(f"FAIL: no results ({e}); supervisor log: {work}/supervisor.log"); sys.exit(1)
try:
    summary = json.loads([l for l in open(f"{work}/supervisor.log") if l.startswith("summary: ")][-1][9:])
except (OSError, IndexError, ValueError) as e:
    summary = {}; fails.append(f"no summary line ({e})")
def result(r): return ((r.get("response") or {}).get("result") or {}) if r.get("status") == "ok" else {}
def page_ok(r): return result(r).get("status") == 200 and result(r).get("length") == 12345
fetch = [r for r in rs if r["function"] == "fetch"]
nonet = [r for r in rs if r["function"] == "fetch_nonet"]
check(len(rs) == 11, f"{len(rs)} results of 11")
check(len(fetch) == 9 and all(page_ok(r) for r in fetch), "fetch: " + "; ".join(json.dumps(r) for r in fetch if not page_ok(r)))
first = [r for r in fetch if r["user_id"] == 1]
check(len({r["runner"] for r in first}) == 3 and all(r["cold"] for r in first),
      f"the 3 concurrent fetches did not run as 3 cold starts on 3 runners: {[(r['runner'], r['cold']) for r in first]}")
check(len(nonet) == 2 and all("unreachable" in (result(r).get("error") or "").lower() for r in nonet),
      f"fetch_nonet: {nonet}")
check(summary.get("runner_failures", 1) == 0 and summary.get("errors", 1) == 0, f"summary: {summary}")
check(summary.get("restores") == summary.get("cold"), f"restores {summary.get('restores')} != cold {summary.get('cold')}")
# Isolation samples (the inner part's watcher): per runner process and sample, its threads
# "thread PID TID NAME SECCOMP" then "runner PID UID CGROUP MEMORY_MAX PIDS_MAX". A sample taken once
# the runner locked down (it has a vcpu thread) must show every thread filtered; a thread that
# ended while it was read shows "?" and is skipped.
samples, runners, sample = [], {}, []
try:
    for line in open(f"{work}/isolation.txt"):
        w = line.split()
        if w[:1] == ["thread"] and len(w) == 5: sample.append(w[1:])
        if w[:1] == ["runner"] and len(w) == 6:
            samples.append((w[1], [t for t in sample if t[0] == w[1]]))
            sample = []
            # A runner's first complete reading counts: one read while it exits (killed at the
            # end) can miss its cgroup file and must not replace it.
            if w[2] != "none" and (w[1] not in runners or runners[w[1]][1] == "none"): runners[w[1]] = w[2:]
except OSError as e:
    fails.append(f"no isolation samples ({e})")
locked = [(p, ts) for p, ts in samples if any(t[2] == "vcpu" for t in ts)]
check(len({p for p, _ in locked}) >= 3, f"runners seen locked down: {len({p for p, _ in locked})} (want >= 3)")
unfiltered = sorted({(p, t[1], t[2], t[3]) for p, ts in locked for t in ts if t[3] not in ("2", "?")})
check(not unfiltered, f"threads without a seccomp program (pid, tid, name, Seccomp): {unfiltered}")
check(any(t[2] == "net-rx" and t[3] == "2" for _, ts in locked for t in ts), "no filtered virtio-net receive thread seen")
uids = {r[0] for r in runners.values()}
check(len(uids) == len(runners) and all(int(u) >= 100000 for u in uids), f"runner uids {sorted(uids)} (one each, >= 100000)")
check(runners and all("/snapfaas-" in r[1] and "/runner-" in r[1] for r in runners.values()),
      f"runner cgroups: {[r[1] for r in runners.values()]}")
check(runners and all(r[2] == str((128 + 256) << 20) and r[3] == "64" for r in runners.values()),
      f"runner cgroup limits (memory.max, pids.max): {[(r[2], r[3]) for r in runners.values()]}")
check("jailer: cgroup v2: each runner is cloned into" in open(f"{work}/supervisor.log", errors="replace").read(),
      "the supervisor did not set up cgroup v2 in L1")
# fetch_nonet's cold restore: the runner's own device (--network) is left out, the snapshot has none.
log = open(f"{work}/supervisor.log", errors="replace").read()
check(log.count("the snapshot has 0 network device(s), the VM 1 (--network): the others are left out") == 1,
      "fetch_nonet's restore did not leave the runner's network device out (firerunner log line missing)")
# The fetch restore loop: every one a cold restore that fetched the page, no panic in any console.
try:
    loop_rs = [json.loads(l) for l in open(f"{work}/loop-results.jsonl") if l.strip()] if loop else []
except (OSError, ValueError) as e:
    loop_rs = []; fails.append(f"fetch restore loop: no results ({e}); log: {work}/loop.log")
bad = [r for r in loop_rs if not (r.get("cold") and page_ok(r))]
check(len(loop_rs) == loop and not bad, f"fetch restore loop: {len(loop_rs)} of {loop}, failed {bad[:3]}")
loop_consoles = "".join(open(p, errors="replace").read() for p in glob.glob(f"{work}/loop-consoles/*"))
check(loop_consoles.count("Kernel panic") == 0, f"{loop_consoles.count('Kernel panic')} guest kernel panics in the loop's consoles")
# Each clone says in its response which restore record it had applied (the agent's own line about
# it is a --verbose one: off the console, which costs an exit per byte).
unapplied = [r["id"] for r in loop_rs if r.get("restore_generation", 0) < 1]
applied = len(loop_rs) - len(unapplied)
check(not unapplied, f"the loop's restores {unapplied} answered without a restore record applied")
if fails:
    print("FAIL:\n  " + "\n  ".join(fails)); sys.exit(1)
loop_cold = [r["service_ms"] for r in loop_rs]  # from dispatch: restore + fetch (the queue wait grows with the loop)
if loop_rs:
    print(f"PASS: fetch restore loop {len(loop_rs)}/{loop}: every one a cold restore that fetched the page, "
          f"{applied} restore records applied (responses) and no kernel panic in the kept consoles; restore + fetch p50 {statistics.median(loop_cold):.0f} ms")
cold = [r["latency_ms"] for r in fetch if r["cold"]]
warm = [r["latency_ms"] for r in fetch if not r["cold"]]
guest = [result(r)["ms"] for r in fetch]
print(f"PASS: isolation: {len(locked)} samples of {len({p for p, _ in locked})} locked-down runners, "
      f"{sum(len(ts) for _, ts in locked)} thread readings all Seccomp 2 (net-rx included); {len(runners)} runners "
      f"with uids {sorted(uids)}, each in its cgroup v2 leaf (memory.max {(128 + 256) << 20}, pids.max 64)")
print(f"PASS: {len(fetch)} fetches through the supervisor (3 concurrent cold clones on 3 runners), "
      f"fetch_nonet unreachable; fetch cold p50 {statistics.median(cold):.0f} ms (n={len(cold)}), "
      f"warm p50 {statistics.median(warm) if warm else float('nan'):.0f} ms (n={len(warm)}), "
      f"in-guest fetch p50 {statistics.median(guest):.1f} ms (emulated host)")
PY
  exit $?
fi

# ---- inside L1 ----
source "$root/tests/runner/net/lib.sh"
ip link set lo up
"$root/scripts/setup-network.sh" "$runners"
server_namespace
make_page /tmp/page
ip netns exec "$SRV_NS" busybox httpd -f -p "$SRV_ADDR:$SRV_PORT" -h /tmp/page &
sleep 0.5
cleanup() {
  for p in $(ip netns pids "$SRV_NS" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
  ip link del sfsrv-h 2>/dev/null || true
  ip netns del "$SRV_NS" 2>/dev/null || true
  "$root/scripts/cleanup-network.sh"
}
trap cleanup EXIT
# Samples every firerunner process while the supervisor runs: its threads' names and seccomp mode,
# its uid, cgroup and that cgroup's limits (read from L1's cgroup v2 hierarchy). Bash builtins only
# (no process per /proc file): under TCG a fork costs too much to sample often.
watch_runners() {
  set +e  # processes come and go under it: a vanished file is no failure
  local sup=$1 p t c key value rest line sec uid cg mem pids
  while kill -0 "$sup" 2>/dev/null; do
    for p in /proc/[0-9]*; do
      c=""
      read -r c 2>/dev/null <"$p/comm"
      [[ $c == firerunner ]] || continue
      for t in "$p"/task/*; do
        c="" sec=""
        read -r c 2>/dev/null <"$t/comm"
        while read -r key value rest; do [[ $key == Seccomp: ]] && sec=$value; done 2>/dev/null <"$t/status"
        echo "thread ${p#/proc/} ${t##*/} ${c:-?} ${sec:-?}"
      done
      uid="" cg="" mem=none pids=none
      while read -r key value rest; do [[ $key == Uid: ]] && uid=$value; done 2>/dev/null <"$p/status"
      while IFS= read -r line; do [[ $line == 0::* ]] && cg=${line#0::}; done 2>/dev/null <"$p/cgroup"
      if [[ -n $cg ]]; then
        read -r mem 2>/dev/null <"/sys/fs/cgroup$cg/memory.max"
        read -r pids 2>/dev/null <"/sys/fs/cgroup$cg/pids.max"
      fi
      echo "runner ${p#/proc/} ${uid:-none} ${cg:-none} ${mem:-none} ${pids:-none}"
    done
    sleep 0.2
  done
}
echo "e2e_supervisor_net: supervisor with $runners runners ($(date +%T))"
rc=0
"$supervisor" --config "$work/controller.yaml" --mem $((runners * 128)) --runners "$runners" \
  --requests_file "$work/workload.jsonl" --output "$work/results.jsonl" --stats "$work/stats.json" \
  --start_timeout 90000 --deadline 60000 >"$work/supervisor.log" 2>&1 &
sup=$!
watch_runners "$sup" >"$work/isolation.txt" 2>"$work/isolation.err" &
watcher=$!
wait "$sup" || rc=$?
wait "$watcher" || true
echo "e2e_supervisor_net: supervisor exit $rc ($(date +%T))"
grep -E "summary:|warn|error" "$work/supervisor.log" | tail -n 8 || true
[[ $rc -eq 0 ]] || exit $rc
if [[ $loop -gt 0 ]]; then
  # Restore loop: a memory budget of one VM and two runners; requests alternate between fetch and
  # fetch_b (the same snapshot), so each evicts the other's VM and is a cold restore.
  page='{"url": "http://10.201.0.2:8000/page.txt"}'
  for ((i = 0; i < loop; i++)); do
    f=fetch; (( i % 2 )) && f=fetch_b
    printf '{"time": %d, "user_id": 1, "function": "%s", "payload": %s}\n' $((i * 200)) "$f" "$page"
  done > "$work/loop.jsonl"
  echo "e2e_supervisor_net: fetch restore loop of $loop ($(date +%T))"
  "$supervisor" --config "$work/controller.yaml" --mem 128 --runners 2 --queue 100000 \
    --requests_file "$work/loop.jsonl" --output "$work/loop-results.jsonl" --stats "$work/loop-stats.json" \
    --console_dir "$work/loop-consoles" --start_timeout 90000 --deadline 60000 >"$work/loop.log" 2>&1 || rc=$?
  echo "e2e_supervisor_net: fetch restore loop exit $rc ($(date +%T))"
  grep -E "summary:" "$work/loop.log" | tail -n 2 || true
fi
exit $rc
