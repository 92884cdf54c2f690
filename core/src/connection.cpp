// The connection engine: handshake, message assembly, control frames, the
// close handshake and deadlines. State changes go through the table in
// state_table.cpp; framing is frame.cpp; the HTTP head is handshake.cpp.
#include "sansws/connection.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>

#include "frame_internal.hpp"
#include "kernels/dispatch.hpp"

namespace sansws {
namespace {

/// now + d without overflow: a huge timeout means "never".
timestamp after(timestamp now, duration d) noexcept {
    if (d <= duration::zero()) return now;
    if (now > no_deadline - d) return no_deadline;
    return now + d;
}

/// Header names and values the caller passes must not smuggle in CR or LF
/// (response splitting); names must be RFC 7230 tokens.
bool safe_field(std::string_view s) noexcept {
    return s.find_first_of("\r\n") == std::string_view::npos && s.find('\0') == std::string_view::npos;
}
bool safe_token(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7F || std::string_view("\"(),/:;<=>?@[\\]{}").find(c) != std::string_view::npos)
            return false;
    }
    return true;
}
bool safe_headers(const http_headers& hs) noexcept {
    return std::all_of(hs.begin(), hs.end(),
                       [](const http_header& h) { return safe_token(h.name) && safe_field(h.value); });
}

}  // namespace

connection::connection(config cfg, timestamp now)
    : cfg_(std::move(cfg)), parser_(cfg_.role), now_(now) {
    // Payloads are unmasked by frame_event(): in place when delivered from
    // the input, fused with the copy when assembled into msg_.
    parser_.set_unmask(false);
    handshake_deadline_ = after(now, cfg_.handshake_timeout);
    http_ = std::make_unique<http_head_parser>(
        cfg_.role == role::server ? http_head_parser::kind::request : http_head_parser::kind::response,
        cfg_.handshake_limits);
    if (!check_compression_config()) {
        setup_error_ = misuse::invalid_argument;
        state_ = connection_state::failed;
        return;
    }
    if (cfg_.role == role::server) return;

    const client_options& c = cfg_.client;
    if (!cfg_.entropy || c.host.empty() || !safe_field(c.host) || !safe_field(c.target) ||
        c.target.empty() || (c.origin && !safe_field(*c.origin)) || !safe_headers(c.headers) ||
        !reserved_client_header(c.headers).empty() ||
        !std::all_of(c.subprotocols.begin(), c.subprotocols.end(), safe_token) ||
        !std::all_of(c.extensions.begin(), c.extensions.end(), safe_field)) {
        setup_error_ = misuse::invalid_argument;
        state_ = connection_state::failed;
        return;
    }
    // §4.1: the key is 16 random bytes, base64-encoded; §5.3/§10.3: mask
    // keys must be unpredictable, so a ChaCha20 stream is seeded from the
    // same entropy source.
    std::array<std::byte, 16 + 32 + 12> seed{};
    cfg_.entropy(seed);
    client_key_ = base64_encode(std::span(seed).first(16));
    rng_.seed(std::span(seed).subspan<16, 32>(), std::span(seed).subspan<48, 12>());
    if (cfg_.compression.negotiate.enabled) {
        client_options with_offer = c;
        with_offer.extensions.push_back(client_offer());
        out_.append(as_bytes(write_client_request(with_offer, client_key_)));
    } else {
        out_.append(as_bytes(write_client_request(c, client_key_)));
    }
}

void connection::transition(state_input in) noexcept {
    const auto next = next_state(state_, in);
    if (!next) return;
    state_ = *next;
    // Every state after open has a deadline: the output queued on the way
    // into closed or failed (our Close, a refusal) is written within
    // close_timeout or dropped.
    if ((state_ == connection_state::closed || state_ == connection_state::failed) && drain_deadline_ == no_deadline)
        drain_deadline_ = after(now_, cfg_.close_timeout);
}

misuse connection::abort() noexcept {
    if (abandoned_) return misuse::wrong_state;
    if (state_ != connection_state::failed) transition(state_input::app_abort);
    abandoned_ = true;
    in_ = early_in_ = {};
    pending_.reset();
    z_pending_ = false;
    return misuse::none;
}

void connection::schedule_ping() noexcept {
    ping_at_ = cfg_.ping_interval > duration::zero() ? after(now_, cfg_.ping_interval) : no_deadline;
}

