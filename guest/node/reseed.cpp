// Fresh entropy (getrandom ⊕ RDRAND ⊕ TSC) and OpenSSL's RAND_add, looked up in the process.
#include "guest/node/reseed.h"

#include <cpuid.h>
#include <dlfcn.h>
#include <openssl/rand.h>
#include <sys/random.h>
#include <x86intrin.h>

#include <cstring>

#include "guest/agent/agent_log.h"

namespace snapfaas::guest::node {
namespace {

bool cpu_has_rdrand() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_RDRND) != 0;
}

[[gnu::target("rdrnd")]] bool rdrand64(unsigned long long* value) noexcept {
  for (int i = 0; i < 10; ++i) {
    if (_rdrand64_step(value) != 0) return true;
  }
  return false;
}

}  // namespace

void fill_fresh_entropy(std::span<std::uint8_t> out) noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, GRND_NONBLOCK);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const bool rdrand = cpu_has_rdrand();
  for (std::size_t i = 0; i < out.size(); i += 8) {
    unsigned long long mix = __rdtsc() * 0x9E3779B97F4A7C15ULL;
    unsigned long long hw = 0;
    if (rdrand && rdrand64(&hw)) mix ^= hw;
    for (std::size_t b = 0; b < 8 && i + b < out.size(); ++b) out[i + b] ^= static_cast<std::uint8_t>(mix >> (8 * b));
  }
}

bool reseed_openssl(std::span<const std::uint8_t> entropy) noexcept {
  using RandAdd = decltype(&::RAND_add);
  // SAFETY: the symbol named RAND_add in this process is OpenSSL's, whose signature rand.h gives.
  const auto rand_add = reinterpret_cast<RandAdd>(::dlsym(RTLD_DEFAULT, "RAND_add"));
  if (rand_add == nullptr) {
    log(LogLevel::kWarn, "no RAND_add in this process: OpenSSL's generator not reseeded");
    return false;
  }
  // randomness = the byte count: the bytes come from the host/kernel generators, not a guess.
  rand_add(entropy.data(), static_cast<int>(entropy.size()), static_cast<double>(entropy.size()));
  return true;
}

}  // namespace snapfaas::guest::node
