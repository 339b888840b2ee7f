// RingWindow on a real KVM VM (integration: needs /dev/kvm): the channel header page goes in as a
// KVM_MEM_READONLY memslot, and when KVM refuses that the window is refused too — a guest that
// could write its header page could forge what the runner and supervisor trust there — unless the
// operator explicitly allowed a writable header (firerunner --allow_writable_header).
#include "runner/window/ring_window.h"

#include <doctest/doctest.h>
#include <linux/kvm.h>
#include <unistd.h>

#include <string>

#include "common/error.h"
#include "ipc/channel.h"
#include "ipc/guest_abi.h"
#include "runner/kvm/kvm_system.h"
#include "runner/kvm/kvm_vm.h"
#include "runner/memory/mmap_region.h"

namespace {

using namespace snapfaas;
using runner::window::HeaderPolicy;
using runner::window::RingWindow;

std::string channel_name(const char* tag) { return "/snapfaas-rw-test-" + std::to_string(::getpid()) + "-" + tag; }

// Makes KVM refuse the read-only header memslot: slot kWindowHeaderSlot already exists at the
// window's GPA (read-write, other host memory), and KVM never changes KVM_MEM_READONLY on a
// live slot (EINVAL, virt/kvm/kvm_main.c).
runner::MmapRegion occupy_header_slot(runner::KvmVm& vm) {
  runner::MmapRegion page = runner::MmapRegion::anonymous(ipc::kPageSize);
  vm.set_user_memory_region(runner::window::kWindowHeaderSlot, ipc::kWindowGpa, ipc::kPageSize, page.data());
  return page;
}

}  // namespace

TEST_CASE("the header page is a read-only memslot when KVM accepts one") {
  const runner::KvmSystem kvm = runner::KvmSystem::open();
  REQUIRE_MESSAGE(kvm.check_extension(KVM_CAP_READONLY_MEM) > 0, "this KVM has no KVM_CAP_READONLY_MEM");
  runner::KvmVm vm = runner::KvmVm::create(kvm);
  auto channel = ipc::SupervisorChannel::create(channel_name("ok"));
  const common::UniqueFd fd = channel.shm().dup_fd();
  const RingWindow window = RingWindow::map(fd.get(), channel.layout(), vm, HeaderPolicy::kReadOnly);
  CHECK(window.header_readonly());
}

TEST_CASE("KVM refusing KVM_MEM_READONLY: the window is refused unless a writable header is allowed") {
  const runner::KvmSystem kvm = runner::KvmSystem::open();
  runner::KvmVm vm = runner::KvmVm::create(kvm);
  const runner::MmapRegion occupied = occupy_header_slot(vm);
  auto channel = ipc::SupervisorChannel::create(channel_name("refused"));
  const common::UniqueFd fd = channel.shm().dup_fd();
  CHECK_THROWS_WITH_AS((void)RingWindow::map(fd.get(), channel.layout(), vm, HeaderPolicy::kReadOnly),
                       doctest::Contains("--allow_writable_header"), common::Error);
}
