// RestoreWatcher: restore record → kernel CRNG + wall clock (see restore_watcher.h).
#include "guest/agent/restore_watcher.h"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "guest/agent/agent_log.h"
#include "ipc/restore_record.h"

namespace snapfaas::guest {
namespace {

std::uint64_t monotonic_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(t.tv_nsec);
}

}  // namespace

std::optional<ipc::RestoreRecord> RestoreWatcher::poll(const std::uint8_t* header_page) noexcept {
  ipc::RestoreRecord record{};
  const ipc::RestoreRecordCheck check = ipc::read_restore_record(header_page, &record);
  if (check == ipc::RestoreRecordCheck::kNone) return std::nullopt;
  if (check != ipc::RestoreRecordCheck::kOk) {
    if (!warned_) log(LogLevel::kError, "restore record refused: %s", ipc::to_string(check));
    warned_ = true;
    return std::nullopt;
  }
  const std::uint64_t generation = ipc::restore_generation(record);
  if (generation == seen_generation_ && record.nonce == seen_nonce_) return std::nullopt;
  seen_generation_ = generation;
  seen_nonce_ = record.nonce;
  ++applied_;
  if (apply_to_kernel_) apply_kernel(record);
  log(LogLevel::kDebug, "restore record generation %llu applied", static_cast<unsigned long long>(generation));
  return record;
}

void RestoreWatcher::apply_kernel(const ipc::RestoreRecord& record) noexcept {
  const std::uint64_t t0 = monotonic_ns();
  // struct rand_pool_info ends in a flexible __u32 array: the entropy bytes follow the two counts.
  alignas(rand_pool_info) std::uint8_t pool[sizeof(rand_pool_info) + ipc::kRestoreEntropyBytes] = {};
  rand_pool_info counts{};
  counts.entropy_count = static_cast<int>(ipc::kRestoreEntropyBytes * 8);  // host getrandom: full entropy
  counts.buf_size = static_cast<int>(ipc::kRestoreEntropyBytes);
  std::memcpy(pool, &counts, sizeof counts);
  std::memcpy(pool + sizeof(rand_pool_info), record.entropy, ipc::kRestoreEntropyBytes);
  const int fd = ::open("/dev/random", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    log(LogLevel::kError, "restore: open /dev/random: %s (the kernel CRNG keeps the snapshot's state)",
        std::strerror(errno));
  } else {
    if (::ioctl(fd, RNDADDENTROPY, pool) != 0) {
      log(LogLevel::kError, "restore: RNDADDENTROPY: %s", std::strerror(errno));
    } else if (::ioctl(fd, RNDRESEEDCRNG) != 0) {
      log(LogLevel::kError, "restore: RNDRESEEDCRNG: %s", std::strerror(errno));
    }
    ::close(fd);
  }
  ::explicit_bzero(pool, sizeof pool);
  timespec now{};
  now.tv_sec = static_cast<time_t>(record.realtime_ns / 1'000'000'000LL);
  now.tv_nsec = static_cast<long>(record.realtime_ns % 1'000'000'000LL);
  if (::clock_settime(CLOCK_REALTIME, &now) != 0) {
    log(LogLevel::kError, "restore: clock_settime: %s", std::strerror(errno));
  }
  last_kernel_ns_ = monotonic_ns() - t0;
}

}  // namespace snapfaas::guest
