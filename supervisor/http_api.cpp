// The HTTP API's answers (see http_api.h).
#include "supervisor/http_api.h"

#include "supervisor/request_outcome.h"

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>

namespace snapfaas::supervisor {
namespace {

constexpr std::string_view kAgentOk = R"({"ok":true,"result":)";

[[nodiscard]] bool retry_later(unsigned status) noexcept { return status == 429 || status == 503; }

}  // namespace

unsigned invoke_status(ipc::ErrorType type) noexcept {
  if (type == ipc::ErrorType::kNoCapacity) return 429;
  return static_cast<unsigned>(ipc::http_status(type));
}

std::string error_body(const nlohmann::json& error, std::string_view request_id) {
  nlohmann::ordered_json body;
  body["error"] = error;
  body["request_id"] = request_id;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpReply error_reply(unsigned status, std::string_view type, std::string_view message, std::string_view request_id) {
  HttpReply reply;
  reply.status = status;
  reply.body = error_body(nlohmann::json{{"type", type}, {"message", message}}, request_id);
  if (retry_later(status)) reply.headers.emplace_back("Retry-After", "1");
  return reply;
}

HttpReply invoke_reply(RequestRecord& record, std::string_view request_id) {
  const std::uint32_t outcome = outcome_index(record);
  HttpReply reply;
  reply.status = outcome == 0 ? 200 : invoke_status(static_cast<ipc::ErrorType>(outcome));
  reply.function = record.function;
  const double latency_ms = record.latency_ms();
  reply.latency_us = latency_ms > 0 ? static_cast<std::uint64_t>(latency_ms * 1000.0) : 0;
  reply.runner = record.runner;
  if (record.runner >= 0) {
    reply.start = record.cold ? "cold" : "warm";
    reply.headers.emplace_back("X-SnapFaaS-Start", reply.start);
    reply.headers.emplace_back("X-SnapFaaS-Runner", std::to_string(record.runner));
  }
  reply.headers.emplace_back("X-SnapFaaS-Latency-Us", std::to_string(reply.latency_us));
  std::array<char, 48> timing{};
  std::snprintf(timing.data(), timing.size(), "supervisor;dur=%.3f", latency_ms);
  reply.headers.emplace_back("Server-Timing", timing.data());
  if (outcome != 0) {
    reply.body = error_body(record.error.is_object() ? record.error : nlohmann::json{{"type", "runner_failed"}}, request_id);
    if (retry_later(reply.status)) reply.headers.emplace_back("Retry-After", "1");
    return reply;
  }
  reply.body = std::move(record.response);
  if (std::string_view(reply.body).substr(0, kAgentOk.size()) == kAgentOk) {  // the guest agent's envelope
    nlohmann::json parsed = nlohmann::json::parse(reply.body, nullptr, false);
    if (!parsed.is_discarded() && parsed.contains("result")) {
      reply.body = parsed["result"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  return reply;
}

std::string functions_body(const std::vector<FunctionConfig>& functions, const ipc::StatsReader& stats) {
  std::vector<std::uint64_t> warm(functions.size(), 0), busy(functions.size(), 0);
  for (std::uint32_t r = 0; r < stats.runner_count(); ++r) {
    const auto s = stats.snapshot(r);
    if (!s || (s->state != ipc::RunnerState::kIdle && s->state != ipc::RunnerState::kBusy &&
               s->state != ipc::RunnerState::kLoading)) {
      continue;
    }
    for (std::size_t f = 0; f < functions.size(); ++f) {
      if (functions[f].name.substr(0, ipc::kFunctionNameSize - 1) != s->function_name()) continue;
      ++(s->state == ipc::RunnerState::kIdle ? warm[f] : busy[f]);
      break;
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < functions.size(); ++i) {
    const FunctionConfig& f = functions[i];
    const auto counters = stats.function(static_cast<std::uint32_t>(i));
    out.push_back({{"name", f.name},
                   {"memory_mib", f.memory},
                   {"vcpus", f.vcpus},
                   {"concurrency_limit", f.concurrency_limit},
                   {"kind", f.ring3 ? "ring3" : "linux"},
                   {"snapshot", f.restores_snapshot()},
                   {"network", f.network},
                   {"warm_vms", warm[i]},
                   {"busy_vms", busy[i]},
                   {"in_flight", counters ? counters->in_flight : 0},
                   {"requests", counters ? counters->requests : 0}});
  }
  return out.dump();
}

HttpReply health_reply(const ipc::StatsReader& stats) {
  nlohmann::json runners = nlohmann::json::object();
  for (std::uint32_t r = 0; r < stats.runner_count(); ++r) {
    if (const auto s = stats.snapshot(r)) {
      auto& n = runners[ipc::runner_state_name(s->state)];
      n = n.is_null() ? 1 : n.get<int>() + 1;
    }
  }
  const auto totals = stats.totals();
  const bool draining = totals && totals->draining;
  HttpReply reply;
  reply.status = draining ? 503 : 200;
  reply.body = nlohmann::json{{"status", draining ? "draining" : "ok"},
                              {"runners", runners},
                              {"queue_depth", totals ? totals->queue_depth : 0},
                              {"in_flight", totals ? totals->in_flight : 0}}
                   .dump();
  if (draining) reply.headers.emplace_back("Retry-After", "1");
  return reply;
}

}  // namespace snapfaas::supervisor
