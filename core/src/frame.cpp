// Frame parsing and header writing (RFC 6455 §5.2). The parser is one
// resumable state machine; when a whole header is already in the input it is
// decoded in place instead of being gathered byte by byte.
#include "sansws/frame.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

#include "frame_internal.hpp"
#include "kernels/dispatch.hpp"

namespace sansws {
namespace {

using detail::fin_bit, detail::rsv_bits, detail::opcode_bits, detail::mask_bit, detail::len_bits, detail::u8;

/// Header bytes implied by the first two bytes (§5.2: 7, 7+16 or 7+64 bits
/// of length, then the masking key when MASK is set).
std::size_t header_length(std::byte b1) noexcept {
    const std::uint8_t len7 = u8(b1) & len_bits;
    return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((u8(b1) & mask_bit) ? 4 : 0);
}

bool reserved_opcode(std::uint8_t op) noexcept { return (op >= 0x3 && op <= 0x7) || op >= 0xB; }

}  // namespace

std::size_t write_frame_header(std::span<std::byte, max_frame_header_size> out,
                               const frame_header& h) noexcept {
    const auto first = static_cast<std::uint8_t>((h.fin ? fin_bit : 0) | (h.rsv & rsv_bits) | static_cast<std::uint8_t>(h.op));
    return detail::put_frame_header(out.data(), first, h.payload_length, h.masked ? &h.key : nullptr);
}

void apply_mask(mutable_bytes data, const mask_key& key, std::size_t phase) noexcept {
    detail::kernels().mask(data.data(), data.size(), detail::rotated_key(key.data(), phase));
}

void copy_masked(mutable_bytes dst, bytes_view src, const mask_key& key, std::size_t phase) noexcept {
    detail::kernels().mask_copy(dst.data(), src.data(), std::min(dst.size(), src.size()), detail::rotated_key(key.data(), phase));
}

violation frame_parser::check(const frame_header& h) const noexcept {
    if (h.rsv & ~allowed_rsv_) return violation::reserved_bits;  // §5.2
    const auto op = static_cast<std::uint8_t>(h.op);
    if (reserved_opcode(op)) return violation::reserved_opcode;  // §5.2
    if (is_control(h.op)) {
        if (!h.fin) return violation::fragmented_control;              // §5.5
        if (h.payload_length > 125) return violation::control_too_long; // §5.5
    }
    // §5.1: a server fails unmasked frames, a client fails masked ones.
    if (role_ == role::server && !h.masked) return violation::unmasked_frame;
    if (role_ == role::client && h.masked) return violation::masked_frame;
    return violation::none;
}

frame_piece frame_parser::fail(violation v, std::size_t consumed) noexcept {
    state_ = state::failed;
    error_ = v;
    frame_piece p;
    p.type = frame_piece::kind::error;
    p.consumed = consumed;
    p.error = v;
    return p;
}

frame_piece frame_parser::parse(mutable_bytes input) noexcept {
    std::size_t pos = 0;
    switch (state_) {
    case state::failed:
        return fail(error_, 0);
    case state::header: {
        const std::byte* hp;
        if (have_ == 0 && input.size() >= 2 && input.size() >= header_length(input[1])) {
            // Fast path: the whole header is in the input; decode it in place.
            hp = input.data();
            pos = header_length(input[1]);
        } else {
            // Gather the header across calls: first two bytes, then the rest.
            std::size_t need = have_ < 2 ? 2 : header_length(hdr_[1]);
            while (true) {
                const std::size_t take = std::min(need - have_, input.size() - pos);
                if (take != 0) std::memcpy(hdr_.data() + have_, input.data() + pos, take);  // data() may be null
                have_ = static_cast<std::uint8_t>(have_ + take);
                pos += take;
                if (have_ < need) {
                    frame_piece p;
                    p.consumed = pos;
                    return p;
                }
                if (need == 2 && header_length(hdr_[1]) > 2) {
                    need = header_length(hdr_[1]);
                    continue;
                }
                break;
            }
            have_ = 0;
            hp = hdr_.data();
        }
        frame_header h;
        h.fin = (u8(hp[0]) & fin_bit) != 0;
        h.rsv = u8(hp[0]) & rsv_bits;
        h.op = static_cast<opcode>(u8(hp[0]) & opcode_bits);
        h.masked = (u8(hp[1]) & mask_bit) != 0;
        const std::uint8_t len7 = u8(hp[1]) & len_bits;
        std::size_t at = 2;
        if (len7 == 126) {
            h.payload_length = (std::uint64_t(u8(hp[2])) << 8) | u8(hp[3]);
            at = 4;
        } else if (len7 == 127) {
            h.payload_length = 0;
            for (int i = 0; i < 8; ++i) h.payload_length = (h.payload_length << 8) | u8(hp[2 + i]);
            at = 10;
        } else {
            h.payload_length = len7;
        }
        if (h.masked) std::memcpy(h.key.data(), hp + at, 4);
        if (violation v = check(h); v != violation::none) return fail(v, pos);
        // §5.2: the most significant bit of a 64-bit length MUST be 0.
        if (h.payload_length >> 63) return fail(violation::length_too_large, pos);
        // §5.2: the minimal number of bytes MUST be used to encode the length.
        if ((len7 == 126 && h.payload_length < 126) || (len7 == 127 && h.payload_length <= 0xFFFF))
            return fail(violation::non_minimal_length, pos);
        cur_ = h;
        remaining_ = h.payload_length;
        offset_ = 0;
        announced_ = false;
        state_ = state::payload;
        [[fallthrough]];
    }
    case state::payload: {
        const std::size_t avail = input.size() - pos;
        // A header that has just completed is announced even with none of
        // its payload here yet (an empty first piece), so that the caller
        // can refuse a declared length before the first payload byte.
        if (avail == 0 && remaining_ != 0 && announced_) {
            frame_piece p;
            p.consumed = pos;
            return p;
        }
        // Narrow only after comparing: remaining_ may exceed size_t range.
        const std::size_t n = remaining_ < avail ? static_cast<std::size_t>(remaining_) : avail;
        frame_piece p;
        p.type = frame_piece::kind::data;
        p.header = cur_;
        p.payload = input.subspan(pos, n);
        if (cur_.masked && unmask_) apply_mask(p.payload, cur_.key, static_cast<std::size_t>(offset_ & 3));
        p.offset = offset_;
        p.first = !announced_;
        announced_ = true;
        remaining_ -= n;
        offset_ += n;
        p.last = remaining_ == 0;
        if (p.last) state_ = state::header;
        p.consumed = pos + n;
        return p;
    }
    }
    return fail(violation::none, 0);
}

}  // namespace sansws
