// ShmObject: Boost.Interprocess shared_memory_object + mapped_region with scoped name removal.
#include "ipc/shm_object.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
#include <charconv>
#include <utility>

#include "common/error.h"

namespace snapfaas::ipc {

namespace bip = boost::interprocess;

namespace {

[[noreturn]] void rethrow(const bip::interprocess_exception& e, std::string_view step, std::string_view name) {
  std::string what(step);
  what += ' ';
  what += name;
  const int err = e.get_native_error();
  if (err > 0) throw common::sys_error(what, err);
  throw common::Error(what + ": " + e.what());
}

// A descriptor as Boost.Interprocess's MemoryMappable: mapped_region maps it like its own objects.
struct FdMappable {
  int fd;
  [[nodiscard]] bip::mapping_handle_t get_mapping_handle() const noexcept { return {fd, false}; }
};

constexpr std::string_view kFdPrefix = "fd:";

bip::mapped_region map_fd(int fd, bip::mode_t mode, std::string_view what) {
  try {
    return bip::mapped_region(FdMappable{fd}, mode);
  } catch (const bip::interprocess_exception& e) {
    rethrow(e, "shm map", what);
  }
}

}  // namespace

std::string channel_object_name(pid_t pid, unsigned runner) {
  return "/snapfaas-" + std::to_string(pid) + "-r" + std::to_string(runner);
}

std::string stats_object_name(pid_t pid) { return "/snapfaas-" + std::to_string(pid) + "-stats"; }

ShmObject::ShmObject(std::string name, bip::shared_memory_object object, bip::mapped_region region,
                     pid_t owner_pid) noexcept
    : name_(std::move(name)), object_(std::move(object)), region_(std::move(region)), owner_pid_(owner_pid) {}

ShmObject::ShmObject(std::string name, common::UniqueFd fd, bip::mapped_region region) noexcept
    : name_(std::move(name)), fd_(std::move(fd)), region_(std::move(region)) {}

ShmObject ShmObject::create(std::string_view name, std::size_t size, mode_t mode) {
  const std::string n(name);
  bip::shared_memory_object object;
  try {
    bip::permissions permissions;
    permissions.set_permissions(static_cast<int>(mode));
    object = bip::shared_memory_object(bip::create_only, n.c_str(), bip::read_write, permissions);
  } catch (const bip::interprocess_exception& e) {
    rethrow(e, "shm create", n);
  }
  // From here on the name exists: remove it if a later step fails.
  try {
    object.truncate(static_cast<bip::offset_t>(size));
    bip::mapped_region region(object, bip::read_write);
    return ShmObject(n, std::move(object), std::move(region), ::getpid());
  } catch (const bip::interprocess_exception& e) {
    bip::shared_memory_object::remove(n.c_str());
    rethrow(e, "shm truncate/map", n);
  }
}

ShmObject ShmObject::create_sealed(std::string_view label, std::size_t size, std::optional<ShmOwner> owner) {
  const std::string n(label);
  common::UniqueFd fd(::memfd_create(n.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!fd) throw common::sys_error("shm memfd_create " + n);
  common::check_sys(::fchmod(fd.get(), 0600), "shm fchmod " + n);
  if (owner) common::check_sys(::fchown(fd.get(), owner->uid, owner->gid), "shm fchown " + n);
  common::check_sys(::ftruncate(fd.get(), static_cast<off_t>(size)), "shm ftruncate " + n);
  common::check_sys(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), "shm seal " + n);
  bip::mapped_region region = map_fd(fd.get(), bip::read_write, n);
  return ShmObject(n, std::move(fd), std::move(region));
}

std::string ShmObject::fd_reference(int fd) { return std::string(kFdPrefix) + std::to_string(fd); }

ShmObject ShmObject::open(std::string_view name, Access access) {
  const std::string n(name);
  const bip::mode_t mode = access == Access::kReadOnly ? bip::read_only : bip::read_write;
  if (name.substr(0, kFdPrefix.size()) == kFdPrefix) {
    int number = -1;
    const std::string_view digits = name.substr(kFdPrefix.size());
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), number);
    if (ec != std::errc() || end != digits.data() + digits.size() || number < 0) {
      throw common::Error("shm open " + n + ": not a descriptor number");
    }
    if (::fcntl(number, F_GETFD) < 0) throw common::sys_error("shm open " + n);
    common::UniqueFd fd(number);
    ::fcntl(number, F_SETFD, FD_CLOEXEC);  // not passed on to anything this process starts
    struct stat st {};
    common::check_sys(::fstat(number, &st), "shm open " + n);
    if (st.st_size <= 0) throw common::Error("shm open " + n + ": object is empty");
    bip::mapped_region region = map_fd(number, mode, n);
    return ShmObject(n, std::move(fd), std::move(region));
  }
  try {
    bip::shared_memory_object object(bip::open_only, n.c_str(), mode);
    bip::offset_t size = 0;
    if (!object.get_size(size) || size <= 0) throw common::Error("shm open " + n + ": object is empty");
    bip::mapped_region region(object, mode);
    return ShmObject(n, std::move(object), std::move(region), 0);
  } catch (const bip::interprocess_exception& e) {
    rethrow(e, "shm open", n);
  }
}

bool ShmObject::remove(std::string_view name) noexcept {
  return bip::shared_memory_object::remove(std::string(name).c_str());
}

ShmObject::ShmObject(ShmObject&& other) noexcept
    : name_(std::move(other.name_)),
      object_(std::move(other.object_)),
      fd_(std::move(other.fd_)),
      region_(std::move(other.region_)),
      owner_pid_(std::exchange(other.owner_pid_, 0)) {}

ShmObject& ShmObject::operator=(ShmObject&& other) noexcept {
  if (this != &other) {
    release_name();
    name_ = std::move(other.name_);
    object_ = std::move(other.object_);
    fd_ = std::move(other.fd_);
    region_ = std::move(other.region_);
    owner_pid_ = std::exchange(other.owner_pid_, 0);
  }
  return *this;
}

ShmObject::~ShmObject() { release_name(); }

void ShmObject::release_name() noexcept {
  if (owner_pid_ != 0 && owner_pid_ == ::getpid()) bip::shared_memory_object::remove(name_.c_str());
  owner_pid_ = 0;
}

int ShmObject::fd() const noexcept { return fd_ ? fd_.get() : object_.get_mapping_handle().handle; }

common::UniqueFd ShmObject::dup_fd() const {
  const int fd = ::fcntl(this->fd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw common::sys_error("shm dup fd " + name_);
  return common::UniqueFd(fd);
}

}  // namespace snapfaas::ipc
