#!/usr/bin/env bash
# e2e: JavaScript functions on the nodejs runtime image in the emulated KVM host, all in ONE run of
# scripts/kvm-host.sh (one L1 boot):
#   1. hello-js, gzip-js, sign-js: the same requests to a booted VM, a VM lazily restored from the
#      nodejs base + the function's diff (fc_wrapper --load_dir) and an eagerly restored one
#      (--copy_base --copy_diff): equal answers (duration_ns aside), all ok;
#   2. dump: a fresh diff of hello-js made from the nodejs base (--dump_dir), then restored;
#   3. error cases (a test function on the nodejs base alone), in ipc/error_type.h's vocabulary:
#      thrown, custom and rejected errors and a result JSON cannot hold (function_error with the
#      error's name as "exception" and its stack as "traceback"), a response larger than the slot
#      (response_too_large); the VM keeps serving after each;
#   4. clone uniqueness: token-js restored 5 times from one snapshot (4 lazy, 1 eager), 2 requests
#      each: every crypto.randomUUID, crypto.randomBytes token and Math.random value differs;
#   5. the supervisor with configs/node-controller.yaml (a nodejs-only function file): a workload
#      over the four JS functions, every result ok.
# Snapshots come from scripts/build-snapshots.sh (cached; scripts/test.sh builds them first).
# Usage: e2e_node.sh FC_WRAPPER FIRERUNNER SUPERVISOR_DIR WORKDIR
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
wrapper="${1:?usage: e2e_node.sh FC_WRAPPER FIRERUNNER SUPERVISOR_DIR WORKDIR}" firerunner="${2:?}" sup="${3:?}" work="${4:?}"
functions=(hello-js gzip-js sign-js token-js)
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
rootfs="$("$root/scripts/images.sh" --check nodejs)"
apps="$(dirname "$("$root/scripts/images.sh" --check appfs hello-js)")"
snaps="${SNAPFAAS_CACHE:-$root/.cache}/snapshots"
rm -rf "$work" && mkdir -p "$work"
SNAPFAAS_BUILD_RELEASE="$(dirname "$(dirname "$firerunner")")" "$root/scripts/build-snapshots.sh" "${functions[@]}"
"$root/scripts/build-appfs.sh" "$root/tests/guest/node_functions/errors" "$work/errors.ext2" 2>/dev/null

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def write(name, function, payloads):
    with open(f"{work}/{name}.in", "w") as f:
        for i, p in enumerate(payloads, 1):
            f.write(json.dumps({"time": i, "user_id": 1, "function": function, "payload": p}) + "\n")
write("hello-js", "hello-js", [{}, {"x": 1}])
write("gzip-js", "gzip-js", [{"text": "snapshot ", "repeat": 200}, {"text": "brotli!", "repeat": 50, "format": "brotli"},
                             {"text": "deflate", "format": "deflate", "level": 9}])
write("sign-js", "sign-js", [{"url": "https://Example.com/img/a.png?w=64&h=32", "key": "k1", "expires": 2000000000},
                             {"url": "https://example.com/img/a.png?expires=2000000000&h=32&w=64&signature=bad",
                              "key": "k1", "now": 1}])
write("token-js", "token-js", [{"user": "alice"}, {"user": "bob"}])
write("errors", "errors", [{"kind": "ok"}, {"kind": "throw", "x": 7}, {"kind": "custom"}, {"kind": "reject"},
                           {"kind": "bigint"}, {"kind": "big", "n": 70000}, {"kind": "after"}])
PY
"$sup/snapfaas-workload" --function hello-js=150 --function gzip-js=250 --function sign-js=250 --function token-js=300 \
  --start 0 --end 1200 --users 2 --seed 3 \
  --payload '{"text":"abc ","repeat":30,"url":"https://example.com/a?b=2","key":"k","user":"u"}' --out "$work/workload.jsonl"

