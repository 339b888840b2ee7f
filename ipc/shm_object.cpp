// ShmObject: Boost.Interprocess shared_memory_object + mapped_region with scoped name removal.
#include "ipc/shm_object.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/interprocess/exceptions.hpp>
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

}  // namespace

std::string channel_object_name(pid_t pid, unsigned runner) {
  return "/snapfaas-" + std::to_string(pid) + "-r" + std::to_string(runner);
}

std::string stats_object_name(pid_t pid) { return "/snapfaas-" + std::to_string(pid) + "-stats"; }

ShmObject::ShmObject(std::string name, bip::shared_memory_object object, bip::mapped_region region,
                     pid_t owner_pid) noexcept
    : name_(std::move(name)), object_(std::move(object)), region_(std::move(region)), owner_pid_(owner_pid) {}

ShmObject ShmObject::create(std::string_view name, std::size_t size) {
  const std::string n(name);
  bip::shared_memory_object object;
  try {
    object = bip::shared_memory_object(bip::create_only, n.c_str(), bip::read_write);
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

ShmObject ShmObject::open(std::string_view name, Access access) {
  const std::string n(name);
  const bip::mode_t mode = access == Access::kReadOnly ? bip::read_only : bip::read_write;
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
      region_(std::move(other.region_)),
      owner_pid_(std::exchange(other.owner_pid_, 0)) {}

ShmObject& ShmObject::operator=(ShmObject&& other) noexcept {
  if (this != &other) {
    release_name();
    name_ = std::move(other.name_);
    object_ = std::move(other.object_);
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

common::UniqueFd ShmObject::dup_fd() const {
  const int fd = ::fcntl(object_.get_mapping_handle().handle, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw common::sys_error("shm dup fd " + name_);
  return common::UniqueFd(fd);
}

}  // namespace snapfaas::ipc
