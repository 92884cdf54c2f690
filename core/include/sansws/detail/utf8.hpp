// Incremental UTF-8 validation (RFC 3629; RFC 6455 §8.1). Text payloads
// arrive in arbitrary pieces, so the validator carries an unfinished code
// point across calls and fails at the first byte after which no continuation
// could make the input valid ("fail fast", §8.1).
#pragma once

#include <cstddef>
#include <cstdint>

#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

class utf8_validator {
public:
    /// Validate the next piece. Returns true while the input so far is a
    /// prefix of some valid UTF-8 text. On false, `error_offset()` gives the
    /// offset (within all bytes fed since reset) of the first byte that
    /// cannot be part of valid text; the validator then stays failed.
    bool feed(bytes_view piece) noexcept;
    /// feed() fused with the unmasking copy of RFC 6455 §5.3: dst = src XOR
    /// `key` (starting `phase` bytes into it), then validated as feed(dst)
    /// would, touching each byte once. `dst` and `src` have the same size
    /// and do not overlap; dst is written in full whatever the result.
    bool feed_unmasked(std::span<std::byte> dst, bytes_view src, std::span<const std::byte, 4> key,
                       std::size_t phase) noexcept;
    /// True when everything fed so far is complete, valid UTF-8 (no code
    /// point left unfinished). Call at the end of a message.
    bool complete() const noexcept { return state_ == accept_state; }
    bool failed() const noexcept { return state_ == reject_state; }
    std::uint64_t error_offset() const noexcept { return error_offset_; }
    void reset() noexcept { *this = utf8_validator{}; }

    static constexpr std::uint8_t accept_state = 0;
    static constexpr std::uint8_t reject_state = 1;

private:
    std::uint8_t state_ = accept_state;
    std::uint64_t fed_ = 0;
    std::uint64_t error_offset_ = 0;
};

/// One-shot check of a complete string.
bool is_valid_utf8(bytes_view text) noexcept;

}  // namespace sansws

#pragma GCC visibility pop
