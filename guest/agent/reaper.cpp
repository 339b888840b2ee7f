// The reaper (see reaper.h).
#include "guest/agent/reaper.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "guest/agent/agent_failure.h"
#include "guest/agent/agent_log.h"
#include "guest/agent/error_json.h"
#include "ipc/ring.h"

namespace snapfaas::guest {
namespace {

pid_t g_child = -1;  // for the forwarding signal handler

extern "C" void forward_signal(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

/// /proc/vmstat oom_kill, or -1 where the kernel does not count it.
long long vmstat_oom_kills() noexcept {
  FILE* f = std::fopen("/proc/vmstat", "re");
  if (f == nullptr) return -1;
  char name[64];
  long long value = 0;
  long long found = -1;
  while (std::fscanf(f, "%63s %lld", name, &value) == 2) {
    if (std::strcmp(name, "oom_kill") == 0) {
      found = value;
      break;
    }
  }
  std::fclose(f);
  return found;
}

/// The kernel log from now on (non-blocking), to find "Killed process <pid>" later; -1 if none.
int open_kmsg_at_end() noexcept {
  const int fd = ::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) ::lseek(fd, 0, SEEK_END);
  return fd;
}

/// True when a kernel log record since open_kmsg_at_end says the OOM killer killed `pid`.
bool kmsg_reports_oom_kill(int fd, pid_t pid) noexcept {
  if (fd < 0) return false;
  const std::string needle = "Killed process " + std::to_string(pid) + " ";
  char record[2048];
  bool found = false;
  for (int i = 0; i < 4096; ++i) {  // bounded: the records since the child started
    const ssize_t n = ::read(fd, record, sizeof record - 1);
    if (n < 0 && errno == EPIPE) continue;  // records overwritten meanwhile: go on with the next
    if (n <= 0) break;                      // EAGAIN: read everything
    record[n] = '\0';
    if (std::strstr(record, needle.c_str()) != nullptr) found = true;
  }
  return found;
}

}  // namespace

InFlightPage InFlightPage::create() {
  void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw AgentFailure(ipc::AgentFatal::kWindowMap, std::string("mmap in-flight page: ") + std::strerror(errno));
  return InFlightPage(static_cast<Record*>(p));
}

InFlightPage::InFlightPage(InFlightPage&& other) noexcept : record_(std::exchange(other.record_, nullptr)) {}

InFlightPage::~InFlightPage() {
  if (record_ != nullptr) ::munmap(record_, 4096);
}

void InFlightPage::begin(std::uint64_t id, std::uint32_t slot) noexcept {
  __atomic_store_n(&record_->request_id, id, __ATOMIC_RELAXED);
  __atomic_store_n(&record_->slot, slot, __ATOMIC_RELAXED);
  __atomic_store_n(&record_->active, 1U, __ATOMIC_RELEASE);  // pairs with current()'s ACQUIRE
}

void InFlightPage::end() noexcept { __atomic_store_n(&record_->active, 0U, __ATOMIC_RELEASE); }

bool InFlightPage::current(std::uint64_t* id, std::uint32_t* slot) const noexcept {
  if (__atomic_load_n(&record_->active, __ATOMIC_ACQUIRE) == 0) return false;
  *id = __atomic_load_n(&record_->request_id, __ATOMIC_RELAXED);
  *slot = __atomic_load_n(&record_->slot, __ATOMIC_RELAXED);
  return true;
}

void child_after_fork(pid_t reaper) noexcept {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != reaper) ::_exit(static_cast<int>(ipc::AgentFatal::kFunctionExited));  // reaper already gone
}

