// restore_devices on a real (never run) Linux Vmm: a snapshot's device state is guest-produced
// data, so the backends come from the VM's own configuration only — a snapshot cannot name a host
// file, reopen read-write a disk the configuration gives read-only, or name a tap of its own.
// Integration (needs /dev/kvm; the tap case runs in a forked child's own network namespace).
#include "runner/snapshot/device_snapshot.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "runner/devices/virtio/block/block.h"
#include "runner/devices/virtio/mmio.h"
#include "runner/devices/virtio/net/net.h"
#include "runner/memory/guest_layout.h"
#include "runner/vmm.h"
#include "tests/runner/devices/virtio/net/netns_child.h"
#include "tests/runner/loader/elf_builder.h"

namespace {

namespace fs = std::filesystem;
using namespace snapfaas::runner;

struct Files {
  fs::path dir = fs::temp_directory_path() / ("snapfaas-devrestore-" + std::to_string(::getpid()));
  Files() {
    fs::create_directories(dir);
    // A tiny ELF "kernel" (never run): one 16-byte segment at 16 MiB.
    const auto elf = test::make_elf_bytes(0x200, 0x1000000, {0x100, 0x1000000, 16, 0x1000});
    std::ofstream(kernel(), std::ios::binary).write(reinterpret_cast<const char*>(elf.data()),
                                                     static_cast<std::streamsize>(elf.size()));
    image(rootfs(), 64 * 1024);
    image(secret(), 64 * 1024);
  }
  ~Files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  static void image(const fs::path& p, std::size_t size) {
    std::ofstream f(p, std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size - 1));
    f.put('\0');
  }
  [[nodiscard]] std::string kernel() const { return (dir / "vmlinux").string(); }
  [[nodiscard]] std::string rootfs() const { return (dir / "rootfs.img").string(); }
  [[nodiscard]] std::string secret() const { return (dir / "another-tenant.img").string(); }
};

VmmConfig linux_vm(const Files& f, const std::string& rootfs, bool rootfs_rw = false) {
  VmmConfig c;
  c.kernel = f.kernel();
  c.rootfs = rootfs;
  c.rootfs_rw = rootfs_rw;
  c.mem_mib = 64;
  return c;
}

}  // namespace

TEST_CASE("a snapshot's disk is backed by the VM's own --rootfs, never by a path the snapshot names") {
  Files f;
  snapshot::DeviceStates states;
  {
    Vmm saved(linux_vm(f, f.secret()));
    states = snapshot::capture_devices(saved);
  }
  REQUIRE(states.blocks.size() == 1);
  CHECK(states.blocks[0].block.path == f.secret());
  Vmm without_disk(linux_vm(f, ""));
  CHECK_THROWS_WITH_AS(snapshot::restore_devices(without_disk, states), doctest::Contains("rootfs"),
                       snapfaas::common::Error);
  Vmm with_disk(linux_vm(f, f.rootfs()));
  snapshot::restore_devices(with_disk, states);
  REQUIRE(with_disk.devices().blocks.size() == 1);
  // The state's path is only a label: the restored device says what actually backs it.
  const auto& block = dynamic_cast<const virtio::block::Block&>(with_disk.devices().blocks[0].transport->device());
  CHECK(block.save().path == f.rootfs());
}

TEST_CASE("a snapshot cannot make read-write a disk the VM attaches read-only") {
  Files f;
  snapshot::DeviceStates states;
  {
    Vmm saved(linux_vm(f, f.rootfs(), /*rootfs_rw=*/true));
    states = snapshot::capture_devices(saved);
  }
  REQUIRE(states.blocks.size() == 1);
  REQUIRE_FALSE(states.blocks[0].block.read_only);
  Vmm read_only(linux_vm(f, f.rootfs()));
  CHECK_THROWS_WITH_AS(snapshot::restore_devices(read_only, states), doctest::Contains("read-only"),
                       snapfaas::common::Error);
  Vmm read_write(linux_vm(f, f.rootfs(), /*rootfs_rw=*/true));
  snapshot::restore_devices(read_write, states);
  const auto& block = dynamic_cast<const virtio::block::Block&>(read_write.devices().blocks[0].transport->device());
  CHECK_FALSE(block.save().read_only);
}

TEST_CASE("a snapshot's network device needs the VM's own --network: the snapshot's tap name opens nothing") {
  CHECK_IN_NETNS([] {
    Files f;
    snapshot::DeviceStates states;
    states.nets.push_back({layout::kVirtioMmioBase + layout::kVirtioMmioSize, layout::kFirstVirtioIrq + 1, {},
                           {"sfsnap0", {0x06, 0, 0, 0, 0, 2}, virtio::net::kNetFeatures}});
    Vmm saved(linux_vm(f, f.rootfs()));
    states.blocks = snapshot::capture_devices(saved).blocks;
    states.nets[0].transport = states.blocks[0].transport;  // an inactive transport's state
    Vmm no_network(linux_vm(f, f.rootfs()));
    bool refused = false;
    try {
      snapshot::restore_devices(no_network, states);
    } catch (const snapfaas::common::Error& e) {
      refused = std::string(e.what()).find("network") != std::string::npos;
    }
    NET_EXPECT(refused);
    NET_EXPECT(!fs::exists("/sys/class/net/sfsnap0"));  // no tap was made in this namespace
  });
}
