// The engine under a fuzzer: a harness that wraps one connection, checks
// every event against the state it was produced in, reads back everything
// the connection writes as its peer would, and checks the API contract of
// each call (connection.hpp, errors.hpp). Shared by connection_server,
// connection_client, roundtrip and split_invariance.
#pragma once

#include "../tests/rfc6455_examples.hpp"
#include <array>
#include <limits>
#include <memory>
#include <optional>
#include <variant>

#include "fuzz.hpp"
#include "sansws/connection.hpp"

namespace fuzz {

using sansws::connection_state;
using sansws::misuse;

/// RFC 6455 §1.3's request; its key is the one the §1.3 response answers.
inline constexpr std::string_view sample_request = rfc6455_examples::request;

/// Reproducible "randomness": a replayed input must behave identically.
inline sansws::entropy_source fixed_entropy(std::uint64_t seed = 0x5eed) {
    return [r = rng(seed)](sansws::mutable_bytes out) mutable {
        for (auto& b : out) b = static_cast<std::byte>(r.next());
    };
}

inline constexpr std::size_t all_segments = std::numeric_limits<std::size_t>::max();

/// Everything `c` has queued, without consuming it.
inline std::string queued(sansws::connection& c) {
    std::string s;
    for (auto span : c.output(all_segments)) s += sansws::as_text(span);
    return s;
}

/// `lines` as Sec-WebSocket-Extensions fields, each ending with CRLF.
inline std::string extension_fields(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += "Sec-WebSocket-Extensions: " + l + "\r\n";
    return s;
}

/// The 101 a server would send for the request a client has queued, with
/// `extensions` as Sec-WebSocket-Extensions lines; empty when the client
/// queued none.
inline std::string answer_for(sansws::connection& client, const std::vector<std::string>& extensions = {}) {
    const std::string request = queued(client);
    sansws::http_head_parser p(sansws::http_head_parser::kind::request, {});
    std::size_t used = 0;
    if (p.feed(sansws::as_bytes(request), used) != sansws::http_head_parser::status::done) return {};
    const auto key = sansws::header_value(p.head().headers, "Sec-WebSocket-Key");
    if (!key) return {};
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           sansws::websocket_accept_key(*key) + "\r\n" + extension_fields(extensions) + "\r\n";
}

// ---- permessage-deflate (RFC 7692) ----------------------------------------

inline bool same_params(const sansws::deflate_params& a, const sansws::deflate_params& b) noexcept {
    return a.server_no_context_takeover == b.server_no_context_takeover &&
           a.client_no_context_takeover == b.client_no_context_takeover &&
           a.server_max_window_bits == b.server_max_window_bits &&
           a.client_max_window_bits == b.client_max_window_bits;
}
inline bool same_params(const std::optional<sansws::deflate_params>& a,
                        const std::optional<sansws::deflate_params>& b) noexcept {
    return a.has_value() == b.has_value() && (!a || same_params(*a, *b));
}

/// Size on the wire of a frame with `payload` bytes written by `writer`.
inline std::size_t frame_size(sansws::role writer, std::size_t payload) noexcept {
    return sansws::frame_header_size(payload, writer == sansws::role::client) + payload;
}

/// Reads a connection's output as its peer would and traps on anything a
/// conforming peer would refuse: a bad head, an invalid frame, broken
/// fragmentation, text that is not UTF-8, a bad Close, anything after Close.
/// With permessage-deflate it inflates compressed messages as the peer's
/// decompressor would (RFC 7692 §7.2.2) and checks the RSV1 rules (§6).
class output_checker {
public:
    /// `offers_deflate`: the writer is a client configured to offer
    /// permessage-deflate.
    output_checker(sansws::role writer, bool text_checked, bool offers_deflate = false)
        : writer_(writer),
          text_checked_(text_checked),
          offers_deflate_(offers_deflate),
          head_(writer == sansws::role::server ? sansws::http_head_parser::kind::response
                                               : sansws::http_head_parser::kind::request,
                {}),
          frames_(writer == sansws::role::server ? sansws::role::client : sansws::role::server) {}

