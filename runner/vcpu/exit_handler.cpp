// Exit dispatch: port I/O, MMIO, HLT, shutdown, and the failure reasons.
#include "runner/vcpu/exit_handler.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <span>

#include "common/log_limit.h"

namespace snapfaas::runner {

namespace {
std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

ExitResult error(const ExitContext& ctx, const std::string& what) {
  std::string rip = "unknown";
  try {
    if (ctx.rip) rip = hex(ctx.rip());
  } catch (const std::exception&) {
  }
  return {ExitAction::kError, what + " at RIP " + rip};
}

ExitResult handle_io(kvm_run& run, std::size_t run_size, const ExitContext& ctx) {
  const auto& io = run.io;
  const std::uint64_t size = io.size;
  if ((size != 1 && size != 2 && size != 4) || io.count == 0) {
    return error(ctx, "KVM_EXIT_IO with size " + std::to_string(size) + " count " + std::to_string(io.count));
  }
  const std::uint64_t total = size * io.count;
  if (io.data_offset < sizeof(kvm_run) || io.data_offset > run_size || total > run_size - io.data_offset) {
    return error(ctx, "KVM_EXIT_IO data_offset " + hex(io.data_offset) + " + " + std::to_string(total) +
                          " bytes outside the kvm_run mapping");
  }
  // SAFETY: [data_offset, data_offset + total) was checked to lie inside the run mapping.
  auto* data = reinterpret_cast<std::uint8_t*>(&run) + io.data_offset;
  for (std::uint32_t i = 0; i < io.count; ++i) {
    const std::span<std::uint8_t> chunk(data + i * size, size);
    if (io.direction == KVM_EXIT_IO_OUT) {
      if (!ctx.pio.write(io.port, chunk)) {
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "guest wrote {} bytes to unclaimed port {:#x}", size, io.port);
      }
    } else {
      if (!ctx.pio.read(io.port, chunk)) {
        std::memset(chunk.data(), 0xff, chunk.size());
        SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "guest read {} bytes from unclaimed port {:#x}", size, io.port);
      }
    }
  }
  return {};
}

ExitResult handle_mmio(kvm_run& run, const ExitContext& ctx) {
  auto& mmio = run.mmio;
  if (mmio.len == 0 || mmio.len > sizeof(mmio.data)) {
    return error(ctx, "KVM_EXIT_MMIO with length " + std::to_string(mmio.len));
  }
  const std::span<std::uint8_t> data(mmio.data, mmio.len);
  if (mmio.is_write) {
    if (!ctx.mmio.write(mmio.phys_addr, data)) {
      SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "guest wrote {} bytes to unclaimed MMIO {:#x}", mmio.len, mmio.phys_addr);
    }
  } else if (!ctx.mmio.read(mmio.phys_addr, data)) {
    std::memset(data.data(), 0xff, data.size());
    SNAPFAAS_LIMITED_LOG(spdlog::level::warn, "guest read {} bytes from unclaimed MMIO {:#x}", mmio.len, mmio.phys_addr);
  }
  return {};
}

ExitResult handle_system_event(const kvm_run& run, const ExitContext& ctx) {
  switch (run.system_event.type) {
    case KVM_SYSTEM_EVENT_SHUTDOWN:
      return {ExitAction::kShutdown, "KVM_SYSTEM_EVENT_SHUTDOWN"};
    case KVM_SYSTEM_EVENT_RESET:
      return {ExitAction::kReset, "KVM_SYSTEM_EVENT_RESET"};
    default:
      return error(ctx, "KVM_EXIT_SYSTEM_EVENT type " + std::to_string(run.system_event.type));
  }
}
}  // namespace

std::string exit_reason_name(std::uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_IO: return "KVM_EXIT_IO";
    case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_MMIO: return "KVM_EXIT_MMIO";
    case KVM_EXIT_IRQ_WINDOW_OPEN: return "KVM_EXIT_IRQ_WINDOW_OPEN";
    case KVM_EXIT_SHUTDOWN: return "KVM_EXIT_SHUTDOWN";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTR: return "KVM_EXIT_INTR";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    case KVM_EXIT_SYSTEM_EVENT: return "KVM_EXIT_SYSTEM_EVENT";
    default: return "unknown exit reason " + std::to_string(reason);
  }
}

ExitResult handle_exit(kvm_run& run, std::size_t run_size, const ExitContext& ctx) noexcept {
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      return handle_io(run, run_size, ctx);
    case KVM_EXIT_MMIO:
      return handle_mmio(run, ctx);
    case KVM_EXIT_HLT:
      return {ExitAction::kHalt, {}};
    case KVM_EXIT_SHUTDOWN:
      return {ExitAction::kShutdown, error(ctx, "KVM_EXIT_SHUTDOWN (triple fault)").message};
    case KVM_EXIT_SYSTEM_EVENT:
      return handle_system_event(run, ctx);
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return {};
    case KVM_EXIT_FAIL_ENTRY:
      return error(ctx, "KVM_EXIT_FAIL_ENTRY (hardware reason " +
                            hex(run.fail_entry.hardware_entry_failure_reason) + ")");
    case KVM_EXIT_INTERNAL_ERROR:
      return error(ctx, "KVM_EXIT_INTERNAL_ERROR (suberror " + std::to_string(run.internal.suberror) + ")");
    default:
      return error(ctx, exit_reason_name(run.exit_reason));
  }
}

}  // namespace snapfaas::runner
