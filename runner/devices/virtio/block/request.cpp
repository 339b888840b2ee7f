// Request: virtio-blk request framing checks (header, data direction, status byte).
#include "runner/devices/virtio/block/request.h"

namespace snapfaas::runner::virtio::block {
namespace {

// Guest layout of struct virtio_blk_req's header (§5.2.6).
struct RequestHeader {
  std::uint32_t type;
  std::uint32_t reserved;
  std::uint64_t sector;
};
static_assert(sizeof(RequestHeader) == 16);

}  // namespace

std::string_view to_string(ParseError e) noexcept {
  switch (e) {
    case ParseError::kNone: return "ok";
    case ParseError::kTooFewBuffers: return "fewer than two descriptors";
    case ParseError::kHeaderNotReadable: return "header descriptor is device-writable";
    case ParseError::kHeaderTooShort: return "header descriptor shorter than 16 bytes";
    case ParseError::kHeaderUnreadable: return "header outside guest memory";
    case ParseError::kStatusNotWritable: return "status descriptor is not device-writable";
    case ParseError::kStatusEmpty: return "status descriptor has length 0";
    case ParseError::kDataWrongDirection: return "data descriptor has the wrong direction";
    case ParseError::kDataNotSectors: return "data length not a multiple of 512";
    case ParseError::kDataTooLong: return "data length too large";
  }
  return "unknown";
}

ParseError parse_request(const GuestMemory& mem, const DescriptorChain& chain, Request& out,
                         bool& status_ok) noexcept {
  status_ok = false;
  out.data.clear();
  out.data_len = 0;
  const auto& bufs = chain.buffers;
  if (bufs.size() < 2) return ParseError::kTooFewBuffers;

  const Buffer& status = bufs.back();
  if (!status.device_writable) return ParseError::kStatusNotWritable;
  if (status.len < 1) return ParseError::kStatusEmpty;
  out.status_gpa = status.gpa;
  status_ok = true;

  const Buffer& header = bufs.front();
  if (header.device_writable) return ParseError::kHeaderNotReadable;
  if (header.len < sizeof(RequestHeader)) return ParseError::kHeaderTooShort;
  const auto hdr = mem.read_obj<RequestHeader>(header.gpa);  // a copy: the guest may change it
  if (!hdr) return ParseError::kHeaderUnreadable;
  out.type = hdr->type;
  out.sector = hdr->sector;

  for (std::size_t i = 1; i + 1 < bufs.size(); ++i) {
    out.data.push_back(bufs[i]);
    out.data_len += bufs[i].len;
  }
  if (out.data_len > 0xffffffffull) return ParseError::kDataTooLong;

  switch (out.type) {
    case kTypeIn:
    case kTypeGetId:
      for (const Buffer& b : out.data) {
        if (!b.device_writable) return ParseError::kDataWrongDirection;
      }
      if (out.type == kTypeIn && out.data_len % kSectorSize != 0) return ParseError::kDataNotSectors;
      break;
    case kTypeOut:
      for (const Buffer& b : out.data) {
        if (b.device_writable) return ParseError::kDataWrongDirection;
      }
      if (out.data_len % kSectorSize != 0) return ParseError::kDataNotSectors;
      break;
    default: break;  // FLUSH carries no data that matters; unknown types are answered UNSUPP
  }
  return ParseError::kNone;
}

}  // namespace snapfaas::runner::virtio::block
