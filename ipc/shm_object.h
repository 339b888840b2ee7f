// ShmObject: one named POSIX shared-memory object mapped into this process (Boost.Interprocess),
// with scoped removal of the name by the process that created it.
#pragma once

#include <sys/types.h>

#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/unique_fd.h"

namespace snapfaas::ipc {

/// "/snapfaas-<pid>-r<runner>": the channel object of runner `runner` of supervisor `pid`.
[[nodiscard]] std::string channel_object_name(pid_t pid, unsigned runner);
/// "/snapfaas-<pid>-stats": the stats block of supervisor `pid`.
[[nodiscard]] std::string stats_object_name(pid_t pid);

/// Owns a mapping of a named shared-memory object (MAP_SHARED, whole object). The creator also
/// owns the name: its destructor removes it (only in the creating process, so a fork()ed child
/// that exits normally does not unlink its parent's object). Move-only; not thread-safe.
class ShmObject {
 public:
  enum class Access { kReadOnly, kReadWrite };

  /// Creates a new object of `size` bytes (zero-filled) and maps it read-write. Fails if the
  /// name exists. Throws common::Error naming the step and the error.
  [[nodiscard]] static ShmObject create(std::string_view name, std::size_t size);
  /// Opens and maps an existing object (its whole current size). Does not own the name.
  [[nodiscard]] static ShmObject open(std::string_view name, Access access);
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

 private:
  ShmObject(std::string name, boost::interprocess::shared_memory_object object,
            boost::interprocess::mapped_region region, pid_t owner_pid) noexcept;
  void release_name() noexcept;

  std::string name_;
  boost::interprocess::shared_memory_object object_;
  boost::interprocess::mapped_region region_;
  pid_t owner_pid_ = 0;  // creating process; 0 when this object does not own the name
};

}  // namespace snapfaas::ipc
