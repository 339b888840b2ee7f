#!/usr/bin/env bash
# e2e: Linux snapshots in the emulated KVM host (scripts/kvm-host.sh --auto). scripts/build-snapshots.sh
# makes the python3 base and one diff per example function (cached); then, for every function, the
# same requests go to a booted VM and to a VM restored from base + diff (fc_wrapper --load_dir), and
# the responses must be equal (duration_ns aside) and ok. Also checks that each diff is much smaller
# than the base (only the pages dirtied after the restore) and that a lazily restored VM and an
# eagerly copied one (--copy_base --copy_diff) answer alike. Working set (REAP-style): every diff
# has the working_set build-snapshots.sh recorded; hello restored with it prefetched (--load_ws)
# answers alike; --dump_ws records hello's first-request working set, a restore with --load_ws of
# that file answers alike, and one with a truncated copy says so on one line and answers alike
# (restored lazily). (Four extra restores of hello only: CI time.)
# Usage: e2e_linux_snapshot.sh FC_WRAPPER FIRERUNNER WORKDIR   (FIRERUNNER in BUILD/runner/: the build
# whose firerunner makes the snapshots)
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
wrapper="${1:?usage: e2e_linux_snapshot.sh FC_WRAPPER FIRERUNNER WORKDIR}" firerunner="${2:?}" work="${3:?}"
functions=(hello echo markdown thumbnail aggregate)
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
rootfs="$("$root/scripts/images.sh" --check rootfs)"
apps="$(dirname "$("$root/scripts/images.sh" --check appfs hello)")"
# The shared snapshot cache (scripts/test.sh builds it once for every e2e test; rebuilt here if stale).
snaps="${SNAPFAAS_CACHE:-$root/.cache}/snapshots"
rm -rf "$work/run" && mkdir -p "$work/run"
SNAPFAAS_BUILD_RELEASE="$(dirname "$(dirname "$firerunner")")" "$root/scripts/build-snapshots.sh" "${functions[@]}"

python3 - "$work/run" <<'PY'
import json, sys
run = sys.argv[1]
payloads = {
    "hello": [{}, {"x": 1}],
    "echo": [{"i": i, "s": "z" * i} for i in range(1, 9)],
    "markdown": [{"text": "# T\n\n*e* and `c`\n\n- a\n- b"}],
    "thumbnail": [{"width": 24, "height": 16, "seed": 3, "scale": 2}],
    "aggregate": [{"records": [{"region": "eu", "ms": 2}, {"region": "us", "ms": 4}, {"region": "eu", "ms": 6}],
                   "group_by": "region", "field": "ms"}],
}
for f, ps in payloads.items():
    with open(f"{run}/{f}.in", "w") as out:
        for i, p in enumerate(ps, 1):
            out.write(json.dumps({"time": i, "user_id": 1, "function": f, "payload": p}) + "\n")
PY
cat >"$work/run/inner.sh" <<INNER
#!/bin/sh
run="$work/run"
for f in ${functions[*]}; do
  modes="boot restore copy"
  [ "\$f" != hello ] || modes="\$modes ws dumpws loadws badws"
  for mode in \$modes; do
    layers="--load_dir $snaps/python3,$snaps/\$f"
    case \$mode in
      boot) extra="" ;;
      restore) extra="\$layers" ;;
      copy) extra="--load_dir $snaps/python3 --diff_dirs $snaps/\$f --copy_base --copy_diff" ;;
      ws) extra="\$layers --load_ws $snaps/\$f/working_set" ;;
      dumpws) extra="\$layers --dump_ws \$run/\$f.ws" ;;
      loadws) extra="\$layers --load_ws \$run/\$f.ws" ;;
      badws) head -c 150 "\$run/\$f.ws" >"\$run/\$f.bad.ws"; extra="\$layers --load_ws \$run/\$f.bad.ws" ;;
    esac
    "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$apps/\$f.ext2" --mem_size 128 \
      --firerunner "$firerunner" --id "\$f-\$mode" --boot_timeout_ms 400000 \$extra \
      <"\$run/\$f.in" >"\$run/\$f.\$mode.out" 2>"\$run/\$f.\$mode.err"
    echo "e2e_linux_snapshot: \$f \$mode: fc_wrapper exit \$? \$(grep -o '[a-z_]*_to_first_wait_ms=[0-9.]*' "\$run/\$f.\$mode.err")"
  done
