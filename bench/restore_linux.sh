#!/usr/bin/env bash
# Benchmark restore_linux: the Python function `hello` in a Linux guest, regular boot vs restore from
# the python3 base + hello diff (scripts/build-snapshots.sh), same run, same host: fc_wrapper start
# -> first response, and its parts (VM creation, boot/restore to the agent's first WAIT). Natively
# with VT-x/AMD-V, else inside the emulated KVM host (QEMU TCG + nested SVM: every figure there is
# slowed by emulation, and L1's clock ticks in 10 ms steps — the ratio is what carries over).
# Writes JSON with boot_over_restore_emulated_hello (or boot_over_restore_hello natively).
# Usage: bench/restore_linux.sh --out FILE.json [--quick]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
source "$root/scripts/lib.sh"
out="" boots=5 restores=10
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out="${2:?--out needs a file}"; shift 2 ;;
    --quick) boots=2 restores=3; shift ;;
    --inner) shift; break ;;
    *) die "restore_linux.sh: unknown argument '$1' (use --out FILE --quick)" ;;
  esac
done

wrapper="$BUILD_RELEASE/wrapper/fc_wrapper"
firerunner="$BUILD_RELEASE/runner/firerunner"
vmlinux="$("$root/scripts/images.sh" --check vmlinux)"
rootfs="$("$root/scripts/images.sh" --check rootfs)"
app="$("$root/scripts/images.sh" --check appfs hello)"
snaps="${SNAPFAAS_SNAPSHOTS:-$CACHE/snapshots}"

if [[ ${1:-} == run ]]; then  # inside the KVM host: run MODE N
  mode="$2" n="$3"
  err="$(mktemp "$CACHE/tmp/restore_linux.XXXXXX")"
  extra=()
  [[ $mode == restore ]] && extra=(--load_dir "$snaps/python3,$snaps/hello")
  for ((i = 0; i < n; i++)); do
    start=$(date +%s%N)
    resp="$(echo '{"time":1,"user_id":1,"function":"hello","payload":{}}' |
      "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$app" --mem_size 128 --firerunner "$firerunner" \
        --id "bench-$mode-$i" --boot_timeout_ms 400000 "${extra[@]}" 2>"$err")" || {
      tail -5 "$err"; echo "restore_linux: $mode run $i failed"; exit 1; }
    first_ms=$(( ($(date +%s%N) - start) / 1000000 ))
    [[ $resp == *'"ok":true'* ]] || { echo "restore_linux: $mode run $i: bad response $resp"; exit 1; }
    parts="$(grep -oE '(vm_creation|boot_to_first_wait|restore_to_first_wait)_ms=[0-9.]+' "$err" | tr '\n' ' ' || true)"
    echo "restore_linux: $mode first_response_ms=$first_ms $parts"
  done
  rm -f "$err"
  exit 0
fi

[[ -n $out ]] || die "usage: bench/restore_linux.sh --out FILE.json [--quick]"
"$root/scripts/build-snapshots.sh" --out "$snaps" hello
mkdir -p "$CACHE/tmp"
case_word="$("$root/scripts/kvm-detect.sh" --short)"
step "restore_linux: $boots boots and $restores restores of hello ($case_word)"
log="$(mktemp "$CACHE/tmp/restore_linux-log.XXXXXX")"
trap 'rm -f "$log"' EXIT
set +e
# Interleaved (boot, restore, boot, ...) would be fairer on a noisy host, but each fc_wrapper run is
# seconds long there; one L1 for both series keeps them side by side.
"$root/scripts/kvm-host.sh" --auto --timeout 1500 -- bash -c \
  "'$0' --inner run boot $boots && '$0' --inner run restore $restores" 2>&1 | tr -d '\r' | grep "restore_linux:" | tee "$log"
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || die "restore_linux: runs failed (status $rc)"
python3 - "$log" "$out" "$case_word" <<'PY'
import json, re, statistics, sys
log, out, case = sys.argv[1:4]
series = {"boot": [], "restore": []}
for line in open(log):
    m = re.match(r"restore_linux: (boot|restore) first_response_ms=(\d+) (.*)", line.strip())
    if not m:
        continue
    parts = {k: float(v) for k, v in re.findall(r"(\w+)_ms=([\d.]+)", m.group(3))}
    series[m.group(1)].append({"first_response_ms": float(m.group(2)), **parts})
if not series["boot"] or not series["restore"]:
    sys.exit("restore_linux: no measurements")
med = lambda mode, key: statistics.median(r[key] for r in series[mode] if key in r)
boot, restore = med("boot", "first_response_ms"), med("restore", "first_response_ms")
boot_ready, restore_ready = med("boot", "boot_to_first_wait"), med("restore", "restore_to_first_wait")
emulated = case != "hardware"
ratio_key = "boot_over_restore_emulated_hello" if emulated else "boot_over_restore_hello"
result = {
    "benchmark": "restore_linux",
    "machine_case": case,
    "where": "inside the emulated KVM host (QEMU TCG + nested SVM); L1 clock 10 ms steps" if emulated else "natively",
    "function": "hello", "mem_mib": 128,
    "definition": ("ratio = VM created -> agent's first WAIT: boot (kernel, init, agent, CPython, import) over "
                   "restore (python3 base + hello diff mapped, state and devices set, guest resumed); the "
                   "process start and VM creation before it are the same for both and are what pre-spawned "
                   "runners take off the cold path. end_to_end = fc_wrapper start -> first response."),
    "boot_to_first_wait_p50_ms": boot_ready,
    "restore_to_first_wait_p50_ms": restore_ready,
    ratio_key: round(boot_ready / restore_ready, 2),
    "boot_first_response_p50_ms": boot,
    "restore_first_response_p50_ms": restore,
    ratio_key + "_end_to_end": round(boot / restore, 2),
    "vm_creation_boot_p50_ms": med("boot", "vm_creation"),
    "vm_creation_restore_p50_ms": med("restore", "vm_creation"),
    "runs": series,
}
json.dump(result, open(out, "w"), indent=1)
print(f"restore_linux: hello to the agent's first WAIT: boot p50 {boot_ready:.0f} ms, restore p50 {restore_ready:.0f} ms "
      f"-> {ratio_key} = {boot_ready / restore_ready:.1f}x; end to end (process start -> first response): "
      f"{boot:.0f} vs {restore:.0f} ms = {boot / restore:.1f}x")
PY
