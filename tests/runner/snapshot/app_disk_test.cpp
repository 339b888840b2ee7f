// Vmm::attach_app_disk on a real (never run) Linux Vmm: a pre-spawned runner's kBoot gives the
// function's app image to a kernel already loaded — in the same virtio-mmio slot and IRQ a VM
// built with --appfs has, announced in the command line in guest memory (zero page length too),
// read-only; a second app disk or a ring-3 VM is refused. Integration (needs /dev/kvm).
#include <asm/bootparam.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/error.h"
#include "runner/devices/virtio/block/block.h"
#include "runner/devices/virtio/mmio.h"
#include "runner/loader/linux_loader.h"
#include "runner/vmm.h"
#include "tests/runner/loader/elf_builder.h"

namespace {

namespace fs = std::filesystem;
using namespace snapfaas::runner;

struct Files {
  fs::path dir = fs::temp_directory_path() / ("snapfaas-appdisk-" + std::to_string(::getpid()));
  Files() {
    fs::create_directories(dir);
    const auto elf = test::make_elf_bytes(0x200, 0x1000000, {0x100, 0x1000000, 16, 0x1000});  // never run
    std::ofstream(path("vmlinux"), std::ios::binary).write(reinterpret_cast<const char*>(elf.data()),
                                                           static_cast<std::streamsize>(elf.size()));
    for (const char* name : {"rootfs.img", "app.img"}) {
      std::ofstream img(path(name), std::ios::binary);
      img.seekp(64 * 1024 - 1);
      img.put('\0');
    }
  }
  ~Files() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  [[nodiscard]] std::string path(const char* name) const { return (dir / name).string(); }
  [[nodiscard]] VmmConfig vm(bool with_appfs) const {
    VmmConfig c;
    c.kernel = path("vmlinux");
    c.rootfs = path("rootfs.img");
    if (with_appfs) c.appfs = path("app.img");
    c.mem_mib = 64;
    return c;
  }
  [[nodiscard]] snapfaas::common::UniqueFd open_app() const {
    return snapfaas::common::UniqueFd(::open(path("app.img").c_str(), O_RDONLY | O_CLOEXEC));
  }
};

std::string guest_cmdline(const Vmm& vmm) {
  const auto params = vmm.memory().read_obj<boot_params>(linux_boot::kZeroPage);
  REQUIRE(params.has_value());
  std::string text(params->hdr.cmdline_size, '\0');
  REQUIRE(vmm.memory().read(linux_boot::kCmdline, std::span(reinterpret_cast<std::uint8_t*>(text.data()), text.size())));
  return text;
}

}  // namespace

TEST_CASE("an app disk attached after the load sits where --appfs puts it and is announced to the kernel") {
  Files f;
  Vmm reference(f.vm(true));
  REQUIRE(reference.devices().blocks.size() == 2);
  const BlockSlot& expected = reference.devices().blocks[1];

  Vmm vmm(f.vm(false));
  const std::string before = vmm.cmdline();
  vmm.attach_app_disk(f.open_app(), f.path("app.img"));
  REQUIRE(vmm.devices().blocks.size() == 2);
  const BlockSlot& slot = vmm.devices().blocks[1];
  CHECK(slot.role == "appfs");
  CHECK(slot.mmio_base == expected.mmio_base);
  CHECK(slot.irq == expected.irq);
  const std::string arg = virtio::mmio_kernel_arg(slot.mmio_base, slot.irq);
  CHECK(vmm.cmdline() == before + " " + arg);
  CHECK(guest_cmdline(vmm) == vmm.cmdline());  // what the kernel will read, length included
  const auto& block = dynamic_cast<const virtio::block::Block&>(slot.transport->device());
  CHECK(block.save().read_only);
  CHECK(block.save().path == f.path("app.img"));
  CHECK(block.save().id == "appfs");

  CHECK_THROWS_WITH_AS(vmm.attach_app_disk(f.open_app(), "again"), doctest::Contains("has one already"),
                       snapfaas::common::Error);
  CHECK(guest_cmdline(vmm) == vmm.cmdline());
}

TEST_CASE("rewrite_linux_cmdline refuses a command line past the kernel's limit and leaves the old one") {
  Files f;
  Vmm vmm(f.vm(false));
  CHECK_THROWS_WITH_AS(rewrite_linux_cmdline(vmm.memory(), std::string(linux_boot::kCmdlineMax, 'x')),
                       doctest::Contains("kernel command line"), snapfaas::common::Error);
  CHECK(guest_cmdline(vmm) == vmm.cmdline());
}