misuse connection::receive(mutable_bytes data) {
    if (!in_.empty()) return misuse::input_pending;
    in_ = data;
    return misuse::none;
}

void connection::receive_eof() { eof_ = true; }

event connection::next_event() {
    // The steady state of an open connection: a whole text or binary frame
    // at the start of the input, outside a fragmented message. Only frames
    // for which frame_event() would deliver exactly this message, with the
    // same state afterwards, are taken here (frame_internal.hpp): the parser
    // stays at its frame boundary, nothing is copied.
    if (state_ == connection_state::open && early_in_.empty() && !in_message_ && !pending_ &&
        parser_.at_frame_boundary()) {
        const bool server = cfg_.role == role::server;  // §5.1: clients mask, servers do not
        std::uint64_t len = 0;
        std::uint32_t key = 0;
        const std::size_t hs = detail::whole_data_frame(in_.data(), in_.size(), server, len, key);
        if (hs != 0 && (cfg_.delivery == delivery_mode::streaming || len <= cfg_.max_message_size)) {
            in_type_ = (static_cast<std::uint8_t>(in_[0]) & detail::opcode_bits) == 0x1 ? message_type::text
                                                                                        : message_type::binary;
            const mutable_bytes payload(in_.data() + hs, static_cast<std::size_t>(len));
            in_ = in_.subspan(hs + payload.size());
            if (server) detail::kernels().mask(payload.data(), payload.size(), key);  // §5.3, phase 0
            if (in_type_ == message_type::text) {
                // §8.1: the whole message is here, so it must also be complete.
                in_utf8_.reset();
                if (!in_utf8_.feed(payload) || !in_utf8_.complete()) {
                    in_message_ = true;
                    return fail(violation::invalid_utf8);
                }
            }
            return message{in_type_, payload, true, true};
        }
    }
    // Everything else lives in its own function, so this one stays a leaf
    // without register saves on the path above.
    return slow_event();
}

event connection::slow_event() {
    if (pending_) {
        failure f = *pending_;
        pending_.reset();
        return f;
    }
    switch (state_) {
    case connection_state::handshake:
        return handshake_event();
    case connection_state::handshake_pending:
        stash_early_input();
        if (state_ == connection_state::failed) return failure{failure_, close_code_for(failure_), failure_detail_};
        return need_more{};
    case connection_state::open:
    case connection_state::closing:
        return frame_event();
    case connection_state::closed:
    case connection_state::failed:
        in_ = early_in_ = {};  // §5.5.1, §7.1.7: nothing more is processed
        return need_more{};
    }
    return need_more{};
}

void connection::stash_early_input() {
    // A client must wait for the 101 before sending frames (§4.1), but bytes
    // may already be here; keep them (bounded) until accept() so the caller
    // may reuse its buffer.
    if (in_.empty()) return;
    if (early_.size() + in_.size() > cfg_.handshake_limits.max_size) {
        in_ = {};
        failure_ = violation::handshake_too_large;
        failure_detail_ = "data sent before the handshake completed exceeds the handshake limit";
        // §4.1: the client should have waited for our answer; it gets one.
        out_.append(as_bytes(write_reject_response(400, {}, failure_detail_)));
        transition(state_input::violation);
        return;
    }
    early_.insert(early_.end(), in_.begin(), in_.end());
    in_ = {};
}

