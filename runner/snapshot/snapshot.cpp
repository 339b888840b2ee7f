// Snapshot directories: save (memory first, state last) and chained, validated load.
#include "runner/snapshot/snapshot.h"

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
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw common::Error("snapshot " + dir + ": create directory: " + ec.message());
  SavedSnapshot saved;
  saved.id = new_snapshot_id();
  if (base) {
    saved.base_id = *base;
    saved.ranges = dirty_ranges(vm, memory, extra);
    write_guest_memory(join(dir, kMemoryFileName), FileKind::kMemoryDiff, saved.id, saved.base_id, memory, saved.ranges);
  } else {
    saved.ranges = coalesce(nonzero_ranges(memory));
    write_guest_memory(join(dir, kMemoryFileName), FileKind::kMemoryFull, saved.id, saved.base_id, memory, saved.ranges);
  }
  // A stale working set belongs to an older snapshot in this dir: remove it before the new state.
  std::filesystem::remove(join(dir, kWorkingSetFileName), ec);
  const std::vector<std::uint8_t> payload = encode_state(state);
  write_blob_file(join(dir, kStateFileName), FileKind::kState, saved.id, saved.base_id, payload);
  return saved;
}

LoadedSnapshot load_snapshot(std::span<const std::string> dirs, Verify verify) {
  if (dirs.empty()) throw common::Error("snapshot restore: no snapshot directory given");
  LoadedSnapshot out;
  for (std::size_t i = 0; i < dirs.size(); ++i) {
    const FileKind kind = i == 0 ? FileKind::kMemoryFull : FileKind::kMemoryDiff;
    SnapshotFile f = open_snapshot_file(join(dirs[i], kMemoryFileName), kind, verify);
    if (i > 0 && f.header.base_id != out.memory.back().header.id) {
      throw common::Error("snapshot " + f.path + ": diff made from another base (" + to_hex(f.header.base_id) +
                          ", but " + out.memory.back().path + " is " + to_hex(out.memory.back().header.id) + ")");
    }
    if (i > 0 && f.header.guest_bytes != out.memory.front().header.guest_bytes) {
      throw common::Error("snapshot " + f.path + ": guest RAM size differs from its base");
    }
    out.memory.push_back(std::move(f));
  }
  const std::string& last = dirs.back();
  const SnapshotFile state_file = open_snapshot_file(join(last, kStateFileName), FileKind::kState, Verify::kFull);
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
  const std::string ws = join(last, kWorkingSetFileName);
  if (std::filesystem::exists(ws)) {
    SnapshotFile w = open_snapshot_file(ws, FileKind::kWorkingSet, Verify::kFull);
    if (w.header.id != out.memory.back().header.id) {
      throw common::Error("snapshot " + ws + ": working set of another snapshot");
    }
    out.working_set = std::move(w.ranges);
  }
  return out;
}

void save_working_set(const std::string& dir, const SnapshotId& id, std::span<const PageRange> ranges) {
  write_blob_file(join(dir, kWorkingSetFileName), FileKind::kWorkingSet, id, SnapshotId{}, {}, ranges);
}

}  // namespace snapfaas::runner::snapshot
