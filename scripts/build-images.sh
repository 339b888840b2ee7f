#!/usr/bin/env bash
# Builds everything the e2e tests and benchmarks need, each step cached (a second run takes
# seconds): guest kernel, L1 kernel (emulated KVM host), the python3 and nodejs runtime images, one
# app image per functions/NAME (handler.py or handler.js).
# Paths: scripts/images.sh. Usage: scripts/build-images.sh [--no-l1]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

l1=1
case "${1:-}" in
  --no-l1) l1=0 ;;
  "") ;;
  *) die "build-images.sh: unknown argument '$1' (use --no-l1)" ;;
esac

t0=$SECONDS
step "images: machine: $("$ROOT/scripts/kvm-detect.sh")"
"$ROOT/scripts/build-guest-kernel.sh"
[[ $l1 -eq 0 ]] || "$ROOT/scripts/build-guest-kernel.sh" --l1
"$ROOT/scripts/build-rootfs.sh" python3
"$ROOT/scripts/build-rootfs.sh" nodejs

# App images: rebuilt when the function's files or build-appfs.sh change.
mkdir -p "$CACHE/images/appfs"
built=0 cached=0
for dir in "$ROOT"/functions/*/; do
  [[ -f $dir/handler.py || -f $dir/handler.js ]] || continue
  name="$(basename "$dir")"
  out="$CACHE/images/appfs/$name.ext2"
  key="$( { sha256sum <"$ROOT/scripts/build-appfs.sh"
            (cd "$dir" && find . -name __pycache__ -prune -o -type f -print0 | LC_ALL=C sort -z |
               xargs -0r sha256sum); } | sha256sum | cut -d' ' -f1)"
  if [[ -f $out && "$(cat "$out.key" 2>/dev/null)" == "$key" ]]; then
    cached=$((cached + 1))
    continue
  fi
  "$ROOT/scripts/build-appfs.sh" "$dir" "$out"
  echo "$key" >"$out.key"
  built=$((built + 1))
done
step "images: app images: $built built, $cached cached"
while IFS='=' read -r name path; do
  [[ $l1 -eq 0 && $name == l1_vmlinux ]] && continue
  [[ -f $path ]] || die "images: $name missing after the build: $path"
  echo "    $name=$path" >&2
done < <("$ROOT/scripts/images.sh")
step "images: done in $((SECONDS - t0)) s"
