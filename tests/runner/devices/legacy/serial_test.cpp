// Serial: 8250 register behaviour (DLAB, LSR, IIR, MSR loopback), THRE interrupts counted by a
// fake line, console output captured through a pipe, and save → restore.
#include "runner/devices/legacy/serial.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <string>

#include "common/error.h"
#include "common/unique_fd.h"
#include "tests/runner/devices/counting_interrupt.h"

using snapfaas::common::UniqueFd;
using snapfaas::runner::Serial;
using snapfaas::runner::SerialState;
using snapfaas::runner::test::CountingInterrupt;

namespace {

constexpr std::uint64_t kData = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
constexpr std::uint64_t kFcr = kIir;  // the same port: IIR read, FCR written

struct Pipe {
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    rd.reset(fds[0]);
    wr.reset(fds[1]);
  }
  std::string drain() {
    std::string out;
    std::array<char, 4096> buf{};
    for (;;) {
      const ssize_t n = ::read(rd.get(), buf.data(), buf.size());
      if (n <= 0) break;
      out.append(buf.data(), static_cast<std::size_t>(n));
    }
    return out;
  }
  UniqueFd rd, wr;
};

std::uint8_t in(Serial& s, std::uint64_t off) {
  std::array<std::uint8_t, 1> b{};
  s.read(off, b);
  return b[0];
}
void out(Serial& s, std::uint64_t off, std::uint8_t v) {
  const std::array<std::uint8_t, 1> b{v};
  s.write(off, b);
}
void print(Serial& s, std::string_view text) {
  for (char c : text) out(s, kData, static_cast<std::uint8_t>(c));
}

}  // namespace

TEST_CASE("Serial reset values and byte-wide access") {
  Serial s(nullptr, -1);
  CHECK(in(s, kIir) == 0x01);  // no interrupt pending
  CHECK(in(s, kLcr) == 0x03);
  CHECK(in(s, kMcr) == 0x08);
  CHECK(in(s, kLsr) == 0x60);  // THR empty, transmitter idle, no data
  CHECK(in(s, kMsr) == 0xb0);  // DCD, DSR, CTS
  std::array<std::uint8_t, 2> wide{};
  s.read(kLsr, wide);
  CHECK(wide[0] == 0xff);  // 16-bit access answered with all ones
  out(s, kScr, 0x5a);
  CHECK(in(s, kScr) == 0x5a);
}

TEST_CASE("Serial DLAB switches offsets 0/1 to the divisor latch") {
  Pipe p;
  Serial s(nullptr, p.wr.get());
  out(s, kLcr, 0x80 | 0x03);
  out(s, kData, 0x01);  // DLL, not THR
  out(s, kIer, 0x00);   // DLM, not IER
  CHECK(in(s, kData) == 0x01);
  CHECK(in(s, kIer) == 0x00);
  out(s, kLcr, 0x03);
  CHECK(in(s, kIer) == 0x00);
  print(s, "x\n");
  s.flush();
  CHECK(p.drain() == "x\n");  // only the byte written with DLAB clear reached the console
  out(s, kLcr, 0x83);
  CHECK(in(s, kData) == 0x01);  // divisor kept
}

TEST_CASE("Serial console output is buffered until newline or flush") {
  Pipe p;
  Serial s(nullptr, p.wr.get());
  print(s, "boot");
  CHECK(p.drain().empty());
  print(s, "ing\n");
  CHECK(p.drain() == "booting\n");
  print(s, "tail");
  s.flush();
  CHECK(p.drain() == "tail");
  std::string big(2000, 'a');
  print(s, big);
  CHECK(p.drain().size() >= 1536);  // flushed every 512 bytes without a newline
}

TEST_CASE("Serial THRE interrupts let a driver make progress") {
  auto irq = std::make_shared<CountingInterrupt>();
  Pipe p;
  Serial s(irq, p.wr.get());
  print(s, "ab");
  CHECK(irq->get() == 0);  // ETBEI disabled: no interrupts
  out(s, kIer, 0x02);      // enable THRE interrupt: THR is empty, so it fires at once
  CHECK(irq->get() == 1);
  CHECK(in(s, kIir) == 0x02);
  CHECK(in(s, kIir) == 0x01);  // reading IIR acknowledged it
  print(s, "cde");
  CHECK(irq->get() == 4);      // one per transmitted byte
  CHECK(in(s, kIir) == 0x02);
  // Linux's UART_BUG_THRE probe: IER=THRI, IER=0, IER=THRI must report THRE again.
  out(s, kIer, 0x00);
  out(s, kIer, 0x02);
  CHECK(in(s, kIir) == 0x02);
  out(s, kIer, 0x00);  // driver done: output flushed
  CHECK(p.drain() == "abcde");
}

