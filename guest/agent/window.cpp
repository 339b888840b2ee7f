// Window mapping: read and validate the header page, then map the rest of the window.
#include "guest/agent/window.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "common/unique_fd.h"
#include "guest/agent/agent_failure.h"

namespace snapfaas::guest {
namespace {

using ipc::AgentFatal;

std::string errno_text(const std::string& step) { return step + ": " + std::strerror(errno); }

const char* to_string(ipc::WindowCheck check) {
  switch (check) {
    case ipc::WindowCheck::kOk: return "ok";
    case ipc::WindowCheck::kTooSmall: return "mapping smaller than the window";
    case ipc::WindowCheck::kBadMagic: return "bad magic";
    case ipc::WindowCheck::kBadVersion: return "unsupported version";
    case ipc::WindowCheck::kBadParams: return "invalid header size, slot size or slot count";
    case ipc::WindowCheck::kMismatch: return "header offsets differ from the computed layout";
    case ipc::WindowCheck::kTooLarge: return "window larger than the maximum window size";
  }
  return "unknown";
}

// Reads a copy of the header page's ChannelHeader (one short-lived read-only mapping).
ipc::ChannelHeader read_header(int fd, std::uint64_t offset, const std::string& path) {
  void* page = ::mmap(nullptr, ipc::kPageSize, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (page == MAP_FAILED) throw AgentFailure(AgentFatal::kWindowMap, errno_text("mmap header page of " + path));
  ipc::ChannelHeader header;
  std::memcpy(&header, page, sizeof(header));
  ::munmap(page, ipc::kPageSize);
  return header;
}

}  // namespace

Window Window::map(const WindowSource& source) {
  if (source.offset % ipc::kPageSize != 0) {
    throw AgentFailure(AgentFatal::kWindowMap, "window offset of " + source.path + " is not page-aligned");
  }
  common::UniqueFd fd(::open(source.path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) throw AgentFailure(AgentFatal::kWindowMap, errno_text("open " + source.path));

  // How many window bytes the file can back: a regular file (or shm object) has a size; /dev/mem
  // has none, the window there is bounded by kWindowMaxSize.
  std::uint64_t available = ipc::kWindowMaxSize;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw AgentFailure(AgentFatal::kWindowMap, errno_text("fstat " + source.path));
  const ipc::ChannelHeader header = read_header(fd.get(), source.offset, source.path);
  if (S_ISREG(st.st_mode)) {
    const auto file_size = static_cast<std::uint64_t>(st.st_size);
    const std::uint64_t from_offset = file_size > source.offset ? file_size - source.offset : 0;
    if (!source.channel_region) {
      available = from_offset;
    } else {
      // Header page + [request_offset, file end); request_offset is checked by check_window_header.
      available = from_offset > header.request_offset && from_offset >= ipc::kPageSize
                      ? ipc::kPageSize + (from_offset - header.request_offset)
                      : 0;
    }
  }
  ipc::WindowLayout layout{};
  if (const ipc::WindowCheck check = ipc::check_window_header(header, available, &layout);
      check != ipc::WindowCheck::kOk) {
    throw AgentFailure(AgentFatal::kWindowHeader, "window header in " + source.path + ": " + to_string(check));
  }

  const int prot = PROT_READ | PROT_WRITE;
  std::uint8_t* base = nullptr;
  if (!source.channel_region) {
    void* p = ::mmap(nullptr, layout.size, prot, MAP_SHARED, fd.get(), static_cast<off_t>(source.offset));
    if (p == MAP_FAILED) throw AgentFailure(AgentFatal::kWindowMap, errno_text("mmap window of " + source.path));
    base = static_cast<std::uint8_t*>(p);
  } else {
    // Reserve the range, then place the two pieces into it with MAP_FIXED.
    void* p = ::mmap(nullptr, layout.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw AgentFailure(AgentFatal::kWindowMap, errno_text("reserve window range"));
    base = static_cast<std::uint8_t*>(p);
    const bool ok =
        ::mmap(base, ipc::kPageSize, prot, MAP_SHARED | MAP_FIXED, fd.get(), static_cast<off_t>(source.offset)) !=
            MAP_FAILED &&
        ::mmap(base + ipc::kWindowRingsOffset, layout.size - ipc::kWindowRingsOffset, prot, MAP_SHARED | MAP_FIXED,
               fd.get(), static_cast<off_t>(source.offset + layout.channel.request_offset)) != MAP_FAILED;
    if (!ok) {
      const int err = errno;
      ::munmap(base, layout.size);
      errno = err;
      throw AgentFailure(AgentFatal::kWindowMap, errno_text("mmap channel region pieces of " + source.path));
    }
  }
  if (!source.writable_header && ::mprotect(base, ipc::kPageSize, PROT_READ) != 0) {
    const int err = errno;
    ::munmap(base, layout.size);
    errno = err;
    throw AgentFailure(AgentFatal::kWindowMap, errno_text("mprotect header page read-only"));
  }
  return Window(base, layout.size, layout);
}

bool Window::same_layout() const noexcept {
  ipc::ChannelHeader header;
  std::memcpy(&header, base_, sizeof(header));  // a copy: validated and compared once
  ipc::WindowLayout layout{};
  return ipc::check_window_header(header, size_, &layout) == ipc::WindowCheck::kOk && layout == layout_;
}

Window::Window(Window&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)), size_(std::exchange(other.size_, 0)), layout_(other.layout_) {}

Window::~Window() {
  if (base_ != nullptr) ::munmap(base_, size_);
}

ipc::RingSection Window::request_ring() const noexcept {
  // request_ring + kRingEntriesOffset + capacity entries <= size_ (check_window_header).
  return ipc::ring_section_at(base_ + layout_.request_ring, layout_.channel.ring_capacity);
}

ipc::RingSection Window::response_ring() const noexcept {
  // As request_ring(), with the response ring's section.
  return ipc::ring_section_at(base_ + layout_.response_ring, layout_.channel.ring_capacity);
}

ipc::DoorbellWord* Window::runner_doorbell() const noexcept {
  // SAFETY: the header page is mapped; the doorbell words sit at fixed offsets inside it.
  return reinterpret_cast<ipc::DoorbellWord*>(base_ + ipc::kRunnerDoorbellOffset);
}

ipc::DoorbellWord* Window::supervisor_doorbell() const noexcept {
  // SAFETY: as runner_doorbell().
  return reinterpret_cast<ipc::DoorbellWord*>(base_ + ipc::kSupervisorDoorbellOffset);
}

std::span<std::uint8_t> Window::slot(std::uint32_t index) const noexcept {
  if (index >= layout_.channel.slot_count) return {};
  return {base_ + layout_.slots + std::uint64_t{index} * layout_.channel.slot_size, layout_.channel.slot_size};
}

}  // namespace snapfaas::guest
