#!/usr/bin/env bash
# e2e, service mode: snapfaas-supervisor --listen with the Python example functions (hello, echo,
# markdown; every cold start a restore of the python3 base + the function's diff), invoked with curl:
# each one cold, then warm (X-SnapFaaS-Start, X-Request-Id, the result as the body), an unknown
# function (404), /functions, /metrics (restores, requests by outcome), then SIGTERM: drained, exit 0,
# stats written. e2e_run_example.sh runs it through scripts/run-example.sh --then, right after the
# example replay and in the same place: inside the same emulated KVM host boot on PVM machines.
# Usage: e2e_http.sh SUPERVISOR CONTROLLER_YAML WORKDIR [SUPERVISOR ARGS...]
set -euo pipefail
supervisor="${1:?usage: e2e_http.sh SUPERVISOR CONTROLLER_YAML WORKDIR [ARGS...]}" config="${2:?}" work="${3:?}"
shift 3
rm -rf "$work" && mkdir -p "$work"
ip link set lo up 2>/dev/null || true  # the emulated host's init leaves loopback down
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
"$supervisor" --config "$config" --mem 512 --listen "127.0.0.1:$port" --access_log "$work/access.log" \
  --stats "$work/stats.json" --log-level warn "$@" > "$work/supervisor.out" 2> "$work/supervisor.err" &
pid=$!
fail() {
  echo "e2e_http: FAIL: $*" >&2
  tail -n 20 "$work/supervisor.err" >&2 || true
  kill -9 "$pid" 2>/dev/null || true
  exit 1
}
t0=$SECONDS
until curl -sf "$base/healthz" > /dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || fail "the supervisor exited before serving"
  (( SECONDS - t0 < 300 )) || fail "/healthz did not answer within 300 s"
  sleep 0.2
done
echo "e2e_http: serving on $base after $((SECONDS - t0)) s"

invoke() {  # function payload expected-start -> prints the body; checks status, start, request id
  local f="$1" payload="$2" start="$3" id="e2e-$1-$3"
  local code
  code="$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
    -H "X-Request-Id: $id" --data "$payload" "$base/invoke/$f")" || fail "curl $f ($start) failed"
  [[ $code == 200 ]] || fail "$f ($start): HTTP $code: $(cat "$work/body")"
  tr -d '\r' < "$work/headers" > "$work/headers.txt"
  grep -qi "^X-SnapFaaS-Start: $start\$" "$work/headers.txt" || fail "$f: expected a $start start: $(cat "$work/headers.txt")"
  grep -qi "^X-Request-Id: $id\$" "$work/headers.txt" || fail "$f: request id not echoed"
  echo "e2e_http: $f $start: $(grep -i '^X-SnapFaaS-Latency-Us' "$work/headers.txt" | tr -d '\n') $(head -c 120 "$work/body")"
}
for start in cold warm; do
  invoke hello '{}' "$start"
  grep -q '"hello, world!"' "$work/body" || fail "hello answered $(cat "$work/body")"
  invoke echo '{"text":"round trip","n":7}' "$start"
  python3 -c 'import json,sys; assert json.load(open(sys.argv[1])) == {"text": "round trip", "n": 7}' "$work/body" ||
    fail "echo answered $(cat "$work/body")"
  invoke markdown '{"text":"# SnapFaaS\n\nA *cold start* is a **restore**."}' "$start"
  grep -q '<h1>SnapFaaS</h1>' "$work/body" || fail "markdown answered $(cat "$work/body")"
done
code="$(curl -s -o "$work/body" -w '%{http_code}' -X POST --data '{}' "$base/invoke/nope")"
[[ $code == 404 ]] || fail "unknown function: HTTP $code"
curl -sf "$base/functions" > "$work/functions.json" || fail "/functions"
curl -sf "$base/metrics" > "$work/metrics.txt" || fail "/metrics"
python3 - "$work/functions.json" "$work/metrics.txt" <<'PY' || fail "/functions or /metrics"
import json, sys
fns = {f["name"]: f for f in json.load(open(sys.argv[1]))}
metrics = {}
for line in open(sys.argv[2]):
    if line.strip() and not line.startswith("#"):
        name, value = line.rsplit(" ", 1)
        metrics[name] = float(value)
problems = []
for f in ("hello", "echo", "markdown"):
    if fns.get(f, {}).get("warm_vms", 0) < 1: problems.append(f"{f}: no warm VM in /functions")
    if metrics.get(f'snapfaas_requests_total{{function="{f}",outcome="ok"}}') != 2: problems.append(f"{f}: not 2 ok requests")
if metrics.get("snapfaas_restores_total", 0) < 3: problems.append("fewer than 3 restores")
if metrics.get('snapfaas_unattributed_requests_total{outcome="unknown_function"}') != 1: problems.append("unknown function not counted")
if problems:
    print("; ".join(problems), file=sys.stderr)
    sys.exit(1)
PY
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 0 ]] || fail "exit status $rc after SIGTERM"
python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); assert s["completed"] == 6 and s["interrupted"], s' \
  "$work/stats.json" || fail "stats after the drain"
echo "e2e_http: PASS (hello, echo, markdown: cold then warm over HTTP; 404; /functions; /metrics; drained on SIGTERM)"