done
INNER
chmod +x "$work/run/inner.sh"
set +e
"$root/scripts/kvm-host.sh" --auto --timeout 1500 -- "$work/run/inner.sh" 2>&1 | tr -d '\r' | grep "e2e_linux_snapshot:" | tee "$work/run/status"
set -e

python3 - "$work/run" "$snaps" "${functions[@]}" <<'PY'
import json, os, re, sys
run, snaps, functions = sys.argv[1], sys.argv[2], sys.argv[3:]
status = open(f"{run}/status").read()
fails = []
def lines(path):
    try:
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]
    except (OSError, ValueError) as e:
        fails.append(f"{path}: {e}"); return []
def strip(r):
    return {k: v for k, v in r.items() if k != "duration_ns"}
base_used = os.stat(f"{snaps}/python3/memory").st_blocks * 512
def err(f, mode):
    try:
        return open(f"{run}/{f}.{mode}.err", errors="replace").read()
    except OSError as e:
        fails.append(f"{f} {mode}: {e}"); return ""
ws_pages = {}
for f in functions:
    modes = ["boot", "restore", "copy"] + (["ws", "dumpws", "loadws", "badws"] if f == "hello" else [])
    # build-snapshots.sh recorded every diff's working set (restored with it: hello's ws mode).
    ws_file = f"{snaps}/{f}/working_set"
    if not (os.path.exists(ws_file) and os.path.getsize(ws_file) > 128 + 16):
        fails.append(f"{f}: build-snapshots.sh recorded no working set ({ws_file})")
    for mode in modes:
        if f"{f} {mode}: fc_wrapper exit 0" not in status:
            fails.append(f"{f} {mode}: fc_wrapper did not exit 0")
    expected = len(open(f"{run}/{f}.in").read().splitlines())
    boot, restore, copy = (lines(f"{run}/{f}.{m}.out") for m in ("boot", "restore", "copy"))
    if len(boot) != expected or not all(r.get("ok") is True for r in boot):
        fails.append(f"{f}: booted VM: {len(boot)}/{expected} ok responses: {str(boot)[:200]}")
    if [strip(r) for r in restore] != [strip(r) for r in boot]:
        fails.append(f"{f}: restored VM answered {str(restore)[:200]} != booted {str(boot)[:200]}")
    if [strip(r) for r in copy] != [strip(r) for r in boot]:
        fails.append(f"{f}: eagerly restored VM answered {str(copy)[:200]} != booted {str(boot)[:200]}")
    # Working set: every prefetching restore answers as the booted VM did.
    for mode in modes[3:]:
        got = lines(f"{run}/{f}.{mode}.out")
        if [strip(r) for r in got] != [strip(r) for r in boot]:
            fails.append(f"{f} {mode}: VM answered {str(got)[:200]} != booted {str(boot)[:200]}")
        text = err(f, mode)
        if mode in ("ws", "loadws"):
            m = re.search(r"prefetching a working set of (\d+) pages", text)
            if not m or int(m.group(1)) == 0:
                fails.append(f"{f} {mode}: no working set prefetched: {text[-300:]!r}")
            else:
                ws_pages[f"{f} {mode}"] = int(m.group(1))
        if mode == "dumpws":
            m = re.search(r"working_set_pages=(\d+)", text)
            if not m or int(m.group(1)) == 0 or not os.path.getsize(f"{run}/{f}.ws") > 128:
                fails.append(f"{f} dumpws: no working set recorded: {text[-300:]!r}")
            else:
                ws_pages[f"{f} dumpws"] = int(m.group(1))
        if mode == "badws" and "working set not used, restoring lazily" not in text:
            fails.append(f"{f} badws: a truncated working set was not reported: {text[-300:]!r}")
    diff_used = os.stat(f"{snaps}/{f}/memory").st_blocks * 512
    if not 0 < diff_used < base_used / 2:
        fails.append(f"{f}: diff holds {diff_used} bytes on disk, base {base_used}: not a diff of dirtied pages")
    print(f"e2e_linux_snapshot: {f}: {len(boot)} responses equal; diff {diff_used >> 10} KiB on disk (base {base_used >> 20} MiB)")
if fails:
    print("e2e_linux_snapshot: FAIL:", *fails, sep="\n  ", file=sys.stderr); sys.exit(1)
print("e2e_linux_snapshot: working-set pages:", ", ".join(f"{k} {v}" for k, v in ws_pages.items()))
print("e2e_linux_snapshot: PASS (booted, lazily restored, eagerly restored and working-set prefetching VMs answer alike for",
      ", ".join(functions) + "; --dump_ws then --load_ws, and a truncated working set restored lazily)")
PY
