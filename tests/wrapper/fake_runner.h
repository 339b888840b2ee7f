// A fake firerunner-side consumer for wrapper tests: answers requests like the guest agent would
// ({"ok":true,"result":<payload>,"duration_ns":1}) and control commands like firerunner should.
// Payload {"sleep_ms": N} delays the answer; {"garbage": true} answers with non-JSON bytes.
#pragma once

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

#include "ipc/channel.h"

namespace snapfaas::wrapper::test {

/// Serves `channel` until `stop` is set or a kShutdown command arrives. Returns requests answered.
/// `after_answer(n)`, if set, runs after the n-th answer is pushed (in the serving loop).
inline int serve_fake(ipc::RunnerChannel& channel, const std::atomic<bool>& stop,
                      const std::function<void(int)>& after_answer = {}) {
  int answered = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    (void)channel.wait(ipc::WaitOptions::within(std::chrono::milliseconds(20)));
    if (ipc::Result<ipc::ControlCommand> command = channel.try_control()) {
      (void)channel.reply_control({command->command_id, command->op, 0, 0});
      if (command->op == static_cast<std::uint32_t>(ipc::ControlOp::kShutdown)) return answered;
    }
    ipc::Result<ipc::Request> request = channel.try_receive();
    if (!request) continue;
    const std::string payload(reinterpret_cast<const char*>(request->payload.data()), request->payload.size());
    std::string answer;
    nlohmann::json parsed = nlohmann::json::parse(payload, nullptr, false);
    if (parsed.is_object() && parsed.contains("sleep_ms")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(parsed["sleep_ms"].get<int>()));
    }
    if (parsed.is_object() && parsed.contains("garbage")) {
      answer = "}{ not json";
    } else {
      answer = R"({"ok":true,"result":)" + payload + R"(,"duration_ns":1})";
    }
    std::memcpy(request->slot_bytes.data(), answer.data(), answer.size());
    (void)channel.respond(request->request_id, request->slot, static_cast<std::uint32_t>(answer.size()));
    ++answered;
    if (after_answer) after_answer(answered);
  }
  return answered;
}

}  // namespace snapfaas::wrapper::test
