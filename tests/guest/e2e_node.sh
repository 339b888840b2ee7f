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
#   5. the supervisor with the functions of configs/node-functions.yaml plus three on the errors
#      function whose runtime ends mid-request (tests/guest/node_functions/errors): process.exit(3)
#      -> function_exited status 3, SIGKILL -> function_exited signal 9, 1 GiB of Buffers in a
#      128 MiB VM -> out_of_memory, each answered by the guest's reaper (snapfaas-node-reaper) well
#      before its timeout_ms (120 s), the VM discarded, while a workload over the four JS functions is served, every result ok;
#   6. VM shapes and runtimes in one supervisor (issue 17): hello (python3 base + diff) and hello-js
#      (nodejs base + diff) restored on runners of their own runtime image, cpus-boot booted (no
#      load_dir: its app disk attached at kBoot) and cpus-2 booted with 2 vCPUs and 256 MiB
#      (tests/guest/shape_functions/cpus: os.cpu_count() == 2, MemTotal > 128 MiB), each pool of
#      its shape; stats.json counts the boots and restores and lists the three pools.
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
SNAPFAAS_BUILD_RELEASE="$(dirname "$(dirname "$firerunner")")" "$root/scripts/build-snapshots.sh" "${functions[@]}" hello
"$root/scripts/build-appfs.sh" "$root/tests/guest/node_functions/errors" "$work/errors.ext2" 2>/dev/null
"$root/scripts/build-appfs.sh" "$root/tests/guest/shape_functions/cpus" "$work/cpus.ext2" 2>/dev/null

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
# Misbehaving requests for the supervisor's workload (section 5), merged in after snapfaas-workload.
with open(f"{work}/dying.jsonl", "w") as f:
    for t, fn, p in ((100, "exit-js", {"kind": "exit", "status": 3}), (200, "kill-js", {"kind": "kill"}),
                     (300, "oom-js", {"kind": "oom"})):
        f.write(json.dumps({"time": t, "user_id": 9, "function": fn, "payload": p}) + "\n")
write("errors", "errors", [{"kind": "ok"}, {"kind": "throw", "x": 7}, {"kind": "custom"}, {"kind": "reject"},
                           {"kind": "bigint"}, {"kind": "big", "n": 70000}, {"kind": "after"}])
PY
"$sup/snapfaas-workload" --function hello-js=150 --function gzip-js=250 --function sign-js=250 --function token-js=300 \
  --start 0 --end 1200 --users 2 --seed 3 \
  --payload '{"text":"abc ","repeat":30,"url":"https://example.com/a?b=2","key":"k","user":"u"}' --out "$work/workload.jsonl"
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rs = [json.loads(l) for name in ("workload.jsonl", "dying.jsonl") for l in open(f"{work}/{name}") if l.strip()]
with open(f"{work}/workload.jsonl", "w") as f:
    for r in sorted(rs, key=lambda r: r["time"]): f.write(json.dumps(r) + "\n")
PY
# The supervisor's function file: the JS examples and the dying functions (errors.ext2 on the
# nodejs base alone; timeout_ms 120 s: under double emulation on a loaded machine the cold restore
# and the OOM case's page touching take tens of seconds, and a deadline would answer "timeout").
# The runner's jail sees the image directories only: errors.ext2 is a copy, the others links into
# the cache's app images.
mkdir -p "$work/appfs"
ln -sf "$apps"/*.ext2 "$work/appfs/" && cp "$work/errors.ext2" "$work/cpus.ext2" "$work/appfs/"
{ cat "$root/configs/node-functions.yaml"
  for f in exit-js kill-js oom-js; do
    printf '%s:\n  runtimefs: nodejs.ext4\n  appfs: errors.ext2\n  memory: 128\n  concurrency_limit: 1\n' "$f"
    printf '  timeout_ms: 120000\n  load_dir: nodejs\n'
  done; } >"$work/functions.yaml"
cat >"$work/controller.yaml" <<EOF
kernel_path: $vmlinux
runtimefs_dir: $(dirname "$rootfs")
appfs_dir: $work/appfs
snapshot_dir: $snaps
function_config: functions.yaml
firerunner_path: $firerunner
EOF
# Section 6: python and node functions restored, two booted ones (one with 2 vCPUs and 256 MiB).
sed 's/^function_config: .*/function_config: shapes.yaml/' "$work/controller.yaml" >"$work/shapes-controller.yaml"
cat >"$work/shapes.yaml" <<EOF
hello:
  runtimefs: $(basename "$("$root/scripts/images.sh" --check rootfs)")
  appfs: hello.ext2
  memory: 128
  load_dir: python3
  diff_dirs: [hello]
  timeout_ms: 120000
