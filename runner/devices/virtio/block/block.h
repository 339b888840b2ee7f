// Block: a virtio-blk device (virtio 1.x §5.2) backed by a raw image file: IN, OUT, FLUSH,
// GET_ID; read-only or read-write; optional O_DIRECT through an aligned bounce buffer.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>

#include "common/unique_fd.h"
#include "runner/devices/virtio/block/block_state.h"
#include "runner/devices/virtio/block/request.h"
#include "runner/devices/virtio/virtio_device.h"

namespace snapfaas::runner::virtio::block {

/// Feature bits of virtio-blk (§5.2.3).
inline constexpr unsigned kFeatureSegMax = 2;  // VIRTIO_BLK_F_SEG_MAX
inline constexpr unsigned kFeatureRo = 5;      // VIRTIO_BLK_F_RO
inline constexpr unsigned kFeatureFlush = 9;   // VIRTIO_BLK_F_FLUSH
/// The one request queue's maximum size.
inline constexpr std::uint16_t kQueueSize = 256;

/// How to open the backing image.
struct BlockConfig {
  std::string path;        ///< raw image (regular file or block device)
  bool read_only = false;  ///< offer VIRTIO_BLK_F_RO; OUT requests fail with IOERR
  bool direct = false;     ///< open with O_DIRECT (I/O through an aligned bounce buffer)
  std::string id;          ///< GET_ID answer, <= 20 bytes; empty: derived from the file's dev/inode
};

/// virtio-blk over one image file. Called only by its transport (under the transport's lock): no
/// locking of its own. Capacity is the file size in 512-byte sectors, rounded down.
class Block final : public VirtioDevice {
 public:
  /// Opens the image. Throws common::Error naming the file and errno (missing file, O_DIRECT not
  /// supported by the file system, id longer than 20 bytes, ...).
  explicit Block(BlockConfig config);
  /// On an image opened elsewhere (a restore reuses the descriptor of the image the VM's own
  /// configuration named, opened before the runner locked itself down); `image` must have been
  /// opened as config.read_only and config.direct say. config.path only names it. Throws
  /// common::Error (not a regular file or block device, id too long, ...).
  Block(BlockConfig config, common::UniqueFd image);

  [[nodiscard]] std::uint64_t capacity_sectors() const noexcept { return capacity_; }
  [[nodiscard]] const std::string& id() const noexcept { return id_; }

  [[nodiscard]] std::uint32_t device_type() const noexcept override { return kDeviceTypeBlock; }
  [[nodiscard]] std::uint64_t features() const noexcept override;
  [[nodiscard]] std::span<const std::uint16_t> queue_max_sizes() const noexcept override;
  void read_config(std::uint64_t offset, std::span<std::uint8_t> data) const noexcept override;
  void write_config(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override;
  void activate(const GuestMemory& mem, std::span<Queue> queues, std::uint64_t acked,
                std::shared_ptr<VirtioInterrupt> irq) override;
  [[nodiscard]] bool process_queue(std::size_t index) noexcept override;
  void reset() noexcept override;

  /// Executes one parsed request against the image; returns the status byte and sets `written`
  /// to the number of data bytes stored into guest buffers. Exposed for tests.
  [[nodiscard]] std::uint8_t execute(const GuestMemory& mem, const Request& request, std::uint32_t& written) noexcept;

  /// A new descriptor of the image (close-on-exec), for a device that replaces this one.
  [[nodiscard]] common::UniqueFd dup_image() const;

  /// What a snapshot keeps. The path is a label only: a restore never opens it (the image comes
  /// from the restoring VM's configuration, see runner/snapshot/device_snapshot.h).
  [[nodiscard]] BlockState save() const;

 private:
  struct FreeDeleter {
    void operator()(std::uint8_t* p) const noexcept { std::free(p); }
  };
  [[nodiscard]] std::uint32_t handle_chain(const DescriptorChain& chain) noexcept;
  [[nodiscard]] bool in_range(const Request& request) const noexcept;
  [[nodiscard]] bool transfer(const GuestMemory& mem, const Request& request, bool to_guest) noexcept;
  [[nodiscard]] bool transfer_direct(const GuestMemory& mem, const Request& request, bool to_guest) noexcept;
  void attach(common::UniqueFd image);

  BlockConfig config_;
  common::UniqueFd fd_;
  std::uint64_t capacity_ = 0;
  std::string id_;
  std::unique_ptr<std::uint8_t, FreeDeleter> bounce_;  // O_DIRECT only: kBounceSize, 4 KiB aligned

  // Set by activate(), cleared by reset().
  const GuestMemory* mem_ = nullptr;
  std::span<Queue> queues_;
  std::shared_ptr<VirtioInterrupt> irq_;
  DescriptorChain chain_;  // reused across requests
  Request request_;
};

}  // namespace snapfaas::runner::virtio::block