    void feed(sansws::bytes_view b) {
        using status = sansws::http_head_parser::status;
        while (!b.empty()) {
            if (phase_ == phase::head) {
                std::size_t used = 0;
                const status s = head_.feed(b, used);
                b = b.subspan(used);
                head_bytes_ += used;
                if (s == status::need_more) return;
                check(s == status::done);
                on_head();
            } else if (phase_ == phase::body) {
                // A refusal ends the conversation: nothing after its body.
                check(b.size() <= body_left_);
                body_left_ -= b.size();
                return;
            } else {
                feed_frames(b);
                return;
            }
        }
    }

    /// The whole output has been fed: it must end on a clean boundary.
    void finish() const {
        if (phase_ == phase::head) check(head_bytes_ == 0);
        if (phase_ == phase::body) check(body_left_ == 0);
        if (phase_ == phase::frames) check(frames_.at_frame_boundary());
    }

    bool accepted() const noexcept { return phase_ == phase::frames; }
    bool close_sent() const noexcept { return close_sent_; }
    std::size_t frames() const noexcept { return frame_count_; }
    /// The largest single write seen: a head (with a refusal's body) or a
    /// frame; the output queue allocates no block larger than this or 16 KiB.
    std::size_t largest_write() const noexcept { return largest_; }
    /// Per data message read so far: whether it had RSV1 (was compressed).
    const std::vector<bool>& compressed_log() const noexcept { return compressed_log_; }

    /// The writer's compression_params() before each feed: once agreed they
    /// never change, and they are agreed before the first frame (the 101
    /// decides them, §7.1). The peer's parser admits RSV1 from then on
    /// only; before, RSV1 is a parse error (RFC 6455 §5.2), which traps.
    void agree(const std::optional<sansws::deflate_params>& p) {
        if (agreed_) {
            check(p && same_params(*p, *agreed_));
            return;
        }
        if (!p) return;
        check(frame_count_ == 0);
        agreed_ = p;
        frames_.set_allowed_rsv(sansws::rsv1);
        // §7.1.2: the writer's compressor is limited to its side's window;
        // a decompressor of exactly that window must take everything.
        const bool server = writer_ == sansws::role::server;
        inflater_ = std::make_unique<sansws::inflater>(server ? p->server_max_window_bits : p->client_max_window_bits);
        // §7.1.1: with no context takeover the writer starts every message
        // from an empty window; resetting ours checks that it really does.
        reset_each_ = server ? p->server_no_context_takeover : p->client_no_context_takeover;
    }

private:
    enum class phase : std::uint8_t { head, body, frames };

    void on_head() {
        sansws::http_head head = head_.head();
        largest_ = std::max(largest_, head_bytes_);
        const auto extensions = sansws::header_value(head.headers, "Sec-WebSocket-Extensions");
        // Any offer or answer is read as a permessage-deflate peer would.
        sansws::deflate_options any;
        any.enabled = true;
        if (writer_ == sansws::role::client) {
            // Our own request must satisfy our own server, and (RFC 7692
            // §5) its offer must be one a server of any policy can accept.
            if (offers_deflate_) {
                check(extensions.has_value());
                const auto offers = sansws::parse_extensions(*extensions);
                check(offers && sansws::negotiate_deflate(*offers, any).has_value());
            }
            check(sansws::check_client_request(std::move(head)).request.has_value());
            phase_ = phase::frames;
            return;
        }
        if (head.status == 101) {
            check(sansws::header_value(head.headers, "Sec-WebSocket-Accept").has_value());
            // §7.1: the answer states exactly the parameters the server
            // works with, as the client will read them; none without it.
            check(extensions.has_value() == agreed_.has_value());
            if (extensions) {
                const auto answer = sansws::parse_extensions(*extensions);
                check(answer && answer->size() == 1);
                std::string reason;
                const auto p = sansws::check_deflate_answer(answer->front(), any, reason);
                check(p && same_params(*p, *agreed_));
            }
            phase_ = phase::frames;
            return;
        }
        check(head.status >= 200 && head.status <= 599);
        const auto length = sansws::header_value(head.headers, "Content-Length");
        check(length.has_value());
        body_left_ = std::stoull(*length);
        largest_ = std::max(largest_, head_bytes_ + static_cast<std::size_t>(body_left_));
        phase_ = phase::body;
    }