cat >"$work/inner.sh" <<INNER
#!/bin/sh
work="$work"
run() {  # NAME APPFS EXTRA...: one fc_wrapper, input NAME's .in file unless \$input is set
  name="\$1" app="\$2"; shift 2
  "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "\$app" --mem_size 128 --firerunner "$firerunner" \
    --id "\$name-\$\$" --boot_timeout_ms 400000 "\$@" <"\$work/\${input:-\$name}.in" >"\$work/\$out.out" 2>"\$work/\$out.err"
  echo "e2e_node: \$out: fc_wrapper exit \$? \$(grep -o '[a-z_]*_to_first_wait_ms=[0-9.]*' "\$work/\$out.err")"
}
for f in hello-js gzip-js sign-js; do
  out=\$f.boot run \$f "$apps/\$f.ext2"
  out=\$f.restore run \$f "$apps/\$f.ext2" --load_dir "$snaps/nodejs,$snaps/\$f"
  out=\$f.copy run \$f "$apps/\$f.ext2" --load_dir "$snaps/nodejs" --diff_dirs "$snaps/\$f" --copy_base --copy_diff
done
out=hello-js.dump run hello-js "$apps/hello-js.ext2" --load_dir "$snaps/nodejs" --dump_dir "\$work/hello-js-diff"
out=hello-js.dumped input=hello-js run hello-js "$apps/hello-js.ext2" --load_dir "$snaps/nodejs,\$work/hello-js-diff"
out=errors run errors "\$work/errors.ext2" --load_dir "$snaps/nodejs"
for i in 1 2 3 4; do out=token-js.clone\$i run token-js "$apps/token-js.ext2" --load_dir "$snaps/nodejs,$snaps/token-js"; done
out=token-js.clone5 run token-js "$apps/token-js.ext2" --load_dir "$snaps/nodejs" --diff_dirs "$snaps/token-js" --copy_base --copy_diff
"$sup/snapfaas-supervisor" --config "$root/configs/node-controller.yaml" --mem 512 --requests_file "\$work/workload.jsonl" \
  --output "\$work/supervisor.results" --stats "\$work/supervisor.stats" --start_timeout 60000 >"\$work/supervisor.log" 2>&1
echo "e2e_node: supervisor: exit \$?"
INNER
chmod +x "$work/inner.sh"
set +e
"$root/scripts/kvm-host.sh" --auto --mem 4096 --timeout 2400 -- "$work/inner.sh" 2>&1 | tr -d '\r' | grep "e2e_node:" | tee "$work/status"
set -e

python3 - "$work" "$snaps" <<'PY'
import json, os, sys
work, snaps = sys.argv[1], sys.argv[2]
status = open(f"{work}/status").read()
fails = []
def check(cond, what):
    if not cond: fails.append(what)
def lines(name):
    try:
        with open(f"{work}/{name}") as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        fails.append(f"{name}: {e}"); return []
def strip(r):
    return {k: v for k, v in r.items() if k != "duration_ns"}
def exited_ok(out):
    check(f"e2e_node: {out}: fc_wrapper exit 0" in status, f"{out}: fc_wrapper did not exit 0")

# 1. booted, lazily and eagerly restored VMs answer alike
for f, n in (("hello-js", 2), ("gzip-js", 3), ("sign-js", 2)):
    for mode in ("boot", "restore", "copy"): exited_ok(f"{f}.{mode}")
    boot, restore, copy = (lines(f"{f}.{m}.out") for m in ("boot", "restore", "copy"))
    check(len(boot) == n and all(r.get("ok") is True for r in boot), f"{f}: booted VM: {str(boot)[:300]}")
    check([strip(r) for r in restore] == [strip(r) for r in boot], f"{f}: restored {str(restore)[:200]} != booted {str(boot)[:200]}")
    check([strip(r) for r in copy] == [strip(r) for r in boot], f"{f}: eager {str(copy)[:200]} != booted {str(boot)[:200]}")
hello = lines("hello-js.boot.out")
check(hello[:1] and hello[0].get("result") == {"body": "hello, world!"}, f"hello-js: {hello}")
gz = [r.get("result", {}) for r in lines("gzip-js.boot.out")]
check(len(gz) == 3 and all(g.get("round_trip") is True for g in gz) and gz[0].get("input_bytes") == 1800
      and gz[0].get("compressed_bytes", 9999) < 100 and gz[1].get("format") == "brotli", f"gzip-js: {gz}")
sg = [r.get("result", {}) for r in lines("sign-js.boot.out")]
check(len(sg) == 2 and sg[0].get("canonical") == "https://example.com/img/a.png?expires=2000000000&h=32&w=64"
      and sg[1] == {"valid": False, "expired": False, "reason": "signature mismatch"}, f"sign-js: {sg}")