event connection::handshake_event() {
    if (rejected_) {
        if (!read_reject_body()) return need_more{};
        handshake_rejected r = std::move(*rejected_);
        rejected_.reset();
        transition(state_input::response_rejected);
        return r;
    }
    if (in_.empty()) {
        if (!eof_) return need_more{};
        failure_detail_ = "connection closed during the opening handshake";
        return fail(violation::connection_lost);
    }
    std::size_t used = 0;
    const auto status = http_->feed(in_, used);
    in_ = in_.subspan(used);
    const bool server = cfg_.role == role::server;
    switch (status) {
    case http_head_parser::status::need_more:
        in_ = {};
        return handshake_event();  // input is used up: reports eof or need_more
    case http_head_parser::status::too_large:
        failure_detail_ = "handshake exceeds the size or header limit";
        if (server) out_.append(as_bytes(write_reject_response(431, {}, failure_detail_)));
        return fail(violation::handshake_too_large);
    case http_head_parser::status::malformed:
        failure_detail_ = "malformed HTTP: ";
        failure_detail_ += http_->error();
        if (server) out_.append(as_bytes(write_reject_response(400, {}, failure_detail_)));
        return fail(violation::bad_handshake);
    case http_head_parser::status::done:
        break;
    }
    http_head head = std::move(http_->head());
    http_.reset();
    if (server) {
        request_check check = check_client_request(std::move(head));
        if (!check.request) {
            failure_detail_ = check.failure.reason;
            out_.append(as_bytes(
                write_reject_response(check.failure.status, check.failure.headers, check.failure.reason)));
            return fail(violation::bad_handshake);
        }
        client_key_ = check.request->key;
        offered_protocols_ = check.request->subprotocols;
        if (cfg_.compression.negotiate.enabled)
            extension_offers_ = header_value(check.request->headers, "Sec-WebSocket-Extensions").value_or("");
        transition(state_input::request_received);
        // Bytes behind the request stay in the caller's input (valid until
        // need_more): an accept() made before the next next_event() parses
        // them from there, however many there are. Only when the decision is
        // deferred are they copied (bounded) by stash_early_input().
        return std::move(*check.request);
    }
    if (head.status != 101) {
        // Any other status: the server refused (§4.1 step 1). Read a bounded
        // body: Content-Length bytes, or everything until the transport ends.
        rejected_.emplace();
        rejected_->status = head.status;
        rejected_->reason = std::move(head.reason);
        rejected_->headers = std::move(head.headers);
        reject_until_eof_ = true;
        if (auto len = header_value(rejected_->headers, "Content-Length");
            len && !header_value(rejected_->headers, "Transfer-Encoding")) {
            std::uint64_t n = 0;
            auto [p, ec] = std::from_chars(len->data(), len->data() + len->size(), n);
            if (ec == std::errc() && p == len->data() + len->size()) {
                reject_until_eof_ = false;
                reject_body_left_ = n;
            }
        }
        return handshake_event();
    }
    std::string reason;
    std::optional<handshake_response> response;
    if (cfg_.compression.negotiate.enabled) {
        client_options with_offer = cfg_.client;
        with_offer.extensions.push_back(client_offer());
        response = check_server_response(head, client_key_, with_offer, reason);
        if (response && !check_compression_answer(head, reason)) response.reset();
    } else {
        response = check_server_response(head, client_key_, cfg_.client, reason);
    }
    if (!response) {
        failure_detail_ = std::move(reason);
        return fail(violation::bad_handshake);
    }
    subprotocol_ = response->subprotocol;
    transition(state_input::response_accepted);
    schedule_ping();
    return std::move(*response);
}

bool connection::read_reject_body() {
    // Returns true once the body is complete (or the transport ended).
    std::size_t n = in_.size();
    if (!reject_until_eof_) n = static_cast<std::size_t>(std::min<std::uint64_t>(n, reject_body_left_));
    const std::size_t room = cfg_.max_reject_body - std::min(cfg_.max_reject_body, rejected_->body.size());
    const std::size_t keep = std::min(n, room);
    rejected_->body.append(as_text(in_.first(keep)));
    if (keep < n) rejected_->body_truncated = true;
    in_ = in_.subspan(n);
    if (!reject_until_eof_) {
        reject_body_left_ -= n;
        if (reject_body_left_ == 0) {
            in_ = {};  // nothing after a refusal is processed
            return true;
        }
    }
    return eof_ && in_.empty();
}

misuse connection::accept(const accept_options& opts) {
    if (cfg_.role != role::server) return misuse::wrong_role;
    if (state_ != connection_state::handshake_pending) return misuse::wrong_state;
    // §4.2.2: the subprotocol must be one the client offered. The only
    // extension the core runs is permessage-deflate, which it negotiates
    // itself from the config; the caller may not agree to others (their RSV
    // bits stay reserved, §5.2).
    if (opts.subprotocol &&
        std::find(offered_protocols_.begin(), offered_protocols_.end(), *opts.subprotocol) ==
            offered_protocols_.end())
        return misuse::invalid_argument;
    if (!opts.extensions.empty() || !safe_headers(opts.headers)) return misuse::invalid_argument;
    if (!extension_offers_.empty()) {
        accept_options with_answer = opts;
        negotiate_compression(with_answer);
        out_.append(as_bytes(write_accept_response(client_key_, with_answer)));
    } else {
        out_.append(as_bytes(write_accept_response(client_key_, opts)));
    }
    subprotocol_ = opts.subprotocol;
    transition(state_input::app_accept);
    schedule_ping();
    early_in_ = early_;  // parsed before any later input
    return misuse::none;
}

