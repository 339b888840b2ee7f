// The reaper: the agent's small parent process that outlives the function's runtime. The agent
// forks before CPython starts; the child serves (and is what a snapshot's function runs in), the
// parent only waits for it (oom_score_adj -1000, so the guest OOM killer never picks it). When the
// child dies while a request is in flight (os._exit, sys.exit, a signal in a C extension, or the
// guest kernel's OOM killer), the reaper answers that request at once — function_exited with the
// status or signal, or out_of_memory when the kernel logged "Killed process <child>" (/dev/kmsg;
// /proc/vmstat's oom_kill counter too where the kernel keeps it: tinyconfig has no
// VM_EVENT_COUNTERS) — and then stops the VM (AGENT_FATAL kFunctionExited): the supervisor discards
// it. The child records its in-flight request in an InFlightPage (MAP_SHARED) before calling the
// function and clears it before pushing the response.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "guest/agent/agent_doorbell.h"
#include "guest/agent/window.h"

namespace snapfaas::guest {

/// A page shared by the serving child (writer) and the reaper (reader). Move-only; unmapped on destruction.
class InFlightPage {
 public:
  /// Maps the page (MAP_SHARED | MAP_ANONYMOUS: fork shares it). Throws AgentFailure.
  [[nodiscard]] static InFlightPage create();
  InFlightPage(InFlightPage&& other) noexcept;
  InFlightPage& operator=(InFlightPage&&) = delete;
  ~InFlightPage();

  /// Child: request `id` in `slot` is being handled (stores id and slot, then active RELEASE).
  void begin(std::uint64_t id, std::uint32_t slot) noexcept;
  /// Child: its response is written; about to push it (active = 0 RELEASE).
  void end() noexcept;
  /// Reaper: the request in flight, if any (active ACQUIRE, pairs with begin's RELEASE).
  [[nodiscard]] bool current(std::uint64_t* id, std::uint32_t* slot) const noexcept;

 private:
  struct Record {
    std::uint32_t active;
    std::uint32_t slot;
    std::uint64_t request_id;
  };
  explicit InFlightPage(Record* record) noexcept : record_(record) {}
  Record* record_ = nullptr;
};

/// What the reaper needs once the child died.
struct ReaperContext {
  WindowSource source;  ///< mapped anew at the child's death (a restore may have changed its layout)
  /// Makes the doorbell to answer with (the window just mapped); the guest's port I/O one ignores it.
  std::function<std::unique_ptr<AgentDoorbell>(const Window&)> make_doorbell;
  bool guest = true;  ///< guest mode: oom_score_adj -1000, OOM detection through /dev/kmsg
  std::uint32_t memory_hint_mib = 0;  ///< for the out_of_memory message (0: unknown)
};

/// Parent side after fork(): waits for `child`; returns the agent's exit code (the child's own
/// when it exited cleanly, else kFunctionExited after answering the in-flight request).
[[nodiscard]] int run_reaper(pid_t child, const InFlightPage& page, const ReaperContext& context) noexcept;

/// Child side right after fork(): dies with the reaper (PR_SET_PDEATHSIG) so a host test that
/// kills the agent leaves no orphan.
void child_after_fork(pid_t reaper) noexcept;

/// Reaper: how the child's death reads: function_exited or out_of_memory, and the message/fields.
/// Exposed for tests. `oom`: the kernel reported killing it.
struct ChildDeath {
  bool oom = false;
  bool signaled = false;
  int code = 0;  ///< exit status or signal number
};
[[nodiscard]] std::uint32_t write_death_response(std::span<std::uint8_t> slot, const ChildDeath& death,
                                                 std::uint32_t memory_hint_mib) noexcept;

}  // namespace snapfaas::guest
