#!/usr/bin/env bash
# Benchmark http: snapfaas-supervisor in service mode (--listen) under wrk (HTTP/1.1 keep-alive,
# POST /invoke/echo with a small JSON body) at 1, 16 and 64 connections: requests/s, p50 and p99
# (wrk's --latency), against ring-3 echo functions served by jailed firerunners (native on any KVM);
# and, in the same run with the same runners, the replay mode (--requests_file, a burst) for
# comparison. Access log on (a file), stats block and metrics as in production.
# Each connection count runs `rounds` times, interleaved (1, 16, 64, 1, 16, 64, ...): the figures are
# the medians (the machine is shared; a single run can be off by 2x). As root, everything runs at
# nice -20 so that other work on the machine disturbs it less (recorded in the JSON).
# Keys: http_rps_{1,16,64}, http_p50_us_{1,16,64}, http_p99_us_{1,16,64} (headline: http_rps_64,
# http_p50_us_1), replay_rps, replay_p50_us, supervisor_cpu_us_per_request_{1,16,64}; targets on 2
# cores: http_rps_64 >= 50000, http_p50_us_1 <= 150. With 2+ CPUs the headline runs pin the
# supervisor's threads to the last CPU and the runners to the others (--supervisor_cpus,
# --runner_cpus), then the same rounds run unpinned: the same keys + _unpinned, and
# pinned_over_unpinned_rps_64 (SNAPFAAS_BENCH_HTTP_PLACEMENT=none: unpinned only, no suffix).
# Usage: bench/http.sh --out FILE.json [--quick]
#   SNAPFAAS_BENCH_HTTP_RUNNERS (1), SNAPFAAS_BENCH_HTTP_THREADS (1): runners (= echo VMs), HTTP threads
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
out="" duration=5 rounds=3 replay_n=200000 runners="${SNAPFAAS_BENCH_HTTP_RUNNERS:-1}" threads="${SNAPFAAS_BENCH_HTTP_THREADS:-1}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --quick) duration=2 rounds=1 replay_n=20000; shift ;;
    *) die "http.sh: unknown argument '$1' (use --out FILE --quick)" ;;
  esac
done
command -v wrk >/dev/null || die "wrk is not installed (Debian package wrk): run scripts/setup.sh --no-build"
supervisor="$BUILD_RELEASE/supervisor/snapfaas-supervisor"
firerunner="$BUILD_RELEASE/runner/firerunner"
guest="$BUILD_RELEASE/tests/guests/guest_window_echo"
for f in "$supervisor" "$firerunner" "$guest"; do [[ -x $f ]] || die "missing $f (build with scripts/setup.sh --only release)"; done
nice=()
[[ $(id -u) -ne 0 ]] || nice=(nice -n -20)

