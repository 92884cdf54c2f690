// Framing pieces shared by frame.cpp and the connection's fast paths
// (connection.cpp): the header writer on raw memory, and the decoder of the
// frame that dominates an open connection, a whole data frame sitting
// complete in the input (RFC 6455 §5.2).
#pragma once

#include <cstring>

#include "sansws/frame.hpp"

namespace sansws::detail {

inline constexpr std::uint8_t fin_bit = 0x80, rsv_bits = 0x70, opcode_bits = 0x0F;
inline constexpr std::uint8_t mask_bit = 0x80, len_bits = 0x7F;

inline std::uint8_t u8(std::byte b) noexcept { return static_cast<std::uint8_t>(b); }

/// Write a header with the minimal length encoding (§5.2: "the minimal
/// number of bytes MUST be used"); `out` has room for
/// frame_header_size(length, key != nullptr). Returns the bytes written.
inline std::size_t put_frame_header(std::byte* out, std::uint8_t first_byte, std::uint64_t length,
                                    const mask_key* key) noexcept {
    const std::byte mask{static_cast<std::uint8_t>(key ? mask_bit : 0)};
    out[0] = std::byte{first_byte};
    std::size_t n = 2;
    if (length < 126) {
        out[1] = mask | std::byte(length);
    } else if (length <= 0xFFFF) {
        out[1] = mask | std::byte{126};
        out[2] = std::byte(length >> 8);
        out[3] = std::byte(length);
        n = 4;
    } else {
        out[1] = mask | std::byte{127};
        for (int i = 0; i < 8; ++i) out[2 + i] = std::byte(length >> (56 - 8 * i));
        n = 10;
    }
    if (key) {
        std::memcpy(out + n, key->data(), 4);
        n += 4;
    }
    return n;
}

/// The steady-state frame: text or binary with FIN and no RSV bit, masked
/// exactly when `masked`, its length minimally encoded and below 2^63, header
/// and payload all within [p, p + n). For such a frame frame_parser delivers
/// one piece, first and last, so a caller at a frame boundary may take it
/// directly. Returns the header size and sets `length` and `key` (the mask
/// key's bytes in memory order); returns 0 for anything else (partial,
/// control, fragment, or an error), which the general parser then decides.
inline std::size_t whole_data_frame(const std::byte* p, std::size_t n, bool masked, std::uint64_t& length,
                                    std::uint32_t& key) noexcept {
    if (n < 2) return 0;
    const std::uint8_t b0 = u8(p[0]), b1 = u8(p[1]);
    if ((b0 != (fin_bit | 0x1) && b0 != (fin_bit | 0x2)) || ((b1 & mask_bit) != 0) != masked) return 0;
    std::size_t hs = 2;
    std::uint64_t len = b1 & len_bits;
    if (len == 126) {
        if (n < 4) return 0;
        len = (std::uint64_t{u8(p[2])} << 8) | u8(p[3]);
        if (len < 126) return 0;
        hs = 4;
    } else if (len == 127) {
        if (n < 10) return 0;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | u8(p[2 + i]);
        if (len <= 0xFFFF || (len >> 63) != 0) return 0;
        hs = 10;
    }
    if (masked) {
        if (n - hs < 4) return 0;
        std::memcpy(&key, p + hs, 4);
        hs += 4;
    }
    if (len > n - hs) return 0;
    length = len;
    return hs;
}

}  // namespace sansws::detail
