// KvmVcpuStats' descriptor lookup (find_vcpu_counters) on made-up statistics tables: the two
// counters found at data_offset + their offset; a table that does not match its header, an
// unterminated name, a counter of another shape or a missing one refused.
#include "runner/kvm/kvm_stats.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

using namespace snapfaas::runner;

namespace {

constexpr std::uint32_t kNameSize = 48;

struct Desc {
  std::string name;
  std::uint32_t flags = KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10;
  std::uint16_t size = 1;
  std::uint32_t offset = 0;
};

std::vector<std::uint8_t> table(const std::vector<Desc>& descs, std::uint32_t name_size = kNameSize) {
  std::vector<std::uint8_t> out;
  for (const Desc& d : descs) {
    std::vector<std::uint8_t> e(kStatsDescFixedBytes + name_size, 0);
    std::memcpy(e.data(), &d.flags, 4);
    std::memcpy(e.data() + 6, &d.size, 2);
    std::memcpy(e.data() + 8, &d.offset, 4);
    std::memcpy(e.data() + kStatsDescFixedBytes, d.name.data(), std::min<std::size_t>(d.name.size(), name_size));
    out.insert(out.end(), e.begin(), e.end());
  }
  return out;
}

kvm_stats_header header(std::uint32_t num_desc, std::uint32_t name_size = kNameSize) {
  kvm_stats_header h{};
  h.name_size = name_size;
  h.num_desc = num_desc;
  h.desc_offset = 64;
  h.data_offset = 4096;
  return h;
}

}  // namespace

TEST_CASE("kvm stats: pf_taken and exits found among other counters, offsets from the data block") {
  const std::vector<Desc> descs = {{.name = "halt_wait_ns", .offset = 0},
                                   {.name = "pf_fixed", .offset = 8},
                                   {.name = "pf_taken", .offset = 16},
                                   {.name = "halt_wait_hist", .flags = KVM_STATS_TYPE_LOG_HIST, .size = 32, .offset = 24},
                                   {.name = "exits", .offset = 280}};
  const auto found = find_vcpu_counters(header(5), table(descs));
  REQUIRE(found.has_value());
  CHECK(found->page_faults == 4096 + 16);
  CHECK(found->exits == 4096 + 280);
}

TEST_CASE("kvm stats: tables that do not fit their header, or lack a usable counter, are refused") {
  const std::vector<Desc> good = {{.name = "pf_taken", .offset = 0}, {.name = "exits", .offset = 8}};
  CHECK(find_vcpu_counters(header(2), table(good)).has_value());
  // Sizes that disagree with the header.
  CHECK_FALSE(find_vcpu_counters(header(3), table(good)).has_value());
  std::vector<std::uint8_t> short_table = table(good);
  short_table.pop_back();
  CHECK_FALSE(find_vcpu_counters(header(2), short_table).has_value());
  CHECK_FALSE(find_vcpu_counters(header(2, 0), {}).has_value());
  CHECK_FALSE(find_vcpu_counters(header(2, 100000), table(good, 100000)).has_value());
  // A name that fills its whole field (no NUL inside it).
  CHECK_FALSE(find_vcpu_counters(header(2, 8), table({{.name = "pf_taken"}, {.name = "exits", .offset = 8}}, 8)).has_value());
  // Missing, or of another shape.
  CHECK_FALSE(find_vcpu_counters(header(1), table({{.name = "pf_taken"}})).has_value());
  CHECK_FALSE(find_vcpu_counters(header(2), table({{.name = "pf_taken", .flags = KVM_STATS_TYPE_INSTANT},
                                                   {.name = "exits", .offset = 8}}))
                  .has_value());
  CHECK_FALSE(find_vcpu_counters(header(2), table({{.name = "pf_taken", .size = 2}, {.name = "exits", .offset = 16}}))
                  .has_value());
}
