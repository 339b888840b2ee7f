#!/usr/bin/env bash
# Builds the snapshots the supervisor restores (configs/functions.yaml names them):
#   $CACHE/snapshots/python3   runtime base: the guest booted with a placeholder app disk, saved at
#                              the agent's base snapshot point (CPython started, no function yet)
#   $CACHE/snapshots/NAME      one diff per function: the base restored with functions/NAME's app
#                              image, saved at the agent's diff snapshot point (handler imported)
# Each is made by fc_wrapper --dump_dir (--load_dir for the diffs) with the Release build's
# firerunner: natively with VT-x/AMD-V, else inside the emulated KVM host (scripts/kvm-host.sh).
# Cached: a snapshot is rebuilt when the kernel, rootfs, app image, memory size or firerunner
# changed (its key file says which inputs made it).
# Usage: scripts/build-snapshots.sh [--mem MiB] [--out DIR] [NAME...]   (default: every functions/NAME;
#        --out defaults to $SNAPFAAS_SNAPSHOTS, else $CACHE/snapshots)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mem=128
out="${SNAPFAAS_SNAPSHOTS:-$CACHE/snapshots}"
names=()
inner=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mem) mem="${2:?--mem needs MiB}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --inner) inner=1; shift; break ;;
    -*) die "build-snapshots.sh: unknown argument '$1' (use --mem MiB, --out DIR, NAME...)" ;;
    *) names+=("$1"); shift ;;
  esac
done

wrapper="$BUILD_RELEASE/wrapper/fc_wrapper"
firerunner="$BUILD_RELEASE/runner/firerunner"
vmlinux="$("$ROOT/scripts/images.sh" --check vmlinux)"
rootfs="$("$ROOT/scripts/images.sh" --check rootfs)"

# Inside the (emulated) KVM host: --inner OUT MEM [base|NAME APPFS]... — one fc_wrapper per snapshot.
if [[ $inner -eq 1 ]]; then
  out="$1" mem="$2"; shift 2
  while [[ $# -gt 0 ]]; do
    name="$1" app="$2"; shift 2
    rm -rf "$out/$name.tmp"
    t0=$(date +%s%N)
    if [[ $name == python3 ]]; then
      args=(--dump_dir "$out/$name.tmp")
    else
      args=(--load_dir "$out/python3" --dump_dir "$out/$name.tmp")
    fi
    if ! "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$app" --mem_size "$mem" \
        --firerunner "$firerunner" --id "snap-$name" --boot_timeout_ms 600000 "${args[@]}" \
        </dev/null >"$out/$name.log" 2>&1; then
      tail -n 25 "$out/$name.log"
      echo "build-snapshots: $name: fc_wrapper failed (log $out/$name.log)"
      exit 1
    fi
    rm -rf "$out/$name" && mv "$out/$name.tmp" "$out/$name"
    echo "build-snapshots: $name: built in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
  done
  exit 0
fi

[[ -x $wrapper && -x $firerunner ]] || die "build-snapshots.sh: $wrapper or $firerunner missing: run scripts/setup.sh"
if [[ ${#names[@]} -eq 0 ]]; then
  for dir in "$ROOT"/functions/*/; do names+=("$(basename "$dir")"); done
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# The placeholder app disk of the base: an empty ext2 (the agent mounts the real one later).
placeholder="$out/placeholder.ext2"
if [[ ! -f $placeholder ]]; then
  mkfs.ext2 -q -F -b 1024 -m 0 -L appfs "$placeholder.tmp" 1024k >/dev/null && mv "$placeholder.tmp" "$placeholder"
fi

sum() { sha256sum "$@" | cut -c1-16 | tr '\n' ' '; }
base_key="mem=$mem kernel=$(cat "$vmlinux.key") rootfs=$(cat "$rootfs.key") firerunner=$(sum "$firerunner")"
jobs=()
stale() { [[ ! -f $out/$1/state || ! -f $out/$1/key || "$(cat "$out/$1/key")" != "$2" ]]; }
declare -A keys
keys[python3]="$base_key"
if stale python3 "$base_key"; then jobs+=(python3 "$placeholder"); fi
for name in "${names[@]}"; do
  app="$("$ROOT/scripts/images.sh" --check appfs "$name")"
  keys[$name]="$base_key app=$(sum "$app")"
  if [[ ${#jobs[@]} -gt 0 ]] || stale "$name" "${keys[$name]}"; then jobs+=("$name" "$app"); fi
done
if [[ ${#jobs[@]} -eq 0 ]]; then
  step "snapshots: all $(( ${#names[@]} + 1 )) cached in ${out#"$ROOT"/}"
  exit 0
fi

case_word="$("$ROOT/scripts/kvm-detect.sh" --short)"
step "snapshots: building $(( ${#jobs[@]} / 2 )) in ${out#"$ROOT"/} ($case_word: $([[ $case_word == hardware ]] && echo natively || echo 'inside the emulated KVM host'))"
t0=$SECONDS
set +e
"$ROOT/scripts/kvm-host.sh" --auto --timeout 1500 -- \
  "$ROOT/scripts/build-snapshots.sh" --inner "$out" "$mem" "${jobs[@]}" 2>&1 | tr -d '\r' | grep --line-buffered "build-snapshots:"
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || die "build-snapshots.sh: failed (status $rc); logs in ${out#"$ROOT"/}/*.log"
for ((i = 0; i < ${#jobs[@]}; i += 2)); do
  name="${jobs[i]}"
  [[ -f $out/$name/state ]] || die "build-snapshots.sh: $name: no snapshot written (log $out/$name.log)"
  echo "${keys[$name]}" >"$out/$name/key"
done
step "snapshots: built $(( ${#jobs[@]} / 2 )) in $((SECONDS - t0)) s: $(du -sh --apparent-size "$out" | cut -f1) apparent, $(du -sh "$out" | cut -f1) on disk"