    void feed_frames(sansws::bytes_view b) {
        scratch_.assign(b.begin(), b.end());  // the parser unmasks in place
        sansws::mutable_bytes in(scratch_);
        while (!in.empty()) {
            const sansws::frame_piece piece = frames_.parse(in);
            check(piece.type != sansws::frame_piece::kind::error);
            in = in.subspan(piece.consumed);
            if (piece.type == sansws::frame_piece::kind::data) on_piece(piece);
        }
    }

    void on_piece(const sansws::frame_piece& piece) {
        using sansws::opcode;
        const sansws::frame_header& h = piece.header;
        if (piece.first) {
            check(!close_sent_);  // §5.5.1: nothing follows our Close
            ++frame_count_;
            largest_ = std::max(largest_, frame_size(writer_, static_cast<std::size_t>(h.payload_length)));
            // RFC 7692 §6: RSV1 marks the first frame of a compressed data
            // message, nothing else (the parser admits it once agreed).
            if (h.rsv != 0) {
                check(agreed_ && h.rsv == sansws::rsv1 && !sansws::is_control(h.op) && h.op != opcode::continuation);
            }
            if (sansws::is_control(h.op)) {
                control_.clear();
            } else if (h.op == opcode::continuation) {
                check(message_open_);  // §5.4
            } else {
                check(!message_open_);  // §5.4
                message_open_ = true;
                text_ = h.op == opcode::text;
                utf8_.reset();
                compressed_ = h.rsv != 0;
                compressed_log_.push_back(compressed_);
            }
        }
        if (sansws::is_control(h.op)) {
            control_.insert(control_.end(), piece.payload.begin(), piece.payload.end());
            if (piece.last && h.op == opcode::close) on_close();
            return;
        }
        const bool ends = piece.last && h.fin;
        if (compressed_) {
            inflate(piece.payload, ends);
        } else if (text_ && text_checked_) {
            check(utf8_.feed(piece.payload) && (!ends || utf8_.complete()));
        }
        if (ends) message_open_ = false;
    }

    /// RFC 7692 §7.2.2: the compressed bytes of the message so far, in a
    /// bounded buffer; the data must inflate, and text must be UTF-8 after
    /// inflation (RFC 6455 §8.1).
    void inflate(sansws::bytes_view in, bool ends) {
        using status = sansws::inflater::status;
        const bool text = text_ && text_checked_;
        for (;;) {
            const sansws::inflater::result r = inflater_->inflate(in, inflated_, ends);
            check(r.st != status::error && r.consumed <= in.size() && r.produced <= inflated_.size());
            in = in.subspan(r.consumed);
            const sansws::bytes_view out(inflated_.data(), r.produced);
            if (text) check(utf8_.feed(out));
            if (r.st == status::message_done) {
                check(ends && in.empty());
                if (text) check(utf8_.complete());
                if (reset_each_) inflater_->reset();
                return;
            }
            if (r.st == status::need_input) {
                check(!ends && in.empty());
                return;
            }
            check(r.produced == inflated_.size());  // output_full: the room is full
        }
    }

