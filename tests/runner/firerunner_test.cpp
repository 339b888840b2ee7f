// Integration (native, PVM or hardware KVM): the firerunner binary boots the ring-3 test guests
// (tests/guests/) with 1 and 2 vCPUs; they do port and MMIO I/O, touch all memory, compute and
// report; bad inputs give one-line errors and a non-zero status.
#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "tests/guests/compute.h"
#include "tests/runner/run_process.h"

using snapfaas::test::ProcessResult;
using snapfaas::test::run_process;

namespace {
std::string guest(const std::string& name) { return std::string(SNAPFAAS_GUEST_DIR) + "/guest_" + name; }

ProcessResult firerunner(std::vector<std::string> args) {
  args.insert(args.begin(), SNAPFAAS_FIRERUNNER);
  return run_process(args);
}

std::size_t lines(const std::string& s) { return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n')); }
}  // namespace

TEST_CASE("port I/O guest: 1/2/4-byte out/in, result and console lines, exit 0") {
  const auto r = firerunner({"--kernel", guest("pio"), "--mem_size", "16"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "result 3405705229\npio ok\n");  // 0xcafef00d
}

TEST_CASE("MMIO guest: reads answered with the pattern, writes recorded") {
  const auto r = firerunner({"--kernel", guest("mmio"), "--mem_size", "16"});
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("mmio ok\n") != std::string::npos);
}

TEST_CASE("console output goes to --console FILE") {
  const std::string path = "/tmp/snapfaas-console-test.txt";
  const auto r = firerunner({"--kernel", guest("pio"), "--mem_size", "16", "--console", path});
  CHECK(r.status == 0);
  CHECK(r.out == "result 3405705229\n");
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text == "pio ok\n");
}

TEST_CASE("memory guest touches every page above its image, 1 and 2 vCPUs") {
  for (const char* vcpus : {"1", "2"}) {
    CAPTURE(vcpus);
    const auto r = firerunner({"--kernel", guest("memtouch"), "--mem_size", "32", "--vcpu_count", vcpus});
    INFO(r.err);
    CHECK(r.status == 0);
    // 32 MiB = 8192 pages, minus the 1 MiB boot area and the 2-page image.
    CHECK(r.out == "result " + std::to_string(8192 - 256 - 2) + "\n");
  }
}

TEST_CASE("compute guest: deterministic result on each vCPU") {
  const auto one = firerunner({"--kernel", guest("compute"), "--mem_size", "16"});
  CHECK(one.status == 0);
  const std::string r1 = "result " + std::to_string(snapfaas_compute(1, SNAPFAAS_COMPUTE_ITERATIONS)) + "\n";
  const std::string r2 = "result " + std::to_string(snapfaas_compute(2, SNAPFAAS_COMPUTE_ITERATIONS)) + "\n";
  CHECK(one.out == r1);
  const auto two = firerunner({"--kernel", guest("compute"), "--mem_size", "16", "--vcpu_count", "2"});
  CHECK(two.status == 0);
  CHECK(two.out == r2 + r1);  // vCPU 1 reports first, vCPU 0 waits for it
}

TEST_CASE("exit status is the guest's; --ring3 starts a guest without the note") {
  CHECK(firerunner({"--kernel", guest("exit"), "--mem_size", "16"}).status == 42);
  CHECK(firerunner({"--kernel", guest("exit_nonote"), "--mem_size", "16", "--ring3"}).status == 42);
}

TEST_CASE("a guest fault ends the VM with a one-line error naming the exit and RIP") {
  const auto r = firerunner({"--kernel", guest("fault"), "--mem_size", "16"});
  CHECK(r.status == 1);
  CHECK(r.err.find("firerunner: vCPU 0: KVM_EXIT_") != std::string::npos);
  CHECK(r.err.find("at RIP 0x") != std::string::npos);
}

TEST_CASE("negative: missing, corrupt and truncated kernels, memory too small, missing image") {
  SUBCASE("missing kernel") {
    const auto r = firerunner({"--kernel", "/nonexistent/vmlinux"});
    CHECK(r.status == 1);
    CHECK(r.err == "firerunner: ELF /nonexistent/vmlinux: No such file or directory\n");
  }
  SUBCASE("not an ELF") {
    const auto r = firerunner({"--kernel", SNAPFAAS_SOURCE_DIR "/CMakeLists.txt"});
    CHECK(r.status == 1);
    CHECK(r.err.find("not an ELF file (bad magic)") != std::string::npos);
    CHECK(lines(r.err) == 1);
  }
  SUBCASE("truncated ELF") {
    const std::string path = "/tmp/snapfaas-truncated-elf";
    {
      std::ifstream in(guest("pio"), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      std::ofstream(path, std::ios::binary) << bytes.substr(0, 200);
    }
    const auto r = firerunner({"--kernel", path});
    CHECK(r.status == 1);
    CHECK(r.err.find("outside the file") != std::string::npos);
    CHECK(lines(r.err) == 1);
  }
  SUBCASE("memory too small") {
    const auto r = firerunner({"--kernel", guest("pio"), "--mem_size", "1"});
    CHECK(r.status == 1);
    CHECK(r.err.find("does not fit in guest memory") != std::string::npos);
    CHECK(lines(r.err) == 1);
  }
  SUBCASE("missing rootfs image") {
    // Linux path (the exit guest without the note is taken for a vmlinux): the image is opened
    // while devices are attached, before any vCPU runs.
    const auto r = firerunner({"--kernel", guest("exit_nonote"), "--rootfs", "/nonexistent/rootfs.ext4"});
    CHECK(r.status == 1);
    CHECK(r.err.find("/nonexistent/rootfs.ext4") != std::string::npos);
    CHECK(lines(r.err) == 1);
  }
  SUBCASE("bad vCPU count") {
    const auto r = firerunner({"--kernel", guest("pio"), "--vcpu_count", "0"});
    CHECK(r.status == 1);
    CHECK(r.err == "firerunner: vcpu_count 0: must be 1..16\n");
  }
}
