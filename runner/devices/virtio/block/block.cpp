// Block: virtio-blk request execution with pread/pwrite straight into guest memory (or through a
// bounce buffer for O_DIRECT), and the queue-processing loop run on QueueNotify.
#include "runner/devices/virtio/block/block.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"
#include "common/log_limit.h"

namespace snapfaas::runner::virtio::block {
namespace {

constexpr std::size_t kBounceSize = 1 << 20;
constexpr std::size_t kBounceAlign = 4096;
constexpr std::array<std::uint16_t, 1> kQueueSizes{kQueueSize};
constexpr std::size_t kConfigSize = 24;  // capacity, size_max, seg_max, geometry, blk_size

// Full-length positioned I/O; false on error or unexpected end of file.
bool pread_full(int fd, std::uint8_t* p, std::size_t len, std::uint64_t off) noexcept {
  while (len > 0) {
    const ssize_t n = ::pread(fd, p, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
    off += static_cast<std::uint64_t>(n);
  }
  return true;
}

bool pwrite_full(int fd, const std::uint8_t* p, std::size_t len, std::uint64_t off) noexcept {
  while (len > 0) {
    const ssize_t n = ::pwrite(fd, p, len, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<std::size_t>(n);
    off += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace

Block::Block(BlockConfig config) : config_(std::move(config)) {
  int flags = (config_.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (config_.direct) flags |= O_DIRECT;
  common::UniqueFd image(::open(config_.path.c_str(), flags));
  if (!image) {
    throw common::sys_error("open virtio-blk image " + config_.path + (config_.direct ? " (O_DIRECT)" : ""));
  }
  attach(std::move(image));
}

Block::Block(BlockConfig config, common::UniqueFd image) : config_(std::move(config)) { attach(std::move(image)); }

void Block::attach(common::UniqueFd image) {
  const std::string what = "virtio-blk image " + config_.path;
  if (config_.id.size() > kIdBytes) throw common::Error(what + ": id longer than 20 bytes");
  if (!image) throw common::Error(what + ": no descriptor");
  fd_ = std::move(image);
  struct stat st{};
  common::check_sys(::fstat(fd_.get(), &st), "fstat " + what);
  if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) throw common::Error(what + ": not a regular file or block device");
  const off_t size = common::check_sys(::lseek(fd_.get(), 0, SEEK_END), "size of " + what);
  capacity_ = static_cast<std::uint64_t>(size) / kSectorSize;
  id_ = config_.id;
  if (id_.empty()) {
    char buf[kIdBytes + 1];
    std::snprintf(buf, sizeof buf, "%llx-%llx", static_cast<unsigned long long>(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    id_ = buf;
  }
  if (config_.direct) {
    bounce_.reset(static_cast<std::uint8_t*>(std::aligned_alloc(kBounceAlign, kBounceSize)));
    if (!bounce_) throw common::Error(what + ": allocating the O_DIRECT bounce buffer failed");
  }
}

common::UniqueFd Block::dup_image() const {
  common::UniqueFd fd(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!fd) throw common::sys_error("virtio-blk image " + config_.path + ": dup");
  return fd;
}

std::uint64_t Block::features() const noexcept {
  std::uint64_t f = (1ull << kFeatureVersion1) | (1ull << kFeatureRingIndirectDesc) | (1ull << kFeatureRingEventIdx) |
                    (1ull << kFeatureSegMax) | (1ull << kFeatureFlush);
  if (config_.read_only) f |= 1ull << kFeatureRo;
  return f;
}

std::span<const std::uint16_t> Block::queue_max_sizes() const noexcept { return kQueueSizes; }

void Block::read_config(std::uint64_t offset, std::span<std::uint8_t> data) const noexcept {
  // struct virtio_blk_config (§5.2.4) up to blk_size; only capacity and seg_max are offered.
  std::array<std::uint8_t, kConfigSize> cfg{};
  std::memcpy(cfg.data(), &capacity_, 8);
  const std::uint32_t seg_max = kQueueSize - 2;  // header and status take two descriptors
  std::memcpy(cfg.data() + 12, &seg_max, 4);
  for (std::size_t i = 0; i < data.size(); ++i) {
    data[i] = offset < kConfigSize && i < kConfigSize - offset ? cfg[offset + i] : 0;
  }
}

void Block::write_config(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "virtio-blk: {}-byte config write at {:#x} ignored (read-only config)", data.size(), offset);
}

void Block::activate(const GuestMemory& mem, std::span<Queue> queues, std::uint64_t /*acked*/,
                     std::shared_ptr<VirtioInterrupt> irq) {
  if (queues.size() != kQueueSizes.size()) throw common::Error("activate virtio-blk: wrong number of queues");
  if (!queues[0].ready()) throw common::Error("activate virtio-blk: request queue not ready");
  mem_ = &mem;
  queues_ = queues;
  irq_ = std::move(irq);
  chain_.buffers.reserve(kQueueSize);
  request_.data.reserve(kQueueSize);
}

void Block::reset() noexcept {
  mem_ = nullptr;
  queues_ = {};
  irq_.reset();
}

bool Block::process_queue(std::size_t index) noexcept {
  if (mem_ == nullptr || index >= queues_.size()) return true;
  Queue& q = queues_[index];
  bool used = false;
  bool healthy = true;
  for (;;) {
    const PopStatus s = q.pop(*mem_, chain_);
    if (s == PopStatus::kEmpty) {
      if (q.enable_notification(*mem_)) continue;  // more arrived while re-enabling notifications
      break;
    }
    if (s == PopStatus::kOk) {
      const std::uint32_t len = handle_chain(chain_);
      if (!q.add_used(*mem_, chain_.head, len)) {
        healthy = false;
        break;
      }
      used = true;
      continue;
    }
    if (is_chain_error(s)) {
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-blk: dropping request (head {}): {}", chain_.head, to_string(s));
      if (head_returnable(s)) {
        if (!q.add_used(*mem_, chain_.head, 0)) {
          healthy = false;
          break;
        }
        used = true;
      }
      continue;
    }
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-blk: queue {} broken: {}", index, to_string(s));
    healthy = false;
    break;
  }
  if (used && q.needs_notification(*mem_)) irq_->signal_used();
  return healthy;
}

std::uint32_t Block::handle_chain(const DescriptorChain& chain) noexcept {
  bool status_ok = false;
  const ParseError e = parse_request(*mem_, chain, request_, status_ok);
  if (e != ParseError::kNone) {
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-blk: malformed request (head {}): {}", chain.head, to_string(e));
    if (!status_ok) return 0;
    (void)mem_->write_obj(request_.status_gpa, kStatusIoErr);
    return 1;
  }
  std::uint32_t written = 0;
  const std::uint8_t status = execute(*mem_, request_, written);
  if (!mem_->write_obj(request_.status_gpa, status)) return 0;
  return written + 1;
}

bool Block::in_range(const Request& r) const noexcept {
  const std::uint64_t sectors = r.data_len / kSectorSize;
  return r.sector <= capacity_ && sectors <= capacity_ - r.sector;
}

std::uint8_t Block::execute(const GuestMemory& mem, const Request& r, std::uint32_t& written) noexcept {
  written = 0;
  switch (r.type) {
    case kTypeIn:
      if (!in_range(r) || !transfer(mem, r, true)) return kStatusIoErr;
      written = static_cast<std::uint32_t>(r.data_len);
      return kStatusOk;
    case kTypeOut:
      if (config_.read_only || !in_range(r) || !transfer(mem, r, false)) return kStatusIoErr;
      return kStatusOk;
    case kTypeFlush:
      if (!config_.read_only && ::fdatasync(fd_.get()) != 0) return kStatusIoErr;
      return kStatusOk;
    case kTypeGetId: {
      // §5.2.6.1: up to 20 bytes, NUL-padded, not NUL-terminated when 20 long.
      std::array<std::uint8_t, kIdBytes> id{};
      std::memcpy(id.data(), id_.data(), std::min<std::size_t>(id_.size(), kIdBytes));
      std::size_t done = 0;
      for (const Buffer& b : r.data) {
        const std::size_t n = std::min<std::size_t>(b.len, kIdBytes - done);
        if (!mem.write(b.gpa, std::span(id.data() + done, n))) return kStatusIoErr;
        done += n;
        if (done == kIdBytes) break;
      }
      written = static_cast<std::uint32_t>(done);
      return kStatusOk;
    }
    default: return kStatusUnsupported;
  }
}

bool Block::transfer(const GuestMemory& mem, const Request& r, bool to_guest) noexcept {
  if (config_.direct) return transfer_direct(mem, r, to_guest);
  std::uint64_t off = r.sector * kSectorSize;
  for (const Buffer& b : r.data) {
    const auto s = mem.slice(b.gpa, b.len);
    if (!s) return false;
    if (to_guest) mem.mark_written(b.gpa, b.len);
    errno = 0;
    const bool ok = to_guest ? pread_full(fd_.get(), s->data(), s->size(), off)
                             : pwrite_full(fd_.get(), s->data(), s->size(), off);
    if (!ok) {
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "virtio-blk: {} {} bytes at {:#x}: {}", to_guest ? "read" : "write", b.len, off,
                   errno ? std::strerror(errno) : "end of file");
      return false;
    }
    off += b.len;
  }
  return true;
}

// O_DIRECT needs aligned memory, lengths and offsets; guest buffers need not be aligned, so the
// data streams through the bounce buffer in chunks (the total is a multiple of 512).
bool Block::transfer_direct(const GuestMemory& mem, const Request& r, bool to_guest) noexcept {
  std::uint64_t off = r.sector * kSectorSize;
  std::size_t buf_index = 0;
  std::size_t buf_pos = 0;
  std::uint64_t remaining = r.data_len;
  while (remaining > 0) {
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, kBounceSize));
    if (to_guest && !pread_full(fd_.get(), bounce_.get(), chunk, off)) return false;
    std::size_t done = 0;
    while (done < chunk) {  // scatter/gather between the bounce buffer and the guest buffers
      const Buffer& b = r.data[buf_index];
      const std::size_t n = std::min<std::size_t>(b.len - buf_pos, chunk - done);
      const auto s = mem.slice(b.gpa + buf_pos, n);
      if (!s) return false;
      if (to_guest) {
        mem.mark_written(b.gpa + buf_pos, n);
        std::memcpy(s->data(), bounce_.get() + done, n);
      } else {
        std::memcpy(bounce_.get() + done, s->data(), n);
      }
      done += n;
      buf_pos += n;
      if (buf_pos == b.len) {
        ++buf_index;
        buf_pos = 0;
      }
    }
    if (!to_guest && !pwrite_full(fd_.get(), bounce_.get(), chunk, off)) return false;
    off += chunk;
    remaining -= chunk;
  }
  return true;
}

BlockState Block::save() const {
  return BlockState{config_.path, config_.read_only, config_.direct, id_, capacity_};
}

}  // namespace snapfaas::runner::virtio::block