    void on_close() {
        // §5.5.1: empty, or a code allowed on the wire and a UTF-8 reason.
        check(control_.size() != 1);
        if (control_.size() >= 2) {
            const auto code = static_cast<std::uint16_t>((std::to_integer<unsigned>(control_[0]) << 8) |
                                                         std::to_integer<unsigned>(control_[1]));
            check(sansws::is_valid_wire_close_code(code));
            check(sansws::is_valid_utf8(sansws::bytes_view(control_).subspan(2)));
        }
        close_sent_ = true;
    }

    sansws::role writer_;
    bool text_checked_;
    bool offers_deflate_;
    phase phase_ = phase::head;
    sansws::http_head_parser head_;
    std::size_t head_bytes_ = 0;
    std::uint64_t body_left_ = 0;
    sansws::frame_parser frames_;
    std::vector<std::byte> scratch_;
    std::vector<std::byte> control_;
    bool message_open_ = false;
    bool text_ = false;
    sansws::utf8_validator utf8_;
    bool close_sent_ = false;
    std::size_t frame_count_ = 0;
    std::size_t largest_ = 0;
    std::optional<sansws::deflate_params> agreed_;
    std::unique_ptr<sansws::inflater> inflater_;
    bool reset_each_ = false;
    bool compressed_ = false;
    std::vector<bool> compressed_log_;
    std::array<std::byte, 4096> inflated_{};
};

/// One connection and the checks around every call made on it.
class harness {
public:
    explicit harness(sansws::config cfg)
        : role_(cfg.role),
          delivery_(cfg.delivery),
          max_message_(cfg.max_message_size),
          max_reject_body_(cfg.max_reject_body),
          auto_pong_(cfg.auto_pong),
          max_head_(cfg.handshake_limits.max_size),
          policy_(cfg.compression),
          out_(cfg.role, cfg.validate_outgoing_text,
               cfg.role == sansws::role::client && cfg.compression.negotiate.enabled),
          c_(std::move(cfg)) {
        if (c_.setup_error() != misuse::none) check(c_.state() == connection_state::failed && produced() == 0);
        after_step();
    }

    sansws::connection& conn() noexcept { return c_; }
    const output_checker& output() const noexcept { return out_; }
    const std::vector<std::string>& offered_protocols() const noexcept { return offered_; }
    sansws::timestamp now() const noexcept { return now_; }
    bool failure_seen() const noexcept { return failure_seen_; }

    /// Bytes the connection has written so far, consumed or not.
    std::uint64_t produced() const noexcept { return consumed_ + c_.buffered(); }

