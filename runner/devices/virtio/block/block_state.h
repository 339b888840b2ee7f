// BlockState: the plain snapshot state of one virtio-blk device (its backing-file configuration
// and the capacity the guest saw). Queue and register state live in MmioState.
#pragma once

#include <cstdint>
#include <string>

namespace snapfaas::runner::virtio::block {

/// Saved by Block::save(), validated by Block::restore().
struct BlockState {
  std::string path;  ///< the image when saved: a label only (a restore uses the VM's own configuration)
  bool read_only = false;
  bool direct = false;
  std::string id;                      ///< GET_ID string (<= 20 bytes)
  std::uint64_t capacity_sectors = 0;  ///< must match the file on restore

  friend bool operator==(const BlockState&, const BlockState&) = default;
};

}  // namespace snapfaas::runner::virtio::block
