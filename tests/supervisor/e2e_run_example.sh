#!/usr/bin/env bash
# e2e: the README's main job (scripts/run-example.sh) runs the seeded example workload through
# snapfaas-supervisor and real jailed firerunner VMs — the Python functions restored from snapshots
# (in the emulated KVM host unless the machine has VT-x/AMD-V), and the ring-3 echo variant
# (--ring3, native); every request must complete, with at least one cold start (a restore for the
# Python functions) and mostly warm ones, and no errors, drops or runner failures. Right after the
# Python replay, in the same emulated-host boot (run-example.sh --then), service mode: e2e_http.sh
# invokes the Python functions with curl, cold then warm.
# Usage: e2e_run_example.sh WORKDIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:?usage: e2e_run_example.sh WORKDIR}"
rm -rf "$work"
bin="${SNAPFAAS_BUILD_RELEASE:-$root/build/release}/supervisor"
http_check="$(printf '%q ' "$root/tests/supervisor/e2e_http.sh" "$bin/snapfaas-supervisor" "$root/configs/controller.yaml" \
  "$work/python-http" --start_timeout 60000)"
for mode in python ring3; do
  if [[ $mode == ring3 ]]; then args=(--ring3 --end 2000) min=100; else args=(--end 8000 --then "$http_check") min=20; fi
  "$root/scripts/run-example.sh" "${args[@]}" --out "$work/$mode" | tee "$work.$mode.log"
  summary="$(sed -n 's/^summary: //p' "$work.$mode.log" | tail -n 1)"
  if [[ $mode == python ]]; then  # the service-mode check ran in the same boot and passed
    grep '^e2e_http: ' "$work/$mode/supervisor.log" || true
    grep -q '^e2e_http: PASS' "$work/$mode/supervisor.log" || { echo "FAIL: e2e_http.sh did not pass" >&2; exit 1; }
  fi
  [[ -n "$summary" ]] || { echo "FAIL: run-example.sh ($mode) printed no summary line" >&2; exit 1; }
  python3 - "$summary" "$work/$mode/workload.jsonl" "$min" "$mode" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
n = sum(1 for _ in open(sys.argv[2]))
minimum, mode = int(sys.argv[3]), sys.argv[4]
problems = []
if n < minimum: problems.append(f"workload has only {n} requests")
if mode == "python" and s.get("restores", 0) != s["cold"]: problems.append(f"{s.get('restores')} restores for {s['cold']} cold starts")
if s["requests"] != n: problems.append(f"summary counts {s['requests']} requests, workload has {n}")
if s["completed"] != n: problems.append(f"{s['completed']} of {n} completed")
for k in ("errors", "dropped", "runner_failures"):
    if s[k] != 0: problems.append(f"{k} = {s[k]}")
if s["cold"] < 1 or s["warm"] <= s["cold"]: problems.append(f"cold {s['cold']} / warm {s['warm']}")
# KVM's own counts for the guests from the load to their first response: a restored or booted
# guest touches hundreds of pages again (each a page fault KVM takes, each an exit).
faults = s["cold_phases"].get("page_faults", {})
if faults.get("counted", 0) < 1: problems.append(f"no cold request with KVM's page-fault count: {s['cold_phases']}")
elif faults["p50"] < (100 if mode == "python" else 1): problems.append(f"page faults p50 {faults['p50']}")
elif s["cold_phases"]["exits"]["p50"] < faults["p50"]: problems.append(f"exits p50 below page faults p50: {s['cold_phases']}")
if problems:
    print(f"FAIL ({mode}): " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"e2e_run_example: {mode}: PASS ({n} requests, cold {s['cold']}, warm {s['warm']}, p50 {s['p50_ms']} ms, "
      f"cold page faults p50 {faults['p50']} of {faults['counted']} counted)")
PY
done
