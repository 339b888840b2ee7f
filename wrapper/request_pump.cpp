// RequestPump: one request in flight, answers in order, timeouts and dead peers as error lines.
#include "wrapper/request_pump.h"

#include <istream>
#include <nlohmann/json.hpp>
#include <ostream>
#include <utility>

#include "common/request_line.h"
#include "ipc/error_result.h"

namespace snapfaas::wrapper {
namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kAliveCheckInterval = std::chrono::milliseconds(100);
}  // namespace

RequestPump::RequestPump(ipc::SupervisorChannel& channel, PumpOptions options)
    : channel_(channel), options_(std::move(options)) {}

std::optional<LineResult> RequestPump::process_line(std::string_view line) {
  const common::RequestLine request = common::parse_request_line(line);
  if (request.blank) return std::nullopt;
  if (!request.error.empty()) return LineResult{ipc::error_result_line(ipc::ErrorType::kBadRequest, request.error)};
  return exchange(request.payload);
}

LineResult RequestPump::exchange(const std::string& payload) {
  LineResult result;
  const std::uint64_t id = next_id_++;
  const auto start = Clock::now();
  const ipc::Result<std::uint32_t> slot =
      channel_.send_copy(id, {reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()});
  if (!slot) {
    if (slot.error() == ipc::IpcError::kPayloadTooLarge) {
      result.output = ipc::error_result_line(
          ipc::ErrorType::kRequestTooLarge,
          "payload of " + std::to_string(payload.size()) + " bytes exceeds the slot size of " +
              std::to_string(channel_.layout().slot_size) + " bytes",
          {{"size", payload.size()}, {"limit", channel_.layout().slot_size}});
    } else {
      result.output = ipc::error_result_line(ipc::ErrorType::kRunnerFailed, std::string("send: ") + ipc::to_string(slot.error()));
    }
    return result;
  }
  result.sent = true;
  const auto deadline = start + options_.timeout;
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) {
      abandoned_.insert(id);  // its slot stays in flight until the late answer arrives
      result.output = ipc::error_result_line(ipc::ErrorType::kTimeout,
                                             "no response within " + std::to_string(options_.timeout.count()) + " ms",
                                             {{"timeout_ms", options_.timeout.count()}});
      return result;
    }
    ipc::WaitOptions wait;
    wait.deadline = std::min(deadline, now + kAliveCheckInterval);
    ipc::Result<ipc::Response> response = channel_.receive(wait);
    if (!response) {
      if (response.error() == ipc::IpcError::kTimedOut || response.error() == ipc::IpcError::kRingEmpty) {
        if (options_.peer_alive && !options_.peer_alive()) {
          result.output = ipc::error_result_line(ipc::ErrorType::kRunnerFailed, "the runner exited before answering");
          return result;
        }
        continue;
      }
      result.output = ipc::error_result_line(ipc::ErrorType::kRunnerFailed,
                                             std::string("receive: ") + ipc::to_string(response.error()));
      return result;
    }
    (void)channel_.release(response->slot);  // answered slot: release cannot fail
    if (response->request_id != id) {
      abandoned_.erase(response->request_id);  // a late answer to a timed-out request: drop it
      continue;
    }
    result.rtt = Clock::now() - start;
    const std::string_view text(reinterpret_cast<const char*>(response->payload.data()), response->payload.size());
    try {
      const nlohmann::ordered_json body = nlohmann::ordered_json::parse(text);
      result.ok = body.is_object() && body.contains("ok") && body["ok"] == true;
      result.output = body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    } catch (const nlohmann::ordered_json::exception&) {
      result.output = ipc::error_result_line(ipc::ErrorType::kBadResponse,
                                             "response (status " + std::to_string(response->status) + ", " +
                                                 std::to_string(text.size()) + " bytes) is not JSON");
    }
    return result;
  }
}

std::uint64_t RequestPump::run(std::istream& in, std::ostream& out, std::ostream& timing) {
  std::uint64_t lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    const std::optional<LineResult> result = process_line(line);
    if (!result) continue;
    ++lines;
    out << result->output << '\n' << std::flush;
    if (result->sent) {
      timing << "fc_wrapper: request " << lines << " rtt_us="
             << std::chrono::duration_cast<std::chrono::microseconds>(result->rtt).count() << ' '
             << (result->ok ? "ok" : "error") << '\n';
    }
    if (result->sent && options_.after_first) std::exchange(options_.after_first, nullptr)();
  }
  return lines;
}

}  // namespace snapfaas::wrapper
