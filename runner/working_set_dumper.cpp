// firerunner --dump_ws: the working-set recording thread (see working_set_dumper.h).
#include "runner/working_set_dumper.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include "common/error.h"
#include "runner/snapshot/snapshot.h"
#include "runner/snapshot/working_set.h"

namespace snapfaas::runner {
namespace {

constexpr std::int32_t result(ipc::ControlResult r) { return static_cast<std::int32_t>(r); }

}  // namespace

WorkingSetDumper::WorkingSetDumper(const std::string& path) : path_(path) {
  const std::filesystem::path p(path);
  name_ = p.filename().string();
  if (name_.empty() || name_ == "." || name_ == "..") throw common::Error("--dump_ws " + path + ": not a file name");
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  dir_ = snapshot::SnapshotDir::open(dir);
  pagemap_.reset(::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC));
  if (!pagemap_) throw common::sys_error("--dump_ws: open /proc/self/pagemap");
}

WorkingSetDumper::~WorkingSetDumper() {
  {
    std::lock_guard lock(mutex_);
    quit_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void WorkingSetDumper::start(std::function<void()> thread_init) {
  thread_ = std::thread([this, init = std::move(thread_init)] { thread_main(init); });
}

void WorkingSetDumper::arm(const GuestMemory& memory, const snapshot::SnapshotId& id, Reply reply) {
  std::lock_guard lock(mutex_);
  memory_ = &memory;
  id_ = id;
  reply_ = std::move(reply);
}

void WorkingSetDumper::request(const ipc::ControlCommand& command) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(command);
  }
  cv_.notify_one();
}

void WorkingSetDumper::thread_main(const std::function<void()>& thread_init) noexcept {
  bool usable = true;
  if (thread_init) {
    try {
      thread_init();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "firerunner: --dump_ws thread: %s\n", e.what());
      usable = false;
    }
  }
  for (;;) {
    ipc::ControlCommand command{};
    Reply reply;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return quit_ || !queue_.empty(); });
      if (quit_) return;
      command = queue_.front();
      queue_.pop_front();
      reply = reply_;
    }
    if (!reply) continue;  // not armed: the hook is set only after arm, so this is not reached
    if (!usable) {
      reply(command, result(ipc::ControlResult::kDumpFailed), 0);
      continue;
    }
    dump(command);
  }
}

void WorkingSetDumper::dump(const ipc::ControlCommand& command) noexcept {
  const GuestMemory* memory = nullptr;
  snapshot::SnapshotId id{};
  Reply reply;
  {
    std::lock_guard lock(mutex_);
    memory = memory_;
    id = id_;
    reply = reply_;
  }
  try {
    const auto t0 = std::chrono::steady_clock::now();
    const std::vector<snapshot::PageRange> ranges = snapshot::resident_ranges(*memory, pagemap_.get());
    std::uint64_t pages = 0;
    for (const snapshot::PageRange& r : ranges) pages += r.length / snapshot::kPageSize;
    snapshot::save_working_set(dir_, name_.c_str(), id, ranges);
    spdlog::info("firerunner: working set of {}: {} pages in {} ranges written to {} in {:.3f} ms",
                 snapshot::to_hex(id), pages, ranges.size(), path_,
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    reply(command, result(ipc::ControlResult::kOk), pages);
  } catch (const std::exception& e) {
    // One clear line on stderr whatever the log level; the VM goes on serving.
    std::fprintf(stderr, "firerunner: --dump_ws %s: %s\n", path_.c_str(), e.what());
    reply(command, result(ipc::ControlResult::kDumpFailed), 0);
  }
}

}  // namespace snapfaas::runner
