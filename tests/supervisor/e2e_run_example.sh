#!/usr/bin/env bash
# e2e: the README's main job (scripts/run-example.sh) runs the seeded example workload through
# snapfaas-supervisor and real jailed firerunner VMs; every request must complete, with at least one
# cold start and mostly warm ones, and no errors, drops or runner failures.
# Usage: e2e_run_example.sh WORKDIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:?usage: e2e_run_example.sh WORKDIR}"
rm -rf "$work"
"$root/scripts/run-example.sh" --end 2000 --out "$work" | tee "$work.log"
summary="$(sed -n 's/^summary: //p' "$work.log" | tail -n 1)"
[[ -n "$summary" ]] || { echo "FAIL: run-example.sh printed no summary line" >&2; exit 1; }
python3 - "$summary" "$work/workload.jsonl" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
n = sum(1 for _ in open(sys.argv[2]))
problems = []
if n < 100: problems.append(f"workload has only {n} requests")
if s["requests"] != n: problems.append(f"summary counts {s['requests']} requests, workload has {n}")
if s["completed"] != n: problems.append(f"{s['completed']} of {n} completed")
for k in ("errors", "dropped", "runner_failures"):
    if s[k] != 0: problems.append(f"{k} = {s[k]}")
if s["cold"] < 1 or s["warm"] <= s["cold"]: problems.append(f"cold {s['cold']} / warm {s['warm']}")
if problems:
    print("FAIL: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"e2e_run_example: PASS ({n} requests, cold {s['cold']}, warm {s['warm']}, p50 {s['p50_ms']} ms)")
PY
