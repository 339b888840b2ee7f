// FunctionHealth: per function, how many of its VMs failed in a row and the back-off that earned.
// A function whose VMs fail `unhealthy_after` times in a row is backed off (its requests answer
// function_unhealthy until the back-off ends; then one is tried again, and each failed trial
// doubles the back-off up to `backoff_max`); one success resets it. Owned by the event loop
// (runner_pool.h); single-threaded.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace snapfaas::supervisor {

struct HealthOptions {
  std::uint32_t unhealthy_after = 3;                  ///< failures in a row that back a function off
  std::chrono::milliseconds backoff_initial{1'000};   ///< first back-off; doubles per failed trial
  std::chrono::milliseconds backoff_max{30'000};
};

class FunctionHealth {
 public:
  using Clock = std::chrono::steady_clock;

  /// `names`: the configured functions, by index (for the messages).
  FunctionHealth(HealthOptions options, std::vector<std::string> names);

  /// A VM of `function` failed at `now` (it was loading or serving it).
  void failed(std::uint32_t function, Clock::time_point now);
  /// A VM of `function` answered (a function_error is the function's own answer, so counts too).
  void succeeded(std::uint32_t function) noexcept { states_[function] = {}; }
  /// The function_unhealthy error (ipc::make_error, with retry_after_ms) when `function` is backed
  /// off at `now`, else null.
  [[nodiscard]] nlohmann::json unhealthy_error(std::uint32_t function, Clock::time_point now) const;

 private:
  struct State {
    std::uint32_t consecutive_failures = 0;
    std::chrono::milliseconds backoff{0};
    Clock::time_point backoff_until{};
  };

  HealthOptions options_;
  std::vector<std::string> names_;
  std::vector<State> states_;  // by function index
};

}  // namespace snapfaas::supervisor
