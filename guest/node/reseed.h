// Fresh entropy for a restored Node.js agent and the reseed of the OpenSSL generator that Node's
// crypto module draws from. Clones restored from one snapshot start with identical generator
// states (V8's Math.random, OpenSSL's DRBG, crypto.randomUUID's cache): guest/node/agent.js
// reseeds them all after every snapshot point from fill_fresh_entropy().
#pragma once

#include <cstdint>
#include <span>

namespace snapfaas::guest::node {

/// Fills `out` with bytes that differ between clones of one snapshot: the kernel's getrandom()
/// mixed with RDRAND (when the CPU has it) and the TSC. Never blocks, never fails.
void fill_fresh_entropy(std::span<std::uint8_t> out) noexcept;

/// Mixes `entropy` into OpenSSL's primary DRBG with RAND_add (the libcrypto of this process, the
/// one Node's crypto uses: found with dlsym, so the addon itself links no libcrypto). The public
/// and private DRBGs of every thread reseed from the primary before their next output. False
/// when the process has no RAND_add.
[[nodiscard]] bool reseed_openssl(std::span<const std::uint8_t> entropy) noexcept;

}  // namespace snapfaas::guest::node
