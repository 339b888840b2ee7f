// The on-disk container of every snapshot file (state, full memory, memory diff, working set):
// a fixed header with magic, version, kind, length, CRC32C and identities, a page-range table, and
// the payload. Written under a temporary name, fsync'ed and renamed; validated field by field on
// open before anything is built from it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace snapfaas::runner::snapshot {

inline constexpr std::uint32_t kFormatVersion = 1;
inline constexpr std::uint64_t kPageSize = 4096;

enum class FileKind : std::uint32_t { kState = 1, kMemoryFull = 2, kMemoryDiff = 3, kWorkingSet = 4 };
[[nodiscard]] const char* kind_name(FileKind kind) noexcept;

/// A random 128-bit snapshot identity (getrandom).
using SnapshotId = std::array<std::uint8_t, 16>;
[[nodiscard]] SnapshotId new_snapshot_id();
[[nodiscard]] std::string to_hex(const SnapshotId& id);

/// [offset, offset+length) in the guest's RAM-linear space (RAM regions concatenated in GPA order),
/// page aligned.
struct PageRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  [[nodiscard]] std::uint64_t end() const noexcept { return offset + length; }
  bool operator==(const PageRange&) const = default;
};

/// On-disk header, little-endian, 128 bytes. `header_crc` covers this header (with header_crc 0)
/// and the range table that follows it; `payload_crc` covers the payload (for memory files: the
/// bytes of each range in order).
struct FileHeader {
  char magic[8];
  std::uint32_t version;
  std::uint32_t kind;
  std::uint64_t file_length;     ///< st_size the file must have
  std::uint64_t payload_offset;  ///< state: right after the range table; memory: page aligned
  std::uint64_t payload_length;  ///< state: bytes; memory: guest_bytes (RAM offset o at payload_offset + o)
  std::uint32_t payload_crc;
  std::uint32_t header_crc;
  SnapshotId id;       ///< this file's snapshot
  SnapshotId base_id;  ///< the snapshot it was made on top of (zero for a base)
  std::uint64_t guest_bytes;  ///< total guest RAM the memory ranges refer to (0 for state files)
  std::uint32_t range_count;
  std::uint32_t reserved0;
  std::uint8_t reserved[32];
};
static_assert(sizeof(FileHeader) == 128);

/// A directory snapshot files are written into, by descriptor: a runner opens it before it locks
/// itself down and its saver creates, renames and removes files only relative to it (openat,
/// renameat, unlinkat). `path` names it in messages.
struct SnapshotDir {
  std::string path;
  common::UniqueFd fd;
  /// Creates `path` (and its parents) if needed and opens it. Throws common::Error.
  [[nodiscard]] static SnapshotDir open(const std::string& path);
  /// "path/name", for messages.
  [[nodiscard]] std::string join(const char* name) const;
};

/// Writes a state-like file DIR/name: header + `payload`. Atomic (temp name + fsync + rename, then
/// the directory fsync'ed). Throws.
void write_blob_file(const SnapshotDir& dir, const char* name, FileKind kind, const SnapshotId& id,
                     const SnapshotId& base_id, std::span<const std::uint8_t> payload,
                     std::span<const PageRange> ranges = {});
/// The same at `path` (its directory must exist).
void write_blob_file(const std::string& path, FileKind kind, const SnapshotId& id, const SnapshotId& base_id,
                     std::span<const std::uint8_t> payload, std::span<const PageRange> ranges = {});

/// Supplies the guest bytes of one range while a memory file is written.
using RangeSource = std::function<std::span<const std::uint8_t>(const PageRange&)>;
/// Writes a memory file DIR/name: header + `ranges`, then each range's bytes at payload_offset +
/// offset, holes everywhere else (sparse). Atomic. Throws.
void write_memory_file(const SnapshotDir& dir, const char* name, FileKind kind, const SnapshotId& id,
                       const SnapshotId& base_id, std::uint64_t guest_bytes, std::span<const PageRange> ranges,
                       const RangeSource& source);
/// The same at `path` (its directory must exist).
void write_memory_file(const std::string& path, FileKind kind, const SnapshotId& id, const SnapshotId& base_id,
                       std::uint64_t guest_bytes, std::span<const PageRange> ranges, const RangeSource& source);

/// How much of a file to check on open.
enum class Verify { kHeader, kFull };

/// An opened, validated snapshot file. Owns its fd.
struct SnapshotFile {
  std::string path;
  FileHeader header{};
  std::vector<PageRange> ranges;
  common::UniqueFd fd;
};

/// A snapshot file opened read-only and nothing read from it yet: a runner opens its snapshot files
/// before it locks itself down and reads them only afterwards.
struct OpenedFile {
  std::string path;
  common::UniqueFd fd;
};

/// Opens `path` read-only. Throws common::Error "snapshot PATH: open: <errno>".
[[nodiscard]] OpenedFile open_file(const std::string& path);
/// Validates an opened file as a `kind` file: size, magic, version, length, header CRC, kind,
/// range table (aligned, sorted, inside guest_bytes), and with kFull (always for kState and
/// kWorkingSet) the payload CRC. Takes the descriptor. Throws common::Error "snapshot PATH: <what
/// is wrong>".
[[nodiscard]] SnapshotFile validate_snapshot_file(OpenedFile file, FileKind kind, Verify verify);
/// open_file + validate_snapshot_file.
[[nodiscard]] SnapshotFile open_snapshot_file(const std::string& path, FileKind kind, Verify verify);
/// Reads the payload of a validated blob file.
[[nodiscard]] std::vector<std::uint8_t> read_payload(const SnapshotFile& file);

}  // namespace snapfaas::runner::snapshot
