// elf_libraries: the jailer's list of what the loader opens, read from ELF headers — checked
// against ldd (the test's oracle only: the supervisor runs no shell) for firerunner and the
// supervisor, plus a static binary, a missing library and files that are not ELF; the Release
// firerunner is itself static (runner/CMakeLists.txt): its jail holds the binary alone.
#include "supervisor/elf_libraries.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "common/error.h"

namespace {

using snapfaas::supervisor::elf_libraries;

std::set<std::string> ldd(const std::string& binary) {
  std::set<std::string> out;
  FILE* pipe = ::popen(("ldd '" + binary + "'").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char line[1024];
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    std::istringstream words(line);
    for (std::string w; words >> w;) {
      if (!w.empty() && w[0] == '/') out.insert(w);
    }
  }
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("firerunner's and the supervisor's libraries: the files ldd names") {
  for (const char* binary : {SNAPFAAS_FIRERUNNER_PATH, SNAPFAAS_SUPERVISOR_PATH}) {
    CAPTURE(binary);
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<std::string> libs = elf_libraries(binary);
    const auto t1 = std::chrono::steady_clock::now();
    const std::set<std::string> oracle = ldd(binary);
    const auto t2 = std::chrono::steady_clock::now();
    MESSAGE("elf_libraries " << std::chrono::duration<double, std::milli>(t1 - t0).count() << " ms, popen(ldd) "
                             << std::chrono::duration<double, std::milli>(t2 - t1).count() << " ms, "
                             << libs.size() << " files");
    // ldd names the same files, maybe through another path to the same inode (/lib vs /usr/lib).
    CHECK(libs.size() == oracle.size());
    for (const std::string& lib : libs) {
      const bool same = std::any_of(oracle.begin(), oracle.end(),
                                    [&](const std::string& o) { return std::filesystem::equivalent(o, lib); });
      CHECK_MESSAGE(same, lib);
    }
    CHECK(std::set<std::string>(libs.begin(), libs.end()).size() == libs.size());
  }
}

#if defined(SNAPFAAS_FIRERUNNER_STATIC)
TEST_CASE("the static firerunner needs no interpreter and no library: the jail binds the binary alone") {
  CHECK(elf_libraries(SNAPFAAS_FIRERUNNER_PATH).empty());
  CHECK(ldd(SNAPFAAS_FIRERUNNER_PATH).empty());  // "not a dynamic executable"
  // Found by the same reading that finds the supervisor's: the check is not vacuous.
  CHECK(!elf_libraries(SNAPFAAS_SUPERVISOR_PATH).empty());
  // static-pie, not plain -static: position-independent (ET_DYN), so the VMM keeps ASLR.
  std::ifstream elf(SNAPFAAS_FIRERUNNER_PATH, std::ios::binary);
  unsigned char header[18] = {};
  REQUIRE(elf.read(reinterpret_cast<char*>(header), sizeof header));
  CHECK(header[16] == 3);  // e_type ET_DYN (little-endian half at offset 16)
  CHECK(header[17] == 0);
}
#endif

TEST_CASE("a static binary needs nothing; a missing library or a non-ELF file is a clear error") {
  CHECK(elf_libraries("/bin/busybox").empty());  // busybox-static
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("snapfaas-elf-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "not-elf") << "#!/bin/sh\necho hi\n";
  CHECK_THROWS_WITH_AS(elf_libraries((dir / "not-elf").string()), doctest::Contains("not"), snapfaas::common::Error);
  // The supervisor's libraries searched in an empty directory: the first one is missing, by name.
  std::filesystem::create_directories(dir / "empty");
  CHECK_THROWS_WITH_AS(elf_libraries(SNAPFAAS_SUPERVISOR_PATH, {(dir / "empty").string()}),
                       doctest::Contains("is in none of the loader's directories"), snapfaas::common::Error);
  std::filesystem::remove_all(dir);
}