# 2. a fresh diff dumped from the nodejs base, then restored
exited_ok("hello-js.dump")
check("Snapshot generation succeeds" in open(f"{work}/hello-js.dump.err").read() + open(f"{work}/hello-js.dump.out").read(),
      "hello-js dump: no 'Snapshot generation succeeds'")
check(os.path.exists(f"{work}/hello-js-diff/memory"), "hello-js dump: no memory file")
exited_ok("hello-js.dumped")
check([strip(r) for r in lines("hello-js.dumped.out")] == [strip(r) for r in hello], "hello-js: restored fresh diff answers differently")

# 3. error cases
exited_ok("errors")
e = lines("errors.out")
check(len(e) == 7, f"errors: {len(e)} responses")
if len(e) == 7:
    check(e[0].get("ok") is True and e[0]["result"] == {"fine": {"kind": "ok"}}, f"errors ok: {e[0]}")
    for i, (exc, msg) in {1: ("RangeError", "bad input 7"), 2: ("QuotaError", "over quota"),
                          3: ("TypeError", "late failure")}.items():
        err = e[i].get("error", {})
        check(e[i].get("ok") is False and err.get("type") == "function_error" and err.get("exception") == exc
              and err.get("message") == msg and err.get("traceback", "").startswith(f"{exc}: {msg}"), f"errors {i}: {e[i]}")
    err = e[4].get("error", {})
    check(err.get("type") == "function_error" and err.get("exception") == "TypeError" and "BigInt" in err.get("message", ""),
          f"errors bigint: {e[4]}")
    err = e[5].get("error", {})
    check(err.get("type") == "response_too_large" and err.get("limit") == 65536 and err.get("size", 0) > 70000,
          f"errors big: {e[5]}")
    check(e[6].get("ok") is True, f"errors: not serving after the errors: {e[6]}")

# 4. clones of one snapshot draw different random values
seen = {"id": [], "token": [], "random": []}
for i in range(1, 6):
    exited_ok(f"token-js.clone{i}")
    rs = lines(f"token-js.clone{i}.out")
    check(len(rs) == 2 and all(r.get("ok") is True for r in rs), f"token-js clone {i}: {str(rs)[:300]}")
    for r in rs:
        for k in seen: seen[k].append(r.get("result", {}).get(k))
for k, values in seen.items():
    check(len(values) == 10 and None not in values and len(set(values)) == 10,
          f"token-js: {k} repeats across 5 clones x 2 requests: {values}")
print(f"e2e_node: clone uniqueness: {len(set(seen['id']))} UUIDs, {len(set(seen['token']))} tokens, "
      f"{len(set(seen['random']))} Math.random values distinct of 10")

# 5. the supervisor with the nodejs-only function file
check("e2e_node: supervisor: exit 0" in status, "supervisor did not exit 0 (log: supervisor.log)")
expected = len(open(f"{work}/workload.jsonl").read().splitlines())
log = open(f"{work}/supervisor.log", errors="replace").read().replace("\r", "")
summaries = [l[len("summary: "):] for l in log.splitlines() if l.startswith("summary: ")]
s = json.loads(summaries[-1]) if summaries else {}
check(s.get("completed") == expected and s.get("requests") == expected, f"supervisor: summary {s} for {expected} requests")
for k in ("errors", "dropped", "runner_failures"):
    check(s.get(k) == 0, f"supervisor: {k} = {s.get(k)}")
check(s.get("cold", 0) >= 1 and s.get("restores") == s.get("cold"), f"supervisor: cold {s.get('cold')} restores {s.get('restores')}")
results = lines("supervisor.results")
check(len(results) == expected, f"supervisor: {len(results)} result lines of {expected}")
print(f"e2e_node: supervisor: {s.get('completed')} of {expected} completed, cold {s.get('cold')}, warm {s.get('warm')}")

base = os.stat(f"{snaps}/nodejs/memory").st_blocks * 512
for f in ("hello-js", "gzip-js", "sign-js", "token-js"):
    diff = os.stat(f"{snaps}/{f}/memory").st_blocks * 512
    check(0 < diff < base / 2, f"{f}: diff {diff} bytes vs base {base}: not a diff")
    print(f"e2e_node: {f}: diff {diff >> 10} KiB on disk (base {base >> 20} MiB)")
if fails:
    print("e2e_node: FAIL:", *fails, sep="\n  ", file=sys.stderr); sys.exit(1)
print("e2e_node: PASS")
PY
