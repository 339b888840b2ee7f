// I8042: controller commands answered like Firecracker's, 0xFE calls the reset callback, and
// save → restore.
#include "runner/devices/legacy/i8042.h"

#include <doctest/doctest.h>

#include <array>

#include "common/error.h"
#include "tests/runner/devices/counting_interrupt.h"

using snapfaas::runner::I8042;
using snapfaas::runner::I8042State;
using snapfaas::runner::test::CountingInterrupt;

namespace {
constexpr std::uint64_t kData = 0, kStatus = 4;
std::uint8_t in(I8042& d, std::uint64_t off) {
  std::array<std::uint8_t, 1> b{};
  d.read(off, b);
  return b[0];
}
void out(I8042& d, std::uint64_t off, std::uint8_t v) {
  const std::array<std::uint8_t, 1> b{v};
  d.write(off, b);
}
}  // namespace

TEST_CASE("I8042 reset command invokes the callback once per command") {
  int resets = 0;
  I8042 d([&] { ++resets; });
  out(d, kStatus, 0x20);  // not a reset
  CHECK(resets == 0);
  out(d, kData, 0xfe);  // 0xFE on the data port is a keyboard byte, not a reset
  CHECK(resets == 0);
  const std::array<std::uint8_t, 2> wide{0xfe, 0xfe};
  d.write(kStatus, wide);  // 16-bit write ignored
  CHECK(resets == 0);
  out(d, kStatus, 0xfe);
  CHECK(resets == 1);
  out(d, kStatus, 0xfe);
  CHECK(resets == 2);
}

TEST_CASE("I8042 control byte, output port, self test and keyboard ack") {
  auto irq = std::make_shared<CountingInterrupt>();
  I8042 d([] {}, irq);
  CHECK((in(d, kStatus) & 0x01) == 0);  // nothing to read
  out(d, kStatus, 0x20);                 // read CTR
  CHECK((in(d, kStatus) & 0x01) == 0x01);
  CHECK(in(d, kData) == 0x05);           // kbd interrupt | POST ok
  CHECK((in(d, kStatus) & 0x01) == 0);
  out(d, kStatus, 0x60);  // write CTR
  CHECK((in(d, kStatus) & 0x08) == 0x08);
  out(d, kData, 0x44);
  CHECK((in(d, kStatus) & 0x08) == 0);
  out(d, kStatus, 0x20);
  CHECK(in(d, kData) == 0x44);
  out(d, kStatus, 0xd1);
  out(d, kData, 0x03);
  out(d, kStatus, 0xd0);
  CHECK(in(d, kData) == 0x03);
  out(d, kStatus, 0xaa);
  CHECK(in(d, kData) == 0x55);  // controller self test passed
  CHECK(irq->get() == 0);
  out(d, kData, 0xf4);  // keyboard command: acked, but IRQ 1 disabled (CTR 0x44)
  CHECK(in(d, kData) == 0xfa);
  CHECK(irq->get() == 0);
  out(d, kStatus, 0x60);
  out(d, kData, 0x01);
  out(d, kData, 0xff);  // with kbd interrupts enabled the ack raises IRQ 1
  CHECK(irq->get() == 1);
  CHECK(in(d, kData) == 0xfa);
  CHECK(in(d, kData) == 0);  // empty buffer reads 0
}

TEST_CASE("I8042State save -> restore round trip") {
  I8042 d([] {});
  out(d, kStatus, 0x60);
  out(d, kData, 0x47);
  out(d, kStatus, 0xd1);  // leaves a command awaiting data
  const I8042State st = d.save();
  CHECK(st.control == 0x47);
  CHECK(st.cmd == 0xd1);
  int resets = 0;
  auto r = I8042::restore([&] { ++resets; }, nullptr, st);
  CHECK(r->save() == st);
  out(*r, kData, 0x09);  // completes the pending write-output-port
  out(*r, kStatus, 0xd0);
  CHECK(in(*r, kData) == 0x09);
  out(*r, kStatus, 0xfe);
  CHECK(resets == 1);
  I8042State bad = st;
  bad.output.assign(I8042::kBufferSize + 1, 0);
  CHECK_THROWS_AS((void)I8042::restore([] {}, nullptr, bad), snapfaas::common::Error);
}
