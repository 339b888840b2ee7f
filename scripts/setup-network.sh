#!/usr/bin/env bash
# Per-runner guest networking (issue 9; Firecracker's "network for clones" layout, with nftables).
# For each runner i in 0..N-1:
#   network namespace snapfaas-i holding
#     tap0     172.16.0.1/30, MAC 06:00:ac:10:00:01, owned by UID_BASE+i:GID_BASE+i (default
#                             100000+i: runner i's own uid, snapfaas-supervisor --uid_base/--gid_base)
#                             so that runner i, and no other, may attach it: the guest's link; every namespace has the
#                             same tap name, address and MAC, so clones restored from one snapshot
#                             (guest 172.16.0.2, MAC 06:00:ac:10:00:02) find what they were
#                             snapshotted with, down to the gateway's ARP entry
#     veth0    10.200.x.2/30  to the host; default route via the host end
#     nft table ip snapfaas   masquerade 172.16.0.0/30 out of veth0 (clones become distinct here)
#   host end sfv<i>  10.200.x.1/30   (x: the runner's own /30 inside 10.200.0.0/16)
# Host: net.ipv4.ip_forward=1 (the previous value is kept in /run/snapfaas-network and restored
# by cleanup-network.sh) and nft table ip snapfaas masquerading 10.200.0.0/16 towards any other
# interface, so runners reach whatever the host reaches.
# Idempotent: running it again converges (missing pieces are created, runners >= N removed).
# Run a runner inside its namespace: ip netns exec snapfaas-i firerunner ... --network tap0/MAC
# Usage: scripts/setup-network.sh N [--uid_base UID] [--gid_base GID]   (1 <= N <= 16384; needs root, iproute2, nftables)
# snapfaas-supervisor uses it for functions with network: true (runner i joins snapfaas-i).
# Undo:  scripts/cleanup-network.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"

n="${1:-}"
[[ $n =~ ^[0-9]+$ && $n -ge 1 && $n -le 16384 ]] || die "usage: setup-network.sh N [--uid_base UID] [--gid_base GID] (N: number of runners, 1..16384)"
shift
uid_base=100000 gid_base=100000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --uid_base) uid_base="${2:-}"; shift 2 ;;
    --gid_base) gid_base="${2:-}"; shift 2 ;;
    *) die "setup-network.sh: unknown argument '$1' (usage: setup-network.sh N [--uid_base UID] [--gid_base GID])" ;;
  esac
done
[[ $uid_base =~ ^[0-9]+$ && $gid_base =~ ^[0-9]+$ ]] || die "setup-network.sh: --uid_base and --gid_base take numbers"
[[ $(id -u) == 0 ]] || die "setup-network.sh needs root (network namespaces, taps, nftables)"
command -v ip >/dev/null || die "ip (iproute2) is not installed"
command -v nft >/dev/null || die "nft is not installed (package nftables): run scripts/setup.sh --no-build"

readonly PREFIX=snapfaas- STATE=/run/snapfaas-network
readonly TAP=tap0 TAP_ADDR=172.16.0.1/30 TAP_MAC=06:00:ac:10:00:01 GUEST_NET=172.16.0.0/30

# veth addresses of runner i: the i-th /30 of 10.200.0.0/16.
host_addr() { local b=$(($1 * 4)); echo "10.200.$((b / 256)).$((b % 256 + 1))"; }
ns_addr() { local b=$(($1 * 4)); echo "10.200.$((b / 256)).$((b % 256 + 2))"; }

mkdir -p "$STATE"
[[ -f $STATE/ip_forward ]] || cat /proc/sys/net/ipv4/ip_forward > "$STATE/ip_forward"
echo 1 > /proc/sys/net/ipv4/ip_forward

# Host NAT for traffic leaving the runners' range towards other interfaces.
nft -f - <<NFT
table ip snapfaas
delete table ip snapfaas
table ip snapfaas {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 10.200.0.0/16 oifname != "sfv*" masquerade
  }
}
NFT

setup_runner() {
  local i=$1 ns="$PREFIX$1" hv="sfv$1" ha na uid=$((uid_base + $1)) gid=$((gid_base + $1))
  ha="$(host_addr "$i")" na="$(ns_addr "$i")"
  ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\?" || ip netns add "$ns"
  ip -n "$ns" link set lo up
  # The tap belongs to runner i's uid (TUNSETIFF on a persistent tap: its owner, or CAP_NET_ADMIN);
  # one with another owner is made anew.
  if ip -n "$ns" link show "$TAP" >/dev/null 2>&1 &&
     [[ "$(ip netns exec "$ns" cat "/sys/class/net/$TAP/owner" "/sys/class/net/$TAP/group" 2>/dev/null | tr '\n' ' ')" != "$uid $gid " ]]; then
    ip -n "$ns" link del "$TAP"
  fi
  ip -n "$ns" link show "$TAP" >/dev/null 2>&1 || ip -n "$ns" tuntap add dev "$TAP" mode tap user "$uid" group "$gid"
  ip -n "$ns" link set "$TAP" address "$TAP_MAC"
  ip -n "$ns" addr replace "$TAP_ADDR" dev "$TAP"
  ip -n "$ns" link set "$TAP" up
  if ! ip link show "$hv" >/dev/null 2>&1 || ! ip -n "$ns" link show veth0 >/dev/null 2>&1; then
    ip link del "$hv" 2>/dev/null || true
    ip -n "$ns" link del veth0 2>/dev/null || true
    ip link add "$hv" type veth peer name veth0 netns "$ns"
  fi
  ip addr replace "$ha/30" dev "$hv"
  ip link set "$hv" up
  ip -n "$ns" addr replace "$na/30" dev veth0
  ip -n "$ns" link set veth0 up
  ip -n "$ns" route replace default via "$ha"
  ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
  ip netns exec "$ns" nft -f - <<NFT
table ip snapfaas
delete table ip snapfaas
table ip snapfaas {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr $GUEST_NET oifname "veth0" masquerade
  }
}
NFT
}

for ((i = 0; i < n; i++)); do setup_runner "$i"; done

# Converge: runners beyond N from an earlier, larger setup go away.
for ns in $(ip netns list | awk '{print $1}' | grep "^$PREFIX[0-9]*\$" || true); do
  i="${ns#"$PREFIX"}"
  if ((i >= n)); then
    ip link del "sfv$i" 2>/dev/null || true
    ip netns del "$ns"
  fi
done
echo "setup-network: $n runner namespace(s) ${PREFIX}0..${PREFIX}$((n - 1)): $TAP $TAP_ADDR owned by runner i's uid $uid_base+i:$gid_base+i (guest 172.16.0.2, gw 172.16.0.1)" >&2
