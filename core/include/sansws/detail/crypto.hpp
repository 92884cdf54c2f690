// The small pieces of cryptography the handshake and masking need: SHA-1 and
// base64 for Sec-WebSocket-Accept (RFC 6455 §4.2.2), and a ChaCha20 stream
// (RFC 8439) seeded from the caller's entropy for unpredictable mask keys
// (§5.3, §10.3).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

using sha1_digest = std::array<std::byte, 20>;

/// Incremental SHA-1 (FIPS 180-4). Not for security; the handshake needs it.
class sha1 {
public:
    sha1() noexcept;
    void update(bytes_view data) noexcept;
    sha1_digest finish() noexcept;  // the object must not be reused afterwards
    static sha1_digest hash(bytes_view data) noexcept;

private:
    void block(const std::byte* p) noexcept;
    std::array<std::uint32_t, 5> h_;
    std::array<std::byte, 64> buf_{};
    std::uint64_t total_ = 0;
};

/// Standard base64 with padding (RFC 4648 §4).
std::string base64_encode(bytes_view data);
/// Strict decode: padding required, no whitespace; nullopt on any error.
std::optional<std::string> base64_decode(std::string_view text);

/// ChaCha20 keystream (RFC 8439 §2.3) used as a CSPRNG: seeded once from the
/// injected entropy, then produces mask keys without further entropy calls.
class chacha20_rng {
public:
    chacha20_rng() noexcept = default;
    /// key: 32 bytes, nonce: 12 bytes, counter: initial block counter.
    void seed(std::span<const std::byte, 32> key, std::span<const std::byte, 12> nonce,
              std::uint32_t counter = 0) noexcept;
    /// Fill `out` with keystream bytes.
    void fill(mutable_bytes out) noexcept;
    /// One raw keystream block for the current counter (advances it); exposed
    /// for the RFC 8439 test vectors.
    std::array<std::byte, 64> next_block() noexcept;

private:
    std::array<std::uint32_t, 16> state_{};
    std::array<std::byte, 64> block_{};
    std::size_t used_ = 64;
};

}  // namespace sansws

#pragma GCC visibility pop
