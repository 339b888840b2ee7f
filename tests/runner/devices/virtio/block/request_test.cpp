// parse_request: virtio-blk framing (header, data direction, status byte) from checked chains.
#include "runner/devices/virtio/block/request.h"

#include <doctest/doctest.h>

#include "tests/runner/devices/virtio/fake_driver.h"

using namespace snapfaas::runner;
using namespace snapfaas::runner::virtio;
using namespace snapfaas::runner::virtio::block;
using snapfaas::runner::virtio::test::FakeDriver;

namespace {

struct Header {
  std::uint32_t type;
  std::uint32_t reserved;
  std::uint64_t sector;
};

constexpr std::uint64_t kHdr = FakeDriver::kData;
constexpr std::uint64_t kBuf = FakeDriver::kData + 0x1000;
constexpr std::uint64_t kStatus = FakeDriver::kData + 0x100;

DescriptorChain chain(std::initializer_list<Buffer> bufs) {
  DescriptorChain c;
  c.head = 0;
  c.buffers = bufs;
  return c;
}

}  // namespace

TEST_CASE("parse_request accepts well-formed requests") {
  FakeDriver d(8);
  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeIn, 0, 77}));
  Request r;
  bool status_ok = false;
  const auto c = chain({{kHdr, 16, false}, {kBuf, 512, true}, {kBuf + 512, 1024, true}, {kStatus, 1, true}});
  REQUIRE(parse_request(d.mem, c, r, status_ok) == ParseError::kNone);
  CHECK(status_ok);
  CHECK(r.type == kTypeIn);
  CHECK(r.sector == 77);
  CHECK(r.data.size() == 2);
  CHECK(r.data_len == 1536);
  CHECK(r.status_gpa == kStatus);

  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeOut, 0, 3}));
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kBuf, 512, false}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kNone);
  CHECK(r.type == kTypeOut);

  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeFlush, 0, 0}));
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kStatus, 1, true}}), r, status_ok) == ParseError::kNone);
  CHECK(r.data.empty());

  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeGetId, 0, 0}));
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kBuf, 20, true}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kNone);

  REQUIRE(d.mem.write_obj(kHdr, Header{0x1234, 0, 0}));  // unknown type: framing only, caller says UNSUPP
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kStatus, 1, true}}), r, status_ok) == ParseError::kNone);
  CHECK(r.type == 0x1234);
}

TEST_CASE("parse_request rejects malformed requests") {
  FakeDriver d(8);
  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeIn, 0, 0}));
  Request r;
  bool status_ok = true;
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}}), r, status_ok) == ParseError::kTooFewBuffers);
  CHECK_FALSE(status_ok);
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kStatus, 1, false}}), r, status_ok) ==
        ParseError::kStatusNotWritable);
  CHECK_FALSE(status_ok);
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kStatus, 0, true}}), r, status_ok) ==
        ParseError::kStatusEmpty);
  CHECK_FALSE(status_ok);
  CHECK(parse_request(d.mem, chain({{kHdr, 16, true}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kHeaderNotReadable);
  CHECK(status_ok);  // the status byte is usable: the caller answers IOERR
  CHECK(parse_request(d.mem, chain({{kHdr, 8, false}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kHeaderTooShort);
  CHECK(parse_request(d.mem, chain({{FakeDriver::kMemSize - 8, 16, false}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kHeaderUnreadable);
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kBuf, 512, false}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kDataWrongDirection);  // IN into device-readable memory
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kBuf, 100, true}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kDataNotSectors);
  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeOut, 0, 0}));
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kBuf, 512, true}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kDataWrongDirection);  // OUT from device-writable memory
  REQUIRE(d.mem.write_obj(kHdr, Header{kTypeGetId, 0, 0}));
  CHECK(parse_request(d.mem, chain({{kHdr, 16, false}, {kBuf, 20, false}, {kStatus, 1, true}}), r, status_ok) ==
        ParseError::kDataWrongDirection);
  CHECK(to_string(ParseError::kStatusEmpty) == "status descriptor has length 0");
}
