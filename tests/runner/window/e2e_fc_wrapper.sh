#!/usr/bin/env bash
# e2e: fc_wrapper + firerunner --channel + the guest agent in our Linux guest, inside the emulated
# KVM host (scripts/kvm-host.sh --auto). Functions: hello, echo (a 120-line stream), markdown,
# thumbnail, aggregate (expected = the handler run by the host's python3), and the test function
# raiser (exception path, oversize response path). Responses are compared with the
# expected JSON (duration_ns only checked to be a number); hello's stderr must give KVM's page
# faults from the load to the first response.
# Usage: e2e_fc_wrapper.sh FC_WRAPPER FIRERUNNER WORKDIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
wrapper="${1:?usage: e2e_fc_wrapper.sh FC_WRAPPER FIRERUNNER WORKDIR}" firerunner="${2:?}" work="${3:?}"
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
rootfs="$("$root/scripts/images.sh" --check rootfs)"
for f in hello echo markdown thumbnail aggregate; do "$root/scripts/images.sh" --check appfs "$f" >/dev/null; done
apps="$(dirname "$("$root/scripts/images.sh" --check appfs hello)")"
rm -rf "$work" && mkdir -p "$work"
"$root/scripts/build-appfs.sh" "$root/tests/runner/window/functions/raiser" "$work/raiser.ext2" >/dev/null

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def write(name, function, payloads):
    with open(f"{work}/{name}.in", "w") as f:
        for i, p in enumerate(payloads, 1):
            f.write(json.dumps({"time": i, "user_id": 2, "function": function, "payload": p}) + "\n")
write("hello", "hello", [{}] * 3)
write("echo", "echo", [{"i": i, "s": "y" * (i % 17)} for i in range(1, 121)])
write("raiser", "raiser", [{"a": 1}, {"raise": "now"}, {"big": 70000}, {"a": 2}])
write("markdown", "markdown", [{"text": "# Title\n\nSome *emphasis*, `code` and a [link](http://x).\n\n- a\n- b"},
                               {"text": "## Two\n\n1. one\n2. two\n\n> quoted **strong**"}])
write("thumbnail", "thumbnail", [{"width": 32, "height": 24, "seed": 7, "scale": 2},
                                 {"width": 16, "height": 16, "seed": 1, "scale": 4}])
write("aggregate", "aggregate", [{"records": [{"region": "eu", "ms": 12.5}, {"region": "us", "ms": 30},
                                              {"region": "eu", "ms": 7.5}, {"ms": 1}, {"region": "us", "ms": "x"}],
                                  "group_by": "region", "field": "ms"}])
PY
cat >"$work/inner.sh" <<INNER
#!/bin/sh
for f in hello echo raiser markdown thumbnail aggregate; do
  case \$f in raiser) app="$work/raiser.ext2" ;; *) app="$apps/\$f.ext2" ;; esac
  "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "\$app" --mem_size 256 \
    --firerunner "$firerunner" --id \$\$ --boot_timeout_ms 400000 <"$work/\$f.in" >"$work/\$f.out" 2>"$work/\$f.err"
  echo "e2e_fc_wrapper: \$f: fc_wrapper exit \$?" | tee "$work/\$f.status"
done
INNER
chmod +x "$work/inner.sh"
set +e
"$root/scripts/kvm-host.sh" --auto --timeout 1500 -- "$work/inner.sh" 2>&1 | tr -d '\r' | tail -20
set -e

python3 - "$work" "$root/functions" <<'PY'
import importlib.util, json, re, sys
work, functions = sys.argv[1], sys.argv[2]
def lines(name):
    with open(f"{work}/{name}.out") as f:
        return [json.loads(l) for l in f if l.strip()]
fails = []
def check(cond, what):
    if not cond: fails.append(what)
for f in ("hello", "echo", "raiser", "markdown", "thumbnail", "aggregate"):
    check(open(f"{work}/{f}.status").read().strip().endswith("exit 0"), f"{f}: fc_wrapper exit status")
h = lines("hello")
# KVM's page faults from the VM's load (a boot here) to its first response, printed by fc_wrapper.
m = re.search(r"load_to_first_response_page_faults=(\d+)", open(f"{work}/hello.err").read())
check(m is not None and int(m.group(1)) >= 100, f"hello: KVM page faults load -> first response: {m and m.group(0)}")
check(len(h) == 3 and all(r.get("ok") is True and r.get("result") == {"body": "hello, world!"} and
                           isinstance(r.get("duration_ns"), int) for r in h), f"hello: {h[:3]}")
e = lines("echo")
check(len(e) == 120, f"echo: {len(e)} lines")
for i, r in enumerate(e, 1):
    exp = {"i": i, "s": "y" * (i % 17)}
    if not (r.get("ok") is True and r.get("result") == exp):
        fails.append(f"echo line {i}: {r}"); break
r = lines("raiser")
check(len(r) == 4, f"raiser: {len(r)} lines")
if len(r) == 4:
    check(r[0].get("ok") is True and r[0].get("result") == {"a": 1}, f"raiser 1: {r[0]}")
    check(r[1].get("ok") is False and r[1]["error"]["type"] == "function_error" and
          r[1]["error"].get("exception") == "ValueError" and r[1]["error"]["message"] == "boom now" and
          "ValueError" in r[1]["error"].get("traceback", ""), f"raiser 2 (exception): {r[1]}")
    check(r[2].get("ok") is False and r[2]["error"]["type"] == "response_too_large" and
          r[2]["error"].get("size", 0) > r[2]["error"].get("limit", 0) > 0, f"raiser 3 (oversize): {r[2]}")
    check(r[3].get("ok") is True and r[3].get("result") == {"a": 2}, f"raiser 4 (keeps serving): {r[3]}")
for f in ("markdown", "thumbnail", "aggregate"):
    spec = importlib.util.spec_from_file_location(f, f"{functions}/{f}/handler.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    with open(f"{work}/{f}.in") as fin:
        requests = [json.loads(l)["payload"] for l in fin]
    got = lines(f)
    check(len(got) == len(requests), f"{f}: {len(got)} lines")
    for req, r in zip(requests, got):
        expected = json.loads(json.dumps(mod.handle(req)))
        check(r.get("ok") is True and r.get("result") == expected and isinstance(r.get("duration_ns"), int),
              f"{f}: {str(r)[:300]} != {str(expected)[:300]}")
if fails:
    print("e2e_fc_wrapper: FAIL:", *fails, sep="\n  ", file=sys.stderr); sys.exit(1)
print("e2e_fc_wrapper: PASS (hello 3, echo 120 in order, exception, oversize, markdown, thumbnail, aggregate)")
PY
