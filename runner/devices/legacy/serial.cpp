// Serial: 16550A register file (DLAB, IER/IIR, FCR, LCR, MCR loopback, LSR, MSR, SCR) and console output.
#include "runner/devices/legacy/serial.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"

namespace snapfaas::runner {
namespace {

// Register offsets from the base port.
constexpr std::uint64_t kData = 0;  // RBR (read) / THR (write); DLL when DLAB
constexpr std::uint64_t kIer = 1;   // DLM when DLAB
constexpr std::uint64_t kIir = 2;   // IIR (read) / FCR (write)
constexpr std::uint64_t kLcr = 3;
constexpr std::uint64_t kMcr = 4;
constexpr std::uint64_t kLsr = 5;
constexpr std::uint64_t kMsr = 6;
constexpr std::uint64_t kScr = 7;

constexpr std::uint8_t kIerRda = 0x01;   // ERBFI: received data available
constexpr std::uint8_t kIerThre = 0x02;  // ETBEI: transmitter holding register empty
constexpr std::uint8_t kIerMask = 0x0f;

constexpr std::uint8_t kIirNone = 0x01;
constexpr std::uint8_t kIirThre = 0x02;
constexpr std::uint8_t kIirRda = 0x04;
constexpr std::uint8_t kIirFifos = 0xc0;  // FIFOs enabled (16550A)

constexpr std::uint8_t kFcrEnable = 0x01;
constexpr std::uint8_t kFcrClearRx = 0x02;

constexpr std::uint8_t kLsrDataReady = 0x01;
constexpr std::uint8_t kLsrThrEmpty = 0x20;
constexpr std::uint8_t kLsrIdle = 0x40;  // TEMT: transmitter empty

constexpr std::uint8_t kMsrCts = 0x10;
constexpr std::uint8_t kMsrDsr = 0x20;
constexpr std::uint8_t kMsrDcd = 0x80;
constexpr std::uint8_t kMcrMask = 0x1f;

constexpr std::size_t kFlushThreshold = 512;

}  // namespace

Serial::Serial(std::shared_ptr<Interrupt> irq, int out_fd) : irq_(std::move(irq)), out_fd_(out_fd) {
  out_.reserve(kFlushThreshold);
}

Serial::~Serial() { flush(); }

void Serial::read(std::uint64_t offset, std::span<std::uint8_t> data) noexcept {
  if (data.size() != 1 || offset >= 8) {  // the UART's registers are byte-wide
    std::memset(data.data(), 0xff, data.size());
    return;
  }
  std::lock_guard lock(mu_);
  data[0] = read_register(offset);
}

void Serial::write(std::uint64_t offset, std::span<const std::uint8_t> data) noexcept {
  if (data.size() != 1 || offset >= 8) return;
  std::lock_guard lock(mu_);
  write_register(offset, data[0]);
}

std::uint8_t Serial::read_register(std::uint64_t offset) noexcept {
  switch (offset) {
    case kData: {
      if (dlab()) return dll_;
      if (input_.empty()) return 0;
      const std::uint8_t b = input_.front();
      input_.pop_front();
      return b;
    }
    case kIer: return dlab() ? dlm_ : ier_;
    case kIir: {
      // Highest-priority pending source; reading IIR acknowledges a THRE interrupt.
      const std::uint8_t fifos = fifo_enabled_ ? kIirFifos : 0;
      if ((ier_ & kIerRda) && !input_.empty()) return fifos | kIirRda;
      if ((ier_ & kIerThre) && thre_pending_) {
        thre_pending_ = false;
        return fifos | kIirThre;
      }
      return fifos | kIirNone;
    }
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kLsr: return kLsrThrEmpty | kLsrIdle | (input_.empty() ? 0 : kLsrDataReady);
    case kMsr:
      if (loopback()) {  // DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD
        return static_cast<std::uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) | ((mcr_ & 0x04) << 4) |
                                         ((mcr_ & 0x08) << 4));
      }
      return kMsrCts | kMsrDsr | kMsrDcd;
    case kScr: return scr_;
    default: return 0xff;
  }
}

