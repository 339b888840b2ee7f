// fake_runner: stands in for firerunner in supervisor tests and the supervisor benchmark. Accepts
// the flags the supervisor passes, opens --channel and serves it: kPing/kBoot/kRestore are answered
// (the loaded function index is remembered), requests are echoed as
// {"ok":true,"result":<payload>,"function":<index>,"uid":<uid>,"pid":<pid>}.
// Payload keys: "sleep_ms": N delays the answer; "die": true exits mid-request (code 3);
// "probe": "/path" answers {"exists": bool} for that path (jail tests); "kernel_args": true answers
// its --kernel_args; "hostname": true answers
// the uts name; "list": "/dir" answers {"entries": [...]}; "channel": true answers how its channel
// object looks from the runner ({"mode", "uid", "gid", "size", "truncate_errno"}: it tries to
// shrink it). --truncate_channel: ftruncate the channel to 0 right after opening it (a hostile
// runner; the supervisor must not die of SIGBUS), printing the outcome on stderr.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
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
  std::string functions_table, rootfs, kernel_args;
  app.add_option("--kernel_args", kernel_args);    // answered for {"kernel_args": true}
  app.add_option("--functions", functions_table);  // pre-spawned restore mode: accepted, not read
  app.add_option("--rootfs", rootfs);              // Linux functions' runtime image: accepted, not read
  bool truncate_channel = false;
  app.add_flag("--truncate_channel", truncate_channel);
  CLI11_PARSE(app, argc, argv);
  auto channel = ipc::RunnerChannel::open(channel_name);
  if (truncate_channel) {
    const int rc = ::ftruncate(channel.shm().fd(), 0);
    std::fprintf(stderr, "fake_runner: ftruncate(channel, 0): %s\n", rc == 0 ? "done" : std::strerror(errno));
  }
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
        if (parsed.value("kernel_args", false)) answer["kernel_args"] = kernel_args;
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
        if (parsed.value("channel", false)) {
          struct stat st {};
          ::fstat(channel.shm().fd(), &st);
          const int rc = ::ftruncate(channel.shm().fd(), 4096);
          answer["channel"] = {{"mode", st.st_mode & 07777}, {"uid", st.st_uid}, {"gid", st.st_gid},
                               {"size", st.st_size}, {"truncate_errno", rc == 0 ? 0 : errno}};
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