misuse connection::reject(int status, const http_headers& headers, std::string_view body) {
    if (cfg_.role != role::server) return misuse::wrong_role;
    if (state_ != connection_state::handshake_pending) return misuse::wrong_state;
    if (status < 200 || status > 599 || !safe_headers(headers)) return misuse::invalid_argument;
    out_.append(as_bytes(write_reject_response(status, headers, body)));
    early_.clear();
    transition(state_input::app_reject);
    return misuse::none;
}

event connection::fail(violation v) {
    failure_ = v;
    const close_code code = close_code_for(v);
    // §7.1.7: send a Close with the code when the connection is open and none
    // was sent; a lost transport or an unanswered Close gets none.
    if ((state_ == connection_state::open || state_ == connection_state::closing) && !close_sent_ &&
        v != violation::connection_lost && v != violation::close_timeout) {
        queue_close(static_cast<std::uint16_t>(code), to_string(v).substr(0, 123));
    }
    if (failure_detail_.empty()) failure_detail_ = to_string(v);
    in_ = early_in_ = {};
    z_pending_ = false;
    transition(state_input::violation);
    return failure{v, code, failure_detail_};
}

event connection::frame_event() {
    if (z_pending_) {
        // Streaming: the last piece filled the output chunk; go on inflating
        // the same frame's bytes before parsing further.
        event e = inflate_event();
        if (!std::holds_alternative<need_more>(e)) return e;
    }
    while (true) {
        // Bytes held back before accept() come first, then the caller's input.
        mutable_bytes& src = early_in_.empty() ? in_ : early_in_;
        if (src.empty()) {
            if (eof_ && !close_received_) {
                in_message_ = false;
                return fail(violation::connection_lost);  // §7.1.5: code 1006
            }
            return need_more{};
        }
        const frame_piece piece = parser_.parse(src);
        src = src.subspan(piece.consumed);
        if (piece.type == frame_piece::kind::error) return fail(piece.error);
        if (piece.type == frame_piece::kind::need_more) continue;
        const frame_header& h = piece.header;
        const auto phase = static_cast<std::size_t>(piece.offset & 3);

        if (is_control(h.op)) {
            // RFC 7692 §6: control frames are never compressed; RSV1 on one is
            // a protocol error (the parser admits RSV1 once it is agreed).
            if (h.rsv != 0) return fail(violation::reserved_bits);
            if (h.masked) apply_mask(piece.payload, h.key, phase);
            // Control frames are at most 125 bytes (§5.5): gather them whole.
            if (piece.first && piece.last) return on_control(h, piece.payload);
            if (piece.first) ctl_len_ = 0;
            std::memcpy(ctl_.data() + ctl_len_, piece.payload.data(), piece.payload.size());
            ctl_len_ += piece.payload.size();
            if (piece.last) return on_control(h, bytes_view(ctl_.data(), ctl_len_));
            continue;
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
                in_type_ = h.op == opcode::text ? message_type::text : message_type::binary;
                in_first_ = true;
                msg_size_ = 0;
                in_utf8_.reset();
                in_compressed_ = (h.rsv & rsv1) != 0;
                z_in_total_ = z_out_total_ = 0;
            }
            // The inflate-ratio cap and the compressed limit compare with
            // declared frame lengths, never with where the reads ended.
            if (in_compressed_) z_in_total_ = std::min(z_in_total_ + h.payload_length, std::uint64_t{1} << 63);
            // Fail on the declared length as soon as the header is here,
            // before any payload byte is buffered (RFC 6455 §10.4). A
            // compressed message is limited by its inflated size while
            // inflating, and its declared compressed length by
            // compressed_message_limit().
            if (cfg_.delivery == delivery_mode::whole_message &&
                (in_compressed_ ? z_in_total_ > compressed_message_limit(cfg_.max_message_size)
                                : h.payload_length > cfg_.max_message_size - msg_size_))
                return fail(violation::message_too_big);
        }
        // A header announced alone: checked above, nothing to deliver yet.
        if (piece.payload.empty() && !piece.last) continue;
        const bool ends_message = piece.last && h.fin;
        if (in_compressed_) {
            // RFC 7692 §7.2.2: unmask in place, then inflate into the message
            // buffer (or the streaming chunk); an empty final frame still
            // ends the message.
            if (h.masked) apply_mask(piece.payload, h.key, phase);
            z_in_ = piece.payload;
            z_end_ = ends_message;
            z_pending_ = true;
            event e = inflate_event();
            if (!std::holds_alternative<need_more>(e)) return e;
            continue;
        }
        // Delivered from the input (streamed, or a one-frame message all in
        // this input) or copied into msg_: unmask in place or while copying.
        const bool copy = cfg_.delivery == delivery_mode::whole_message &&
                          !(ends_message && piece.first && h.op != opcode::continuation);
        // §8.1: text is validated as it arrives, failing at the first bad
        // byte. Masked text that is copied is unmasked and validated in one
        // pass over the bytes.
        const bool text = in_type_ == message_type::text;
        bool valid = true;
        bytes_view data = piece.payload;
        if (copy) {
            const mutable_bytes to(extend_message(piece.payload.size()), piece.payload.size());
            if (h.masked && text) {
                valid = in_utf8_.feed_unmasked(to, piece.payload, h.key, phase);
            } else if (h.masked) {
                copy_masked(to, piece.payload, h.key, phase);
            } else if (!to.empty()) {
                std::memcpy(to.data(), piece.payload.data(), to.size());
                if (text) valid = in_utf8_.feed(to);
            }
            data = to;
        } else {
            if (h.masked) apply_mask(piece.payload, h.key, phase);
            if (text) valid = in_utf8_.feed(data);
        }
        if (text && (!valid || (ends_message && !in_utf8_.complete())))
            return fail(violation::invalid_utf8);

        if (cfg_.delivery == delivery_mode::streaming) {
            message m{in_type_, data, in_first_, ends_message};
            in_first_ = false;
            if (ends_message) in_message_ = false;
            return m;
        }
        if (!copy) {
            in_message_ = false;  // one frame, all in this input: no copy
            return message{in_type_, data, true, true};
        }
        if (ends_message) {
            in_message_ = false;
            return message{in_type_, bytes_view(msg_.get(), msg_size_), true, true};
        }
    }
}

