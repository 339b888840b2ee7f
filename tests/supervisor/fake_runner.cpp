// fake_runner: stands in for firerunner in supervisor tests and the supervisor benchmark. Accepts
// the flags the supervisor passes, opens --channel and serves it: kPing/kBoot/kRestore are answered
// (the loaded function index is remembered), requests are echoed as
// {"ok":true,"result":<payload>,"function":<index>,"uid":<uid>,"pid":<pid>}.
// Payload keys: "sleep_ms": N delays the answer; "die": true exits mid-request (code 3);
// "probe": "/path" answers {"exists": bool} for that path (jail tests); "hostname": true answers
// the uts name; "list": "/dir" answers {"entries": [...]}.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "ipc/channel.h"

namespace ipc = snapfaas::ipc;

int main(int argc, char** argv) {
  std::string kernel, channel_name;
  unsigned mem = 0, vcpus = 0;
  bool ring3 = false;
  CLI::App app{"fake runner"};
  app.add_option("--kernel", kernel);
  app.add_option("--mem_size", mem);
  app.add_option("--vcpu_count", vcpus);
  app.add_flag("--ring3", ring3);
  app.add_option("--channel", channel_name)->required();
  std::string functions_table, rootfs;
  app.add_option("--functions", functions_table);  // pre-spawned restore mode: accepted, not read
  app.add_option("--rootfs", rootfs);              // Linux functions' runtime image: accepted, not read
  CLI11_PARSE(app, argc, argv);
  auto channel = ipc::RunnerChannel::open(channel_name);
  std::int64_t function = -1;
  for (;;) {
    (void)channel.wait(ipc::WaitOptions{.spin = std::chrono::microseconds(50),
                                        .deadline = ipc::WaitOptions::Clock::now() + std::chrono::milliseconds(200)});
    while (ipc::Result<ipc::ControlCommand> command = channel.try_control()) {
      const auto op = static_cast<ipc::ControlOp>(command->op);
      if (op == ipc::ControlOp::kBoot || op == ipc::ControlOp::kRestore) function = command->arg0;
      (void)channel.reply_control({command->command_id, command->op, 0, static_cast<std::uint64_t>(::getpid())});
      if (op == ipc::ControlOp::kShutdown) return 0;
    }
    while (ipc::Result<ipc::Request> request = channel.try_receive()) {
      const std::string payload(reinterpret_cast<const char*>(request->payload.data()), request->payload.size());
      const nlohmann::json parsed = nlohmann::json::parse(payload, nullptr, false);
      nlohmann::json answer;
      if (parsed.is_object()) {
        if (parsed.contains("sleep_ms")) {
          std::this_thread::sleep_for(std::chrono::milliseconds(parsed["sleep_ms"].get<int>()));
        }
        if (parsed.value("die", false)) _exit(3);
        if (parsed.contains("probe")) {
          answer["exists"] = ::access(parsed["probe"].get<std::string>().c_str(), F_OK) == 0;
        }
        if (parsed.contains("list")) {
          answer["entries"] = nlohmann::json::array();
          std::error_code ec;
          for (const auto& e : std::filesystem::directory_iterator(parsed["list"].get<std::string>(), ec)) {
            answer["entries"].push_back(e.path().filename().string());
          }
        }
        if (parsed.value("hostname", false)) {
          char name[256] = {};
          ::gethostname(name, sizeof name - 1);
          answer["hostname"] = name;
        }
      }
      if (answer.is_null()) {
        answer = {{"ok", true}, {"result", parsed.is_discarded() ? nlohmann::json(payload) : parsed},
                  {"function", function}, {"kernel", kernel}, {"ring3", ring3}, {"mem_size", mem}};
      }
      answer["uid"] = ::getuid();
      answer["pid"] = ::getpid();
      const std::string text = answer.dump();
      if (text.size() > request->slot_bytes.size()) return 5;
      std::memcpy(request->slot_bytes.data(), text.data(), text.size());
      (void)channel.respond(request->request_id, request->slot, static_cast<std::uint32_t>(text.size()));
    }
  }
}
