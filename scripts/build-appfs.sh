#!/usr/bin/env bash
# Builds an app filesystem: an ext2 image of a function directory, made with `mkfs.ext2 -d` (no loop
# mounts): a Python function (handler.py defining handle(request), plus anything it imports) or a
# JavaScript one (handler.js with module.exports.handle = (request) => result, plus anything it
# requires, node_modules/ included as it is in the directory).
# __pycache__ folders are left out; Python sources are byte-compiled with the host's python3 when it
# is the guest's version (3.11), because the guest mounts the image read-only at /srv.
# Usage: scripts/build-appfs.sh DIR OUT.ext2
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $# -eq 2 ]] || die "usage: build-appfs.sh DIR OUT.ext2"
dir="$1" out="$2"
[[ -d $dir ]] || die "build-appfs.sh: function directory not found: $dir"
[[ -f $dir/handler.py || -f $dir/handler.js ]] ||
  die "build-appfs.sh: $dir has neither handler.py (def handle(request)) nor handler.js (module.exports.handle)"
command -v mkfs.ext2 >/dev/null || die "mkfs.ext2 (e2fsprogs) is not installed: run scripts/setup.sh --no-build"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
tar -C "$dir" --exclude=__pycache__ --exclude='*.pyc' -cf - . | tar -C "$stage" -xf -
if [[ -f $dir/handler.py ]] && command -v python3 >/dev/null && [[ "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" == 3.11 ]]; then
  python3 -m compileall -q "$stage" >/dev/null
fi
files=$(find "$stage" | wc -l)
size_kib=$(( $(du -sk "$stage" | cut -f1) * 3 / 2 + 1024 ))
mkdir -p "$(dirname "$out")"
rm -f "$out.tmp"
mkfs.ext2 -q -F -b 1024 -N $((files + 32)) -m 0 -L appfs -E root_owner=0:0 -d "$stage" "$out.tmp" "${size_kib}k" >/dev/null ||
  die "build-appfs.sh: mkfs.ext2 failed for $dir"
mv "$out.tmp" "$out"
echo "appfs: $out ($((size_kib / 1024)) MiB, $files entries from $dir)" >&2