std::byte* connection::extend_message(std::size_t n) {
    // Grows geometrically with what has arrived (never with what a header
    // declares: a peer could announce 16 MiB and send nothing), and never
    // past the limit (the frame headers were checked against it).
    if (n > msg_capacity_ - msg_size_ || !msg_) reserve_message(message_growth(msg_size_ + n));
    std::byte* at = msg_.get() + msg_size_;
    msg_size_ += n;
    buffers_used_at_ = now_;
    return at;
}

std::size_t connection::message_growth(std::size_t needed) const noexcept {
    const auto limit = static_cast<std::size_t>(
        std::min<std::uint64_t>(cfg_.max_message_size, std::numeric_limits<std::size_t>::max() / 2));
    const std::size_t grown = std::max({needed, 2 * msg_capacity_, std::size_t{4096}});
    // Past half the limit, straight to the limit: the old and the new buffer
    // together, for the moment of the copy, hold at most 1.5 times the limit,
    // and the message buffer alone never more than the limit.
    return grown > limit / 2 ? std::max(needed, limit) : grown;
}

void connection::reserve_message(std::size_t capacity) {
    if (capacity <= msg_capacity_ && msg_) return;
    auto bigger = std::make_unique_for_overwrite<std::byte[]>(capacity);
    if (msg_size_ != 0) std::memcpy(bigger.get(), msg_.get(), msg_size_);
    msg_ = std::move(bigger);
    msg_capacity_ = capacity;
}

