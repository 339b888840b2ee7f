#!/usr/bin/env bash
# e2e: the Node.js agent as installed in the nodejs runtime image. Unpacks nodejs.ext4 (debugfs
# rdump, no loop mount), checks that /usr/lib/snapfaas holds this build's agent.js and addon, that
# the addon needs nothing beyond libc, and that the image's Node is Debian's at the version of the
# N-API headers, then runs the Node agent test suite chrooted into the image (its Node, its
# OpenSSL), /dev/shm and /tmp bind-mounted.
# Usage: node_agent_in_rootfs_test.sh TEST_GUEST_NODE_AGENT_BINARY BUILT_AGENT_DIR   (needs root)
set -euo pipefail
source "$(dirname "$0")/../../scripts/lib.sh"
test_bin="$1" agent_dir="$2"
rootfs="$("$ROOT/scripts/images.sh" --check nodejs)"

needed="$(readelf -d "$agent_dir/snapfaas_agent.node" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | tr '\n' ' ')"
for lib in $needed; do
  case "$lib" in
    libc.so.6 | libm.so.6 | ld-linux-x86-64.so.2) ;;
    *) die "the addon needs $lib, which the nodejs image does not promise (needed: $needed)" ;;
  esac
done
echo "addon shared libraries: $needed"

dir="$(mktemp -d /tmp/snapfaas-nodejs-XXXXXX)"
cleanup() {
  mountpoint -q "$dir/dev/shm" && umount "$dir/dev/shm"
  mountpoint -q "$dir/tmp" && umount "$dir/tmp"
  rm -rf "$dir"
}
trap cleanup EXIT
debugfs -R "rdump / $dir" "$rootfs" >/dev/null 2>&1 || die "debugfs rdump of $rootfs failed"
for f in agent.js snapfaas_agent.node; do
  cmp -s "$dir/usr/lib/snapfaas/$f" "$agent_dir/$f" ||
    die "/usr/lib/snapfaas/$f in $rootfs differs from $agent_dir/$f: rebuild the image (scripts/build-images.sh)"
done
[[ -x $dir/usr/bin/snapfaas-agent ]] || die "$rootfs has no /usr/bin/snapfaas-agent"
want="$(cat "$CACHE/node-api/version")"
have="$(chroot "$dir" /usr/bin/env -i /usr/bin/node -p process.version)"
echo "image node $have, N-API headers of libnode-dev $want"
[[ $want == "${have#v}"* ]] || die "the image's node $have is not the headers' version $want"
mkdir -p "$dir/dev/shm" "$dir/tmp"
mount --bind /dev/shm "$dir/dev/shm"
mount --bind /tmp "$dir/tmp"
# env -i: the host environment (NODE_OPTIONS, NODE_EXTRA_CA_CERTS, ...) is not the guest's.
SNAPFAAS_TEST_AGENT="chroot $dir /usr/bin/env -i PATH=/usr/bin:/bin /usr/bin/snapfaas-agent" "$test_bin"
