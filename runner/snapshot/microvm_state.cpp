// MicrovmState codec: little-endian, fixed-size structs as raw bytes with a size tag, vectors and
// strings length-prefixed, every read bounds-checked.
#include "runner/snapshot/microvm_state.h"

#include <cstring>
#include <string>
#include <type_traits>

#include "common/error.h"

namespace snapfaas::runner::snapshot {

namespace {
constexpr std::uint32_t kStateTag = 0x33534d56;  // "VMS3": codec version 3 (virtio-net devices)
constexpr std::uint32_t kMaxVcpus = 256;
constexpr std::uint32_t kMaxItems = 1u << 16;

class Writer {
 public:
  template <typename T>
  void put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    out_.insert(out_.end(), p, p + sizeof(T));
  }
  // A KVM struct: its size first, so a reader built with other headers fails clearly.
  template <typename T>
  void put_struct(const T& v) {
    put(static_cast<std::uint32_t>(sizeof(T)));
    put(v);
  }
  void put_bytes(std::span<const std::uint8_t> b) {
    put(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  void put_string(const std::string& s) { put_bytes({reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}); }
  std::vector<std::uint8_t> take() { return std::move(out_); }

 private:
  std::vector<std::uint8_t> out_;
};

class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  template <typename T>
  T get(const char* what) {
    static_assert(std::is_trivially_copyable_v<T>);
    if (in_.size() < sizeof(T)) throw common::Error(std::string("state: truncated reading ") + what);
    T v;
    std::memcpy(&v, in_.data(), sizeof(T));
    in_ = in_.subspan(sizeof(T));
    return v;
  }
  template <typename T>
  T get_struct(const char* what) {
    const auto size = get<std::uint32_t>(what);
    if (size != sizeof(T)) {
      throw common::Error(std::string("state: ") + what + " is " + std::to_string(size) + " bytes, expected " +
                          std::to_string(sizeof(T)));
    }
    return get<T>(what);
  }
  std::uint32_t count(const char* what, std::uint32_t max) {
    const auto n = get<std::uint32_t>(what);
    if (n > max) throw common::Error(std::string("state: ") + what + " count " + std::to_string(n) + " too large");
    return n;
  }
  std::vector<std::uint8_t> get_bytes(const char* what) {
    const std::uint32_t n = count(what, 1u << 24);
    if (in_.size() < n) throw common::Error(std::string("state: truncated reading ") + what);
    std::vector<std::uint8_t> v(in_.begin(), in_.begin() + n);
    in_ = in_.subspan(n);
    return v;
  }
  std::string get_string(const char* what) {
    auto b = get_bytes(what);
    return {b.begin(), b.end()};
  }
  [[nodiscard]] bool done() const noexcept { return in_.empty(); }

 private:
  std::span<const std::uint8_t> in_;
};

void put_queue(Writer& w, const virtio::QueueState& q) {
  w.put(q.max_size);
  w.put(q.size);
  w.put(static_cast<std::uint8_t>(q.ready));
  w.put(q.desc_table);
  w.put(q.avail_ring);
  w.put(q.used_ring);
  w.put(q.next_avail);
  w.put(q.next_used);
  w.put(q.signalled_used);
  w.put(static_cast<std::uint8_t>(q.event_idx));
  w.put(static_cast<std::uint8_t>(q.indirect));
}

virtio::QueueState get_queue(Reader& r) {
  virtio::QueueState q;
  q.max_size = r.get<std::uint16_t>("queue");
  q.size = r.get<std::uint16_t>("queue");
  q.ready = r.get<std::uint8_t>("queue") != 0;
  q.desc_table = r.get<std::uint64_t>("queue");
  q.avail_ring = r.get<std::uint64_t>("queue");
  q.used_ring = r.get<std::uint64_t>("queue");
  q.next_avail = r.get<std::uint16_t>("queue");
  q.next_used = r.get<std::uint16_t>("queue");
  q.signalled_used = r.get<std::uint16_t>("queue");
  q.event_idx = r.get<std::uint8_t>("queue") != 0;
  q.indirect = r.get<std::uint8_t>("queue") != 0;
  return q;
}

void put_mmio(Writer& w, const virtio::MmioState& m) {
  w.put(m.device_status);
  w.put(m.device_features_sel);
  w.put(m.driver_features_sel);
  w.put(m.acked_features);
  w.put(m.queue_sel);
  w.put(m.interrupt_status);
  w.put(m.config_generation);
  w.put(static_cast<std::uint8_t>(m.activated));
  w.put(static_cast<std::uint32_t>(m.queues.size()));
  for (const auto& q : m.queues) put_queue(w, q);
}

virtio::MmioState get_mmio(Reader& r) {
  virtio::MmioState m;
  m.device_status = r.get<std::uint32_t>("mmio");
  m.device_features_sel = r.get<std::uint32_t>("mmio");
  m.driver_features_sel = r.get<std::uint32_t>("mmio");
  m.acked_features = r.get<std::uint64_t>("mmio");
  m.queue_sel = r.get<std::uint32_t>("mmio");
  m.interrupt_status = r.get<std::uint32_t>("mmio");
  m.config_generation = r.get<std::uint32_t>("mmio");
  m.activated = r.get<std::uint8_t>("mmio") != 0;
  const std::uint32_t queues = r.count("queues", 1024);
  for (std::uint32_t q = 0; q < queues; ++q) m.queues.push_back(get_queue(r));
  return m;
}

void put_devices(Writer& w, const DeviceStates& d) {
  w.put(static_cast<std::uint8_t>(d.serial.has_value()));
  if (d.serial) {
    const SerialState& s = *d.serial;
    for (std::uint8_t v : {s.dll, s.dlm, s.ier, s.lcr, s.mcr, s.scr}) w.put(v);
    // Flags: bit 0 THR-empty pending, bit 1 FIFOs enabled (a later bit: older snapshots hold 0/1).
    w.put(static_cast<std::uint8_t>((s.thre_pending ? 1U : 0U) | (s.fifo_enabled ? 2U : 0U)));
    w.put_bytes(s.input);
  }
  w.put(static_cast<std::uint8_t>(d.i8042.has_value()));
  if (d.i8042) {
    const I8042State& k = *d.i8042;
    for (std::uint8_t v : {k.status, k.control, k.outp, k.cmd}) w.put(v);
    w.put_bytes(k.output);
  }
  w.put(static_cast<std::uint32_t>(d.blocks.size()));
  for (const BlockDeviceState& b : d.blocks) {
    w.put(b.mmio_base);
    w.put(b.irq);
    put_mmio(w, b.transport);
    w.put_string(b.block.path);
    w.put(static_cast<std::uint8_t>(b.block.read_only));
    w.put(static_cast<std::uint8_t>(b.block.direct));
    w.put_string(b.block.id);
    w.put(b.block.capacity_sectors);
  }
  w.put(static_cast<std::uint32_t>(d.nets.size()));
  for (const NetDeviceState& n : d.nets) {
    w.put(n.mmio_base);
    w.put(n.irq);
    put_mmio(w, n.transport);
    w.put_string(n.net.tap_name);
    w.put(n.net.mac);
    w.put(n.net.features);
  }
}

DeviceStates get_devices(Reader& r) {
  DeviceStates d;
  if (r.get<std::uint8_t>("serial") != 0) {
    SerialState s;
    for (std::uint8_t* v : {&s.dll, &s.dlm, &s.ier, &s.lcr, &s.mcr, &s.scr}) *v = r.get<std::uint8_t>("serial");
    const auto flags = r.get<std::uint8_t>("serial");
    if (flags > 3) throw common::Error("state: serial flags " + std::to_string(flags) + " hold unknown bits");
    s.thre_pending = (flags & 1U) != 0;
    s.fifo_enabled = (flags & 2U) != 0;
    s.input = r.get_bytes("serial input");
    d.serial = std::move(s);
  }
  if (r.get<std::uint8_t>("i8042") != 0) {
    I8042State k;
    for (std::uint8_t* v : {&k.status, &k.control, &k.outp, &k.cmd}) *v = r.get<std::uint8_t>("i8042");
    k.output = r.get_bytes("i8042 output");
    d.i8042 = std::move(k);
  }
  const std::uint32_t blocks = r.count("block devices", 64);
  for (std::uint32_t i = 0; i < blocks; ++i) {
    BlockDeviceState b;
    b.mmio_base = r.get<std::uint64_t>("block MMIO base");
    b.irq = r.get<std::uint32_t>("block IRQ");
    b.transport = get_mmio(r);
    b.block.path = r.get_string("block path");
    b.block.read_only = r.get<std::uint8_t>("block") != 0;
    b.block.direct = r.get<std::uint8_t>("block") != 0;
    b.block.id = r.get_string("block id");
    b.block.capacity_sectors = r.get<std::uint64_t>("block");
    d.blocks.push_back(std::move(b));
  }
  const std::uint32_t nets = r.count("net devices", 64);
  for (std::uint32_t i = 0; i < nets; ++i) {
    NetDeviceState n;
    n.mmio_base = r.get<std::uint64_t>("net MMIO base");
    n.irq = r.get<std::uint32_t>("net IRQ");
    n.transport = get_mmio(r);
    n.net.tap_name = r.get_string("net tap name");
    n.net.mac = r.get<virtio::net::MacAddress>("net MAC");
    n.net.features = r.get<std::uint64_t>("net features");
    d.nets.push_back(std::move(n));
  }
  return d;
}
}  // namespace

std::vector<std::uint8_t> encode_state(const MicrovmState& s) {
  Writer w;
  w.put(kStateTag);
  w.put(s.vcpu_count);
  w.put(s.mem_bytes);
  w.put(static_cast<std::uint8_t>(s.ring3));
  w.put(static_cast<std::uint32_t>(s.regions.size()));
  for (const RamRange& r : s.regions) {
    w.put(r.gpa);
    w.put(r.size);
  }
  w.put(static_cast<std::uint8_t>(s.vm.irqchip));
  if (s.vm.irqchip) {
    w.put_struct(s.vm.pic_master);
    w.put_struct(s.vm.pic_slave);
    w.put_struct(s.vm.ioapic);
  }
  w.put(static_cast<std::uint8_t>(s.vm.pit));
  if (s.vm.pit) w.put_struct(s.vm.pit2);
  w.put_struct(s.vm.clock);
  w.put(static_cast<std::uint32_t>(s.vcpus.size()));
  for (const VcpuState& v : s.vcpus) {
    w.put_struct(v.regs);
    w.put_struct(v.sregs);
    w.put_struct(v.xsave);
    w.put_struct(v.xcrs);
    w.put(static_cast<std::uint32_t>(v.msrs.size()));
    for (const kvm_msr_entry& m : v.msrs) w.put(m);
    w.put(static_cast<std::uint8_t>(v.has_lapic));
    if (v.has_lapic) w.put_struct(v.lapic);
    w.put_struct(v.events);
    w.put_struct(v.mp_state);
  }
  put_devices(w, s.devices);
  return w.take();
}

MicrovmState decode_state(std::span<const std::uint8_t> payload) {
  Reader r(payload);
  if (r.get<std::uint32_t>("tag") != kStateTag) throw common::Error("state: unknown encoding tag");
  MicrovmState s;
  s.vcpu_count = r.get<std::uint32_t>("vcpu_count");
  s.mem_bytes = r.get<std::uint64_t>("mem_bytes");
  s.ring3 = r.get<std::uint8_t>("ring3") != 0;
  const std::uint32_t regions = r.count("regions", 64);
  std::uint64_t total = 0;
  std::uint64_t prev_end = 0;
  for (std::uint32_t i = 0; i < regions; ++i) {
    RamRange range;
    range.gpa = r.get<std::uint64_t>("region");
    range.size = r.get<std::uint64_t>("region");
    if (range.size == 0 || range.gpa % 4096 != 0 || range.size % 4096 != 0 || range.gpa < prev_end ||
        range.end() < range.gpa) {
      throw common::Error("state: RAM region " + std::to_string(i) + " invalid");
    }
    prev_end = range.end();
    total += range.size;
    s.regions.push_back(range);
  }
  if (total != s.mem_bytes) throw common::Error("state: RAM regions do not add up to mem_bytes");
  s.vm.irqchip = r.get<std::uint8_t>("irqchip") != 0;
  if (s.vm.irqchip) {
    s.vm.pic_master = r.get_struct<kvm_irqchip>("pic master");
    s.vm.pic_slave = r.get_struct<kvm_irqchip>("pic slave");
    s.vm.ioapic = r.get_struct<kvm_irqchip>("ioapic");
  }
  s.vm.pit = r.get<std::uint8_t>("pit") != 0;
  if (s.vm.pit) s.vm.pit2 = r.get_struct<kvm_pit_state2>("pit2");
  s.vm.clock = r.get_struct<kvm_clock_data>("clock");
  const std::uint32_t vcpus = r.count("vcpus", kMaxVcpus);
  if (vcpus != s.vcpu_count || vcpus == 0) throw common::Error("state: vCPU records do not match vcpu_count");
  for (std::uint32_t i = 0; i < vcpus; ++i) {
    VcpuState v;
    v.regs = r.get_struct<kvm_regs>("regs");
    v.sregs = r.get_struct<kvm_sregs>("sregs");
    v.xsave = r.get_struct<XsaveArea>("xsave");
    v.xcrs = r.get_struct<kvm_xcrs>("xcrs");
    const std::uint32_t msrs = r.count("msrs", kMaxItems);
    for (std::uint32_t m = 0; m < msrs; ++m) v.msrs.push_back(r.get<kvm_msr_entry>("msr"));
    v.has_lapic = r.get<std::uint8_t>("lapic flag") != 0;
    if (v.has_lapic) v.lapic = r.get_struct<kvm_lapic_state>("lapic");
    v.events = r.get_struct<kvm_vcpu_events>("vcpu events");
    v.mp_state = r.get_struct<kvm_mp_state>("mp_state");
    s.vcpus.push_back(std::move(v));
  }
  s.devices = get_devices(r);
  if (!r.done()) throw common::Error("state: trailing bytes after the device states");
  return s;
}

}  // namespace snapfaas::runner::snapshot