event connection::on_control(const frame_header& h, bytes_view payload) {
    switch (h.op) {
    case opcode::ping:
        // §5.5.2: answer with a Pong carrying the same data, unless we are
        // already closing.
        if (cfg_.auto_pong && !close_sent_) write_frame(opcode::pong, true, payload);
        return sansws::ping{payload};
    case opcode::pong:
        pong_deadline_ = no_deadline;  // §5.5.3: any Pong shows the peer is alive
        return sansws::pong{payload};
    default:
        break;
    }
    // §5.5.1: a Close body is empty or a 2-byte code and a UTF-8 reason.
    std::uint16_t code = 1005;
    std::string_view reason;
    if (payload.size() == 1) return fail(violation::invalid_close_payload);
    if (payload.size() >= 2) {
        code = static_cast<std::uint16_t>((std::to_integer<unsigned>(payload[0]) << 8) |
                                          std::to_integer<unsigned>(payload[1]));
        if (!is_valid_wire_close_code(code)) return fail(violation::invalid_close_code);  // §7.4
        reason = as_text(payload.subspan(2));
        if (!is_valid_utf8(payload.subspan(2))) return fail(violation::invalid_utf8);
    }
    close_received_ = true;
    // §5.5.1: answer a Close with a Close, echoing the status code.
    if (!close_sent_) queue_close(code, {});
    transition(state_input::close_received);
    // §7.1.1: the client waits for the server to close TCP, up to a limit.
    close_deadline_ = cfg_.role == role::client ? after(now_, cfg_.close_timeout) : no_deadline;
    in_ = early_in_ = {};
    return close_frame{code, reason};
}

void connection::queue_close(std::uint16_t code, std::string_view reason) {
    std::array<std::byte, 125> body{};
    std::size_t n = 0;
    if (code != 1005) {
        body[0] = std::byte(code >> 8);
        body[1] = std::byte(code & 0xFF);
        // An empty view may hold a null pointer, which memcpy must not get.
        if (!reason.empty()) std::memcpy(body.data() + 2, reason.data(), reason.size());
        n = 2 + reason.size();
    }
    write_frame(opcode::close, true, bytes_view(body.data(), n));
    close_sent_ = true;
}

mask_key connection::next_mask() noexcept {
    mask_key k;
    rng_.fill(k);
    return k;
}

void connection::write_frame(opcode op, bool fin, bytes_view payload, std::uint8_t rsv) {
    const bool masked = cfg_.role == role::client;  // §5.1: clients mask every frame
    mask_key key{};
    if (masked) key = next_mask();
    // The header goes straight into the queue, in front of the payload.
    const std::size_t n = payload.size();
    const std::size_t hs = frame_header_size(n, masked);
    std::byte* p = out_.append_space(hs + n).data();
    detail::put_frame_header(p, static_cast<std::uint8_t>((fin ? detail::fin_bit : 0) | rsv | static_cast<std::uint8_t>(op)),
                             n, masked ? &key : nullptr);
    if (masked) {
        copy_masked(mutable_bytes(p + hs, n), payload, key, 0);  // §5.3, in the same pass as the copy
    } else {
        copy_small(p + hs, payload.data(), n);
    }
}

misuse connection::send_data(opcode op, bytes_view data, bool fin, compression c) {
    if (state_ != connection_state::open) return misuse::wrong_state;  // §7.1.2: nothing after Close
    if (out_message_ && op != out_type_) return misuse::message_in_progress;
    if (op == opcode::text && cfg_.validate_outgoing_text) {
        // Validate on a copy so a refused call leaves the connection as it was.
        utf8_validator v = out_message_ ? out_utf8_ : utf8_validator{};
        if (!v.feed(data) || (fin && !v.complete())) return misuse::invalid_utf8;
        out_utf8_ = v;
    }
    if (!out_message_) out_compressed_ = compress_message(data.size(), fin, c);
    if (!out_compressed_ || !write_compressed(op, data, fin))
        write_frame(out_message_ ? opcode::continuation : op, fin, data);
    out_message_ = !fin;
    out_type_ = op;
    return misuse::none;
}

misuse connection::send_text(std::string_view text, bool fin, compression c) {
    return send_data(opcode::text, as_bytes(text), fin, c);
}

misuse connection::send_binary(std::vector<std::byte>&& data) {
    if (cfg_.role == role::client || data.size() < 4096 || deflate_) return send_binary(bytes_view(data), true);
    if (state_ != connection_state::open) return misuse::wrong_state;
    if (out_message_) return misuse::message_in_progress;
    // Server frames are not masked: the header goes into the queue and the
    // payload buffer is moved in behind it, never copied.
    frame_header h;
    h.op = opcode::binary;
    h.payload_length = data.size();
    std::array<std::byte, max_frame_header_size> header;
    out_.append(bytes_view(header.data(), write_frame_header(header, h)));
    out_.append(std::move(data));
    return misuse::none;
}

