// Controller keys for network functions (network_namespace_prefix, network_tap): defaults, values,
// and the errors for names that cannot be a namespace under /run/netns or a TAP/MAC spec.
#include <doctest/doctest.h>

#include <string>

#include "common/error.h"
#include "supervisor/config.h"

using namespace snapfaas::supervisor;

namespace {
const std::string kBase = "kernel_path: vmlinux\nfunction_config: functions.yaml\nfirerunner_path: /bin/firerunner\n";

std::string error_of(const std::string& extra) {
  try {
    (void)parse_controller_config(kBase + extra, "ctl.yaml");
  } catch (const snapfaas::common::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("controller config: network defaults match scripts/setup-network.sh") {
  const auto c = parse_controller_config(kBase, "ctl.yaml");
  CHECK(c.network_namespace_prefix == "snapfaas-");
  CHECK(c.network_tap == "tap0/06:00:ac:10:00:02");
}

TEST_CASE("controller config: network keys") {
  const auto c = parse_controller_config(kBase + "network_namespace_prefix: sftest-\nnetwork_tap: tap1/06:00:00:00:00:01\n",
                                         "ctl.yaml");
  CHECK(c.network_namespace_prefix == "sftest-");
  CHECK(c.network_tap == "tap1/06:00:00:00:00:01");
  CHECK(error_of("network_namespace_prefix: ../etc/\n").find("ctl.yaml:4: field 'network_namespace_prefix'") !=
        std::string::npos);
  CHECK(error_of("network_namespace_prefix: a b\n").find("network_namespace_prefix") != std::string::npos);
  CHECK(error_of("network_namespace_prefix: ''\n").find("network_namespace_prefix") != std::string::npos);
  CHECK(error_of("network_tap: tap0\n").find("ctl.yaml:4: field 'network_tap' must be TAP/MAC") != std::string::npos);
  CHECK(error_of("network_namespace_prefix: ok_1.x-\n").empty());
}
