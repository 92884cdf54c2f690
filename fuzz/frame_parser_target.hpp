// The body of frame_parser_server and frame_parser_client: raw bytes into
// the frame parser of one role, once whole and once in chunks, checking every
// piece against the bytes it came from.
#pragma once

#include <array>
#include <optional>

#include "fuzz.hpp"
#include "sansws/frame.hpp"

namespace fuzz {

struct parsed_frame {
    sansws::frame_header header;
    std::vector<std::byte> payload;
};

struct parse_outcome {
    std::vector<parsed_frame> frames;  // the last one may be unfinished
    sansws::violation error = sansws::violation::none;
    bool boundary = true;
};

inline bool same_header(const sansws::frame_header& a, const sansws::frame_header& b) noexcept {
    return a.fin == b.fin && a.rsv == b.rsv && a.op == b.op && a.masked == b.masked && a.key == b.key &&
           a.payload_length == b.payload_length;
}

/// What §5.2 and §5.5 allow through a parser of role `r` with no extension.
inline void check_header(const sansws::frame_header& h, sansws::role r) {
    const auto op = static_cast<std::uint8_t>(h.op);
    check(h.rsv == 0);
    check(op <= 0x2 || (op >= 0x8 && op <= 0xA));
    if (sansws::is_control(h.op)) check(h.fin && h.payload_length <= 125);
    check(h.masked == (r == sansws::role::server));
    check((h.payload_length >> 63) == 0);
}

/// Parse `wire` (a copy of `original`) in one piece, or in chunks drawn from
/// `split`. With `unmask` the parser unmasks payloads in place; without, it
/// leaves them alone and this function unmasks them with apply_mask and
/// copy_masked at the piece's phase, as the connection does.
inline parse_outcome parse_stream(sansws::role r, sansws::bytes_view original, sansws::mutable_bytes wire,
                                  rng* split, bool unmask) {
    using sansws::frame_piece;
    sansws::frame_parser parser(r);
    parser.set_unmask(unmask);
    std::vector<std::byte> copied;
    parse_outcome out;
    std::size_t pos = 0;          // stream offset of the next unparsed byte
    std::size_t frame_start = 0;  // stream offset of the current frame's header
    std::uint64_t got = 0;        // payload bytes of the current frame so far
    bool in_frame = false;
    {
        // Nothing in, nothing out, and still between frames.
        const frame_piece piece = parser.parse({});
        check(piece.type == frame_piece::kind::need_more && piece.consumed == 0 && parser.at_frame_boundary());
    }
    while (pos < wire.size()) {
        const std::size_t end = split ? pos + split->chunk(wire.size() - pos) : wire.size();
        sansws::mutable_bytes chunk = wire.subspan(pos, end - pos);
        do {
            const frame_piece piece = parser.parse(chunk);
            check(piece.consumed <= chunk.size());
            if (piece.type == frame_piece::kind::error) {
                check(piece.error != sansws::violation::none && parser.failed());
                // Sticky: any later call reports the same error and takes nothing.
                std::array<std::byte, 2> more{std::byte{0x82}, std::byte{0x80}};
                for (sansws::mutable_bytes again : {chunk.subspan(piece.consumed), sansws::mutable_bytes(more)}) {
                    const frame_piece p2 = parser.parse(again);
                    check(p2.type == frame_piece::kind::error && p2.error == piece.error && p2.consumed == 0);
                }
                check(!parser.at_frame_boundary());
                out.error = piece.error;
                out.boundary = false;
                return out;
            }
            check(!parser.failed());
            if (piece.type == frame_piece::kind::need_more) {
                // need_more means the input is used up, never "call again",
                // and that part of a header or payload is pending.
                check(piece.consumed == chunk.size());
                check(!parser.at_frame_boundary());
                pos += piece.consumed;
                break;
            }
            const sansws::frame_header& h = piece.header;
            check(piece.consumed > 0);
            check(piece.payload.data() >= chunk.data() &&
                  piece.payload.data() + piece.payload.size() <= chunk.data() + piece.consumed);
            check_header(h, r);
            if (piece.first) {
                check(!in_frame);
                in_frame = true;
                got = 0;
                out.frames.push_back({h, {}});
                // The header on the wire is exactly the minimal encoding of
                // what the parser decoded.
                std::array<std::byte, sansws::max_frame_header_size> enc{};
                const std::size_t hs = sansws::write_frame_header(enc, h);
                check(hs == sansws::frame_header_size(h.payload_length, h.masked));
                check(same(original.subspan(frame_start, hs), std::span(enc).first(hs)));
            } else {
                check(in_frame && same_header(out.frames.back().header, h));
            }
            const auto at = static_cast<std::size_t>(piece.payload.data() - wire.data());
            check(at == frame_start + sansws::frame_header_size(h.payload_length, h.masked) + got);
            check(piece.payload.size() <= h.payload_length - got);
            // Empty: a zero-length frame, or a header announced alone.
            check(!piece.payload.empty() || h.payload_length == 0 || (piece.first && !piece.last));
            check(piece.offset == got);
            if (!unmask) {
                // Untouched; then both ways of unmasking at the piece's phase.
                check(same(piece.payload, original.subspan(at, piece.payload.size())));
                const auto phase = static_cast<std::size_t>(piece.offset & 3);
                copied.resize(piece.payload.size());
                sansws::copy_masked(copied, piece.payload, h.key, phase);
                if (h.masked) sansws::apply_mask(piece.payload, h.key, phase);
                check(same(copied, piece.payload));
            }
            for (std::size_t i = 0; i < piece.payload.size(); ++i) {
                const std::byte k = h.masked ? h.key[(got + i) & 3] : std::byte{0};
                check(piece.payload[i] == (original[at + i] ^ k));
            }
            auto& payload = out.frames.back().payload;
            payload.insert(payload.end(), piece.payload.begin(), piece.payload.end());
            got += piece.payload.size();
            check(piece.last == (got == h.payload_length));
            check(parser.at_frame_boundary() == piece.last);
            pos += piece.consumed;
            chunk = chunk.subspan(piece.consumed);
            if (piece.last) {
                in_frame = false;
                frame_start = pos;
            }
        } while (!chunk.empty());
    }
    out.boundary = parser.at_frame_boundary();
    check(out.boundary == (pos == frame_start && !in_frame));
    return out;
}

inline int run_frame_parser(sansws::role r, const std::uint8_t* data, std::size_t size) {
    const sansws::bytes_view original = bytes(data, size);
    std::vector<std::byte> a = copy(original);
    std::vector<std::byte> b = copy(original);
    // Two unmasking kernels, each checked against the plain XOR in
    // parse_stream; the chunked pass unmasks outside the parser half the time.
    const std::uint64_t seed = hash(original);
    pick_kernel(seed);
    const parse_outcome whole = parse_stream(r, original, a, nullptr, true);
    pick_kernel(seed >> 32);
    rng split(seed);
    const parse_outcome chunked = parse_stream(r, original, b, &split, (seed & 1) != 0);
    // Split invariance (frame.hpp): the merged pieces do not depend on how
    // the input was cut, and neither does the error.
    check(whole.error == chunked.error && whole.boundary == chunked.boundary);
    check(whole.frames.size() == chunked.frames.size());
    for (std::size_t i = 0; i < whole.frames.size(); ++i) {
        check(same_header(whole.frames[i].header, chunked.frames[i].header));
        check(same(whole.frames[i].payload, chunked.frames[i].payload));
    }
    return 0;
}

}  // namespace fuzz
