// ShmObject: one shared-memory object mapped into this process — a named POSIX object
// (Boost.Interprocess) with scoped removal of the name by the process that created it, or a
// sealed anonymous one (memfd) that reaches another process only as an inherited descriptor.
#pragma once

#include <sys/types.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace snapfaas::ipc {

/// "/snapfaas-<pid>-r<runner>": the channel object of runner `runner` of supervisor `pid`.
[[nodiscard]] std::string channel_object_name(pid_t pid, unsigned runner);
/// "/snapfaas-<pid>-stats": the stats block of supervisor `pid`.
[[nodiscard]] std::string stats_object_name(pid_t pid);

/// Who a sealed object belongs to (fchown'ed to it; the supervisor gives each runner's channel to
/// that runner's uid).
struct ShmOwner {
  uid_t uid = 0;
  gid_t gid = 0;
};

/// Owns a mapping of a shared-memory object (MAP_SHARED, whole object). A named object's creator
/// also owns the name: its destructor removes it (only in the creating process, so a fork()ed
/// child that exits normally does not unlink its parent's object). Move-only; not thread-safe.
class ShmObject {
 public:
  enum class Access { kReadOnly, kReadWrite };

  /// Creates a new named object of `size` bytes (zero-filled, mode `mode`: by default only this
  /// uid may open it) and maps it read-write. Fails if the name exists. Throws common::Error
  /// naming the step and the error.
  [[nodiscard]] static ShmObject create(std::string_view name, std::size_t size, mode_t mode = 0600);
  /// Creates a sealed anonymous object (memfd_create, MFD_ALLOW_SEALING) of `size` bytes, mode
  /// 0600 and owned by `owner` when given, then seals it (F_SEAL_SHRINK | F_SEAL_GROW |
  /// F_SEAL_SEAL): nobody holding a descriptor can ever change its size, so no peer can make this
  /// process's mapping fault (SIGBUS) by truncating it. It has no name in /dev/shm; another process
  /// gets it only as an inherited descriptor (open("fd:N")). `label` names it in errors and
  /// /proc/PID/fd. Throws common::Error.
  [[nodiscard]] static ShmObject create_sealed(std::string_view label, std::size_t size,
                                               std::optional<ShmOwner> owner = std::nullopt);
  /// Opens and maps an existing object (its whole current size). `ref` is "/name" (a named
  /// object: this object does not own the name) or "fd:N" (a descriptor this process inherited,
  /// e.g. a sealed object passed by the supervisor: taken over, closed with this object).
  [[nodiscard]] static ShmObject open(std::string_view ref, Access access);
  /// "fd:N": how open() names inherited descriptor N.
  [[nodiscard]] static std::string fd_reference(int fd);
  /// Removes `name` if it exists; false when it did not.
  static bool remove(std::string_view name) noexcept;

  ShmObject(ShmObject&& other) noexcept;
  ShmObject& operator=(ShmObject&& other) noexcept;
  ShmObject(const ShmObject&) = delete;
  ShmObject& operator=(const ShmObject&) = delete;
  ~ShmObject();

  [[nodiscard]] std::uint8_t* data() const noexcept { return static_cast<std::uint8_t*>(region_.get_address()); }
  [[nodiscard]] std::size_t size() const noexcept { return region_.get_size(); }
  [[nodiscard]] const std::string& name() const noexcept { return name_; }
  [[nodiscard]] bool owns_name() const noexcept { return owner_pid_ != 0; }

  /// A new descriptor of the same object (O_CLOEXEC), e.g. to mmap it MAP_SHARED as a KVM memslot.
  [[nodiscard]] common::UniqueFd dup_fd() const;
  /// The object's own descriptor (this object keeps it): to pass to a child process, or to fstat.
  [[nodiscard]] int fd() const noexcept;

 private:
  ShmObject(std::string name, boost::interprocess::shared_memory_object object,
            boost::interprocess::mapped_region region, pid_t owner_pid) noexcept;
  ShmObject(std::string name, common::UniqueFd fd, boost::interprocess::mapped_region region) noexcept;
  void release_name() noexcept;

  std::string name_;
  boost::interprocess::shared_memory_object object_;  // named objects
  common::UniqueFd fd_;                               // sealed or inherited objects
  boost::interprocess::mapped_region region_;
  pid_t owner_pid_ = 0;  // creating process; 0 when this object does not own the name
};

}  // namespace snapfaas::ipc
