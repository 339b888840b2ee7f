#!/usr/bin/env bash
# Says which virtualization case this machine is in, for the scripts that care:
#   hardware  /dev/kvm backed by VT-x/AMD-V (vmx/svm in /proc/cpuinfo): Linux guests run natively
#   pvm       /dev/kvm is PVM (kvm_pvm module): guest ring 3 native, ring 0 emulated; Linux guests
#             run inside the emulated KVM host (scripts/kvm-host.sh)
#   none      no usable /dev/kvm: Linux guests run inside scripts/kvm-host.sh (QEMU TCG)
# Usage: scripts/kvm-detect.sh            prints "<case>: <one-line explanation>"
#        scripts/kvm-detect.sh --short    prints only the case word
# Exit status 0 in all three cases (the answer is on stdout).
set -euo pipefail

short=0
case "${1:-}" in
  --short) short=1 ;;
  "") ;;
  *) echo "error: kvm-detect.sh: unknown argument '$1' (use --short)" >&2; exit 2 ;;
esac

cpu_ext="$(grep -m1 -owE 'vmx|svm' /proc/cpuinfo 2>/dev/null || true)"
kvm_ok=0
[[ -c /dev/kvm && -r /dev/kvm && -w /dev/kvm ]] && kvm_ok=1
if [[ $kvm_ok -eq 1 && -d /sys/module/kvm_pvm ]]; then
  kind=pvm
  why="/dev/kvm is PVM (kvm_pvm loaded, no VT-x/AMD-V): Linux guests run inside scripts/kvm-host.sh"
elif [[ $kvm_ok -eq 1 && -n $cpu_ext ]]; then
  kind=hardware
  why="/dev/kvm with hardware virtualization ($cpu_ext): Linux guests run natively"
elif [[ $kvm_ok -eq 1 ]]; then
  kind=none
  why="/dev/kvm exists but is neither PVM nor backed by vmx/svm: Linux guests run inside scripts/kvm-host.sh"
else
  kind=none
  why="no usable /dev/kvm${cpu_ext:+ (CPU has $cpu_ext: load kvm_intel/kvm_amd)}: Linux guests run inside scripts/kvm-host.sh (QEMU TCG)"
fi
if [[ $short -eq 1 ]]; then echo "$kind"; else echo "$kind: $why"; fi
