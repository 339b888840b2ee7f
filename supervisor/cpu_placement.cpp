// CpuPlacement (see cpu_placement.h).
#include "supervisor/cpu_placement.h"

#include <charconv>

#include "common/error.h"

namespace snapfaas::supervisor {

namespace {

[[nodiscard]] bool parse_cpu(std::string_view text, unsigned& cpu) {
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, cpu);
  return ec == std::errc() && ptr == end && !text.empty();
}

}  // namespace

std::string format_cpu_list(const cpu_set_t& set) {
  std::string out;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!out.empty()) out += ',';
    out += std::to_string(cpu);
    if (last > cpu) out += '-' + std::to_string(last);
    cpu = last;
  }
  return out;
}

CpuList current_cpus() {
  CpuList cpus;
  if (::sched_getaffinity(0, sizeof cpus.set, &cpus.set) != 0) throw common::sys_error("sched_getaffinity");
  cpus.text = format_cpu_list(cpus.set);
  return cpus;
}

CpuList parse_cpu_list(std::string_view text, std::string_view option) {
  const CpuList allowed = current_cpus();
  const std::string what = std::string(option) + " " + std::string(text);
  CpuList cpus;
  CPU_ZERO(&cpus.set);
  std::string_view rest = text;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const std::size_t dash = item.find('-');
    unsigned first = 0, last = 0;
    const bool ok = dash == std::string_view::npos
                        ? parse_cpu(item, first) && parse_cpu(item, last)
                        : parse_cpu(item.substr(0, dash), first) && parse_cpu(item.substr(dash + 1), last);
    if (!ok || first > last || last >= CPU_SETSIZE) {
      throw common::Error(what + ": expected a CPU list such as 0, 1-3 or 0,2-3");
    }
    for (unsigned cpu = first; cpu <= last; ++cpu) {
      if (!CPU_ISSET(cpu, &allowed.set)) {
        throw common::Error(what + ": CPU " + std::to_string(cpu) + " is not one this process may use (" +
                            allowed.text + ")");
      }
      CPU_SET(cpu, &cpus.set);
    }
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  cpus.text = format_cpu_list(cpus.set);
  return cpus;
}

void pin_this_thread(const CpuList& cpus) {
  if (::sched_setaffinity(0, sizeof cpus.set, &cpus.set) != 0) throw common::sys_error("sched_setaffinity " + cpus.text);
}

}  // namespace snapfaas::supervisor
