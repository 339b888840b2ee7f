// I8042: status/data ports, controller commands, and the CPU-reset command used by `reboot`.
#include "runner/devices/legacy/i8042.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <string>

#include "common/error.h"
#include "common/log_limit.h"

namespace snapfaas::runner {
namespace {

constexpr std::uint64_t kOffData = 0;    // port 0x60
constexpr std::uint64_t kOffStatus = 4;  // port 0x64

// Controller commands written to port 0x64.
constexpr std::uint8_t kCmdReadCtr = 0x20;
constexpr std::uint8_t kCmdWriteCtr = 0x60;
constexpr std::uint8_t kCmdSelfTest = 0xaa;
constexpr std::uint8_t kCmdKbdTest = 0xab;
constexpr std::uint8_t kCmdReadOutp = 0xd0;
constexpr std::uint8_t kCmdWriteOutp = 0xd1;
constexpr std::uint8_t kCmdResetCpu = 0xfe;

// Status register bits.
constexpr std::uint8_t kSbOutputFull = 0x01;
constexpr std::uint8_t kSbCommandData = 0x08;  // a command awaits its parameter on port 0x60

constexpr std::uint8_t kCbKbdInt = 0x01;

constexpr std::uint8_t kKbdAck = 0xfa;
constexpr std::uint8_t kSelfTestPassed = 0x55;

}  // namespace

I8042::I8042(std::function<void()> on_reset, std::shared_ptr<Interrupt> kbd_irq)
    : on_reset_(std::move(on_reset)), kbd_irq_(std::move(kbd_irq)) {}

void I8042::push(std::uint8_t byte) noexcept {
  if (output_.size() >= kBufferSize) return;
  output_.push_back(byte);
  status_ |= kSbOutputFull;
}

void I8042::respond(std::uint8_t byte) noexcept {
  output_.clear();
  push(byte);
  if (kbd_irq_ && (control_ & kCbKbdInt)) kbd_irq_->trigger();
}

void I8042::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  if (data.size() != 1) {  // byte-wide ports only
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  std::lock_guard lock(mu_);
  switch (offset) {
    case kOffStatus: data[0] = status_; return;
    case kOffData:
      if (output_.empty()) {
        data[0] = 0;
        return;
      }
      data[0] = output_.front();
      output_.pop_front();
      if (output_.empty()) {
        status_ &= ~kSbOutputFull;
      } else if (kbd_irq_ && (control_ & kCbKbdInt)) {
        kbd_irq_->trigger();  // more bytes to read
      }
      return;
    default: data[0] = 0xff; return;
  }
}

void I8042::write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  if (data.size() != 1) return;
  const std::uint8_t v = data[0];
  bool reset = false;
  {
    std::lock_guard lock(mu_);
    if (offset == kOffStatus) {
      switch (v) {
        case kCmdResetCpu: reset = true; break;
        case kCmdReadCtr:
          output_.clear();
          push(control_);
          break;
        case kCmdReadOutp:
          output_.clear();
          push(outp_);
          break;
        case kCmdWriteCtr:
        case kCmdWriteOutp:
          output_.clear();
          status_ |= kSbCommandData;
          cmd_ = v;
          break;
        case kCmdSelfTest:
          output_.clear();
          push(kSelfTestPassed);
          break;
        case kCmdKbdTest:
          output_.clear();
          push(0x00);  // interface test: no error
          break;
        default: SNAPFAAS_LIMITED_LOG(spdlog::level::debug, "i8042: command {:#x} ignored", v); break;
      }
    } else if (offset == kOffData) {
      if (status_ & kSbCommandData) {  // the parameter of WRITE_CTR / WRITE_OUTP
        if (cmd_ == kCmdWriteCtr) control_ = v;
        if (cmd_ == kCmdWriteOutp) outp_ = v;
        status_ &= ~kSbCommandData;
        cmd_ = 0;
      } else {
        respond(kKbdAck);  // a command for the keyboard: a dumb keyboard acknowledges anything
      }
    }
  }
  if (reset) {
    spdlog::info("i8042: guest requested CPU reset");
    if (on_reset_) on_reset_();  // outside the lock: the callback may do anything but call us
  }
}

I8042State I8042::save() const {
  std::lock_guard lock(mu_);
  return I8042State{status_, control_, outp_, cmd_, {output_.begin(), output_.end()}};
}

std::unique_ptr<I8042> I8042::restore(std::function<void()> on_reset, std::shared_ptr<Interrupt> kbd_irq,
                                      const I8042State& state) {
  if (state.output.size() > kBufferSize) {
    throw common::Error("restore i8042: output buffer of " + std::to_string(state.output.size()) + " bytes");
  }
  auto d = std::make_unique<I8042>(std::move(on_reset), std::move(kbd_irq));
  d->status_ = state.status;
  d->control_ = state.control;
  d->outp_ = state.outp;
  d->cmd_ = state.cmd;
  d->output_.assign(state.output.begin(), state.output.end());
  return d;
}

}  // namespace snapfaas::runner
