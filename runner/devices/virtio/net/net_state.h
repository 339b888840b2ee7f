// NetState: the plain snapshot state of one virtio-net device (its tap name, the MAC the guest
// saw, the offered features). Queue and register state live in MmioState; frames in flight are
// not saved (a dropped frame is what a real link does; TCP retransmits).
#pragma once

#include <cstdint>
#include <string>

#include "runner/devices/virtio/net/mac_address.h"

namespace snapfaas::runner::virtio::net {

/// Saved by Net::save(), validated by Net::restore().
struct NetState {
  std::string tap_name;      ///< the tap when saved: a label only (a restore uses the VM's own --network tap)
  MacAddress mac{};          ///< VIRTIO_NET_F_MAC config value
  std::uint64_t features = 0;  ///< features offered when saved; the restored device offers them again

  friend bool operator==(const NetState&, const NetState&) = default;
};

}  // namespace snapfaas::runner::virtio::net
