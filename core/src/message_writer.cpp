// Sends to frames (RFC 6455 §5.2-§5.6; RFC 7692 §6, §7.2.1): fragments,
// masking for clients, compression with a private or shared compressor,
// and prepared (broadcast) messages.
#include "sansws/detail/message_writer.hpp"

#include "frame_internal.hpp"
#include "sansws/connection.hpp"

namespace sansws::detail {
namespace {

/// Compressed scratch above this is given back after the send, so one large
/// message does not keep its buffer for the connection's lifetime.
constexpr std::size_t scratch_keep = 64 * 1024;

}  // namespace

void message_writer::write_frame(output_queue& out, opcode op, bool fin, bytes_view payload, std::uint8_t rsv) {
    const bool masked = s_.r == role::client;  // §5.1: clients mask every frame
    mask_key key{};
    if (masked) rng_.fill(key);
    // The header goes straight into the queue, in front of the payload.
    const std::size_t n = payload.size();
    const std::size_t hs = frame_header_size(n, masked);
    std::byte* p = out.append_space(hs + n).data();
    put_frame_header(p, static_cast<std::uint8_t>((fin ? fin_bit : 0) | rsv | static_cast<std::uint8_t>(op)), n,
                     masked ? &key : nullptr);
    if (masked) {
        copy_masked(mutable_bytes(p + hs, n), payload, key, 0);  // §5.3, in the same pass as the copy
    } else {
        copy_small(p + hs, payload.data(), n);
    }
}

message_writer::sent message_writer::send(output_queue& out, opcode op, bytes_view data, bool fin, compression c) {
    if (message_open_ && op != type_) return {misuse::message_in_progress};
    if (op == opcode::text && s_.validate_text) {
        // Validate on a copy so a refused call leaves the writer as it was.
        utf8_validator v = message_open_ ? utf8_ : utf8_validator{};
        if (!v.feed(data) || (fin && !v.complete())) return {misuse::invalid_utf8};
        utf8_ = v;
    }
    sent result;
    if (!message_open_) compressed_ = compress_message(data.size(), fin, c);
    if (!compressed_ || !write_compressed(out, op, data, fin, result.compression_failed))
        write_frame(out, message_open_ ? opcode::continuation : op, fin, data);
    message_open_ = !fin;
    type_ = op;
    return result;
}

message_writer::sent message_writer::send_owned(output_queue& out, std::vector<std::byte>&& data) {
    if (s_.r == role::client || data.size() < 4096 || agreed_) {
        if (send_small_binary(out, data, true, compression::automatic)) return {};
        return send(out, opcode::binary, data, true, compression::automatic);
    }
    if (message_open_) return {misuse::message_in_progress};
    // Server frames are not masked: the header goes into the queue and the
    // payload buffer is moved in behind it, never copied.
    std::array<std::byte, max_frame_header_size> header;
    out.append(bytes_view(header.data(), put_frame_header(header.data(), fin_bit | 0x2, data.size(), nullptr)));
    out.append(std::move(data));
    return {};
}

bool message_writer::compress_message(std::size_t size, bool fin, compression c) const noexcept {
    if (!agreed_ || c == compression::off || window_bits_ < min_compress_window_bits) return false;
    // A fragmented message's size is unknown at its first fragment: it is
    // compressed, as it is likely large.
    return c == compression::on || !fin || size >= s_.threshold;
}

bool message_writer::write_compressed(output_queue& out, opcode op, bytes_view data, bool fin, bool& failed) {
    // RFC 7692 §7.1.1: with no context takeover on our side every message
    // starts from an empty window, so a compressor shared by the thread's
    // connections may do whole messages.
    deflater* shared = s_.shared;
    const bool use_shared =
        no_takeover_ && shared && fin && !message_open_ && shared->settings().window_bits <= window_bits_;
    if (!use_shared && !deflater_)
        deflater_ = std::make_unique<deflater>(deflate_settings{window_bits_, s_.mem_level, s_.level});
    deflater& z = use_shared ? *shared : *deflater_;
    zout_.clear();
    buffers_used_ = true;
    if (!z.compress(data, fin, zout_)) {
        zout_.clear();
        if (!message_open_) {
            // Nothing of this message is sent yet: send it uncompressed.
            compressed_ = false;
            return false;
        }
        // Half a compressed message is out and the rest cannot follow.
        failed = true;
        return true;
    }
    // RFC 7692 §6: RSV1 on the first frame of the message only.
    write_frame(out, message_open_ ? opcode::continuation : op, fin, zout_, message_open_ ? 0 : rsv1);
    if (fin && (no_takeover_ || use_shared)) z.reset();
    if (zout_.capacity() > scratch_keep) std::vector<std::byte>().swap(zout_);
    return true;
}

misuse message_writer::send_prepared(output_queue& out, const prepared_message& m) {
    if (message_open_) return misuse::message_in_progress;
    if (!m.valid_) return misuse::invalid_utf8;
    const bool compressed = m.compressed_ && agreed_ && m.window_bits_ <= window_bits_;
    const auto& f = compressed ? m.compressed_ : m.plain_;
    const bytes_view payload = bytes_view(f->bytes).subspan(f->header);
    const opcode op = m.type_ == message_type::text ? opcode::text : opcode::binary;
    if (s_.r == role::client) {
        write_frame(out, op, true, payload, compressed ? rsv1 : 0);  // §5.3: masked per connection
    } else if (f->bytes.size() < 1024) {
        out.append(f->bytes);  // a copy costs less than a shared segment
    } else {
        out.append_shared(f->bytes, f);
    }
    // Our compressor's window no longer matches the peer's decompressor,
    // which has just seen this message: start our next message afresh
    // (always allowed, RFC 7692 §7.2.1).
    if (compressed && deflater_) deflater_->reset();
    type_ = op;
    return misuse::none;
}

std::size_t message_writer::memory() const noexcept {
    std::size_t n = zout_.capacity();
    if (deflater_) n += sizeof(deflater) + deflater_->memory();
    return n;
}

}  // namespace sansws::detail

namespace sansws {

prepared_message::prepared_message(message_type type, bytes_view payload, const deflate_settings& settings,
                                   std::size_t threshold)
    : type_(type), window_bits_(settings.window_bits) {
    const auto op = static_cast<std::uint8_t>(type == message_type::text ? opcode::text : opcode::binary);
    if (type == message_type::text && !is_valid_utf8(payload)) {
        valid_ = false;  // §5.6: refused by connection::send()
        return;
    }
    auto frame_of = [&](bytes_view body, std::uint8_t rsv) {
        auto f = std::make_shared<frame>();
        f->header = frame_header_size(body.size(), false);
        f->bytes.resize(f->header + body.size());
        detail::put_frame_header(f->bytes.data(), static_cast<std::uint8_t>(detail::fin_bit | rsv | op), body.size(),
                                 nullptr);
        if (!body.empty()) std::memcpy(f->bytes.data() + f->header, body.data(), body.size());
        return f;
    };
    plain_ = frame_of(payload, 0);
    if (payload.size() < threshold || settings.window_bits < min_compress_window_bits) return;
    // A fresh compressor: the result refers to nothing sent before it, so
    // any peer's decompressor can take it (RFC 7692 §7.2.1).
    deflater z(settings);
    std::vector<std::byte> body;
    if (z.compress(payload, true, body) && body.size() < payload.size()) compressed_ = frame_of(body, rsv1);
}

}  // namespace sansws
