// TempImage: a raw disk image in /tmp filled with a known byte pattern, removed on destruction.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace snapfaas::runner::virtio::test {

/// Byte `i` of a fresh image.
inline std::uint8_t pattern(std::uint64_t i) { return static_cast<std::uint8_t>((i * 7 + 3) % 251); }

struct TempImage {
  explicit TempImage(std::size_t size) {
    std::string tmpl = "/tmp/snapfaas-blk-XXXXXX";
    common::UniqueFd fd(::mkstemp(tmpl.data()));
    REQUIRE(fd.valid());
    path = tmpl;
    std::vector<std::uint8_t> bytes(size);
    for (std::size_t i = 0; i < size; ++i) bytes[i] = pattern(i);
    REQUIRE(::pwrite(fd.get(), bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(size));
  }
  ~TempImage() { ::unlink(path.c_str()); }
  TempImage(const TempImage&) = delete;
  TempImage& operator=(const TempImage&) = delete;

  /// Current file bytes [off, off+len).
  [[nodiscard]] std::vector<std::uint8_t> contents(std::uint64_t off, std::size_t len) const {
    std::vector<std::uint8_t> out(len);
    common::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    REQUIRE(::pread(fd.get(), out.data(), len, static_cast<off_t>(off)) == static_cast<ssize_t>(len));
    return out;
  }

  std::string path;
};

}  // namespace snapfaas::runner::virtio::test
