// Typed KVM state ioctls for setup paths: read or write one struct, throwing common::Error named
// after the ioctl ("KVM_GET_REGS: Invalid argument") on failure.
#pragma once

#include <sys/ioctl.h>

#include "common/error.h"

namespace snapfaas::runner {

/// ioctl(fd, req, &value) for a GET request; returns the filled struct.
template <typename T>
T kvm_get(int fd, unsigned long req, const char* name) {
  T value{};
  common::check_sys(::ioctl(fd, req, &value), name);
  return value;
}

/// ioctl(fd, req, &value) for a SET request.
template <typename T>
void kvm_set(int fd, unsigned long req, const T& value, const char* name) {
  common::check_sys(::ioctl(fd, req, &value), name);
}

}  // namespace snapfaas::runner
