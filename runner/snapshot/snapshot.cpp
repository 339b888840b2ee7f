// Snapshot directories: save (memory first, state last) and chained, validated load.
#include "runner/snapshot/snapshot.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "common/error.h"
#include "runner/snapshot/memory_file.h"
#include "runner/snapshot/vcpu_state.h"
#include "runner/snapshot/vm_state.h"

namespace snapfaas::runner::snapshot {

namespace {
std::string join(const std::string& dir, const char* name) { return (std::filesystem::path(dir) / name).string(); }
}  // namespace

MicrovmState capture_microvm(const KvmVm& vm, const GuestMemory& memory, std::span<KvmVcpu* const> vcpus,
                             bool ring3) {
  MicrovmState s;
  s.vcpu_count = static_cast<std::uint32_t>(vcpus.size());
  s.ring3 = ring3;
  for (const GuestRegion& r : memory.regions()) {
    s.regions.push_back({r.gpa, r.mapping.size()});
    s.mem_bytes += r.mapping.size();
  }
  for (KvmVcpu* v : vcpus) complete_pending_io(*v);
  for (KvmVcpu* v : vcpus) s.vcpus.push_back(capture_vcpu_state(*v, vm.has_irqchip()));
  s.vm = capture_vm_state(vm);
  return s;
}

SavedSnapshot save_snapshot(const std::string& dir, const MicrovmState& state, const KvmVm& vm,
                            const GuestMemory& memory, const std::optional<SnapshotId>& base,
                            std::span<const PageRange> extra) {
  return save_snapshot(SnapshotDir::open(dir), state, vm, memory, base, extra);
}

SavedSnapshot save_snapshot(const SnapshotDir& dir, const MicrovmState& state, const KvmVm& vm,
                            const GuestMemory& memory, const std::optional<SnapshotId>& base,
                            std::span<const PageRange> extra) {
  SavedSnapshot saved;
  saved.id = new_snapshot_id();
  if (base) {
    saved.base_id = *base;
    saved.ranges = dirty_ranges(vm, memory, extra);
    write_guest_memory(dir, kMemoryFileName, FileKind::kMemoryDiff, saved.id, saved.base_id, memory, saved.ranges);
  } else {
    saved.ranges = coalesce(nonzero_ranges(memory));
    write_guest_memory(dir, kMemoryFileName, FileKind::kMemoryFull, saved.id, saved.base_id, memory, saved.ranges);
  }
  // A stale working set belongs to an older snapshot in this dir: remove it before the new state.
  if (::unlinkat(dir.fd.get(), kWorkingSetFileName, 0) != 0 && errno != ENOENT) {
    throw common::sys_error("snapshot " + dir.join(kWorkingSetFileName) + ": remove");
  }
  const std::vector<std::uint8_t> payload = encode_state(state);
  write_blob_file(dir, kStateFileName, FileKind::kState, saved.id, saved.base_id, payload);
  return saved;
}

SnapshotFiles open_snapshot_files(std::span<const std::string> dirs, const std::string& working_set) {
  if (dirs.empty()) throw common::Error("snapshot restore: no snapshot directory given");
  SnapshotFiles files;
  for (const std::string& dir : dirs) files.memory.push_back(open_file(join(dir, kMemoryFileName)));
  files.state = open_file(join(dirs.back(), kStateFileName));
  if (!working_set.empty()) {
    files.working_set = open_file(working_set);
    return files;
  }
  const std::string ws = join(dirs.back(), kWorkingSetFileName);
  common::UniqueFd fd(::open(ws.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd) {
    files.working_set = OpenedFile{ws, std::move(fd)};
  } else if (errno != ENOENT) {
    throw common::sys_error("snapshot " + ws + ": open");
  }
  return files;
}

LoadedSnapshot load_snapshot(std::span<const std::string> dirs, Verify verify) {
  return load_snapshot(open_snapshot_files(dirs), verify);
}

LoadedSnapshot load_snapshot(SnapshotFiles files, Verify verify) {
  if (files.memory.empty()) throw common::Error("snapshot restore: no snapshot directory given");
  LoadedSnapshot out;
  for (std::size_t i = 0; i < files.memory.size(); ++i) {
    const FileKind kind = i == 0 ? FileKind::kMemoryFull : FileKind::kMemoryDiff;
    SnapshotFile f = validate_snapshot_file(std::move(files.memory[i]), kind, verify);
    if (i > 0 && f.header.base_id != out.memory.back().header.id) {
      throw common::Error("snapshot " + f.path + ": diff made from another base (" + to_hex(f.header.base_id) +
                          ", but " + out.memory.back().path + " is " + to_hex(out.memory.back().header.id) + ")");
    }
    if (i > 0 && f.header.guest_bytes != out.memory.front().header.guest_bytes) {
      throw common::Error("snapshot " + f.path + ": guest RAM size differs from its base");
    }
    out.memory.push_back(std::move(f));
  }
  const SnapshotFile state_file = validate_snapshot_file(std::move(files.state), FileKind::kState, Verify::kFull);
  if (state_file.header.id != out.memory.back().header.id) {
    throw common::Error("snapshot " + state_file.path + ": state and memory belong to different snapshots");
  }
  try {
    out.state = decode_state(read_payload(state_file));
  } catch (const common::Error& e) {
    throw common::Error("snapshot " + state_file.path + ": " + e.what());
  }
  if (out.state.mem_bytes != out.memory.front().header.guest_bytes) {
    throw common::Error("snapshot " + state_file.path + ": RAM size " + std::to_string(out.state.mem_bytes) +
                        " differs from the memory file's " + std::to_string(out.memory.front().header.guest_bytes));
  }
  if (files.working_set) {
    // Only a hint: a bad one is reported and the restore goes on lazily.
    try {
      out.working_set = validate_working_set(std::move(*files.working_set), out.memory.back().header.id,
                                             out.state.mem_bytes);
    } catch (const common::Error& e) {
      out.working_set_error = e.what();
    }
  }
  return out;
}

void save_working_set(const std::string& dir, const SnapshotId& id, std::span<const PageRange> ranges) {
  write_blob_file(join(dir, kWorkingSetFileName), FileKind::kWorkingSet, id, SnapshotId{}, {}, ranges);
}

void save_working_set(const SnapshotDir& dir, const char* name, const SnapshotId& id,
                      std::span<const PageRange> ranges) {
  write_blob_file(dir, name, FileKind::kWorkingSet, id, SnapshotId{}, {}, ranges);
}

std::vector<PageRange> validate_working_set(OpenedFile file, const SnapshotId& id, std::uint64_t guest_bytes) {
  SnapshotFile w = validate_snapshot_file(std::move(file), FileKind::kWorkingSet, Verify::kFull);
  if (w.header.id != id) {
    throw common::Error("snapshot " + w.path + ": working set of another snapshot (" + to_hex(w.header.id) +
                        ", restoring " + to_hex(id) + ")");
  }
  // The container checked the ranges against its own guest_bytes; the RAM is what counts here.
  if (w.header.guest_bytes > guest_bytes) {
    throw common::Error("snapshot " + w.path + ": working set reaches byte " + std::to_string(w.header.guest_bytes) +
                        " of a " + std::to_string(guest_bytes) + "-byte guest RAM");
  }
  return std::move(w.ranges);
}

}  // namespace snapfaas::runner::snapshot
