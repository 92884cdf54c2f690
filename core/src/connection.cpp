// The connection engine: handshake, message assembly, control frames, the
// close handshake and deadlines. State changes go through the table in
// state_table.cpp; framing is frame.cpp; the HTTP head is handshake.cpp.
#include "sansws/connection.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstring>

#include "http_chars.hpp"
#include "message_reader_fast.hpp"

namespace sansws {
namespace {

/// now + d without overflow: a huge timeout means "never".
timestamp after(timestamp now, duration d) noexcept {
    if (d <= duration::zero()) return now;
    if (now > no_deadline - d) return no_deadline;
    return now + d;
}

}  // namespace

connection::connection(config cfg, timestamp now)
    : cfg_(std::move(cfg)),
      reader_(cfg_.role, detail::reader_limits{cfg_.delivery == delivery_mode::streaming, cfg_.max_message_size,
                                               cfg_.compression.max_inflate_ratio,
                                               cfg_.compression.inflate_ratio_floor, cfg_.compression.stream_chunk}),
      writer_(detail::writer_settings{cfg_.role, cfg_.validate_outgoing_text, cfg_.compression.mem_level,
                                      cfg_.compression.level, cfg_.compression.threshold, cfg_.compression.shared}),
      now_(now) {
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
    if (!cfg_.entropy || c.host.empty() || !safe_header_value(c.host) || !safe_header_value(c.target) ||
        c.target.empty() || (c.origin && !safe_header_value(*c.origin)) || !safe_headers(c.headers) ||
        !reserved_client_header(c.headers).empty() ||
        !std::all_of(c.subprotocols.begin(), c.subprotocols.end(), detail::is_token) ||
        !std::all_of(c.extensions.begin(), c.extensions.end(), safe_header_value)) {
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
    writer_.seed_masks(std::span(seed).subspan<16, 32>(), std::span(seed).subspan<48, 12>());
    // The offer is built once: the request carries it, and the response is
    // checked against it.
    if (cfg_.compression.negotiate.enabled) cfg_.client.extensions.push_back(deflate_offer(cfg_.compression.negotiate));
    out_.append(as_bytes(write_client_request(cfg_.client, client_key_)));
}

void connection::transition(state_input in) noexcept {
    const auto next = next_state(state_, in);
    // Every caller checks first (allowed()) or knows the cell exists.
    assert(next && "a transition missing from state_table.cpp");
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
    failure_unreported_ = false;  // the application's doing: nothing to report
    reader_.stop();
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
    // The steady state of an open connection: the reader's whole-frame
    // branch (message_reader_fast.hpp), inline here so that this function
    // stays a leaf without register saves on that path.
    if (state_ == connection_state::open && early_in_.empty()) {
        bytes_view payload;
        switch (reader_.read_whole(in_, payload)) {
        case detail::message_reader::whole::message:
            return message{reader_.type(), payload, true, true};
        case detail::message_reader::whole::bad_utf8:
            return fail(violation::invalid_utf8);
        case detail::message_reader::whole::none:
            break;
        }
    }
    return slow_event();
}

event connection::slow_event() {
    if (failure_unreported_) return take_failure();
    switch (state_) {
    case connection_state::handshake:
        return handshake_event();
    case connection_state::handshake_pending:
        stash_early_input();
        if (failure_unreported_) return take_failure();
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
        failure_detail_ = "data sent before the handshake completed exceeds the handshake limit";
        // §4.1: the client should have waited for our answer; it gets one.
        out_.append(as_bytes(write_reject_response(400, {}, failure_detail_)));
        record_failure(violation::handshake_too_large);
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
        // §9.1 / RFC 7692 §5: parsed once, kept until accept(); a malformed
        // header is treated as no offer.
        if (cfg_.compression.negotiate.enabled) {
            if (auto value = header_value(check.request->headers, "Sec-WebSocket-Extensions"))
                extension_offers_ = parse_extensions(*value).value_or(std::vector<extension_offer>{});
        }
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
    response = check_server_response(head, client_key_, cfg_.client, reason);
    if (response && cfg_.compression.negotiate.enabled && !check_compression_answer(head, reason)) response.reset();
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
    if (!allowed(state_input::app_accept)) return misuse::wrong_state;
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
    std::vector<extension_offer>().swap(extension_offers_);
    subprotocol_ = opts.subprotocol;
    transition(state_input::app_accept);
    schedule_ping();
    early_in_ = early_;  // parsed before any later input
    return misuse::none;
}

misuse connection::reject(int status, const http_headers& headers, std::string_view body) {
    if (cfg_.role != role::server) return misuse::wrong_role;
    if (!allowed(state_input::app_reject)) return misuse::wrong_state;
    if (status < 200 || status > 599 || !safe_headers(headers)) return misuse::invalid_argument;
    out_.append(as_bytes(write_reject_response(status, headers, body)));
    early_.clear();
    transition(state_input::app_reject);
    return misuse::none;
}

void connection::record_failure(violation v) {
    // The one failure path: record the violation (sticky) and queue the
    // Close; next_event() reports it once (take_failure()).
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
    reader_.stop();
    transition(state_input::violation);
    failure_unreported_ = true;
}

event connection::take_failure() {
    failure_unreported_ = false;
    return failure{failure_, close_code_for(failure_), failure_detail_};
}

event connection::frame_event() {
    while (true) {
        // Bytes held back before accept() come first, then the caller's input.
        mutable_bytes& src = early_in_.empty() ? in_ : early_in_;
        if (src.empty() && !reader_.pending()) {
            if (eof_ && !close_received_) {
                reader_.end_input();
                return fail(violation::connection_lost);  // §7.1.5: code 1006
            }
            return need_more{};
        }
        const detail::reader_event r = reader_.read(src);
        if (reader_.take_buffers_used()) buffers_used_at_ = now_;
        switch (r.what) {
        case detail::reader_event::kind::need_more:
            continue;
        case detail::reader_event::kind::data:
            return r.data;
        case detail::reader_event::kind::control:
            return on_control(r.op, r.payload);
        case detail::reader_event::kind::violation:
            return fail(r.error);
        }
    }
}

event connection::on_control(opcode op, bytes_view payload) {
    switch (op) {
    case opcode::ping:
        // §5.5.2: answer with a Pong carrying the same data, unless we are
        // already closing.
        if (cfg_.auto_pong && !close_sent_) writer_.control(out_, opcode::pong, payload);
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
    writer_.control(out_, opcode::close, bytes_view(body.data(), n));
    close_sent_ = true;
}

misuse connection::send_data(opcode op, bytes_view data, bool fin, compression c) {
    if (!allowed(state_input::send)) return misuse::wrong_state;  // §7.1.2: nothing after Close
    const auto r = writer_.send(out_, op, data, fin, c);
    after_send(r);
    return r.refused;
}

void connection::after_send(const detail::message_writer::sent& r) {
    if (writer_.take_buffers_used()) buffers_used_at_ = now_;
    if (!r.compression_failed) return;
    // Half a compressed message is out and the rest cannot follow.
    failure_detail_ = "zlib could not compress (out of memory)";
    record_failure(violation::compression_failed);
}

misuse connection::send_text(std::string_view text, bool fin, compression c) {
    return send_data(opcode::text, as_bytes(text), fin, c);
}

misuse connection::send_binary(std::vector<std::byte>&& data) {
    if (!allowed(state_input::send)) return misuse::wrong_state;
    const auto r = writer_.send_owned(out_, std::move(data));
    after_send(r);
    return r.refused;
}

misuse connection::send(const message& m) {
    if (!allowed(state_input::send)) return misuse::wrong_state;
    if (m.first == writer_.message_open())
        return writer_.message_open() ? misuse::message_in_progress : misuse::no_message_open;
    return send_data(m.type == message_type::text ? opcode::text : opcode::binary, m.data, m.last);
}

misuse connection::send(const prepared_message& m) {
    if (!allowed(state_input::send)) return misuse::wrong_state;
    return writer_.send_prepared(out_, m);
}

misuse connection::ping(bytes_view data) {
    if (!allowed(state_input::send)) return misuse::wrong_state;
    if (data.size() > 125) return misuse::control_too_long;  // §5.5
    writer_.control(out_, opcode::ping, data);
    return misuse::none;
}

misuse connection::pong(bytes_view data) {
    if (!allowed(state_input::send)) return misuse::wrong_state;
    if (data.size() > 125) return misuse::control_too_long;  // §5.5
    writer_.control(out_, opcode::pong, data);
    return misuse::none;
}

misuse connection::close(std::uint16_t code, std::string_view reason) {
    if (!allowed(state_input::close_sent)) return misuse::wrong_state;
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
    if (failure_unreported_) return;  // report one deadline failure at a time
    auto raise = [&](violation v, std::string_view why) {
        failure_detail_ = why;
        record_failure(v);
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
            writer_.control(out_, opcode::ping, {});
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


std::size_t connection::memory_use() const noexcept {
    std::size_t n = sizeof(*this) + out_.memory() + early_.capacity() + reader_.memory() + writer_.memory();
    if (http_) n += sizeof(http_head_parser) + cfg_.handshake_limits.max_size;
    return n;
}

std::uint64_t connection::inflate_work() const noexcept { return reader_.inflate_work(); }

timestamp connection::retain_deadline() const noexcept {
    const bool holding = reader_.holding_buffers() || writer_.holding_buffers();
    if (!holding || reader_.in_message()) return no_deadline;
    const timestamp at = after(buffers_used_at_, cfg_.retain_time);
    return at > now_ ? at : no_deadline;  // passed: the next release_memory() acts
}

std::size_t connection::release_memory() noexcept {
    const std::size_t before = memory_use();
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
    writer_.release(drop);
    if (state_ != connection_state::handshake_pending && early_in_.empty()) std::vector<std::byte>().swap(early_);
    reader_.release(drop);
    return before - memory_use();
}

}  // namespace sansws