    /// next_event() with every check. Views in the event are valid until the
    /// next call on the connection.
    sansws::event next() {
        using namespace sansws;
        const connection_state st0 = c_.state();
        const std::uint64_t p0 = produced();
        const bool must_fail = st0 == connection_state::failed && !failure_seen_ && c_.setup_error() == misuse::none;
        event ev = c_.next_event();
        ++next_calls_;
        const connection_state st1 = c_.state();
        const std::uint64_t grew = produced() - p0;
        const bool data_state = st0 == connection_state::open || st0 == connection_state::closing;
        // A failure is reported once, first, and nothing but need_more follows.
        check(!must_fail || std::holds_alternative<failure>(ev));
        check(!failure_seen_ || std::holds_alternative<need_more>(ev));

        if (std::holds_alternative<need_more>(ev)) {
            check(st1 == st0 && grew == 0);
            drained_ = true;
        } else if (auto* req = std::get_if<handshake_request>(&ev)) {
            check(role_ == role::server && st0 == connection_state::handshake &&
                  st1 == connection_state::handshake_pending && grew == 0);
            check(!req->key.empty() && !req->host.empty());
            offered_ = req->subprotocols;
        } else if (std::holds_alternative<handshake_response>(ev)) {
            check(role_ == role::client && st0 == connection_state::handshake && st1 == connection_state::open &&
                  grew == 0);
        } else if (auto* rej = std::get_if<handshake_rejected>(&ev)) {
            check(role_ == role::client && st0 == connection_state::handshake && st1 == connection_state::closed &&
                  grew == 0);
            check(rej->status != 101 && rej->body.size() <= max_reject_body_);
        } else if (auto* m = std::get_if<message>(&ev)) {
            check(data_state && st1 == st0 && grew == 0);
            on_message(*m);
        } else if (auto* p = std::get_if<ping>(&ev)) {
            check(data_state && st1 == st0 && p->data.size() <= 125);
            // §5.5.2: answered at once with the same data, unless closing.
            const bool answers = auto_pong_ && st0 == connection_state::open;
            check(grew == (answers ? frame_size(role_, p->data.size()) : 0));
        } else if (auto* p = std::get_if<pong>(&ev)) {
            check(data_state && st1 == st0 && p->data.size() <= 125 && grew == 0);
        } else if (auto* cf = std::get_if<close_frame>(&ev)) {
            check(data_state && st1 == connection_state::closed);
            check(cf->code == 1005 || is_valid_wire_close_code(cf->code));
            check(cf->reason.size() <= 123 && is_valid_utf8(as_bytes(cf->reason)));
            check(cf->code != 1005 || cf->reason.empty());
            // §5.5.1: the echo carries the code only; none when we closed first.
            const std::size_t echo = cf->code == 1005 ? 0 : 2;
            check(grew == (st0 == connection_state::open ? frame_size(role_, echo) : 0));
        } else if (auto* f = std::get_if<failure>(&ev)) {
            check(st1 == connection_state::failed && f->what != violation::none);
            check(f->code == close_code_for(f->what) && c_.failure_reason() == f->what);
            check(!f->reason.empty());
            failure_seen_ = true;
        }
        after_step();
        return ev;
    }

    /// Events until need_more; `each` sees every other event at once, while
    /// its views are still valid.
    template <class F>
    void drain(F&& each) {
        for (int i = 0;; ++i) {
            check(i < 1'000'000);  // each event consumes input or state: no livelock
            sansws::event ev = next();
            if (std::holds_alternative<sansws::need_more>(ev)) return;
            each(ev);
        }
    }
    void drain() {
        drain([](const sansws::event&) {});
    }

    /// An API call that returns misuse: a refused call changes nothing.
    template <class F>
    misuse call(F&& f) {
        const connection_state st0 = c_.state();
        const std::uint64_t p0 = produced();
        const misuse m = f(c_);
        if (m != misuse::none) check(c_.state() == st0 && produced() == p0);
        after_step();
        return m;
    }

    /// Sends may only succeed while open (§7.1.2: nothing after Close).
    /// Which misuse a refused send reports is not fixed when several apply
    /// (send(message) checks the fragment flags before the state).
    template <class F>
    misuse send(F&& f) {
        const bool open = c_.state() == connection_state::open;
        const misuse m = call(std::forward<F>(f));
        if (!open) check(m != misuse::none);
        return m;
    }

    /// receive(): refused only while earlier input may still be pending.
    misuse receive(sansws::mutable_bytes data) {
        const misuse m = call([&](sansws::connection& c) { return c.receive(data); });
        check(m == misuse::none || (m == misuse::input_pending && !drained_));
        if (m == misuse::none && !data.empty()) drained_ = false;
        if (m == misuse::none) received_ += data.size();
        return m;
    }

    /// Time passes; afterwards no deadline may be due any more, or an event
    /// loop driven by next_deadline() would spin.
    void advance(sansws::duration d) {
        const auto room = sansws::no_deadline - now_;
        now_ = d >= room ? sansws::no_deadline : now_ + d;
        at(now_);
    }
    void at(sansws::timestamp t) {
        now_ = std::max(now_, t);
        c_.on_time(now_);
        const sansws::timestamp next = c_.next_deadline();
        check(next == sansws::no_deadline || next > now_);
        after_step();
    }