void Serial::write_register(std::uint64_t offset, std::uint8_t value) noexcept {
  switch (offset) {
    case kData:
      if (dlab()) {
        dll_ = value;
        return;
      }
      transmit(value);
      return;
    case kIer: {
      if (dlab()) {
        dlm_ = value;
        return;
      }
      const std::uint8_t old = ier_;
      ier_ = value & kIerMask;
      if ((ier_ & kIerThre) && !(old & kIerThre)) {
        thre_pending_ = true;  // the transmitter is always empty: enabling ETBEI interrupts at once
        raise();
      } else if (!(ier_ & kIerThre) && (old & kIerThre)) {
        flush_locked();  // the driver stopped transmitting: a good moment to write out
      }
      if ((ier_ & kIerRda) && !(old & kIerRda) && !input_.empty()) raise();
      return;
    }
    case kIir:  // FCR. The transmitter sends at once, so only the enable bit (IIR) and a receive clear matter.
      fifo_enabled_ = (value & kFcrEnable) != 0;
      if (fifo_enabled_ && (value & kFcrClearRx)) input_.clear();
      return;
    case kLcr: lcr_ = value; return;
    case kMcr: mcr_ = value & kMcrMask; return;
    case kScr: scr_ = value; return;
    default: return;  // LSR and MSR are read-only
  }
}

void Serial::transmit(std::uint8_t byte) noexcept {
  thre_pending_ = false;
  if (loopback()) {
    if (input_.size() < kInputCapacity) input_.push_back(byte);
    if (ier_ & kIerRda) raise();
  } else if (out_fd_ >= 0) {
    out_.push_back(static_cast<char>(byte));
    if (byte == '\n' || out_.size() >= kFlushThreshold) flush_locked();
  }
  // The byte left the holding register at once: THR is empty again.
  thre_pending_ = true;
  if (ier_ & kIerThre) raise();
}

void Serial::raise() noexcept {
  if (irq_) irq_->trigger();
}

std::size_t Serial::enqueue_input(std::span<const std::uint8_t> bytes) noexcept {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (std::uint8_t b : bytes) {
    if (input_.size() >= kInputCapacity) break;
    input_.push_back(b);
    ++n;
  }
  if (n > 0 && (ier_ & kIerRda)) raise();
  return n;
}

void Serial::flush() noexcept {
  std::lock_guard lock(mu_);
  flush_locked();
}

void Serial::flush_locked() noexcept {
  std::size_t done = 0;
  while (done < out_.size() && out_fd_ >= 0) {
    const ssize_t n = ::write(out_fd_, out_.data() + done, out_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!write_failed_) spdlog::warn("serial: console write failed ({}); output dropped", std::strerror(errno));
      write_failed_ = true;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  out_.clear();
}

SerialState Serial::save() const {
  std::lock_guard lock(mu_);
  SerialState s;
  s.dll = dll_;
  s.dlm = dlm_;
  s.ier = ier_;
  s.lcr = lcr_;
  s.mcr = mcr_;
  s.scr = scr_;
  s.thre_pending = thre_pending_;
  s.fifo_enabled = fifo_enabled_;
  s.input.assign(input_.begin(), input_.end());
  return s;
}

std::unique_ptr<Serial> Serial::restore(std::shared_ptr<Interrupt> irq, int out_fd, const SerialState& state) {
  if (state.input.size() > kInputCapacity) {
    throw common::Error("restore serial: " + std::to_string(state.input.size()) + " input bytes, capacity " +
                        std::to_string(kInputCapacity));
  }
  auto s = std::make_unique<Serial>(std::move(irq), out_fd);
  s->dll_ = state.dll;
  s->dlm_ = state.dlm;
  s->ier_ = state.ier & kIerMask;
  s->lcr_ = state.lcr;
  s->mcr_ = state.mcr & kMcrMask;
  s->scr_ = state.scr;
  s->thre_pending_ = state.thre_pending;
  s->fifo_enabled_ = state.fifo_enabled;
  s->input_.assign(state.input.begin(), state.input.end());
  return s;
}

}  // namespace snapfaas::runner
