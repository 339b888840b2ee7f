// normalize_cpuid: APIC IDs, topology and the hypervisor leaves for N vCPUs.
#include "runner/kvm/cpuid.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <string>

using namespace snapfaas::runner;

namespace {
kvm_cpuid_entry2 leaf(std::uint32_t function, std::uint32_t index = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  e.ebx = 0xffffffff;
  e.ecx = 0;
  e.edx = 0;
  return e;
}
const kvm_cpuid_entry2& find(const std::vector<kvm_cpuid_entry2>& v, std::uint32_t f, std::uint32_t i = 0) {
  auto it = std::find_if(v.begin(), v.end(), [&](const auto& e) { return e.function == f && e.index == i; });
  REQUIRE(it != v.end());
  return *it;
}
}  // namespace

TEST_CASE("leaf 1 carries the APIC ID, logical count, HTT and the hypervisor bit") {
  const std::vector<kvm_cpuid_entry2> in = {leaf(1), leaf(0xb, 0), leaf(0xb, 1), leaf(0xb, 2), leaf(4, 0)};
  const auto one = normalize_cpuid(in, 0, 1);
  CHECK((find(one, 1).ebx >> 24) == 0u);
  CHECK(((find(one, 1).ebx >> 16) & 0xff) == 1u);
  CHECK((find(one, 1).ecx & (1u << 31)) != 0);
  CHECK((find(one, 1).edx & (1u << 28)) == 0);

  const auto second = normalize_cpuid(in, 1, 2);
  CHECK((find(second, 1).ebx >> 24) == 1u);
  CHECK(((find(second, 1).ebx >> 16) & 0xff) == 2u);
  CHECK((find(second, 1).edx & (1u << 28)) != 0);
  CHECK(find(second, 0xb, 0).edx == 1u);  // x2APIC ID
  CHECK(find(second, 0xb, 1).ebx == 2u);  // two cores
  CHECK(find(second, 0xb, 1).eax == 1u);  // one bit of core ID
  CHECK(((find(second, 0xb, 1).ecx >> 8) & 0xff) == 2u);
  CHECK(find(second, 0xb, 2).ebx == 0u);  // terminator level
  CHECK((find(second, 4, 0).eax >> 26) == 1u);
}

TEST_CASE("the KVM signature leaf is added when missing and kept when present") {
  const auto out = normalize_cpuid({leaf(1)}, 0, 1);
  const auto& sig = find(out, 0x40000000);
  char text[13] = {};
  std::memcpy(text, &sig.ebx, 4);
  std::memcpy(text + 4, &sig.ecx, 4);
  std::memcpy(text + 8, &sig.edx, 4);
  CHECK(std::string(text) == "KVMKVMKVM");

  auto present = leaf(0x40000000);
  present.eax = 0x40000010;
  const auto kept = normalize_cpuid({present}, 0, 1);
  CHECK(std::count_if(kept.begin(), kept.end(), [](const auto& e) { return e.function == 0x40000000; }) == 1);
  CHECK(find(kept, 0x40000000).eax == 0x40000010u);
}
