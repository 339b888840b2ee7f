// publish_restore_record: getrandom + CLOCK_REALTIME into the channel's restore record.
#include "runner/window/restore_record_writer.h"

#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/error.h"
#include "ipc/restore_record.h"

namespace snapfaas::runner::window {

PublishedRestore publish_restore_record(const ipc::RunnerChannel& channel) {
  const auto t0 = std::chrono::steady_clock::now();
  // The entropy and the nonce in one call: kRestoreEntropyBytes + 8 <= 256 bytes, which getrandom
  // returns whole once the host pool is initialised (it is long before a runner starts).
  std::uint8_t random[ipc::kRestoreEntropyBytes + sizeof(std::uint64_t)];
  std::size_t got = 0;
  while (got < sizeof(random)) {
    const ssize_t n = ::getrandom(random + got, sizeof(random) - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw common::sys_error("restore record: getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  std::uint64_t nonce = 0;
  std::memcpy(&nonce, random + ipc::kRestoreEntropyBytes, sizeof(nonce));
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  const std::int64_t realtime_ns = static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000LL + now.tv_nsec;
  PublishedRestore out;
  out.generation = ipc::publish_restore_record(channel.shm().data(), nonce, realtime_ns, random);
  ::explicit_bzero(random, sizeof(random));  // the guest's secret: no copy stays in the runner
  out.cost_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count());
  return out;
}

}  // namespace snapfaas::runner::window
