// Received bytes to messages (RFC 6455 §5, §6.2, §8.1; RFC 7692 §6, §7.2.2):
// frames from the parser become whole messages or streamed pieces, control
// frames are gathered whole, and compressed messages are inflated with a
// bounded output. The connection decides what each result means for it.
#include "sansws/detail/message_reader.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

namespace sansws::detail {

message_reader::message_reader(role r, const reader_limits& limits) noexcept : limits_(limits), parser_(r) {
    // Payloads are unmasked here: in place when delivered from the input,
    // fused with the copy when assembled into the message buffer.
    parser_.set_unmask(false);
}

void message_reader::enable_compression(int window_bits, bool peer_resets) noexcept {
    window_bits_ = window_bits;
    peer_resets_ = peer_resets;
    parser_.set_allowed_rsv(rsv1);  // RFC 7692 §6: RSV1 is the "Per-Message Compressed" bit
}

reader_event message_reader::fail(violation v) noexcept {
    z_pending_ = false;
    reader_event e;
    e.what = reader_event::kind::violation;
    e.error = v;
    return e;
}

namespace {

reader_event data_event(const message& m) {
    reader_event e;
    e.what = reader_event::kind::data;
    e.data = m;
    return e;
}

}  // namespace

reader_event message_reader::read(mutable_bytes& src) {
    if (z_pending_) {
        // Streaming: the last piece filled the output chunk; go on inflating
        // the same frame's bytes before parsing further.
        reader_event e = inflate_some();
        if (e.what != reader_event::kind::need_more) return e;
    }
    while (!src.empty()) {
        const frame_piece piece = parser_.parse(src);
        src = src.subspan(piece.consumed);
        if (piece.type == frame_piece::kind::error) return fail(piece.error);
        if (piece.type == frame_piece::kind::need_more) continue;
        reader_event e = frame_piece_event(piece);
        if (e.what != reader_event::kind::need_more) return e;
    }
    return {};
}

reader_event message_reader::frame_piece_event(const frame_piece& piece) {
    const frame_header& h = piece.header;
    const auto phase = static_cast<std::size_t>(piece.offset & 3);

    if (is_control(h.op)) {
        // RFC 7692 §6: control frames are never compressed; RSV1 on one is
        // a protocol error (the parser admits RSV1 once it is agreed).
        if (h.rsv != 0) return fail(violation::reserved_bits);
        if (h.masked) apply_mask(piece.payload, h.key, phase);
        reader_event e;
        e.what = reader_event::kind::control;
        e.op = h.op;
        // Control frames are at most 125 bytes (§5.5): gather them whole.
        if (piece.first && piece.last) {
            e.payload = piece.payload;
            return e;
        }
        if (piece.first) ctl_len_ = 0;
        if (!piece.payload.empty()) std::memcpy(ctl_.data() + ctl_len_, piece.payload.data(), piece.payload.size());
        ctl_len_ += piece.payload.size();
        if (!piece.last) return {};
        e.payload = bytes_view(ctl_.data(), ctl_len_);
        return e;
    }

    if (piece.first) {
        // §5.4: continuation only inside a message, new data frames only
        // outside one.
        if (h.op == opcode::continuation) {
            if (!in_message_) return fail(violation::unexpected_continuation);
            // RFC 7692 §6: RSV1 marks the first frame of a compressed
            // message only.
            if (h.rsv != 0) return fail(violation::reserved_bits);
        } else {
            if (in_message_) return fail(violation::expected_continuation);
            in_message_ = true;
            type_ = h.op == opcode::text ? message_type::text : message_type::binary;
            first_ = true;
            msg_size_ = 0;
            utf8_.reset();
            compressed_ = (h.rsv & rsv1) != 0;
            z_in_total_ = z_out_total_ = 0;
        }
        // The inflate-ratio cap and the compressed limit compare with
        // declared frame lengths, never with where the reads ended.
        if (compressed_) z_in_total_ = std::min(z_in_total_ + h.payload_length, std::uint64_t{1} << 63);
        // Fail on the declared length as soon as the header is here, before
        // any payload byte is buffered (RFC 6455 §10.4). A compressed
        // message is limited by its inflated size while inflating, and its
        // declared compressed length by compressed_message_limit().
        if (!limits_.streaming && (compressed_ ? z_in_total_ > compressed_message_limit(limits_.max_message_size)
                                               : h.payload_length > limits_.max_message_size - msg_size_))
            return fail(violation::message_too_big);
    }
    // A header announced alone: checked above, nothing to deliver yet.
    if (piece.payload.empty() && !piece.last) return {};
    const bool ends_message = piece.last && h.fin;
    if (compressed_) {
        // RFC 7692 §7.2.2: unmask in place, then inflate into the message
        // buffer (or the streaming chunk); an empty final frame still ends
        // the message.
        if (h.masked) apply_mask(piece.payload, h.key, phase);
        z_in_ = piece.payload;
        z_end_ = ends_message;
        z_pending_ = true;
        return inflate_some();
    }
    // Delivered from the input (streamed, or a one-frame message all in
    // this input) or copied into the message buffer: unmasked in place or
    // while copying.
    const bool copy = !limits_.streaming && !(ends_message && piece.first && h.op != opcode::continuation);
    // §8.1: text is validated as it arrives, failing at the first bad byte.
    // Masked text that is copied is unmasked and validated in one pass.
    const bool text = type_ == message_type::text;
    bool valid = true;
    bytes_view data = piece.payload;
    if (copy) {
        const mutable_bytes to(extend_message(piece.payload.size()), piece.payload.size());
        if (h.masked && text) {
            valid = utf8_.feed_unmasked(to, piece.payload, h.key, phase);
        } else if (h.masked) {
            copy_masked(to, piece.payload, h.key, phase);
        } else if (!to.empty()) {
            std::memcpy(to.data(), piece.payload.data(), to.size());
            if (text) valid = utf8_.feed(to);
        }
        data = to;
    } else {
        if (h.masked) apply_mask(piece.payload, h.key, phase);
        if (text) valid = utf8_.feed(data);
    }
    if (text && (!valid || (ends_message && !utf8_.complete()))) return fail(violation::invalid_utf8);

    if (limits_.streaming) {
        const message m{type_, data, first_, ends_message};
        first_ = false;
        if (ends_message) in_message_ = false;
        return data_event(m);
    }
    if (!copy) {
        in_message_ = false;  // one frame, all in this input: no copy
        return data_event(message{type_, data, true, true});
    }
    if (!ends_message) return {};
    in_message_ = false;
    return data_event(message{type_, bytes_view(msg_.get(), msg_size_), true, true});
}

std::byte* message_reader::extend_message(std::size_t n) {
    // Grows geometrically with what has arrived (never with what a header
    // declares: a peer could announce 16 MiB and send nothing), and never
    // past the limit (the frame headers were checked against it).
    if (n > msg_capacity_ - msg_size_ || !msg_) reserve_message(message_growth(msg_size_ + n));
    std::byte* at = msg_.get() + msg_size_;
    msg_size_ += n;
    buffers_used_ = true;
    return at;
}

std::size_t message_reader::message_growth(std::size_t needed) const noexcept {
    const auto limit = static_cast<std::size_t>(
        std::min<std::uint64_t>(limits_.max_message_size, std::numeric_limits<std::size_t>::max() / 2));
    const std::size_t grown = std::max({needed, 2 * msg_capacity_, std::size_t{4096}});
    // Past half the limit, straight to the limit: the old and the new buffer
    // together, for the moment of the copy, hold at most 1.5 times the limit,
    // and the message buffer alone never more than the limit.
    return grown > limit / 2 ? std::max(needed, limit) : grown;
}

void message_reader::reserve_message(std::size_t capacity) {
    if (capacity <= msg_capacity_ && msg_) return;
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(capacity);
    if (msg_size_ != 0) std::memcpy(bigger.get(), msg_.get(), msg_size_);
    msg_ = std::move(bigger);
    msg_capacity_ = capacity;
}

mutable_bytes message_reader::message_room() {
    buffers_used_ = true;
    if (limits_.streaming) {
        if (!chunk_) chunk_ = std::make_unique_for_overwrite<std::byte[]>(limits_.stream_chunk);
        return {chunk_.get(), limits_.stream_chunk};
    }
    // At the limit, room for one byte outside the buffer: inflating it
    // proves the message too big (RFC 7692 §8) without growing the buffer
    // past the limit (which once doubled the memory of a refused bomb).
    if (msg_size_ >= limits_.max_message_size) return {&probe_, 1};
    if (msg_size_ == msg_capacity_ || !msg_) reserve_message(message_growth(msg_size_ + 1));
    return {msg_.get() + msg_size_, msg_capacity_ - msg_size_};
}

void message_reader::end_inflated_message() noexcept {
    z_pending_ = false;
    in_message_ = false;
    compressed_ = false;
    // RFC 7692 §7.1.1: the peer's compressor resets after each message when
    // it agreed to no context takeover; so does our decompressor.
    if (peer_resets_) inflater_->reset();
}

reader_event message_reader::inflate_some() {
    if (!inflater_) inflater_ = std::make_unique<inflater>(window_bits_);
    const bool text = type_ == message_type::text;
    while (true) {
        const mutable_bytes room = message_room();
        const inflater::result r = inflater_->inflate(z_in_, room, z_end_);
        z_in_ = z_in_.subspan(r.consumed);
        mutable_bytes out = room.first(r.produced);
        z_out_total_ += r.produced;
        // Failures are decided in the order of the inflated bytes, so the
        // same message fails the same way however its input was split: bad
        // UTF-8 within the limit, then the limit, then bad DEFLATE data
        // (which lies after every byte it let through).
        bool too_big = false;
        if (!limits_.streaming) {
            const std::uint64_t limit = limits_.max_message_size;
            if (msg_size_ + out.size() > limit) {
                out = out.first(static_cast<std::size_t>(limit - msg_size_));
                too_big = true;
            }
            msg_size_ += out.size();
        } else if (const std::uint32_t ratio = limits_.max_inflate_ratio; ratio != 0) {
            // No message limit in streaming delivery: cap the amplification a
            // small input may cause instead. The compressed size is what the
            // frame headers declared, not what has arrived, so where the
            // reads ended does not matter.
            const std::uint64_t scaled = z_in_total_ > UINT64_MAX / ratio ? UINT64_MAX : z_in_total_ * ratio;
            const std::uint64_t allowed = std::max(limits_.inflate_ratio_floor, scaled);
            if (z_out_total_ > allowed) {
                out = out.first(static_cast<std::size_t>(out.size() - (z_out_total_ - allowed)));
                too_big = true;
            }
        }
        const bool done = r.st == inflater::status::message_done && !too_big;
        // §8.1 after inflation (RFC 7692 §7.2.2), incrementally.
        if (text && (!utf8_.feed(out) || (done && !utf8_.complete()))) return fail(violation::invalid_utf8);
        if (too_big) return fail(violation::message_too_big);
        if (r.st == inflater::status::error) return fail(violation::invalid_compressed_data);
        if (r.st == inflater::status::need_input) z_pending_ = false;
        if (limits_.streaming) {
            if (done) end_inflated_message();
            if (out.empty() && !done) {
                if (r.st == inflater::status::need_input) return {};
                continue;
            }
            const message m{type_, out, first_, done};
            first_ = false;
            return data_event(m);
        }
        if (done) {
            end_inflated_message();
            return data_event(message{type_, bytes_view(msg_.get(), msg_size_), true, true});
        }
        if (r.st == inflater::status::need_input) return {};
    }
}

std::size_t message_reader::memory() const noexcept {
    std::size_t n = msg_capacity_;
    if (chunk_) n += limits_.stream_chunk;
    if (inflater_) n += sizeof(inflater) + inflater_->memory();
    return n;
}

}  // namespace sansws::detail
