// Not part of the API: the layer under the connection that turns received
// bytes into messages (wsproto's MessageDecoder). Declared here only because
// the connection holds one by value; use sansws::connection.
//
// The reader owns everything about receiving: the frame parser, unmasking
// (RFC 6455 §5.3), the continuation rules (§5.4), incremental UTF-8 (§8.1),
// the message buffer and both size limits, the control-frame gather (§5.5)
// and the inflater with its streaming chunk (RFC 7692 §7.2.2). It returns a
// message (or piece), a control frame, need-more or a violation, and never
// decides what the connection does with them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "sansws/deflate.hpp"
#include "sansws/errors.hpp"
#include "sansws/events.hpp"
#include "sansws/frame.hpp"
#include "sansws/types.hpp"
#include "sansws/detail/utf8.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws::detail {

/// What the reader needs of the connection's configuration.
struct reader_limits {
    bool streaming = false;                          // delivery_mode::streaming
    std::uint64_t max_message_size = 16 * 1024 * 1024;  // whole-message delivery
    std::uint32_t max_inflate_ratio = 256;           // streaming, compressed
    std::uint64_t inflate_ratio_floor = 1024 * 1024;
    std::size_t stream_chunk = 16 * 1024;
};

/// One result of message_reader::read().
struct reader_event {
    enum class kind : std::uint8_t { need_more, data, control, violation };
    kind what = kind::need_more;
    message data{};              // data: a whole message, or a piece of one (streaming)
    opcode op = opcode::ping;    // control: ping, pong or close
    bytes_view payload{};        // control: its whole payload (at most 125 bytes)
    violation error = violation::none;
};

class message_reader {
public:
    message_reader(role r, const reader_limits& limits) noexcept;

    /// Parse from `src` (advanced past what was used). Payload views point
    /// into `src` (unmasked in place) or into the reader's buffers, valid
    /// until the next call that changes the reader. need_more: `src` is used
    /// up and nothing is pending.
    reader_event read(mutable_bytes& src);
    /// The steady state, tried first by the connection: a whole text or
    /// binary frame at the start of `src` outside a message, within the
    /// limit. `message`: `payload` is set (unmasked in place, validated)
    /// and message_type() tells its type; `none`: the general read() must
    /// decide. Defined in core/src/message_reader_fast.hpp, for
    /// connection.cpp only.
    enum class whole : std::uint8_t { none, message, bad_utf8 };
    whole read_whole(mutable_bytes& src, bytes_view& payload) noexcept;
    /// The type of the message last read.
    message_type type() const noexcept { return type_; }

    /// RFC 7692 §6: RSV1 marks compressed messages, inflated with a window
    /// of `window_bits`; `peer_resets`: the peer agreed to no context
    /// takeover (§7.1.1), so the inflater forgets its window after each one.
    void enable_compression(int window_bits, bool peer_resets) noexcept;
    /// Inflating has work before more parsing (streaming: the last piece
    /// filled the chunk).
    bool pending() const noexcept { return z_pending_; }
    /// A fragmented message is open.
    bool in_message() const noexcept { return in_message_; }
    /// The message in progress is abandoned (the connection failed).
    void stop() noexcept { z_pending_ = false; }
    /// The transport ended inside a message: nothing of it will come.
    void end_input() noexcept { in_message_ = false; }

    /// True once, after a read that used the message buffer, the streaming
    /// chunk or the inflater (the connection times buffer retention by it).
    bool take_buffers_used() noexcept {
        const bool used = buffers_used_;
        buffers_used_ = false;
        return used;
    }
    /// Buffers held now, and zlib's state.
    std::size_t memory() const noexcept;
    bool holding_buffers() const noexcept { return msg_ || chunk_; }
    /// Between messages: give back the message buffer and the chunk when
    /// `drop(capacity)` says so.
    template <class Drop>
    void release(Drop drop) noexcept {
        if (in_message_) return;
        if (drop(msg_capacity_)) {
            msg_.reset();
            msg_capacity_ = msg_size_ = 0;
        }
        if (chunk_ && drop(limits_.stream_chunk)) chunk_.reset();
    }
    /// inflater::work() of everything inflated so far.
    std::uint64_t inflate_work() const noexcept { return inflater_ ? inflater_->work() : 0; }

private:
    reader_event frame_piece_event(const frame_piece& piece);
    reader_event inflate_some();
    reader_event fail(violation v) noexcept;
    mutable_bytes message_room();
    std::byte* extend_message(std::size_t n);
    std::size_t message_growth(std::size_t needed) const noexcept;
    void reserve_message(std::size_t capacity);
    void end_inflated_message() noexcept;

    reader_limits limits_;
    frame_parser parser_;
    utf8_validator utf8_;
    bool in_message_ = false;   // a fragmented message is open
    bool first_ = true;         // streaming: the next piece is the message's first
    bool buffers_used_ = false;
    message_type type_ = message_type::binary;
    // Whole-message assembly in a raw buffer: pieces are unmasked while
    // they are copied in, so it is never zero-filled first.
    std::unique_ptr<std::byte[]> msg_;
    std::size_t msg_size_ = 0;
    std::size_t msg_capacity_ = 0;
    std::byte probe_{};  // inflating into it proves a message over the limit
    std::array<std::byte, 125> ctl_{};
    std::size_t ctl_len_ = 0;
    // permessage-deflate
    int window_bits_ = 0;                   // 0: not agreed
    bool peer_resets_ = false;
    bool compressed_ = false;               // the incoming message has RSV1 (RFC 7692 §6)
    bool z_end_ = false;                    // z_in_ ends the message
    bool z_pending_ = false;                // inflate_some() has work before more parsing
    std::unique_ptr<inflater> inflater_;    // created at the first compressed message
    std::unique_ptr<std::byte[]> chunk_;    // streaming: one inflated piece
    bytes_view z_in_{};                     // compressed bytes of this frame not inflated yet
    std::uint64_t z_in_total_ = 0;          // compressed length its frames declared so far
    std::uint64_t z_out_total_ = 0;         // inflated bytes of the incoming message
};

}  // namespace sansws::detail

#pragma GCC visibility pop
