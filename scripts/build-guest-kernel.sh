#!/usr/bin/env bash
# Builds a Linux kernel from Debian's linux-source-6.1: `make tinyconfig` + config fragments, and
# installs the uncompressed vmlinux (ELF) into the cache. Rebuilt only when the fragments, the
# source package version or the compiler change (the key is stored next to the output).
#   scripts/build-guest-kernel.sh          guest kernel:  $CACHE/images/vmlinux
#                                           (configs/guest-kernel.config)
#   scripts/build-guest-kernel.sh --l1     L1 kernel of the emulated KVM host: $CACHE/images/l1-vmlinux
#                                           (guest-kernel.config + l1-kernel.config)
#   --check                                 exit 0 if the output is current, 1 if it needs a build
set -euo pipefail
source "$(dirname "$0")/lib.sh"

role=guest check=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --l1) role=l1 ;;
    --check) check=1 ;;
    *) die "build-guest-kernel.sh: unknown argument '$1' (use --l1, --check)" ;;
  esac
  shift
done

fragments=("$ROOT/configs/guest-kernel.config")
out="$CACHE/images/vmlinux"
if [[ $role == l1 ]]; then
  fragments+=("$ROOT/configs/l1-kernel.config")
  out="$CACHE/images/l1-vmlinux"
fi
for f in "${fragments[@]}"; do [[ -f $f ]] || die "kernel config fragment missing: $f"; done

src_version="$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)"
tarball=/usr/src/linux-source-6.1.tar.xz
[[ -n $src_version && -f $tarball ]] ||
  die "Debian package linux-source-6.1 is not installed ($tarball missing): run scripts/setup.sh --no-build"
cc_version="$(gcc -dumpfullversion 2>/dev/null || echo unknown)"
recipe=1  # bump when this script changes how the kernel is configured or built
key="$( { echo "recipe=$recipe role=$role linux-source-6.1=$src_version gcc=$cc_version"
          cat "${fragments[@]}"; } | sha256sum | cut -d' ' -f1)"

if [[ -f $out && -f $out.key && "$(cat "$out.key")" == "$key" ]]; then
  [[ $check -eq 1 ]] && exit 0
  step "$role kernel: cached ${out#"$ROOT"/} (linux-source-6.1 $src_version, key ${key:0:12})"
  exit 0
fi
[[ $check -eq 1 ]] && exit 1

mkdir -p "$CACHE/kernel" "$CACHE/images"
t0=$SECONDS

# One extracted source tree shared by both roles (out-of-tree builds with O=), per package version.
src="$CACHE/kernel/linux-source-6.1"
exec 9>"$CACHE/kernel/.lock-src"
flock 9
if [[ "$(cat "$src/.snapfaas-version" 2>/dev/null)" != "$src_version" ]]; then
  step "$role kernel: extracting linux-source-6.1 $src_version"
  rm -rf "$src" "$src.tmp"
  mkdir -p "$src.tmp"
  # Documentation (except its Kconfig) is not needed to build.
  tar -xJf "$tarball" -C "$src.tmp" --strip-components=1 \
    --exclude='linux-source-6.1/Documentation/[!K]*'
  echo "$src_version" >"$src.tmp/.snapfaas-version"
  mv "$src.tmp" "$src"
  echo "    extracted in $((SECONDS - t0)) s" >&2
fi
flock -u 9

build="$CACHE/kernel/build-$role"
exec 8>"$CACHE/kernel/.lock-$role"
flock 8
mkdir -p "$build"
step "$role kernel: configuring (tinyconfig + ${fragments[*]##*/})"
make -s -C "$src" O="$build" tinyconfig >/dev/null
(cd "$src" && ./scripts/kconfig/merge_config.sh -m -O "$build" "$build/.config" "${fragments[@]}" >/dev/null 2>&1)
make -s -C "$src" O="$build" olddefconfig >/dev/null 2>&1

# Every option the fragments ask for must have survived Kconfig's dependency resolution.
bad=()
while read -r line; do
  if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
    grep -qx "${BASH_REMATCH[1]}=${BASH_REMATCH[2]}" "$build/.config" || bad+=("${BASH_REMATCH[1]}=${BASH_REMATCH[2]}")
  elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
    grep -q "^${BASH_REMATCH[1]}=" "$build/.config" && bad+=("${BASH_REMATCH[1]} (should be off)")
  fi
done < <(cat "${fragments[@]}")
[[ ${#bad[@]} -eq 0 ]] || die "$role kernel: options not satisfied by Kconfig: ${bad[*]}"

step "$role kernel: make -j$JOBS vmlinux (log: ${build#"$ROOT"/}/build.log)"
t1=$SECONDS
set +e
make -C "$src" O="$build" -j"$JOBS" vmlinux >"$build/build.log" 2>&1 &
make_pid=$!
# Progress: one line per 30 s with the number of compiled objects so far.
next=30
while kill -0 "$make_pid" 2>/dev/null; do
  sleep 2
  if (( SECONDS - t1 >= next )); then
    printf '    ... %4d s, %5d objects compiled\n' "$((SECONDS - t1))" "$(grep -c '^  CC ' "$build/build.log")" >&2
    next=$((next + 30))
  fi
done
wait "$make_pid"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  tail -n 30 "$build/build.log" >&2
  die "$role kernel: make failed (exit $rc); full log in $build/build.log"
fi
cp "$build/vmlinux" "$out.tmp"
mv "$out.tmp" "$out"
echo "$key" >"$out.key"
cp "$build/.config" "$out.config"
step "$role kernel: built ${out#"$ROOT"/} ($(du -h "$out" | cut -f1)) in $((SECONDS - t0)) s (make $((SECONDS - t1)) s)"
