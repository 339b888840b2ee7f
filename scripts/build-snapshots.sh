#!/usr/bin/env bash
# Builds the snapshots the supervisor restores (configs/functions.yaml names them):
#   $CACHE/snapshots/python3   runtime base: the guest booted with a placeholder app disk, saved at
#                              the agent's base snapshot point (CPython started, no function yet)
#   $CACHE/snapshots/NAME      one diff per function: the base restored with functions/NAME's app
#                              image, saved at the agent's diff snapshot point (handler imported);
#                              then NAME/working_set: base + diff restored, one request answered
#                              (fc_wrapper --dump_ws), the guest pages it touched (load_ws: true)
#   $CACHE/snapshots/nodejs    the same for JavaScript functions (functions/NAME/handler.js): the
#                              nodejs image booted, saved once Node and V8 are up (no function
#                              code); their diffs are made from it (handler.js required)
#   $CACHE/snapshots/python3-net, NAME-net   only for --network NAME (functions with network: true):
#                              the same with a virtio-net device (fc_wrapper --network
#                              tap0/06:00:ac:10:00:02 in a runner namespace made by
#                              setup-network.sh), so that a restored guest has eth0; the plain base
#                              keeps no device, so functions without network never get one
#                              (docs/NETWORKING.md). The function file names them:
#                              load_dir: python3-net, diff_dirs: [NAME-net] (nodejs-net for JS).
# Each is made by fc_wrapper --dump_dir (--load_dir for the diffs) with the Release build's
# firerunner: natively with VT-x/AMD-V, else inside the emulated KVM host (scripts/kvm-host.sh).
# Cached: a snapshot is rebuilt when the kernel, rootfs, app image, memory size or firerunner
# changed (its key file says which inputs made it).
# Usage: scripts/build-snapshots.sh [--mem MiB] [--out DIR] [--network NAME]... [NAME...]
#        (default: every functions/NAME, unless only --network names are given; --out defaults to
#        $SNAPFAAS_SNAPSHOTS, else $CACHE/snapshots)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mem=128
out="${SNAPFAAS_SNAPSHOTS:-$CACHE/snapshots}"
names=()
net_names=()
inner=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mem) mem="${2:?--mem needs MiB}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --network) net_names+=("${2:?--network needs a function name}"); shift 2 ;;
    --inner) inner=1; shift; break ;;
    -*) die "build-snapshots.sh: unknown argument '$1' (use --mem MiB, --out DIR, --network NAME, NAME...)" ;;
    *) names+=("$1"); shift ;;
  esac
done

wrapper="$BUILD_RELEASE/wrapper/fc_wrapper"
firerunner="$BUILD_RELEASE/runner/firerunner"
vmlinux="$("$ROOT/scripts/images.sh" --check vmlinux)"

