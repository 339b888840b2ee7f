#!/usr/bin/env bash
# e2e: the agent as installed in the guest rootfs. Unpacks rootfs.ext4 (debugfs rdump, no loop
# mount), checks that /usr/bin/snapfaas-agent is the agent of this build and needs no shared
# library beyond libc and libpython3.11, then runs the agent test suite with the agent chrooted
# into the rootfs (its Python 3.11, its standard library), /dev/shm and /tmp bind-mounted; and
# functions/stdlib (sqlite3, ssl, zoneinfo with the image's tzdata, decimal, hashlib) with its python3.
# Usage: agent_in_rootfs_test.sh TEST_GUEST_AGENT_BINARY BUILT_AGENT   (needs root)
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
test_bin="$1" agent="$2"
rootfs="$("$ROOT/scripts/images.sh" --check rootfs)"

needed="$(readelf -d "$agent" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')"
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | ld-linux-x86-64.so.2 | libpython3.11.so.1.0) ;;
    *) die "agent needs $lib, which the guest rootfs does not promise (needed: $needed)" ;;
  esac
done
echo "agent shared libraries: $needed"

dir="$(mktemp -d /tmp/snapfaas-rootfs-XXXXXX)"
cleanup() {
  mountpoint -q "$dir/dev/shm" && umount "$dir/dev/shm"
  mountpoint -q "$dir/tmp" && umount "$dir/tmp"
  rm -rf "$dir"
}
trap cleanup EXIT
debugfs -R "rdump / $dir" "$rootfs" >/dev/null 2>&1 || die "debugfs rdump of $rootfs failed"
[[ -x $dir/usr/bin/snapfaas-agent ]] ||
  die "$rootfs has no /usr/bin/snapfaas-agent (scripts/build-rootfs.sh installs $agent when it exists)"
cmp -s "$dir/usr/bin/snapfaas-agent" "$agent" ||
  die "/usr/bin/snapfaas-agent in $rootfs differs from $agent: rebuild the rootfs (scripts/build-images.sh)"
chroot "$dir" /usr/bin/env -i /usr/bin/python3 - <"$ROOT/functions/stdlib/handler.py" >/dev/null ||
  die "the standard library of $rootfs fails functions/stdlib/handler.py (above): rebuild it (scripts/build-images.sh)"
echo "standard library in the rootfs: sqlite3, ssl, zoneinfo (Europe/Paris), decimal, hashlib work"
mkdir -p "$dir/dev/shm" "$dir/tmp"
mount --bind /dev/shm "$dir/dev/shm"
mount --bind /tmp "$dir/tmp"
SNAPFAAS_TEST_AGENT="chroot $dir /usr/bin/snapfaas-agent" "$test_bin"
