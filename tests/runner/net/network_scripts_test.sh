#!/usr/bin/env bash
# scripts/setup-network.sh and cleanup-network.sh, natively, inside a private mount + network
# namespace (nothing on the machine is touched): the layout per runner, idempotence (a second run
# changes nothing), converging to a smaller N, traffic from a runner namespace to a test server in
# its own namespace through the host side, and a cleanup that leaves nothing (run twice).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

if [[ ${1:-} != --inside ]]; then
  [[ $(id -u) == 0 ]] || { echo "FAIL: needs root (network namespaces)"; exit 1; }
  export SNAPFAAS_NETTEST_OUTER="$(readlink /proc/self/ns/net) $(readlink /proc/self/ns/mnt)"
  exec unshare --mount --net --propagation private "$0" --inside
fi

# Never touch the machine's own network or /run: refuse unless both namespaces are private.
outer_net="${SNAPFAAS_NETTEST_OUTER:-} " outer_net="${outer_net%% *}" outer_mnt="${SNAPFAAS_NETTEST_OUTER:-}" outer_mnt="${outer_mnt#* }"
self_net="$(readlink /proc/self/ns/net)" self_mnt="$(readlink /proc/self/ns/mnt)"
[[ -n $outer_net && -n $outer_mnt && -n $self_net && -n $self_mnt &&
   $self_net != "$outer_net" && $self_mnt != "$outer_mnt" ]] ||
  { echo "FAIL: --inside must run in private mount and network namespaces (run without arguments)"; exit 1; }
mount -t tmpfs tmpfs /run
ip link set lo up
source "$here/lib.sh"
fail() { echo "FAIL: $*"; exit 1; }
state() {  # everything the scripts create, as text
  ip netns list | sort
  ip -4 -br addr | grep -v '^lo ' | sed 's/@[^ ]*//' | awk '{print $1, $3}' | sort
  nft list ruleset
  cat /proc/sys/net/ipv4/ip_forward
  local ns
  for ns in $(ip netns list | awk '{print $1}' | sort); do
    echo "== $ns"
    ip -n "$ns" -4 -br addr | sed 's/@[^ ]*//' | awk '{print $1, $3}' | sort
    ip -n "$ns" route
    ip netns exec "$ns" nft list ruleset
  done
}
echo 0 > /proc/sys/net/ipv4/ip_forward
before="$(state)"

"$root/scripts/setup-network.sh" 3
first="$(state)"
"$root/scripts/setup-network.sh" 3
second="$(state)"
[[ "$second" == "$first" ]] || { diff <(echo "$first") <(echo "$second") || true; fail "a second setup-network.sh 3 changed the state"; }
for i in 0 1 2; do
  [[ "$(ip -n "snapfaas-$i" -br addr show tap0)" == *172.16.0.1/30* ]] || fail "snapfaas-$i: tap0 without 172.16.0.1/30"
  [[ "$(ip -n "snapfaas-$i" -d link show tap0)" == *"tun type tap"* ]] || fail "snapfaas-$i: tap0 is not a tap"
  [[ "$(ip -n "snapfaas-$i" link show tap0)" == *"link/ether 06:00:ac:10:00:01 "* ]] ||
    fail "snapfaas-$i: tap0 has not the fixed gateway MAC"
  [[ "$(ip netns exec "snapfaas-$i" nft list table ip snapfaas)" == *'oifname "veth0" masquerade'* ]] ||
    fail "snapfaas-$i: no masquerade rule"
  ip link show "sfv$i" >/dev/null || fail "host end sfv$i missing"
done
[[ $(cat /proc/sys/net/ipv4/ip_forward) == 1 ]] || fail "host forwarding not enabled"

# Traffic from runner 1's namespace through the host to the server namespace.
page_dir="$(mktemp -d)"
make_page "$page_dir"
start_server "$page_dir"
got="$(ip netns exec snapfaas-1 python3 -c "import urllib.request as u; print(len(u.urlopen('http://$SRV_ADDR:$SRV_PORT/page.txt', timeout=5).read()))")"
[[ $got == 12345 ]] || fail "fetch from snapfaas-1 returned '$got'"
stop_server
rm -rf "$page_dir"

"$root/scripts/setup-network.sh" 2
[[ "$(ip netns list)" == *snapfaas-2* ]] && fail "setup-network.sh 2 left snapfaas-2"
ip link show sfv2 >/dev/null 2>&1 && fail "setup-network.sh 2 left sfv2"

"$root/scripts/cleanup-network.sh"
"$root/scripts/cleanup-network.sh"
after="$(state)"
[[ "$after" == "$before" ]] || { diff <(echo "$before") <(echo "$after") || true; fail "cleanup left something behind"; }
echo "PASS: network scripts (layout, idempotence, converge, routing, cleanup)"
