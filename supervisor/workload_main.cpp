// snapfaas-workload: writes a Poisson workload (JSON lines) — per function a mean inter-arrival
// time in ms, a time window, a number of users and a seed (same flags → same file).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "common/error.h"
#include "supervisor/workload.h"

int main(int argc, char** argv) {
  using snapfaas::supervisor::WorkloadSpec;
  WorkloadSpec spec;
  std::vector<std::string> functions;
  std::string out_path;
  std::string payload = "{}";
  CLI::App app{"snapfaas-workload: Poisson workload generator (JSON lines)"};
  app.add_option("--function", functions, "NAME=MEAN_INTERARRIVAL_MS (repeatable)")->required();
  app.add_option("--start", spec.start_ms, "first possible arrival, ms")->capture_default_str();
  app.add_option("--end", spec.end_ms, "end of the window, ms (exclusive)")->capture_default_str();
  app.add_option("--users", spec.users, "number of users")->capture_default_str();
  app.add_option("--seed", spec.seed, "random seed")->capture_default_str();
  app.add_option("--payload", payload, "JSON payload of every request")->capture_default_str();
  app.add_option("--out", out_path, "output file (default stdout)");
  CLI11_PARSE(app, argc, argv);
  try {
    for (const auto& f : functions) {
      const auto eq = f.find('=');
      if (eq == std::string::npos || eq == 0) throw snapfaas::common::Error("--function wants NAME=MEAN_MS: " + f);
      spec.mean_interarrival_ms[f.substr(0, eq)] = std::stod(f.substr(eq + 1));
    }
    spec.payload = payload;
    const auto requests = snapfaas::supervisor::generate_workload(spec);
    std::ofstream file;
    if (!out_path.empty()) {
      file.open(out_path);
      if (!file) throw snapfaas::common::sys_error("open " + out_path);
    }
    std::ostream& out = out_path.empty() ? std::cout : file;
    for (const auto& r : requests) out << snapfaas::supervisor::to_json_line(r) << '\n';
    out.flush();
    std::fprintf(stderr, "snapfaas-workload: %zu requests\n", requests.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "snapfaas-workload: %s\n", e.what());
    return 1;
  }
  return 0;
}
