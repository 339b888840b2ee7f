#!/usr/bin/env bash
# Where the guest images live (built by scripts/build-images.sh into $CACHE/images, default
# .cache/images in the repository). Other code locates images through this script or these
# fixed paths:
#   vmlinux       $CACHE/images/vmlinux            guest kernel (uncompressed ELF)
#   rootfs        $CACHE/images/rootfs.ext4        guest root filesystem (python3.11, init, agent)
#   nodejs        $CACHE/images/nodejs.ext4        the nodejs runtime image (Node.js, init, Node agent)
#   l1-vmlinux    $CACHE/images/l1-vmlinux         kernel of the emulated KVM host
#   appfs NAME    $CACHE/images/appfs/NAME.ext2    app image of functions/NAME
# Usage: scripts/images.sh                 all of them as NAME=PATH lines (appfs_NAME for apps)
#        scripts/images.sh vmlinux|rootfs|nodejs|l1-vmlinux|appfs NAME   one path
#        --check (first argument)          also fail, naming scripts/build-images.sh, if missing
set -euo pipefail
source "$(dirname "$0")/lib.sh"

check=0
[[ ${1:-} == --check ]] && { check=1; shift; }
dir="$CACHE/images"
path_of() {
  case "$1" in
    vmlinux) echo "$dir/vmlinux" ;;
    rootfs) echo "$dir/rootfs.ext4" ;;
    nodejs) echo "$dir/nodejs.ext4" ;;
    l1-vmlinux) echo "$dir/l1-vmlinux" ;;
    appfs) [[ -n ${2:-} ]] || die "images.sh appfs needs a function name"; echo "$dir/appfs/$2.ext2" ;;
    *) die "images.sh: unknown image '$1' (vmlinux, rootfs, nodejs, l1-vmlinux, appfs NAME)" ;;
  esac
}
emit() {  # label path
  if [[ $check -eq 1 && ! -f $2 ]]; then
    die "image missing: $2 (build it with scripts/build-images.sh)"
  fi
  if [[ -n $1 ]]; then echo "$1=$2"; else echo "$2"; fi
}
if [[ $# -gt 0 ]]; then
  emit "" "$(path_of "$@")"
  exit 0
fi
emit vmlinux "$(path_of vmlinux)"
emit rootfs "$(path_of rootfs)"
emit nodejs "$(path_of nodejs)"
emit l1_vmlinux "$(path_of l1-vmlinux)"
for d in "$ROOT"/functions/*/; do
  [[ -f $d/handler.py || -f $d/handler.js ]] || continue
  name="$(basename "$d")"
  emit "appfs_$name" "$(path_of appfs "$name")"
done