hello-js:
  runtimefs: nodejs.ext4
  appfs: hello-js.ext2
  memory: 128
  load_dir: nodejs
  diff_dirs: [hello-js]
  timeout_ms: 120000
cpus-boot:
  runtimefs: rootfs.ext4
  appfs: cpus.ext2
  memory: 128
  timeout_ms: 300000
cpus-2:
  runtimefs: rootfs.ext4
  appfs: cpus.ext2
  memory: 256
  vcpus: 2
  timeout_ms: 300000
EOF
python3 - "$work" <<'PY'
import json, sys
with open(f"{sys.argv[1]}/shapes.jsonl", "w") as f:
    for i, fn in enumerate(["hello", "hello-js", "cpus-boot", "cpus-2"] * 2):
        f.write(json.dumps({"time": 100 * i, "user_id": 1, "function": fn, "payload": {"i": i}}) + "\n")
PY

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
"$sup/snapfaas-supervisor" --config "\$work/controller.yaml" --mem 1024 --requests_file "\$work/workload.jsonl" \
  --output "\$work/supervisor.results" --stats "\$work/supervisor.stats" --start_timeout 60000 >"\$work/supervisor.log" 2>&1
echo "e2e_node: supervisor: exit \$?"
"$sup/snapfaas-supervisor" --config "\$work/shapes-controller.yaml" --mem 1024 --requests_file "\$work/shapes.jsonl" \
  --output "\$work/shapes.results" --stats "\$work/shapes.stats" --start_timeout 60000 >"\$work/shapes.log" 2>&1
echo "e2e_node: shapes supervisor: exit \$?"
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

# 5. the supervisor: the JS examples all ok, the dying functions answered by the reaper
check("e2e_node: supervisor: exit 0" in status, "supervisor did not exit 0 (log: supervisor.log)")
expected = len(open(f"{work}/workload.jsonl").read().splitlines())
log = open(f"{work}/supervisor.log", errors="replace").read().replace("\r", "")
summaries = [l[len("summary: "):] for l in log.splitlines() if l.startswith("summary: ")]
s = json.loads(summaries[-1]) if summaries else {}
check(s.get("requests") == expected and s.get("completed") == expected - 3 and s.get("errors") == 3
      and s.get("error_types") == {"function_exited": 2, "out_of_memory": 1} and s.get("dropped") == 0,
      f"supervisor: summary {s} for {expected} requests, 3 of them dying")
# each dying request is a cold restore whose VM is then discarded (not counted as a cold result)
check(s.get("cold", 0) >= 1 and s.get("restores") == s.get("cold") + 3, f"supervisor: cold {s.get('cold')} restores {s.get('restores')}")
results = lines("supervisor.results")
check(len(results) == expected, f"supervisor: {len(results)} result lines of {expected}")
dying = {"exit-js": ("function_exited", "status", 3), "kill-js": ("function_exited", "signal", 9),
         "oom-js": ("out_of_memory", None, None)}
