// The framing layer on its own (RFC 6455 §5): an incremental parser that
// validates each frame header for one role, and the header writer. Message
// rules (fragmentation, UTF-8, close payloads) live in the connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "sansws/errors.hpp"
#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Frame opcodes (§5.2). Values 3-7 and 0xB-0xF are reserved.
enum class opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};
constexpr bool is_control(opcode op) noexcept { return (static_cast<std::uint8_t>(op) & 0x8) != 0; }

using mask_key = std::array<std::byte, 4>;

/// RSV bit values as they sit in the first header byte (§5.2).
inline constexpr std::uint8_t rsv1 = 0x40, rsv2 = 0x20, rsv3 = 0x10;

struct frame_header {
    bool fin = true;
    std::uint8_t rsv = 0;  // the RSV bits in place (rsv1|rsv2|rsv3 mask)
    opcode op = opcode::binary;
    bool masked = false;
    mask_key key{};
    std::uint64_t payload_length = 0;
};

/// Largest possible header: 2 + 8 (64-bit length) + 4 (mask key).
inline constexpr std::size_t max_frame_header_size = 14;

/// Size of the header for a payload of `length` bytes (§5.2: minimal encoding).
constexpr std::size_t frame_header_size(std::uint64_t length, bool masked) noexcept {
    return (length < 126 ? 2 : length <= 0xFFFF ? 4 : 10) + (masked ? 4 : 0);
}

/// Write `h` with the minimal length encoding; returns the bytes written
/// (frame_header_size(h.payload_length, h.masked)). The caller guarantees
/// that h.payload_length < 2^63 (§5.2).
std::size_t write_frame_header(std::span<std::byte, max_frame_header_size> out,
                               const frame_header& h) noexcept;

/// XOR `data` with `key` in place (§5.3), starting `phase` bytes into the key
/// (phase = payload offset of data[0], modulo 4).
void apply_mask(mutable_bytes data, const mask_key& key, std::size_t phase) noexcept;
/// apply_mask fused with a copy: dst = src XOR key, from `phase`, in one pass
/// over the bytes (for payloads that are copied anyway). `dst` and `src`
/// have the same size and do not overlap.
void copy_masked(mutable_bytes dst, bytes_view src, const mask_key& key, std::size_t phase) noexcept;

/// One result of frame_parser::parse().
struct frame_piece {
    enum class kind : std::uint8_t { need_more, data, error };
    kind type = kind::need_more;
    /// Input bytes used by this call; the caller advances by this much
    /// whatever the kind.
    std::size_t consumed = 0;
    /// For data: the frame this piece belongs to.
    frame_header header{};
    /// For data: payload bytes, unmasked in place inside the input span.
    mutable_bytes payload{};
    bool first = false;  // first piece of this frame (header just completed)
    bool last = false;   // the frame's payload ends with this piece
    violation error = violation::none;
    /// For data: payload offset of payload[0] within its frame (the masking
    /// phase is offset % 4).
    std::uint64_t offset = 0;
};

/// Incremental frame parser for one role. Feed any split of the input: the
/// sequence of pieces (after merging adjacent pieces of one frame) does not
/// depend on it. A zero-length frame gives one piece with first and last set
/// and an empty payload. A header is announced as soon as it is complete:
/// when none of its payload is in the input yet, that first piece has an
/// empty payload (first set, last clear). After an error the parser stays
/// failed.
class frame_parser {
public:
    /// `allowed_rsv`: RSV bits an extension negotiated (§5.2); others fail.
    explicit frame_parser(role r, std::uint8_t allowed_rsv = 0) noexcept
        : role_(r), allowed_rsv_(allowed_rsv) {}

    /// Parse from `input`; payload bytes in the returned piece are unmasked in
    /// place and point into `input`. Never reads or writes outside `input`.
    frame_piece parse(mutable_bytes input) noexcept;

    void set_allowed_rsv(std::uint8_t bits) noexcept { allowed_rsv_ = bits; }
    /// With false, parse() leaves payloads masked; the caller unmasks them
    /// (apply_mask or copy_masked with header.key, phase offset % 4), e.g.
    /// while copying them elsewhere. True by default.
    void set_unmask(bool on) noexcept { unmask_ = on; }
    bool failed() const noexcept { return state_ == state::failed; }
    /// §5.1: a server's parser expects masked frames, a client's unmasked.
    bool expects_masked() const noexcept { return role_ == role::server; }
    /// True between frames (no partial header or payload pending).
    bool at_frame_boundary() const noexcept { return state_ == state::header && have_ == 0; }

private:
    enum class state : std::uint8_t { header, payload, failed };
    frame_piece fail(violation v, std::size_t consumed) noexcept;
    violation check(const frame_header& h) const noexcept;

    role role_;
    std::uint8_t allowed_rsv_;
    state state_ = state::header;
    violation error_ = violation::none;
    std::uint8_t have_ = 0;  // header bytes gathered in hdr_
    bool announced_ = false; // first piece of the current frame delivered
    bool unmask_ = true;
    std::array<std::byte, max_frame_header_size> hdr_{};
    frame_header cur_{};
    std::uint64_t remaining_ = 0;
    std::uint64_t offset_ = 0;  // payload bytes of cur_ already delivered
};

}  // namespace sansws

#pragma GCC visibility pop
