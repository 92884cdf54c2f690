// Shared by the SIMD UTF-8 kernels (utf8_generic.hpp): the lookup tables of
// Keiser & Lemire, "Validating UTF-8 In Less Than One Instruction Per
// Byte" (2021), §6, rebuilt here from RFC 3629 §4, and the scalar glue that
// makes the block validator incremental with the DFA's exact error offsets.
// Everything has internal linkage (see internal.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "internal.hpp"

namespace sansws::detail {
namespace {
namespace utf8_lookup {

constexpr std::uint8_t accept = 0;  // utf8_validator::accept_state

// One bit per kind of error visible in two consecutive bytes (b1, b2). Each
// kind is a product condition "high nibble of b1 in H1, low nibble of b1 in
// L1, high nibble of b2 in H2", so three 16-entry tables indexed by those
// nibbles, ANDed, flag exactly the pairs that are errors.
constexpr std::uint8_t too_short = 1 << 0;  // lead C0-FF, then not a continuation
constexpr std::uint8_t too_long = 1 << 1;   // ASCII, then a continuation
constexpr std::uint8_t overlong3 = 1 << 2;  // E0, then 80-9F
constexpr std::uint8_t too_large = 1 << 3;  // F4-FF, then 90-BF (above U+10FFFF)
constexpr std::uint8_t surrogate = 1 << 4;  // ED, then A0-BF (D800-DFFF)
constexpr std::uint8_t overlong2 = 1 << 5;  // C0-C1, then a continuation
constexpr std::uint8_t overlong4 = 1 << 6;  // F0, then 80-8F; or F5-FF, then 80-8F
// Two continuations in a row: valid only as the third or fourth byte of a
// sequence, which the block kernels check separately.
constexpr std::uint8_t two_conts = 1 << 7;

// Indexed by the high nibble of b1.
constexpr std::uint8_t byte1_high[16] = {
    too_long, too_long, too_long, too_long, too_long, too_long, too_long, too_long,  // 0-7: ASCII
    two_conts, two_conts, two_conts, two_conts,                                      // 8-B: continuation
    too_short | overlong2,                                                           // C
    too_short,                                                                       // D
    too_short | overlong3 | surrogate,                                               // E
    too_short | too_large | overlong4,                                               // F
};

// Indexed by the low nibble of b1. Kinds that do not depend on it have their
// bit in every entry.
constexpr std::uint8_t any_low = too_short | too_long | two_conts;
constexpr std::uint8_t byte1_low[16] = {
    any_low | overlong2 | overlong3 | overlong4,  // x0: C0, E0, F0
    any_low | overlong2,                          // x1: C1
    any_low, any_low,                             // x2, x3
    any_low | too_large,                          // x4: F4
    any_low | too_large | overlong4,              // x5: F5 and up can never start a sequence
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
    any_low | too_large | overlong4 | surrogate,  // xD: ED
    any_low | too_large | overlong4,
    any_low | too_large | overlong4,
};

// Indexed by the high nibble of b2.
constexpr std::uint8_t byte2_high[16] = {
    too_short, too_short, too_short, too_short, too_short, too_short, too_short, too_short,  // ASCII
    too_long | two_conts | overlong2 | overlong3 | overlong4,                                // 80-8F
    too_long | two_conts | overlong2 | overlong3 | too_large,                                // 90-9F
    too_long | two_conts | overlong2 | too_large | surrogate,                                // A0-AF
    too_long | two_conts | overlong2 | too_large | surrogate,                                // B0-BF
    too_short, too_short, too_short, too_short,                                              // leads
};

// Saturating b - bias has its high bit set exactly when b >= bias + 0x80:
// 0xE0 and up (a 3- or 4-byte lead) two bytes back, 0xF0 and up three back.
constexpr std::uint8_t third_byte_bias = 0xE0 - 0x80;
constexpr std::uint8_t fourth_byte_bias = 0xF0 - 0x80;

// Largest byte allowed in each position of a block that ends between code
// points: a lead byte in the last three starts a sequence the block does not
// finish (paper §6, "is_incomplete"). A block of w bytes loads the last w.
alignas(64) constexpr std::uint8_t incomplete_max[64] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xEF, 0xDF, 0xBF,
};

}  // namespace utf8_lookup

/// `key` (a 4-byte pattern in memory order, x86 is little-endian) as seen
/// from `skip` bytes further on.
std::uint32_t rotate_key(std::uint32_t key, std::size_t skip) noexcept {
    const unsigned bits = 8 * static_cast<unsigned>(skip & 3);
    return bits == 0 ? key : (key >> bits) | (key << (32 - bits));
}

/// A block at `b` holds an error (or the one before it ended on an invalid
/// lead byte, which the lookups only see one byte later). Everything from
/// `start` (a code point boundary) up to the block passed the checks, so
/// back up over the code point that may straddle the block boundary (at
/// most three continuations and their lead) and let the DFA find the exact
/// offset from there: the result is the reference's by construction.
std::size_t utf8_locate(std::uint8_t& state, const std::byte* p, std::size_t start, std::size_t b,
                        std::size_t n) noexcept {
    std::size_t r = b;
    while (r > start && b - r < 3 && (static_cast<std::uint8_t>(p[r - 1]) & 0xC0) == 0x80) --r;
    if (r > start && static_cast<std::uint8_t>(p[r - 1]) >= 0xC0) --r;
    state = utf8_lookup::accept;
    return r + utf8_dfa(state, p + r, n - r);
}

/// All blocks passed: [start, n) is valid except that its last code point
/// may be unfinished, or its very last byte an invalid lead (checked only
/// against a following byte). Run the DFA over the last code point, which
/// starts at the last non-continuation byte, to get the state to carry.
std::size_t utf8_finish_end(std::uint8_t& state, const std::byte* p, std::size_t start, std::size_t n) noexcept {
    state = utf8_lookup::accept;
    for (std::size_t j = n; j > start && n - j < 4;) {
        --j;
        if ((static_cast<std::uint8_t>(p[j]) & 0xC0) != 0x80) return j + utf8_dfa(state, p + j, n - j);
    }
    return n;
}

}  // namespace
}  // namespace sansws::detail
