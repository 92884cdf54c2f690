// permessage-deflate in the engine (RFC 7692): negotiation in the opening
// handshake, inflating received messages with a bounded output, compressing
// sent ones, prepared (broadcast) messages and memory accounting. The
// transform itself is deflate.cpp; the header grammar is extensions.cpp.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "frame_internal.hpp"
#include "sansws/connection.hpp"

namespace sansws {
namespace {

/// now + d without overflow: a huge duration means "never".
timestamp after(timestamp now, duration d) noexcept {
    if (d <= duration::zero()) return now;
    if (now > no_deadline - d) return no_deadline;
    return now + d;
}

bool valid_window(std::uint8_t bits) noexcept { return bits >= 8 && bits <= 15; }

/// zlib's raw deflate cannot compress with a 256-byte window (deflateInit2
/// refuses -8): a side limited to 8 bits sends uncompressed messages, which
/// RFC 7692 §6 allows (RSV1 is per message).
constexpr int min_compress_window = 9;

/// Compressed scratch above this is given back after the send, so one large
/// message does not keep its buffer for the connection's lifetime.
constexpr std::size_t scratch_keep = 64 * 1024;

}  // namespace

bool connection::check_compression_config() const noexcept {
    const compression_config& c = cfg_.compression;
    if (!c.negotiate.enabled) return true;
    return valid_window(c.negotiate.server_max_window_bits) && valid_window(c.negotiate.client_max_window_bits) &&
           c.mem_level >= 1 && c.mem_level <= 9 && c.level >= -1 && c.level <= 9 && c.stream_chunk > 0;
}

std::string connection::client_offer() const { return deflate_offer(cfg_.compression.negotiate); }

void connection::negotiate_compression(accept_options& opts) {
    // §9.1 / RFC 7692 §5: a malformed header is treated as no offer; the
    // handshake itself goes on without the extension.
    auto offers = parse_extensions(extension_offers_);
    extension_offers_.clear();
    if (!offers) return;
    auto agreed = negotiate_deflate(*offers, cfg_.compression.negotiate);
    if (!agreed) return;
    opts.extensions.push_back(std::move(agreed->response));
    enable_compression(agreed->params);
}

bool connection::check_compression_answer(const http_head& head, std::string& reason) {
    const auto value = header_value(head.headers, "Sec-WebSocket-Extensions");
    if (!value) return true;  // declined: no compression (RFC 7692 §5)
    std::string error;
    auto elements = parse_extensions(*value, &error);
    if (!elements) {
        reason = "malformed Sec-WebSocket-Extensions: " + error;
        return false;
    }
    // check_server_response() has already refused names we did not offer;
    // we offered one permessage-deflate element, so one may come back.
    std::optional<deflate_params> agreed;
    for (const extension_offer& e : *elements) {
        if (!iequals(e.name, "permessage-deflate")) continue;
        if (agreed) {
            reason = "permessage-deflate answered twice (RFC 7692 §5)";
            return false;
        }
        agreed = check_deflate_answer(e, cfg_.compression.negotiate, reason);
        if (!agreed) return false;
    }
    if (agreed) enable_compression(*agreed);
    return true;
}

void connection::enable_compression(const deflate_params& p) {
    deflate_ = p;
    parser_.set_allowed_rsv(rsv1);  // RFC 7692 §6: RSV1 is the "Per-Message Compressed" bit
}

int connection::send_window() const noexcept {
    return cfg_.role == role::server ? deflate_->server_max_window_bits : deflate_->client_max_window_bits;
}

bool connection::compress_message(std::size_t size, bool fin, compression c) const noexcept {
    if (!deflate_ || c == compression::off || send_window() < min_compress_window) return false;
    // A fragmented message's size is unknown at its first fragment: it is
    // compressed, as it is likely large.
    return c == compression::on || !fin || size >= cfg_.compression.threshold;
}

bool connection::write_compressed(opcode op, bytes_view data, bool fin) {
    // RFC 7692 §7.1.1: with no context takeover on our side every message
    // starts from an empty window, so a compressor shared by the thread's
    // connections may do whole messages.
    const bool no_takeover = cfg_.role == role::server ? deflate_->server_no_context_takeover
                                                       : deflate_->client_no_context_takeover;
    deflater* shared = cfg_.compression.shared;
    const bool use_shared = no_takeover && shared && fin && !out_message_ &&
                            shared->settings().window_bits <= send_window();
    if (!use_shared && !deflater_) {
        deflater_ = std::make_unique<deflater>(
            deflate_settings{send_window(), cfg_.compression.mem_level, cfg_.compression.level});
    }
    deflater& z = use_shared ? *shared : *deflater_;
    zout_.clear();
    buffers_used_at_ = now_;
    if (!z.compress(data, fin, zout_)) {
        zout_.clear();
        if (!out_message_) {
            // Nothing of this message is sent yet: send it uncompressed.
            out_compressed_ = false;
            return false;
        }
        // Half a compressed message is out and the rest cannot follow.
        failure_detail_ = "zlib could not compress (out of memory)";
        event e = fail(violation::compression_failed);
        pending_ = std::get<failure>(e);
        return true;
    }
    // RFC 7692 §6: RSV1 on the first frame of the message only.
    write_frame(out_message_ ? opcode::continuation : op, fin, zout_, out_message_ ? 0 : rsv1);
    if (fin && (no_takeover || use_shared)) z.reset();
    if (zout_.capacity() > scratch_keep) std::vector<std::byte>().swap(zout_);
    return true;
}

mutable_bytes connection::message_room() {
    buffers_used_at_ = now_;
    if (cfg_.delivery == delivery_mode::streaming) {
        if (!chunk_) chunk_ = std::make_unique_for_overwrite<std::byte[]>(cfg_.compression.stream_chunk);
        return {chunk_.get(), cfg_.compression.stream_chunk};
    }
    // At the limit, room for one byte outside the buffer: inflating it
    // proves the message too big (RFC 7692 §8) without growing the buffer
    // past the limit (which once doubled the memory of a refused bomb).
    if (msg_size_ >= cfg_.max_message_size) return {&probe_, 1};
    if (msg_size_ == msg_capacity_ || !msg_) reserve_message(message_growth(msg_size_ + 1));
    return {msg_.get() + msg_size_, msg_capacity_ - msg_size_};
}

void connection::end_inflated_message() {
    z_pending_ = false;
    in_message_ = false;
    in_compressed_ = false;
    // RFC 7692 §7.1.1: the peer's compressor resets after each message when
    // it agreed to no context takeover; so does our decompressor.
    const bool peer_resets = cfg_.role == role::server ? deflate_->client_no_context_takeover
                                                       : deflate_->server_no_context_takeover;
    if (peer_resets) inflater_->reset();
}

event connection::inflate_event() {
    if (!inflater_) {
        // A window agreed at 8 bits is inflated with 9: zlib-based peers asked
        // for 8 compress with 9 (zlib's own deflate never uses 256 bytes), and
        // the extra 256 bytes cost nothing a conforming peer could notice.
        const int agreed = cfg_.role == role::server ? deflate_->client_max_window_bits
                                                     : deflate_->server_max_window_bits;
        inflater_ = std::make_unique<inflater>(std::max(agreed, min_compress_window));
    }
    const bool streaming = cfg_.delivery == delivery_mode::streaming;
    const bool text = in_type_ == message_type::text;
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
        if (!streaming) {
            const std::uint64_t limit = cfg_.max_message_size;
            if (msg_size_ + out.size() > limit) {
                out = out.first(static_cast<std::size_t>(limit - msg_size_));
                too_big = true;
            }
            msg_size_ += out.size();
        } else if (const std::uint32_t ratio = cfg_.compression.max_inflate_ratio; ratio != 0) {
            // No message limit in streaming delivery: cap the amplification a
            // small input may cause instead. The compressed size is what the
            // frame headers declared, not what has arrived, so where the
            // reads ended does not matter.
            const std::uint64_t scaled =
                z_in_total_ > UINT64_MAX / ratio ? UINT64_MAX : z_in_total_ * ratio;
            const std::uint64_t allowed = std::max(cfg_.compression.inflate_ratio_floor, scaled);
            if (z_out_total_ > allowed) {
                out = out.first(static_cast<std::size_t>(out.size() - (z_out_total_ - allowed)));
                too_big = true;
            }
        }
        const bool done = r.st == inflater::status::message_done && !too_big;
        // §8.1 after inflation (RFC 7692 §7.2.2), incrementally.
        if (text && (!in_utf8_.feed(out) || (done && !in_utf8_.complete()))) {
            z_pending_ = false;
            return fail(violation::invalid_utf8);
        }
        if (too_big) {
            z_pending_ = false;
            return fail(violation::message_too_big);
        }
        if (r.st == inflater::status::error) {
            z_pending_ = false;
            return fail(violation::invalid_compressed_data);
        }
        if (r.st == inflater::status::need_input) z_pending_ = false;
        if (streaming) {
            if (done) end_inflated_message();
            if (out.empty() && !done) {
                if (r.st == inflater::status::need_input) return need_more{};
                continue;
            }
            message m{in_type_, out, in_first_, done};
            in_first_ = false;
            return m;
        }
        if (done) {
            end_inflated_message();
            return message{in_type_, bytes_view(msg_.get(), msg_size_), true, true};
        }
        if (r.st == inflater::status::need_input) return need_more{};
    }
}

