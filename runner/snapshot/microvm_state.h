// MicrovmState: everything a snapshot holds besides guest memory, as plain values (no pointers, no
// fds): vCPU registers and MSRs, VM-wide KVM state, device states and the RAM layout. Encoded with
// a small versioned binary codec (fixed-size KVM structs copied as bytes, vectors length-prefixed).
#pragma once

#include <linux/kvm.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "runner/devices/legacy/i8042_state.h"
#include "runner/devices/legacy/serial_state.h"
#include "runner/devices/virtio/block/block_state.h"
#include "runner/devices/virtio/mmio_state.h"
#include "runner/devices/virtio/net/net_state.h"
#include "runner/memory/guest_layout.h"

namespace snapfaas::runner::snapshot {

/// struct kvm_xsave's fixed 4 KiB region (KVM API 4.42), declared here because linux-libc-dev's
/// flexible-array tail changes sizeof in C++ (see runner/kvm/kvm_abi.h).
struct XsaveArea {
  std::array<std::uint32_t, 1024> region{};
  bool operator==(const XsaveArea&) const = default;
};
static_assert(sizeof(XsaveArea) == 4096);

/// One vCPU, in the order apply_vcpu_state() sets it back.
struct VcpuState {
  kvm_regs regs{};
  kvm_sregs sregs{};
  XsaveArea xsave{};
  kvm_xcrs xcrs{};
  std::vector<kvm_msr_entry> msrs;  ///< every MSR KVM_GET_MSR_INDEX_LIST offers that reads back
  bool has_lapic = false;  ///< the VM has an in-kernel irqchip (else no LAPIC to save)
  kvm_lapic_state lapic{};
  kvm_vcpu_events events{};
  kvm_mp_state mp_state{};
};

/// VM-wide in-kernel devices; `irqchip` false for VMs without one (ring-3 test VMs).
struct VmState {
  bool irqchip = false;
  kvm_irqchip pic_master{};
  kvm_irqchip pic_slave{};
  kvm_irqchip ioapic{};
  bool pit = false;
  kvm_pit_state2 pit2{};
  kvm_clock_data clock{};
};

/// One virtio-blk device: where it sits (the guest found it there at boot), transport + device state.
struct BlockDeviceState {
  std::uint64_t mmio_base = 0;
  std::uint32_t irq = 0;
  virtio::MmioState transport;
  virtio::block::BlockState block;
};

/// One virtio-net device: where it sits, transport + device state (tap name, MAC, features).
struct NetDeviceState {
  std::uint64_t mmio_base = 0;
  std::uint32_t irq = 0;
  virtio::MmioState transport;
  virtio::net::NetState net;
};

/// The VMM's own devices (Linux guests); empty for ring-3 guests except the snapshot port flag.
struct DeviceStates {
  std::optional<SerialState> serial;
  std::optional<I8042State> i8042;
  std::vector<BlockDeviceState> blocks;
  std::vector<NetDeviceState> nets;
};

struct MicrovmState {
  std::uint32_t vcpu_count = 0;
  std::uint64_t mem_bytes = 0;       ///< total guest RAM
  std::vector<RamRange> regions;     ///< RAM regions in GPA order = memslot order
  bool ring3 = false;
  VmState vm;
  std::vector<VcpuState> vcpus;
  DeviceStates devices;
};

/// Serializes `state` (the payload of a kState file).
[[nodiscard]] std::vector<std::uint8_t> encode_state(const MicrovmState& state);
/// Parses and validates a payload (counts, region layout vs mem_bytes, vcpus.size() == vcpu_count).
/// Throws common::Error "state: ..." naming what is wrong.
[[nodiscard]] MicrovmState decode_state(std::span<const std::uint8_t> payload);

}  // namespace snapfaas::runner::snapshot