TEST_CASE("Serial input: data ready, RBR, and the receive interrupt") {
  auto irq = std::make_shared<CountingInterrupt>();
  Serial s(irq, -1);
  const std::array<std::uint8_t, 2> bytes{'h', 'i'};
  CHECK(s.enqueue_input(bytes) == 2);
  CHECK(irq->get() == 0);  // ERBFI disabled
  CHECK((in(s, kLsr) & 0x01) == 0x01);
  out(s, kIer, 0x01);
  CHECK(irq->get() == 1);  // enabling with data waiting interrupts
  CHECK(in(s, kIir) == 0x04);
  CHECK(in(s, kData) == 'h');
  CHECK(in(s, kData) == 'i');
  CHECK((in(s, kLsr) & 0x01) == 0);
  CHECK(in(s, kIir) == 0x01);
  CHECK(in(s, kData) == 0);  // empty RBR
  std::string flood(Serial::kInputCapacity + 10, 'z');
  CHECK(s.enqueue_input(std::span(reinterpret_cast<const std::uint8_t*>(flood.data()), flood.size())) ==
        Serial::kInputCapacity);
}

TEST_CASE("Serial loopback: THR goes to RBR and MSR mirrors MCR") {
  Pipe p;
  Serial s(nullptr, p.wr.get());
  out(s, kMcr, 0x10 | 0x0f);  // loopback, DTR, RTS, OUT1, OUT2
  CHECK(in(s, kMsr) == 0xf0);
  out(s, kMcr, 0x10 | 0x01);  // loopback, DTR only
  CHECK(in(s, kMsr) == 0x20);  // DSR
  print(s, "Q\n");
  CHECK(in(s, kData) == 'Q');
  CHECK(in(s, kData) == '\n');
  s.flush();
  CHECK(p.drain().empty());  // nothing reached the console
}

TEST_CASE("Serial is a 16550A to Linux's probe: FIFOs reported once FCR enables them, cleared input") {
  auto irq = std::make_shared<CountingInterrupt>();
  Serial s(irq, -1);
  CHECK(in(s, kIir) == 0x01);         // reset: FIFOs off (a 16450 until the driver enables them)
  out(s, kFcr, 0x01);                 // FCR: enable FIFOs (8250 autoconfig)
  CHECK((in(s, kIir) >> 6) == 3);     // "scratch = IIR >> 6; case 3: 16550A"
  // autoconfig_16550a's TI16750 probe must not match (bit 5 stays clear with or without DLAB).
  out(s, kFcr, 0x21);
  CHECK(((in(s, kIir) >> 5) & 7) == 6);
  out(s, kLcr, 0x80);
  CHECK(((in(s, kIir) >> 5) & 7) == 6);
  out(s, kLcr, 0x03);
  out(s, kIer, 0x02);                 // THRE with FIFOs: the same interrupt, FIFO bits set
  CHECK(in(s, kIir) == 0xc2);
  CHECK(in(s, kIir) == 0xc1);
  const std::array<std::uint8_t, 2> bytes{7, 8};
  REQUIRE(s.enqueue_input(bytes) == 2);
  out(s, kFcr, 0x03);                 // enable + clear the receive FIFO
  CHECK((in(s, kLsr) & 0x01) == 0);   // nothing to read
  out(s, kFcr, 0x00);                 // FIFOs off: a 16450's IIR again
  CHECK(in(s, kIir) == 0x01);
}

TEST_CASE("SerialState save -> restore round trip") {
  auto irq = std::make_shared<CountingInterrupt>();
  Serial s(irq, -1);
  out(s, kLcr, 0x83);
  out(s, kData, 0x30);
  out(s, kIer, 0x00);
  out(s, kLcr, 0x1b);
  out(s, kIer, 0x03);
  out(s, kMcr, 0x0b);
  out(s, kScr, 0x77);
  const std::array<std::uint8_t, 3> bytes{1, 2, 3};
  REQUIRE(s.enqueue_input(bytes) == 3);
  const SerialState st = s.save();
  CHECK(st.dll == 0x30);
  CHECK(st.lcr == 0x1b);
  CHECK(st.ier == 0x03);
  CHECK(st.thre_pending);
  CHECK(st.input == std::vector<std::uint8_t>{1, 2, 3});
  auto r = Serial::restore(irq, -1, st);
  CHECK(r->save() == st);
  CHECK(in(*r, kIir) == 0x04);
  CHECK(in(*r, kData) == 1);
  CHECK_FALSE(st.fifo_enabled);
  out(s, kFcr, 0x01);  // FIFOs enabled: kept across a restore
  const SerialState fifo = s.save();
  CHECK(fifo.fifo_enabled);
  auto f = Serial::restore(irq, -1, fifo);
  CHECK(f->save() == fifo);
  CHECK((in(*f, kIir) & 0xc0) == 0xc0);
  SerialState bad = st;
  bad.input.assign(Serial::kInputCapacity + 1, 0);
  CHECK_THROWS_AS((void)Serial::restore(irq, -1, bad), snapfaas::common::Error);
}