misuse connection::send(const message& m) {
    if (state_ != connection_state::open) return misuse::wrong_state;  // as every other send
    if (m.first == out_message_) return out_message_ ? misuse::message_in_progress : misuse::no_message_open;
    return send_data(m.type == message_type::text ? opcode::text : opcode::binary, m.data, m.last);
}

misuse connection::ping(bytes_view data) {
    if (state_ != connection_state::open) return misuse::wrong_state;
    if (data.size() > 125) return misuse::control_too_long;  // §5.5
    write_frame(opcode::ping, true, data);
    return misuse::none;
}

misuse connection::pong(bytes_view data) {
    if (state_ != connection_state::open) return misuse::wrong_state;
    if (data.size() > 125) return misuse::control_too_long;  // §5.5
    write_frame(opcode::pong, true, data);
    return misuse::none;
}

misuse connection::close(std::uint16_t code, std::string_view reason) {
    if (state_ != connection_state::open) return misuse::wrong_state;
    if (code == 1005) {
        if (!reason.empty()) return misuse::invalid_argument;  // no code, no reason (§5.5.1)
    } else if (!is_valid_wire_close_code(code)) {
        return misuse::invalid_close_code;  // §7.4.1
    }
    if (reason.size() > 123) return misuse::control_too_long;  // 125 minus the code (§5.5)
    if (!is_valid_utf8(as_bytes(reason))) return misuse::invalid_utf8;  // §5.5.1
    queue_close(code, reason);
    transition(state_input::close_sent);
    close_deadline_ = after(now_, cfg_.close_timeout);
    return misuse::none;
}

void connection::on_time(timestamp now) {
    if (now > now_) now_ = now;
    if (!out_.empty() && now_ >= drain_deadline_) abandoned_ = true;
    if (pending_) return;  // report one deadline failure at a time
    auto raise = [&](violation v, std::string_view why) {
        failure_detail_ = why;
        event e = fail(v);
        pending_ = std::get<failure>(e);
    };
    switch (state_) {
    case connection_state::handshake:
    case connection_state::handshake_pending:
        if (now_ >= handshake_deadline_) raise(violation::handshake_timeout, "opening handshake timed out");
        break;
    case connection_state::open:
        if (now_ >= pong_deadline_) {
            raise(violation::pong_timeout, "keep-alive pong timed out");
        } else if (now_ >= ping_at_) {
            write_frame(opcode::ping, true, {});
            if (pong_deadline_ == no_deadline) pong_deadline_ = after(now_, cfg_.pong_timeout);
            schedule_ping();
        }
        break;
    case connection_state::closing:
        if (now_ >= close_deadline_) raise(violation::close_timeout, "peer did not answer the Close in time");
        break;
    case connection_state::closed:
        if (now_ >= close_deadline_) close_wait_over_ = true;
        break;
    case connection_state::failed:
        break;
    }
}

timestamp connection::next_deadline() const noexcept {
    switch (state_) {
    case connection_state::handshake:
    case connection_state::handshake_pending:
        return handshake_deadline_;
    case connection_state::open:
        return std::min({ping_at_, pong_deadline_, retain_deadline()});
    case connection_state::closing:
        return std::min(close_deadline_, retain_deadline());
    case connection_state::closed:
        if (abandoned_) return no_deadline;
        return std::min(close_wait_over_ || eof_ ? no_deadline : close_deadline_,
                        out_.empty() ? no_deadline : drain_deadline_);
    case connection_state::failed:
        return abandoned_ || out_.empty() ? no_deadline : drain_deadline_;
    }
    return no_deadline;
}

bool connection::should_close_transport() const noexcept {
    if (abandoned_) return true;
    if (!out_.empty()) return false;
    if (state_ == connection_state::failed) return true;
    if (state_ != connection_state::closed) return false;
    // §7.1.1: the server closes TCP first; the client waits for it, unless
    // the handshake was refused or the wait is over.
    return cfg_.role == role::server || !close_received_ || eof_ || close_wait_over_;
}

}  // namespace sansws