work="$(mktemp -d)"
pid=""
cleanup() { [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/functions.yaml" <<EOF
echo:
  kernel: $guest
  ring3: true
  memory: 16
  concurrency_limit: $runners
EOF
cat > "$work/controller.yaml" <<EOF
kernel_path: $guest
function_config: functions.yaml
firerunner_path: $firerunner
EOF
cat > "$work/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"text":"hello, snapfaas"}'
wrk.headers["Content-Type"] = "application/json"
EOF
port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port/invoke/echo"
common=(--config "$work/controller.yaml" --mem $((16 * runners)) --runners "$runners" --queue 100000 --log-level warn)

# CPU placement (supervisor/cpu_placement.h): the supervisor's threads on the last CPU, the runners
# on the others — the loop and a vCPU that poll each other must not share a core. The headline
# figures use it; the same rounds run unpinned too (keys *_unpinned), one placement after the other.
ncpu="$(nproc)"
placement=()
if [[ ${SNAPFAAS_BENCH_HTTP_PLACEMENT:-pinned} == pinned && $ncpu -ge 2 ]]; then
  runner_cpus=0
  [[ $ncpu -eq 2 ]] || runner_cpus="0-$((ncpu - 2))"
  placement=(--supervisor_cpus "$((ncpu - 1))" --runner_cpus "$runner_cpus")
fi
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
results=()
# http_mode LABEL ARGS...: a supervisor with ARGS, warmed up, then the rounds of wrk runs.
http_mode() {
  local label="$1"; shift
  step "http ($label): snapfaas-supervisor --listen 127.0.0.1:$port $*, $runners ring-3 echo runners, $threads HTTP thread(s)"
  "${nice[@]}" "$supervisor" "${common[@]}" "$@" --listen "127.0.0.1:$port" --http_threads "$threads" \
    --access_log "$work/access-$label.log" --stats "$work/http-stats-$label.json" > "$work/http.out" 2> "$work/http.err" &
  pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/http.err" >&2; die "the supervisor did not come up"; }
  for _ in $(seq "$runners"); do curl -sf -X POST -d '{}' "$url" >/dev/null; done  # cold starts out of the way
  wrk -t1 -c"$runners" -d1s -s "$work/post.lua" "$url" >/dev/null                # every VM warm
  local round c before after
  for round in $(seq "$rounds"); do
    for c in 1 16 64; do
      step "http ($label): round $round/$rounds: wrk -t1 -c$c -d${duration}s --latency"
      before="$(cpu_ticks)"
      "${nice[@]}" wrk -t1 -c"$c" -d"${duration}s" --latency -s "$work/post.lua" "$url" > "$work/wrk-$label-$c-$round.txt"
      after="$(cpu_ticks)"
      grep -E 'Requests/sec|50%|99%|Non-2xx|Socket errors' "$work/wrk-$label-$c-$round.txt" || true
      results+=("$label:$c:$round:$((after - before))")
    done
  done
  kill -TERM "$pid"
  wait "$pid" || die "the supervisor exited with status $? after SIGTERM"
  pid=""
}
if [[ ${#placement[@]} -gt 0 ]]; then
  http_mode pinned "${placement[@]}"
  http_mode unpinned
else
  http_mode unpinned
fi

step "replay: the same runners, $replay_n requests at time 0 (--requests_file)"
/usr/bin/python3 - "$work/burst.jsonl" "$replay_n" <<'PY'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"time": 0, "function": "echo", "payload": {"text": "hello, snapfaas"}}) + "\n")
PY
"${nice[@]}" "$supervisor" "${common[@]}" "${placement[@]}" --requests_file "$work/burst.jsonl" --output /dev/null --stats "$work/replay-stats.json" \
  2> "$work/replay.err" || { tail -5 "$work/replay.err" >&2; die "replay run failed"; }

/usr/bin/python3 - "$work" "$out" "$duration" "$runners" "$threads" "$(getconf CLK_TCK)" "${#nice[@]}" "${placement[*]:-}" "${results[@]}" <<'PY'
import json, os, re, statistics, sys
work, out, duration, runners, threads, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
niced = sys.argv[7] != "0"
placement = sys.argv[8].split()
items = sys.argv[9:]
def us(text):  # wrk prints 123.45us, 1.23ms, 1.02s
    m = re.match(r"([\d.]+)(us|ms|s)$", text)
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
res = {"benchmark": "http", "runner": "firerunner, ring-3 echo guests (booted), jailed", "runners": runners,
       "http_threads": threads, "wrk": "wrk -t1 --latency, keep-alive, POST 27-byte JSON", "duration_s": duration,
       "rounds": len(items) // (3 * (2 if placement else 1)), "nice": -20 if niced else 0, "access_log": "file",
       "placement": ({"supervisor_cpus": placement[1], "runner_cpus": placement[3], "unpinned_keys": "*_unpinned"}
                     if placement else "none (one CPU, or SNAPFAAS_BENCH_HTTP_PLACEMENT=none)"),
       "targets": {"http_rps_64": ">= 50000", "http_p50_us_1": "<= 150"},
       "machine": {"cores": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]}}
bad = 0
runs = {}
for item in items:
    label, c, r, ticks = item.split(":")
    text = open(f"{work}/wrk-{label}-{c}-{r}.txt").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    bad += (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, errors.groups())) if errors else 0)
    runs.setdefault((label, c), []).append({"rps": rps, "p50": us(re.search(r"\s50%\s+(\S+)", text).group(1)),
                                   "p99": us(re.search(r"\s99%\s+(\S+)", text).group(1)),
                                   "cpu": int(ticks) / hz * 1e6 / max(1.0, rps * duration)})
headline = "pinned" if placement else "unpinned"
for (label, c), rs in runs.items():
    sfx = "" if label == headline else f"_{label}"
    res[f"http_rps_{c}{sfx}"] = statistics.median(x["rps"] for x in rs)
    res[f"http_p50_us_{c}{sfx}"] = statistics.median(x["p50"] for x in rs)
    res[f"http_p99_us_{c}{sfx}"] = statistics.median(x["p99"] for x in rs)
    res[f"supervisor_cpu_us_per_request_{c}{sfx}"] = statistics.median(x["cpu"] for x in rs)
    res[f"http_rps_{c}{sfx}_runs"] = [x["rps"] for x in rs]
res["http_errors"] = bad
res["http_requests_completed"] = sum(json.load(open(f"{work}/http-stats-{label}.json"))["completed"]
                                     for label in {label for label, _ in runs})
replay = json.load(open(f"{work}/replay-stats.json"))
res["replay_requests"] = replay["requests"]
res["replay_rps"] = replay["completed"] / (replay["loop_wall_ms"] / 1e3)
res["replay_p50_us"] = replay["p50_ms"] * 1e3
if placement:
    res["pinned_over_unpinned_rps_64"] = res["http_rps_64"] / res["http_rps_64_unpinned"]
res["http_over_replay_rps_64"] = res["http_rps_64"] / res["replay_rps"] if res["replay_rps"] else 0
print(json.dumps(res, indent=2))
if out:
    with open(out, "w") as f:
        json.dump(res, f, indent=2)
        f.write("\n")
if bad:
    print(f"error: {bad} failed HTTP requests (non-2xx or socket errors)", file=sys.stderr)
    sys.exit(1)
PY