served = [r for r in results if r.get("function") not in dying]
bad = [r for r in served if r.get("status") != "ok"]
check(len(served) == expected - 3 and not bad, f"supervisor: JS examples not ok: {str(bad)[:600]}")
for fn, (kind, field, value) in dying.items():
    got = [r for r in results if r.get("function") == fn]
    err = (got[0].get("error") or {}) if len(got) == 1 else {}
    check(len(got) == 1 and got[0].get("status") == "error" and err.get("type") == kind
          and (field is None or err.get(field) == value), f"{fn}: expected {kind} {field}={value}, got {str(got)[:400]}")
    # answered by the reaper when the runtime died (the type says so: the deadline answers "timeout"),
    # well before its 120 s timeout_ms (service_ms: from dispatch, the cold restore included)
    check(len(got) == 1 and got[0].get("service_ms", 1e9) < 90000, f"{fn}: answered {got[0].get('service_ms') if got else None} ms after dispatch")
    if len(got) == 1: print(f"e2e_node: {fn}: {err.get('type')} {err.get('message')!r}, {got[0].get('service_ms')} ms after dispatch")
print(f"e2e_node: supervisor: {s.get('completed')} of {expected} completed, cold {s.get('cold')}, warm {s.get('warm')}")

base = os.stat(f"{snaps}/nodejs/memory").st_blocks * 512
for f in ("hello-js", "gzip-js", "sign-js", "token-js"):
    diff = os.stat(f"{snaps}/{f}/memory").st_blocks * 512
    check(0 < diff < base / 2, f"{f}: diff {diff} bytes vs base {base}: not a diff")
    print(f"e2e_node: {f}: diff {diff >> 10} KiB on disk (base {base >> 20} MiB)")
# 6. shapes and runtimes in one supervisor
check("e2e_node: shapes supervisor: exit 0" in status, "shapes supervisor did not exit 0 (log: shapes.log)")
shapes = lines("shapes.results")
by_fn = {}
for r in shapes: by_fn.setdefault(r.get("function"), []).append(r)
check(len(shapes) == 8 and all(r.get("status") == "ok" for r in shapes), f"shapes: not all ok: {str(shapes)[:800]}")
for r in by_fn.get("hello", []) + by_fn.get("hello-js", []):
    check(r.get("response", {}).get("result") == {"body": "hello, world!"}, f"shapes {r.get('function')}: {r}")
for fn, cpus, lo, hi in (("cpus-boot", 1, 0, 128 << 10), ("cpus-2", 2, 128 << 10, 256 << 10)):
    rs = by_fn.get(fn, [])
    check(len(rs) == 2, f"shapes {fn}: {len(rs)} results")
    for r in rs:
        res = r.get("response", {}).get("result", {})
        check(res.get("cpus") == cpus and res.get("affinity") == cpus and lo < res.get("mem_total_kib", 0) <= hi,
              f"shapes {fn}: expected {cpus} CPUs and MemTotal in ({lo}, {hi}] KiB, got {res}")
    if rs:
        res = rs[0].get("response", {}).get("result", {})
        print(f"e2e_node: shapes: {fn}: os.cpu_count() {res.get('cpus')}, MemTotal {res.get('mem_total_kib')} KiB, "
              f"booted and answered in {rs[0].get('service_ms')} ms")
try:
    st = json.load(open(f"{work}/shapes.stats"))
except (OSError, ValueError) as e:
    st = {}; fails.append(f"shapes.stats: {e}")
check(st.get("boots") == 2 and st.get("restores") == 2 and st.get("cold") == 4 and st.get("warm") == 4,
      f"shapes: boots {st.get('boots')} restores {st.get('restores')} cold {st.get('cold')} warm {st.get('warm')}")
pools = sorted((p.get("memory"), p.get("vcpus"), p.get("runtimefs"), tuple(p.get("functions", []))) for p in st.get("pools", []))
check(pools == [(128, 1, "nodejs.ext4", ("hello-js",)), (128, 1, "rootfs.ext4", ("hello", "cpus-boot")),
                (256, 2, "rootfs.ext4", ("cpus-2",))], f"shapes: pools {st.get('pools')}")
print(f"e2e_node: shapes: {len(shapes)} ok, boots {st.get('boots')}, restores {st.get('restores')}, pools "
      + "; ".join(f"{p.get('runners')} x {p.get('memory')} MiB/{p.get('vcpus')} vCPU/{p.get('runtimefs')}" for p in st.get("pools", [])))
if fails:
    print("e2e_node: FAIL:", *fails, sep="\n  ", file=sys.stderr); sys.exit(1)
print("e2e_node: PASS")
PY
