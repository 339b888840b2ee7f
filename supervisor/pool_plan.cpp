// Grouping functions into VM-shape pools and sizing them (see pool_plan.h).
#include "supervisor/pool_plan.h"

#include <algorithm>
#include <unordered_map>

#include "common/error.h"

namespace snapfaas::supervisor {
namespace {

[[nodiscard]] bool matches(const PoolRequest& r, const VmShape& s) noexcept {
  return r.memory == s.memory && r.vcpus == s.vcpus && r.runtimefs == s.runtimefs;
}

/// Gives pools one runner at a time, highest `target` / (runners + 1) first (D'Hondt: the counts
/// stay proportional to the targets, a pool with no target never grows), among those `eligible`
/// says may grow (`added` is told of each), until none may. Starts from `runners`.
template <typename Eligible, typename Added>
void fill(std::vector<std::uint32_t>& runners, const std::vector<double>& target, Eligible eligible, Added added) {
  for (;;) {
    std::int64_t best = -1;
    double best_score = 0;
    for (std::size_t p = 0; p < runners.size(); ++p) {
      const double score = target[p] / (runners[p] + 1.0);
      if (score > best_score && eligible(p)) {
        best_score = score;
        best = static_cast<std::int64_t>(p);
      }
    }
    if (best < 0) return;
    ++runners[static_cast<std::size_t>(best)];
    added(static_cast<std::size_t>(best));
  }
}

}  // namespace

VmShape VmShape::of(const FunctionConfig& f) {
  VmShape s;
  s.memory = f.memory;
  s.vcpus = f.vcpus;
  s.kernel = f.kernel;
  s.ring3 = f.ring3;
  if (!f.ring3) s.runtimefs = f.runtimefs;
  return s;
}

std::string VmShape::describe() const {
  std::string text = std::to_string(memory) + " MiB, " + std::to_string(vcpus) + (vcpus == 1 ? " vCPU" : " vCPUs");
  if (!runtimefs.empty()) text += ", " + runtimefs;
  if (!kernel.empty()) text += ", kernel " + kernel;
  if (ring3) text += ", ring 3";
  return text;
}

std::uint32_t PoolPlan::runners() const noexcept {
  std::uint32_t n = 0;
  for (const PlannedPool& p : pools) n += p.runners;
  return n;
}

std::vector<std::uint32_t> PoolPlan::pool_of_slot() const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t p = 0; p < pools.size(); ++p) out.insert(out.end(), pools[p].runners, p);
  return out;
}

std::string PoolPlan::describe() const {
  std::string text;
  for (const PlannedPool& p : pools) {
    if (!text.empty()) text += "; ";
    text += std::to_string(p.runners) + " x (" + p.shape.describe() + ") for " + std::to_string(p.functions.size()) +
            (p.functions.size() == 1 ? " function" : " functions") + (p.from_config ? " [pool:]" : "");
  }
  return text;
}

std::vector<std::uint64_t> requests_per_function(const std::vector<FunctionConfig>& functions,
                                                 const std::vector<WorkloadRequest>& workload) {
  std::unordered_map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < functions.size(); ++i) index[functions[i].name] = i;
  std::vector<std::uint64_t> counts(functions.size(), 0);
  for (const WorkloadRequest& r : workload) {
    if (const auto it = index.find(r.function); it != index.end()) ++counts[it->second];
  }
  return counts;
}

