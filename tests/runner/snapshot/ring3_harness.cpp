// Ring-3 harness: a single-threaded vCPU loop over handle_exit for the snapshot tests and bench.
#include "tests/runner/snapshot/ring3_harness.h"

#include <cerrno>
#include <cstring>

#include "runner/loader/elf.h"
#include "runner/loader/ring3_loader.h"
#include "runner/ring3/ring3_abi.h"
#include "runner/snapshot/memory_file.h"
#include "runner/snapshot/snapshot_abi.h"
#include "runner/vcpu/exit_handler.h"

namespace snapfaas::runner::snapshot::test {

class Ring3Harness::Ports : public BusDevice {
 public:
  void read(std::uint64_t, std::span<std::uint8_t> data) noexcept override { std::memset(data.data(), 0, data.size()); }
  void write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept override {
    std::uint32_t v = 0;
    std::memcpy(&v, data.data(), std::min(data.size(), sizeof v));
    if (offset == SNAPFAAS_PORT_EXIT - SNAPFAAS_PORT_FIRST) {
      exited = true;
      code = static_cast<int>(v);
    } else if (offset == SNAPFAAS_PORT_RESULT - SNAPFAAS_PORT_FIRST) {
      results.push_back(v);
    }
  }
  bool exited = false;
  int code = -1;
  std::vector<std::uint32_t> results;
};

std::string guest_path() { return std::string(SNAPFAAS_SNAPSHOT_GUEST); }

void boot_ring3(RestoreTarget& target, const std::string& path) {
  const ElfImage elf = ElfImage::read(path);
  load_ring3_guest(target.memory(), elf);
  const auto count = static_cast<std::uint32_t>(target.vcpus().size());
  const std::uint64_t mem = ram_bytes(target.memory());
  for (std::uint32_t i = 0; i < count; ++i) {
    KvmVcpu& v = target.vcpus()[i];
    v.set_sregs(ring3_sregs(v.sregs()));
    v.set_regs(ring3_regs(elf.entry(), mem, i, count));
  }
}

Ring3Harness::Ring3Harness(RestoreTarget& target, bool restored)
    : target_(target), ports_(std::make_shared<Ports>()), port_(std::make_shared<SnapshotPort>(restored)) {
  pio_.insert(ports_, SNAPFAAS_PORT_FIRST, SNAPFAAS_PORT_COUNT);
  pio_.insert(port_, SNAPFAAS_PORT_SNAPSHOT, 4);
}

void Ring3Harness::run_to_exit() {
  KvmVcpu& vcpu = target_.vcpus()[0];
  int r = 0;
  do {
    r = vcpu.run();
  } while (r == -EINTR || r == -EAGAIN);
  pending_exit_ = r == 0;
  if (r < 0) error_ = std::string("KVM_RUN: ") + std::strerror(-r);
}

Stop Ring3Harness::run() {
  KvmVcpu& vcpu = target_.vcpus()[0];
  const ExitContext ctx{pio_, mmio_, [&vcpu] { return vcpu.regs().rip; }};
  while (true) {
    if (!pending_exit_) {
      const int r = vcpu.run();
      if (r == -EINTR || r == -EAGAIN) continue;
      if (r < 0) {
        error_ = std::string("KVM_RUN: ") + std::strerror(-r);
        return Stop::kError;
      }
    }
    pending_exit_ = false;
    const ExitResult res = handle_exit(vcpu.run_struct(), vcpu.run_size(), ctx);
    if (ports_->exited) return Stop::kExit;
    if (port_->requested()) return Stop::kSnapshot;
    if (res.action != ExitAction::kContinue) {
      error_ = res.message.empty() ? "vCPU stopped" : res.message;
      return Stop::kError;
    }
  }
}

SavedSnapshot Ring3Harness::snapshot(const std::string& dir, const std::optional<SnapshotId>& base) {
  std::vector<KvmVcpu*> vcpus;
  for (KvmVcpu& v : target_.vcpus()) vcpus.push_back(&v);
  const MicrovmState state = capture_microvm(target_.vm(), target_.memory(), vcpus, true);
  SavedSnapshot saved = save_snapshot(dir, state, target_.vm(), target_.memory(), base);
  port_->mark_taken();
  return saved;
}

const std::vector<std::uint32_t>& Ring3Harness::results() const { return ports_->results; }
int Ring3Harness::exit_code() const { return ports_->code; }

}  // namespace snapfaas::runner::snapshot::test