# Inside the (emulated) KVM host: --inner OUT MEM [NAME APPFS NET BASE ROOTFS]... — one fc_wrapper
# per snapshot; BASE '-': a base (boot), else the base the diff is made from; NET=1: with the
# network device, in runner namespace snapfaas-0 (made and removed here).
if [[ $inner -eq 1 ]]; then
  out="$1" mem="$2"; shift 2
  net_up=0
  trap '[[ $net_up -eq 0 ]] || "$ROOT/scripts/cleanup-network.sh" 2>/dev/null' EXIT
  while [[ $# -gt 0 ]]; do
    name="$1" app="$2" net="$3" base="$4" rootfs="$5"; shift 5
    rm -rf "$out/$name.tmp"
    t0=$(date +%s%N)
    if [[ $base == - ]]; then
      args=(--dump_dir "$out/$name.tmp")
    else
      args=(--load_dir "$out/$base" --dump_dir "$out/$name.tmp")
    fi
    where=() net_args=()
    if [[ $net == 1 ]]; then
      # An existing snapfaas-0 (setup-network.sh run on a hardware host) is used as it is;
      # otherwise (the emulated host) one is made here and removed at the end.
      if [[ $net_up -eq 0 && ! -e /run/netns/snapfaas-0 ]]; then
        ip link set lo up
        "$ROOT/scripts/setup-network.sh" 1 2>/dev/null
        net_up=1
      fi
      where=(ip netns exec snapfaas-0) net_args=(--network tap0/06:00:ac:10:00:02)
    fi
    if ! "${where[@]}" "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$app" --mem_size "$mem" \
        --firerunner "$firerunner" --id "snap-$name" --boot_timeout_ms 600000 "${args[@]}" "${net_args[@]}" \
        </dev/null >"$out/$name.log" 2>&1; then
      tail -n 25 "$out/$name.log"
      echo "build-snapshots: $name: fc_wrapper failed (log $out/$name.log)"
      exit 1
    fi
    ws=""
    if [[ $base != - ]]; then
      # The diff's working set (REAP-style): restore base + the new diff, answer one request ({}
      # unless functions/NAME/ws_request.json holds a request payload) and record the guest pages
      # touched since the restore as DIR/working_set (fc_wrapper --dump_ws), which function YAML
      # load_ws: true prefetches. Only a hint: a failure is reported and the diff kept without one.
      payload='{}'
      fn="${name%-net}"
      [[ ! -f $ROOT/functions/$fn/ws_request.json ]] || payload="$(tr -d '\n' <"$ROOT/functions/$fn/ws_request.json")"
      if echo "{\"time\":1,\"user_id\":1,\"function\":\"$fn\",\"payload\":$payload}" |
          "${where[@]}" "$wrapper" --kernel "$vmlinux" --rootfs "$rootfs" --appfs "$app" --mem_size "$mem" \
            --firerunner "$firerunner" --id "ws-$name" --boot_timeout_ms 600000 \
            --load_dir "$out/$base,$out/$name.tmp" --dump_ws "$out/$name.tmp/working_set" "${net_args[@]}" \
            >>"$out/$name.log" 2>&1; then
        ws=", working set $(grep -oE 'working_set_pages=[0-9]+' "$out/$name.log" | tail -1 | cut -d= -f2) pages"
      else
        rm -f "$out/$name.tmp/working_set"
        ws=", no working set (fc_wrapper --dump_ws failed: log $out/$name.log)"
      fi
    fi
    rm -rf "$out/$name" && mv "$out/$name.tmp" "$out/$name"
    echo "build-snapshots: $name: built in $(( ($(date +%s%N) - t0) / 1000000 )) ms$ws"
  done
  exit 0
fi

[[ -x $wrapper && -x $firerunner ]] || die "build-snapshots.sh: $wrapper or $firerunner missing: run scripts/setup.sh"
if [[ ${#names[@]} -eq 0 && ${#net_names[@]} -eq 0 ]]; then
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
jobs=()
stale() { [[ ! -f $out/$1/state || ! -f $out/$1/key || "$(cat "$out/$1/key")" != "$2" ]]; }
declare -A keys
# The runtime of functions/NAME: nodejs for handler.js, else python3.
runtime_of() { if [[ -f $ROOT/functions/$1/handler.js ]]; then echo nodejs; else echo python3; fi; }
# One chain per base: RUNTIME SUFFIX NET NAME... (a rebuilt base rebuilds its diffs).
chains=0
chain() {
  local runtime="$1" suffix="$2" net="$3" rebuilt=0 name app rootfs base base_key; shift 3
  [[ $# -gt 0 ]] || return 0
  chains=$((chains + 1))
  rootfs="$("$ROOT/scripts/images.sh" --check "$([[ $runtime == python3 ]] && echo rootfs || echo nodejs)")"
  base="$runtime$suffix"
  base_key="mem=$mem kernel=$(cat "$vmlinux.key") rootfs=$(cat "$rootfs.key") firerunner=$(sum "$firerunner")"
  keys[$base]="$base_key net=$net"
  [[ $net == 1 ]] || keys[$base]="$base_key"  # the plain base keeps its key from before
  if stale "$base" "${keys[$base]}"; then jobs+=("$base" "$placeholder" "$net" - "$rootfs"); rebuilt=1; fi
  for name in "$@"; do
    app="$("$ROOT/scripts/images.sh" --check appfs "$name")"
    keys[$name$suffix]="${keys[$base]} app=$(sum "$app")"
    if [[ $rebuilt -eq 1 ]] || stale "$name$suffix" "${keys[$name$suffix]}"; then
      jobs+=("$name$suffix" "$app" "$net" "$base" "$rootfs")
    fi
  done
}
for runtime in python3 nodejs; do
  of_runtime=() net_of_runtime=()
  for name in "${names[@]}"; do [[ $(runtime_of "$name") != "$runtime" ]] || of_runtime+=("$name"); done
  for name in "${net_names[@]}"; do [[ $(runtime_of "$name") != "$runtime" ]] || net_of_runtime+=("$name"); done
  chain "$runtime" "" 0 "${of_runtime[@]}"
  chain "$runtime" -net 1 "${net_of_runtime[@]}"
done
total=$(( ${#names[@]} + ${#net_names[@]} + chains ))
if [[ ${#jobs[@]} -eq 0 ]]; then
  step "snapshots: all $total cached in ${out#"$ROOT"/}"
  exit 0
fi

case_word="$("$ROOT/scripts/kvm-detect.sh" --short)"
step "snapshots: building $(( ${#jobs[@]} / 5 )) in ${out#"$ROOT"/} ($case_word: $([[ $case_word == hardware ]] && echo natively || echo 'inside the emulated KVM host'))"
t0=$SECONDS
set +e
"$ROOT/scripts/kvm-host.sh" --auto --timeout 1500 -- \
  "$ROOT/scripts/build-snapshots.sh" --inner "$out" "$mem" "${jobs[@]}" 2>&1 | tr -d '\r' | grep --line-buffered "build-snapshots:"
rc=${PIPESTATUS[0]}
set -e
[[ $rc -eq 0 ]] || die "build-snapshots.sh: failed (status $rc); logs in ${out#"$ROOT"/}/*.log"
for ((i = 0; i < ${#jobs[@]}; i += 5)); do
  name="${jobs[i]}"
  [[ -f $out/$name/state ]] || die "build-snapshots.sh: $name: no snapshot written (log $out/$name.log)"
  echo "${keys[$name]}" >"$out/$name/key"
done
step "snapshots: built $(( ${#jobs[@]} / 5 )) in $((SECONDS - t0)) s: $(du -sh --apparent-size "$out" | cut -f1) apparent, $(du -sh "$out" | cut -f1) on disk"