    /// Hand `n` bytes of output to the transport (all of it by default);
    /// returns them.
    std::vector<std::byte> flush(std::size_t n = all_segments) {
        n = std::min(n, c_.buffered());
        std::vector<std::byte> sent;
        sent.reserve(n);
        std::size_t left = n;
        for (auto span : c_.output(all_segments)) {
            if (left == 0) break;
            const std::size_t k = std::min(left, span.size());
            sent.insert(sent.end(), span.begin(), span.begin() + static_cast<std::ptrdiff_t>(k));
            left -= k;
        }
        out_.agree(c_.compression_params());
        out_.feed(sent);
        c_.consume(n);
        consumed_ += n;
        after_step();
        return sent;
    }

    /// Flush the rest; the whole output must have ended cleanly.
    std::vector<std::byte> finish() {
        std::vector<std::byte> rest = flush();
        out_.finish();
        return rest;
    }

private:
    void on_message(const sansws::message& m) {
        using sansws::message_type;
        if (delivery_ == sansws::delivery_mode::whole_message) {
            check(m.first && m.last && m.data.size() <= max_message_);
            if (m.type == message_type::text) check(sansws::is_valid_utf8(m.data));
            return;
        }
        // Streaming: pieces are flagged first/last in order, one type per
        // message, and a text message's pieces add up to UTF-8 (events.hpp).
        check(m.first == !stream_open_);
        if (!m.first) check(m.type == stream_type_);
        stream_type_ = m.type;
        stream_open_ = !m.last;
        if (m.type == message_type::text) {
            check(stream_utf8_.feed(m.data));
            if (m.last) {
                check(stream_utf8_.complete());
                stream_utf8_.reset();
            }
        }
    }

    void after_step() {
        // output() shows exactly what buffered() counts, in order.
        std::size_t sum = 0;
        for (auto span : c_.output(all_segments)) {
            check(!span.empty());
            sum += span.size();
        }
        check(sum == c_.buffered());
        const auto one = c_.output(1);
        check(one.size() == (c_.buffered() == 0 ? 0u : 1u));
        const connection_state st = c_.state();
        const bool over = st == connection_state::closed || st == connection_state::failed;
        // Output is written before the transport closes, unless the drain
        // deadline passed (or abort()): then it is abandoned, never waited
        // for forever.
        if (c_.should_close_transport()) check(over && (c_.buffered() == 0 || c_.output_abandoned()));
        if (c_.output_abandoned()) check(c_.should_close_transport() && over);
        // A failed connection waits for nothing but its output to drain.
        if (st == connection_state::failed && (c_.buffered() == 0 || c_.output_abandoned()))
            check(c_.next_deadline() == sansws::no_deadline);
        // Once closed or failed, a connection never writes again: in
        // particular a failed one sends no data frame (§7.1.7).
        if (over && !frozen_) {
            frozen_ = true;
            frozen_at_ = produced();
        }
        if (frozen_) check(over && produced() == frozen_at_);
        check_compression();
    }

    /// The parameters agreed stay within what this side allowed (RFC 7692
    /// §7.1), and the memory held stays within what the config implies.
    void check_compression() {
        const auto& p = c_.compression_params();
        if (p && !params_seen_) {
            params_seen_ = true;
            const auto& allow = policy_.negotiate;
            check(allow.enabled && c_.state() != connection_state::handshake &&
                  c_.state() != connection_state::handshake_pending);
            check(p->server_max_window_bits >= 8 && p->server_max_window_bits <= allow.server_max_window_bits);
            check(p->client_max_window_bits >= 8 && p->client_max_window_bits <= allow.client_max_window_bits);
            // A server's policy flags are always answered (§7.1.1); a
            // client's are requests the server may or may not grant.
            if (role_ == sansws::role::server) {
                check(!allow.server_no_context_takeover || p->server_no_context_takeover);
                check(!allow.client_no_context_takeover || p->client_no_context_takeover);
            }
        }
        // Only with the output all written: the queue then holds at most
        // its open block and one spare, each no larger than the largest
        // write the peer has read (or a 16 KiB block). With output pending
        // the bound would depend on how the writes fell into blocks.
        if (c_.buffered() == 0) check(c_.memory_use() <= memory_bound());
        // CPU per byte received (RFC 6455 §10.4): a bounded number of zlib
        // calls per event (a few per growth of the message buffer) plus at
        // most one per 2 compressed bytes, whatever the DEFLATE content.
        check(c_.inflate_work() <= 64 * next_calls_ + received_ / 2);
    }