PoolPlan plan_pools(const std::vector<FunctionConfig>& functions, const std::vector<std::uint64_t>& requests,
                    std::uint64_t mem_mib, std::uint32_t total_runners, const std::vector<PoolRequest>& configured) {
  if (functions.empty()) throw common::Error("pool plan: no functions");
  PoolPlan plan;
  const bool any_requests = std::any_of(requests.begin(), requests.end(), [](std::uint64_t n) { return n > 0; });
  std::vector<std::uint64_t> caps;  // runners a pool's functions can ever use at once
  for (std::uint32_t f = 0; f < functions.size(); ++f) {
    const VmShape shape = VmShape::of(functions[f]);
    auto it = std::find_if(plan.pools.begin(), plan.pools.end(), [&](const PlannedPool& p) { return p.shape == shape; });
    if (it == plan.pools.end()) {
      plan.pools.push_back({shape, 0, {}, 0, false});
      caps.push_back(0);
      it = plan.pools.end() - 1;
    }
    it->functions.push_back(f);
    it->requests += any_requests ? (f < requests.size() ? requests[f] : 0) : 1;
    caps[static_cast<std::size_t>(it - plan.pools.begin())] += functions[f].concurrency_limit;
    plan.pool_of_function.push_back(static_cast<std::uint32_t>(it - plan.pools.begin()));
  }
  // The `pool:` section first: those pools are as configured, the rest share what is left.
  std::uint64_t configured_mib = 0;
  std::uint32_t configured_runners = 0;
  for (const PoolRequest& r : configured) {
    const auto it = std::find_if(plan.pools.begin(), plan.pools.end(), [&](const PlannedPool& p) { return matches(r, p.shape); });
    if (it == plan.pools.end()) {
      throw common::Error("pool: the entry of line " + std::to_string(r.line) + " (" + std::to_string(r.memory) + " MiB, " +
                          std::to_string(r.vcpus) + " vCPUs, runtimefs '" + r.runtimefs + "') matches no function's shape");
    }
    it->runners = r.runners;
    it->from_config = true;
    configured_mib += std::uint64_t{r.runners} * r.memory;
    configured_runners += r.runners;
  }
  const std::size_t n = plan.pools.size();
  std::vector<std::uint32_t> runners(n, 0);
  std::vector<double> target(n, 0.0);
  double weight_sum = 0;
  for (std::size_t p = 0; p < n; ++p) {
    if (plan.pools[p].from_config) continue;
    runners[p] = 1;  // every function can be served
    // By budget: a pool's share of --mem is its share of requests x VM size; by count: its share of VMs.
    weight_sum += static_cast<double>(plan.pools[p].requests) * (total_runners == 0 ? plan.pools[p].shape.memory : 1);
  }
  const auto weight = [&](std::size_t p) {
    return static_cast<double>(plan.pools[p].requests) * (total_runners == 0 ? plan.pools[p].shape.memory : 1);
  };
  if (total_runners == 0) {
    const std::uint64_t left = mem_mib > configured_mib ? mem_mib - configured_mib : 0;
    std::uint64_t spent = 0;
    for (std::size_t p = 0; p < n; ++p) {
      if (plan.pools[p].from_config) continue;
      spent += plan.pools[p].shape.memory;
      if (weight_sum > 0) target[p] = static_cast<double>(left) * weight(p) / weight_sum / plan.pools[p].shape.memory;
    }
    fill(
        runners, target,
        [&](std::size_t p) {
          const PlannedPool& pool = plan.pools[p];
          return !pool.from_config && runners[p] < caps[p] && spent + pool.shape.memory <= left;
        },
        [&](std::size_t p) { spent += plan.pools[p].shape.memory; });
  } else {
    const std::uint32_t left = total_runners > configured_runners ? total_runners - configured_runners : 0;
    std::uint32_t given = 0;
    for (std::size_t p = 0; p < n; ++p) {
      if (plan.pools[p].from_config) continue;
      ++given;
      if (weight_sum > 0) target[p] = static_cast<double>(left) * weight(p) / weight_sum;
    }
    fill(
        runners, target, [&](std::size_t p) { return !plan.pools[p].from_config && given < left; },
        [&](std::size_t) { ++given; });
  }
  for (std::size_t p = 0; p < n; ++p) {
    if (!plan.pools[p].from_config) plan.pools[p].runners = runners[p];
  }
  return plan;
}

}  // namespace snapfaas::supervisor