std::uint32_t write_death_response(std::span<std::uint8_t> slot, const ChildDeath& death,
                                   std::uint32_t memory_hint_mib) noexcept {
  if (death.oom) {
    std::string message = "out of memory: the guest kernel killed the function's runtime";
    if (memory_hint_mib != 0) message += " (" + std::to_string(memory_hint_mib) + " MiB VM)";
    return write_error_json(slot, ipc::ErrorType::kOutOfMemory, message);
  }
  if (death.signaled) {
    const char* name = ::sigabbrev_np(death.code);
    return write_error_json(slot, ipc::ErrorType::kFunctionExited,
                            "the function's runtime was killed by signal " + std::to_string(death.code) +
                                (name != nullptr ? std::string(" (SIG") + name + ")" : std::string{}),
                            {ErrorField::num("signal", death.code)});
  }
  return write_error_json(slot, ipc::ErrorType::kFunctionExited,
                          "the function's runtime exited with status " + std::to_string(death.code),
                          {ErrorField::num("status", death.code)});
}

int run_reaper(pid_t child, const InFlightPage& page, const ReaperContext& context) noexcept {
  g_child = child;
  struct sigaction forward {};
  forward.sa_handler = forward_signal;
  sigemptyset(&forward.sa_mask);
  ::sigaction(SIGTERM, &forward, nullptr);
  ::sigaction(SIGINT, &forward, nullptr);
  int kmsg = -1;
  long long oom_before = -1;
  if (context.guest) {
    if (FILE* f = std::fopen("/proc/self/oom_score_adj", "we")) {  // after fork: the child keeps 0
      std::fputs("-1000", f);
      std::fclose(f);
    }
    kmsg = open_kmsg_at_end();
    oom_before = vmstat_oom_kills();
  }
  int status = 0;
  while (::waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      log(LogLevel::kError, "reaper: waitpid: %s", std::strerror(errno));
      return static_cast<int>(ipc::AgentFatal::kFunctionExited);
    }
  }
  std::uint64_t request_id = 0;
  std::uint32_t slot_index = 0;
  const bool in_flight = page.current(&request_id, &slot_index);
  if (!in_flight && WIFEXITED(status)) {
    if (kmsg >= 0) ::close(kmsg);
    return WEXITSTATUS(status);  // shutdown (0) or a setup failure the child reported itself
  }
  ChildDeath death;
  death.signaled = WIFSIGNALED(status);
  death.code = death.signaled ? WTERMSIG(status) : WEXITSTATUS(status);
  if (death.signaled && death.code == SIGKILL && context.guest) {
    const long long oom_after = vmstat_oom_kills();
    death.oom = kmsg_reports_oom_kill(kmsg, child) || (oom_before >= 0 && oom_after > oom_before);
  }
  if (kmsg >= 0) ::close(kmsg);
  log(LogLevel::kError, "the function's runtime (pid %d) %s %d%s", static_cast<int>(child),
      death.signaled ? "was killed by signal" : "exited with status", death.code, death.oom ? " (out of memory)" : "");
  try {
    const Window window = Window::map(context.source);
    std::unique_ptr<AgentDoorbell> doorbell = context.make_doorbell(window);
    if (in_flight) {
      const std::span<std::uint8_t> slot = window.slot(slot_index);  // bounds-checked (empty if out of range)
      ipc::ResponseDesc response{request_id, slot_index, 0, static_cast<std::uint32_t>(ipc::ResponseStatus::kHandlerError), 0};
      response.length = write_death_response(slot, death, context.memory_hint_mib);
      // The child was the response ring's only producer and is gone: continue from its tail.
      ipc::RingProducer<ipc::ResponseDesc> responses(window.response_ring());
      if (const ipc::Status pushed = responses.try_push(response); !pushed) {
        log(LogLevel::kError, "reaper: response ring: %s", ipc::to_string(pushed.error()));
      }
      doorbell->response_ready();
    }
    doorbell->fatal(ipc::AgentFatal::kFunctionExited);
  } catch (const std::exception& e) {
    log(LogLevel::kError, "reaper: %s", e.what());
  }
  return static_cast<int>(ipc::AgentFatal::kFunctionExited);
}

}  // namespace snapfaas::guest
