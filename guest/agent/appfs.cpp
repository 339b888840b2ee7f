// mount_appfs: BLKFLSBUF, ext2 superblock, BLKGETSIZE64 poll, mount(2).
#include "guest/agent/appfs.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>

#include "guest/agent/agent_failure.h"
#include "guest/agent/agent_log.h"

namespace snapfaas::guest {

namespace {

constexpr std::uint16_t kExt2Magic = 0xEF53;
constexpr off_t kSuperblockOffset = 1024;

[[noreturn]] void fail(const std::string& step, const std::string& what) {
  throw AgentFailure(ipc::AgentFatal::kAppfsMount, "app image: " + step + " " + what + ": " + std::strerror(errno));
}

bool is_mount_point(const std::string& dir) {
  struct stat self {}, parent {};
  if (::stat(dir.c_str(), &self) != 0 || ::stat((dir + "/..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev;
}

/// Bytes the file system on `fd` spans, from its superblock.
std::uint64_t fs_bytes(int fd, const std::string& device) {
  std::uint8_t sb[1024];
  if (::pread(fd, sb, sizeof sb, kSuperblockOffset) != static_cast<ssize_t>(sizeof sb)) fail("read superblock of", device);
  std::uint16_t magic = 0;
  std::uint32_t blocks = 0, log_block = 0;
  std::memcpy(&magic, sb + 56, sizeof magic);
  std::memcpy(&blocks, sb + 4, sizeof blocks);
  std::memcpy(&log_block, sb + 24, sizeof log_block);
  if (magic != kExt2Magic || log_block > 6) {
    errno = EINVAL;
    fail("no ext2 file system on", device);
  }
  return static_cast<std::uint64_t>(blocks) << (10 + log_block);
}

}  // namespace

void mount_appfs(const std::string& device, const std::string& dir, std::chrono::milliseconds wait) {
  if (is_mount_point(dir)) {
    log(LogLevel::kDebug, "%s is already mounted", dir.c_str());
    return;
  }
  const int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open", device);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::ioctl(fd, BLKFLSBUF, 0) != 0) fail("BLKFLSBUF on", device);
  const std::uint64_t needed = fs_bytes(fd, device);
  const auto deadline = std::chrono::steady_clock::now() + wait;
  std::uint64_t size = 0;
  for (;;) {
    if (::ioctl(fd, BLKGETSIZE64, &size) != 0) fail("BLKGETSIZE64 on", device);
    if (size >= needed) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      errno = ENOSPC;
      fail("capacity " + std::to_string(size) + " bytes < file system " + std::to_string(needed) + " on", device);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (::mount(device.c_str(), dir.c_str(), "ext2", MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    fail("mount " + dir + " from", device);
  }
  log(LogLevel::kDebug, "mounted %s at %s (%llu bytes)", device.c_str(), dir.c_str(),
      static_cast<unsigned long long>(size));
}

}  // namespace snapfaas::guest