    /// What connection::memory_use() may count (connection_deflate.cpp),
    /// from the config and what has passed so far.
    std::size_t memory_bound() const {
        using sansws::deflate_settings;
        std::size_t n = sizeof(sansws::connection);
        // The open output block and the spare (output_queue.cpp).
        n += 2 * std::max(sansws::output_queue::block_size, out_.largest_write());
        // The head parser as counted (its limit), and bytes stashed before
        // accept(): at most the limit, in a vector that may have doubled.
        n += sizeof(sansws::http_head_parser) + 3 * max_head_;
        // Compressed scratch kept between sends (scratch_keep).
        n += 64 * 1024;
        const auto& p = c_.compression_params();
        if (delivery_ == sansws::delivery_mode::whole_message) {
            // Assembly grows geometrically from 4 KiB with what has arrived,
            // and never past the limit, inflating (RFC 7692 §8) included.
            std::uint64_t assembly = std::min<std::uint64_t>(max_message_, std::max<std::uint64_t>(4096, 2 * received_));
            if (p) assembly = max_message_;
            n += static_cast<std::size_t>(assembly);
        } else if (p) {
            n += policy_.stream_chunk;  // one inflated piece at a time
        }
        if (p) {
            // zlib's state for this side's window each way (deflate.hpp);
            // a side limited to 8 bits never compresses.
            const bool server = role_ == sansws::role::server;
            const int send = server ? p->server_max_window_bits : p->client_max_window_bits;
            const int receive = server ? p->client_max_window_bits : p->server_max_window_bits;
            if (send >= 9) {
                n += sizeof(sansws::deflater) + zlib_memory(send, policy_.mem_level, policy_.level);
            }
            n += sizeof(sansws::inflater) + zlib_memory(receive, 0, 0);
        }
        return n;
    }

    /// deflater_memory() / inflater_memory() (mem_level 0), cached: they
    /// run zlib, and every run would pay for it otherwise.
    static std::size_t zlib_memory(int window, int mem_level, int level) {
        static std::array<std::size_t, 8 * 10 * 11> cache{};
        const std::size_t i = static_cast<std::size_t>(((window - 8) * 10 + mem_level) * 11 + level + 1);
        check(window >= 8 && window <= 15 && mem_level >= 0 && mem_level <= 9 && level >= -1 && level <= 9);
        if (cache[i] == 0) {
            cache[i] = mem_level == 0 ? sansws::inflater_memory(window)
                                      : sansws::deflater_memory(sansws::deflate_settings{window, mem_level, level});
            check(cache[i] != 0);
        }
        return cache[i];
    }

    sansws::role role_;
    sansws::delivery_mode delivery_;
    std::uint64_t max_message_;
    std::size_t max_reject_body_;
    bool auto_pong_;
    std::size_t max_head_;
    sansws::compression_config policy_;
    output_checker out_;
    sansws::connection c_;
    sansws::timestamp now_{};
    std::uint64_t consumed_ = 0;
    std::uint64_t received_ = 0;
    std::uint64_t next_calls_ = 0;
    bool params_seen_ = false;
    bool drained_ = true;
    bool failure_seen_ = false;
    bool frozen_ = false;
    std::uint64_t frozen_at_ = 0;
    std::vector<std::string> offered_;
    bool stream_open_ = false;
    sansws::message_type stream_type_ = sansws::message_type::binary;
    sansws::utf8_validator stream_utf8_;
};

}  // namespace fuzz
