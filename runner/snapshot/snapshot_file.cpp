// Snapshot file container: atomic writing and field-by-field validation.
#include "runner/snapshot/snapshot_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "common/error.h"
#include "runner/snapshot/crc32c.h"

namespace snapfaas::runner::snapshot {

namespace {
constexpr char kMagic[8] = {'S', 'N', 'A', 'P', 'F', 'A', 'A', 'S'};
constexpr std::uint32_t kMaxRanges = 1u << 22;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw common::Error("snapshot " + path + ": " + what);
}

std::span<const std::uint8_t> bytes_of(const void* p, std::size_t n) {
  return {static_cast<const std::uint8_t*>(p), n};
}

std::uint32_t header_crc(FileHeader h, std::span<const PageRange> ranges) {
  h.header_crc = 0;
  const std::uint32_t c = crc32c(bytes_of(&h, sizeof h));
  return crc32c(bytes_of(ranges.data(), ranges.size_bytes()), c);
}

void write_all(int fd, std::span<const std::uint8_t> data, std::uint64_t offset, const std::string& step) {
  while (!data.empty()) {
    const ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw common::sys_error(step);
    }
    data = data.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

void read_all(int fd, std::span<std::uint8_t> out, std::uint64_t offset, const std::string& path) {
  while (!out.empty()) {
    const ssize_t n = ::pread(fd, out.data(), out.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw common::sys_error("snapshot " + path + ": read");
    if (n == 0) fail(path, "truncated (unexpected end of file)");
    out = out.subspan(static_cast<std::size_t>(n));
    offset += static_cast<std::uint64_t>(n);
  }
}

/// A file written under a temporary name in its directory (by the directory's descriptor) and
/// renamed into place by commit(); removed on destruction if never committed.
class AtomicFile {
 public:
  AtomicFile(const SnapshotDir& dir, const char* name) : dir_(dir), name_(name), path_(dir.join(name)) {
    tmp_ = name_ + ".tmp." + std::to_string(::getpid());
    fd_.reset(::openat(dir_.fd.get(), tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd_) throw common::sys_error("snapshot " + path_ + ": create " + dir_.join(tmp_.c_str()));
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile() {
    if (!committed_) ::unlinkat(dir_.fd.get(), tmp_.c_str(), 0);
  }
  [[nodiscard]] int fd() const noexcept { return fd_.get(); }
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

  void commit() {
    common::check_sys(::fsync(fd_.get()), "snapshot " + path_ + ": fsync");
    fd_.reset();
    common::check_sys(::renameat(dir_.fd.get(), tmp_.c_str(), dir_.fd.get(), name_.c_str()),
                      "snapshot " + path_ + ": rename");
    committed_ = true;
    ::fsync(dir_.fd.get());  // best effort: makes the rename durable
  }

 private:
  const SnapshotDir& dir_;
  std::string name_;
  std::string path_;
  std::string tmp_;
  common::UniqueFd fd_;
  bool committed_ = false;
};

// The directory of `path` and its file name, for the path-taking writers.
std::pair<SnapshotDir, std::string> split(const std::string& path) {
  const std::filesystem::path p(path);
  SnapshotDir dir;
  dir.path = p.parent_path().empty() ? "." : p.parent_path().string();
  dir.fd.reset(::open(dir.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.fd) throw common::sys_error("snapshot " + path + ": open directory " + dir.path);
  return {std::move(dir), p.filename().string()};
}

FileHeader make_header(FileKind kind, const SnapshotId& id, const SnapshotId& base_id, std::size_t ranges) {
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kFormatVersion;
  h.kind = static_cast<std::uint32_t>(kind);
  h.id = id;
  h.base_id = base_id;
  h.range_count = static_cast<std::uint32_t>(ranges);
  return h;
}

std::uint64_t page_up(std::uint64_t v) { return (v + kPageSize - 1) & ~(kPageSize - 1); }
}  // namespace

const char* kind_name(FileKind kind) noexcept {
  switch (kind) {
    case FileKind::kState: return "state";
    case FileKind::kMemoryFull: return "memory-full";
    case FileKind::kMemoryDiff: return "memory-diff";
    case FileKind::kWorkingSet: return "working-set";
  }
  return "unknown";
}

SnapshotId new_snapshot_id() {
  SnapshotId id{};
  std::size_t got = 0;
  while (got < id.size()) {
    const ssize_t n = ::getrandom(id.data() + got, id.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw common::sys_error("getrandom snapshot id");
    got += static_cast<std::size_t>(n);
  }
  return id;
}

std::string to_hex(const SnapshotId& id) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (std::uint8_t b : id) {
    s += kDigits[b >> 4];
    s += kDigits[b & 15];
  }
  return s;
}

SnapshotDir SnapshotDir::open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw common::Error("snapshot " + path + ": create directory: " + ec.message());
  SnapshotDir dir;
  dir.path = path;
  dir.fd.reset(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir.fd) throw common::sys_error("snapshot " + path + ": open directory");
  return dir;
}

std::string SnapshotDir::join(const char* name) const { return (std::filesystem::path(path) / name).string(); }

void write_blob_file(const std::string& path, FileKind kind, const SnapshotId& id, const SnapshotId& base_id,
                     std::span<const std::uint8_t> payload, std::span<const PageRange> ranges) {
  const auto [dir, name] = split(path);
  write_blob_file(dir, name.c_str(), kind, id, base_id, payload, ranges);
}

void write_blob_file(const SnapshotDir& dir, const char* name, FileKind kind, const SnapshotId& id,
                     const SnapshotId& base_id, std::span<const std::uint8_t> payload,
                     std::span<const PageRange> ranges) {
  AtomicFile file(dir, name);
  const std::string& path = file.path();
  FileHeader h = make_header(kind, id, base_id, ranges.size());
  h.payload_offset = sizeof(FileHeader) + ranges.size_bytes();
  h.payload_length = payload.size();
  h.file_length = h.payload_offset + payload.size();
  h.payload_crc = crc32c(payload);
  for (const PageRange& r : ranges) h.guest_bytes = std::max(h.guest_bytes, r.end());
  h.header_crc = header_crc(h, ranges);
  const std::string step = "snapshot " + path + ": write";
  write_all(file.fd(), bytes_of(&h, sizeof h), 0, step);
  write_all(file.fd(), bytes_of(ranges.data(), ranges.size_bytes()), sizeof h, step);
  write_all(file.fd(), payload, h.payload_offset, step);
  file.commit();
}

void write_memory_file(const std::string& path, FileKind kind, const SnapshotId& id, const SnapshotId& base_id,
                       std::uint64_t guest_bytes, std::span<const PageRange> ranges, const RangeSource& source) {
  const auto [dir, name] = split(path);
  write_memory_file(dir, name.c_str(), kind, id, base_id, guest_bytes, ranges, source);
}

void write_memory_file(const SnapshotDir& dir, const char* name, FileKind kind, const SnapshotId& id,
                       const SnapshotId& base_id, std::uint64_t guest_bytes, std::span<const PageRange> ranges,
                       const RangeSource& source) {
  AtomicFile file(dir, name);
  const std::string& path = file.path();
  FileHeader h = make_header(kind, id, base_id, ranges.size());
  h.guest_bytes = guest_bytes;
  h.payload_offset = page_up(sizeof(FileHeader) + ranges.size_bytes());
  h.payload_length = guest_bytes;
  h.file_length = h.payload_offset + guest_bytes;
  const std::string step = "snapshot " + path + ": write";
  std::uint32_t crc = 0;
  for (const PageRange& r : ranges) {
    const std::span<const std::uint8_t> data = source(r);
    if (data.size() != r.length) throw common::Error(step + ": range source returned the wrong length");
    crc = crc32c(data, crc);
    write_all(file.fd(), data, h.payload_offset + r.offset, step);
  }
  h.payload_crc = crc;
  h.header_crc = header_crc(h, ranges);
  write_all(file.fd(), bytes_of(&h, sizeof h), 0, step);
  write_all(file.fd(), bytes_of(ranges.data(), ranges.size_bytes()), sizeof h, step);
  // Holes for everything not written: the file is as long as guest RAM but sparse.
  common::check_sys(::ftruncate(file.fd(), static_cast<off_t>(h.file_length)), step + " (ftruncate)");
  file.commit();
}

OpenedFile open_file(const std::string& path) {
  OpenedFile f{path, common::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC))};
  if (!f.fd) throw common::sys_error("snapshot " + path + ": open");
  return f;
}

SnapshotFile open_snapshot_file(const std::string& path, FileKind kind, Verify verify) {
  return validate_snapshot_file(open_file(path), kind, verify);
}

SnapshotFile validate_snapshot_file(OpenedFile file, FileKind kind, Verify verify) {
  SnapshotFile f;
  f.path = std::move(file.path);
  f.fd = std::move(file.fd);
  const std::string& path = f.path;
  struct stat st {};
  common::check_sys(::fstat(f.fd.get(), &st), "snapshot " + path + ": fstat");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size < sizeof(FileHeader)) {
    fail(path, "truncated (" + std::to_string(size) + " bytes, the header alone is " +
                   std::to_string(sizeof(FileHeader)) + ")");
  }
  FileHeader& h = f.header;
  read_all(f.fd.get(), std::span(reinterpret_cast<std::uint8_t*>(&h), sizeof h), 0, path);
  if (std::memcmp(h.magic, kMagic, sizeof kMagic) != 0) fail(path, "bad magic (not a SnapFaaS snapshot file)");
  if (h.version != kFormatVersion) {
    fail(path, "unsupported version " + std::to_string(h.version) + " (this build reads version " +
                   std::to_string(kFormatVersion) + ")");
  }
  if (size < h.file_length) {
    fail(path, "truncated (" + std::to_string(size) + " of " + std::to_string(h.file_length) + " bytes)");
  }
  if (size != h.file_length) {
    fail(path, "length mismatch (file has " + std::to_string(size) + " bytes, header says " +
                   std::to_string(h.file_length) + ")");
  }
  if (h.range_count > kMaxRanges || sizeof(FileHeader) + std::uint64_t{h.range_count} * sizeof(PageRange) > size) {
    fail(path, "range count " + std::to_string(h.range_count) + " does not fit the file (file corrupt)");
  }
  f.ranges.resize(h.range_count);
  read_all(f.fd.get(), std::span(reinterpret_cast<std::uint8_t*>(f.ranges.data()), f.ranges.size() * sizeof(PageRange)),
           sizeof(FileHeader), path);
  if (header_crc(h, f.ranges) != h.header_crc) fail(path, "header CRC mismatch (file corrupt)");
  if (h.kind != static_cast<std::uint32_t>(kind)) {
    fail(path, std::string("is a ") + kind_name(static_cast<FileKind>(h.kind)) + " file, expected " + kind_name(kind));
  }
  const std::uint64_t table_end = sizeof(FileHeader) + f.ranges.size() * sizeof(PageRange);
  if (h.payload_offset < table_end || h.payload_offset > size || h.payload_length != size - h.payload_offset) {
    fail(path, "payload offset/length inconsistent with the file (file corrupt)");
  }
  const bool memory = kind == FileKind::kMemoryFull || kind == FileKind::kMemoryDiff;
  if (memory && (h.payload_offset % kPageSize != 0 || h.payload_length != h.guest_bytes)) {
    fail(path, "memory payload not page aligned or not guest-sized (file corrupt)");
  }
  std::uint64_t prev_end = 0;
  for (const PageRange& r : f.ranges) {
    if (r.offset % kPageSize != 0 || r.length % kPageSize != 0 || r.length == 0 || r.offset < prev_end) {
      fail(path, "range [" + std::to_string(r.offset) + ", +" + std::to_string(r.length) +
                     ") unaligned, empty or out of order");
    }
    if (r.end() < r.offset || r.end() > h.guest_bytes) {
      fail(path, "range [" + std::to_string(r.offset) + ", " + std::to_string(r.offset + r.length) +
                     ") outside guest memory (" + std::to_string(h.guest_bytes) + " bytes)");
    }
    prev_end = r.end();
  }
  if (verify == Verify::kFull || !memory) {
    std::uint32_t crc = 0;
    std::vector<std::uint8_t> buf(1 << 20);
    auto crc_span = [&](std::uint64_t off, std::uint64_t len) {
      while (len > 0) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(len, buf.size()));
        read_all(f.fd.get(), std::span(buf.data(), n), off, path);
        crc = crc32c(std::span<const std::uint8_t>(buf.data(), n), crc);
        off += n;
        len -= n;
      }
    };
    if (memory) {
      for (const PageRange& r : f.ranges) crc_span(h.payload_offset + r.offset, r.length);
    } else {
      crc_span(h.payload_offset, h.payload_length);
    }
    if (crc != h.payload_crc) fail(path, "CRC mismatch (file corrupt)");
  }
  return f;
}

std::vector<std::uint8_t> read_payload(const SnapshotFile& file) {
  std::vector<std::uint8_t> out(file.header.payload_length);
  read_all(file.fd.get(), out, file.header.payload_offset, file.path);
  return out;
}

}  // namespace snapfaas::runner::snapshot