std::size_t connection::memory_use() const noexcept {
    std::size_t n = sizeof(*this) + out_.memory() + early_.capacity() + zout_.capacity() + msg_capacity_;
    if (chunk_) n += cfg_.compression.stream_chunk;
    if (deflater_) n += sizeof(deflater) + deflater_->memory();
    if (inflater_) n += sizeof(inflater) + inflater_->memory();
    if (http_) n += sizeof(http_head_parser) + cfg_.handshake_limits.max_size;
    return n;
}

std::uint64_t connection::inflate_work() const noexcept { return inflater_ ? inflater_->work() : 0; }

timestamp connection::retain_deadline() const noexcept {
    const bool holding = msg_ || chunk_ || zout_.capacity() != 0;
    if (!holding || in_message_) return no_deadline;
    const timestamp at = after(buffers_used_at_, cfg_.retain_time);
    return at > now_ ? at : no_deadline;  // passed: the next release_memory() acts
}

void connection::release_memory() noexcept {
    // Buffers up to one output block go at once (getting them back costs
    // little). Larger ones serve the next large message while messages keep
    // coming: they go once retain_time has passed since a message last used
    // them (next_deadline() says when), or at once when they are larger
    // than retain_size, so what a quiet connection keeps is bounded whatever
    // its past messages were. zlib state stays (creating it costs more than
    // a message).
    constexpr std::size_t small = output_queue::block_size;
    const bool stale = now_ >= after(buffers_used_at_, cfg_.retain_time);
    const auto drop = [&](std::size_t capacity) {
        return capacity <= small || capacity > cfg_.retain_size || stale;
    };
    out_.release();
    if (drop(zout_.capacity())) std::vector<std::byte>().swap(zout_);
    if (state_ != connection_state::handshake_pending && early_in_.empty()) std::vector<std::byte>().swap(early_);
    if (in_message_) return;
    if (drop(msg_capacity_)) {
        msg_.reset();
        msg_capacity_ = msg_size_ = 0;
    }
    if (drop(cfg_.compression.stream_chunk)) chunk_.reset();
}

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
    if (payload.size() < threshold || settings.window_bits < min_compress_window) return;
    // A fresh compressor: the result refers to nothing sent before it, so
    // any peer's decompressor can take it (RFC 7692 §7.2.1).
    deflater z(settings);
    std::vector<std::byte> body;
    if (z.compress(payload, true, body) && body.size() < payload.size()) compressed_ = frame_of(body, rsv1);
}

misuse connection::send(const prepared_message& m) {
    if (state_ != connection_state::open) return misuse::wrong_state;
    if (out_message_) return misuse::message_in_progress;
    if (!m.valid_) return misuse::invalid_utf8;
    const bool compressed = m.compressed_ && deflate_ && m.window_bits_ <= send_window();
    const auto& f = compressed ? m.compressed_ : m.plain_;
    const bytes_view payload = bytes_view(f->bytes).subspan(f->header);
    const opcode op = m.type_ == message_type::text ? opcode::text : opcode::binary;
    if (cfg_.role == role::client) {
        write_frame(op, true, payload, compressed ? rsv1 : 0);  // §5.3: masked per connection
    } else if (f->bytes.size() < 1024) {
        out_.append(f->bytes);  // a copy costs less than a shared segment
    } else {
        out_.append_shared(f->bytes, f);
    }
    // Our compressor's window no longer matches the peer's decompressor,
    // which has just seen this message: start our next message afresh
    // (always allowed, RFC 7692 §7.2.1).
    if (compressed && deflater_) deflater_->reset();
    out_type_ = op;
    return misuse::none;
}

}  // namespace sansws
