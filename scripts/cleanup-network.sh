#!/usr/bin/env bash
# Undoes scripts/setup-network.sh: deletes every snapfaas-* network namespace (with its tap0, veth0
# and nft table), every host veth end sfv*, the host nft table ip snapfaas, and restores
# net.ipv4.ip_forward to its value before the first setup. Idempotent; leaves nothing behind.
# Usage: scripts/cleanup-network.sh          (needs root)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || die "cleanup-network.sh needs root"
readonly PREFIX=snapfaas- STATE=/run/snapfaas-network

for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX[0-9]*\$" || true); do
  ip link del "sfv${ns#"$PREFIX"}" 2>/dev/null || true
  ip netns del "$ns"
done
# Host ends whose namespace vanished some other way.
for hv in $(ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^sfv[0-9]*$' || true); do
  ip link del "$hv"
done
if command -v nft >/dev/null && nft list table ip snapfaas >/dev/null 2>&1; then
  nft delete table ip snapfaas
fi
if [[ -f $STATE/ip_forward ]]; then
  cat "$STATE/ip_forward" > /proc/sys/net/ipv4/ip_forward
  rm -f "$STATE/ip_forward"
fi
rmdir "$STATE" 2>/dev/null || true
echo "cleanup-network: no snapfaas namespaces, veths or nft tables left" >&2
