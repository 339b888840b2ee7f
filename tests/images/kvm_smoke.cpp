// kvm_smoke: proof that /dev/kvm can run a guest to completion. Creates a VM with 64 KiB of RAM and
// one vCPU in real mode, runs 9 bytes of code that computes a value, writes it with `out` and halts,
// and checks both exits (KVM_EXIT_IO with the right port/size/value, then KVM_EXIT_HLT).
// Used by tests/images/kvm_host_test.sh inside the emulated KVM host (scripts/kvm-host.sh).
// Exit status 0 and "kvm-smoke: ok" on success; 1 and one "kvm-smoke: error: ..." line otherwise.
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"

namespace {

using snapfaas::common::check_sys;
using snapfaas::common::Error;
using snapfaas::common::UniqueFd;

constexpr std::uint64_t kMemSize = 0x10000;
constexpr std::uint64_t kCodeAddr = 0x1000;
constexpr std::uint16_t kPort = 0x10;
constexpr std::uint8_t kExpected = 0x2a;

// mov al, 0x20 ; add al, 0x0a ; out 0x10, al ; hlt ; hlt
constexpr std::array<std::uint8_t, 9> kCode{0xb0, 0x20, 0x04, 0x0a, 0xe6, kPort, 0xf4, 0xf4, 0xf4};

/// Owns one mmap'ed range.
class Mapping {
 public:
  Mapping(void* addr, std::size_t size) : addr_(addr), size_(size) {}
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr_ != MAP_FAILED) ::munmap(addr_, size_);
  }
  [[nodiscard]] void* get() const noexcept { return addr_; }

 private:
  void* addr_;
  std::size_t size_;
};

Mapping map_or_throw(std::size_t size, int prot, int flags, int fd, const char* step) {
  void* addr = ::mmap(nullptr, size, prot, flags, fd, 0);
  if (addr == MAP_FAILED) throw snapfaas::common::sys_error(step);
  return Mapping(addr, size);
}

const char* exit_name(std::uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    default: return "other";
  }
}

void run() {
  UniqueFd kvm(check_sys(::open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm"));
  const int api = check_sys(::ioctl(kvm.get(), KVM_GET_API_VERSION, 0), "KVM_GET_API_VERSION");
  if (api != KVM_API_VERSION) throw Error("KVM_GET_API_VERSION: " + std::to_string(api));
  UniqueFd vm(check_sys(::ioctl(kvm.get(), KVM_CREATE_VM, 0), "KVM_CREATE_VM"));

  Mapping mem = map_or_throw(kMemSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                             -1, "mmap guest memory");
  std::memcpy(static_cast<std::uint8_t*>(mem.get()) + kCodeAddr, kCode.data(), kCode.size());
  kvm_userspace_memory_region region{};
  region.slot = 0;
  region.guest_phys_addr = 0;
  region.memory_size = kMemSize;
  region.userspace_addr = reinterpret_cast<std::uint64_t>(mem.get());
  check_sys(::ioctl(vm.get(), KVM_SET_USER_MEMORY_REGION, &region), "KVM_SET_USER_MEMORY_REGION");

  UniqueFd vcpu(check_sys(::ioctl(vm.get(), KVM_CREATE_VCPU, 0), "KVM_CREATE_VCPU"));
  const int run_size = check_sys(::ioctl(kvm.get(), KVM_GET_VCPU_MMAP_SIZE, 0), "KVM_GET_VCPU_MMAP_SIZE");
  Mapping run_map = map_or_throw(static_cast<std::size_t>(run_size), PROT_READ | PROT_WRITE, MAP_SHARED,
                                 vcpu.get(), "mmap kvm_run");
  auto* run = static_cast<kvm_run*>(run_map.get());

  kvm_sregs sregs{};
  check_sys(::ioctl(vcpu.get(), KVM_GET_SREGS, &sregs), "KVM_GET_SREGS");
  sregs.cs.base = 0;
  sregs.cs.selector = 0;
  check_sys(::ioctl(vcpu.get(), KVM_SET_SREGS, &sregs), "KVM_SET_SREGS");
  kvm_regs regs{};
  regs.rip = kCodeAddr;
  regs.rflags = 0x2;
  check_sys(::ioctl(vcpu.get(), KVM_SET_REGS, &regs), "KVM_SET_REGS");

  check_sys(::ioctl(vcpu.get(), KVM_RUN, 0), "KVM_RUN (1)");
  if (run->exit_reason != KVM_EXIT_IO) {
    throw Error(std::string("first exit: expected KVM_EXIT_IO, got ") + exit_name(run->exit_reason) + " (" +
                std::to_string(run->exit_reason) + ")");
  }
  // SAFETY: io.data_offset points inside the kvm_run mapping (KVM API, "KVM_EXIT_IO").
  const auto* data = reinterpret_cast<const std::uint8_t*>(run) + run->io.data_offset;
  if (run->io.direction != KVM_EXIT_IO_OUT || run->io.port != kPort || run->io.size != 1 ||
      run->io.count != 1 || *data != kExpected) {
    throw Error("KVM_EXIT_IO: port " + std::to_string(run->io.port) + " size " + std::to_string(run->io.size) +
                " value " + std::to_string(*data) + ", expected out of " + std::to_string(kExpected) +
                " to port " + std::to_string(kPort));
  }
  check_sys(::ioctl(vcpu.get(), KVM_RUN, 0), "KVM_RUN (2)");
  if (run->exit_reason != KVM_EXIT_HLT) {
    throw Error(std::string("second exit: expected KVM_EXIT_HLT, got ") + exit_name(run->exit_reason));
  }
  check_sys(::ioctl(vcpu.get(), KVM_GET_REGS, &regs), "KVM_GET_REGS");
  if (regs.rip != kCodeAddr + 7) throw Error("RIP after hlt: " + std::to_string(regs.rip));
  std::printf("kvm-smoke: ok (out 0x%x to port 0x%x, then hlt at 0x%llx)\n", kExpected, kPort,
              static_cast<unsigned long long>(regs.rip - 1));
}

}  // namespace

int main() {
  try {
    run();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvm-smoke: error: %s\n", e.what());
    return 1;
  }
}
