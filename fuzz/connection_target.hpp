// The engine under a fuzzer: a harness that wraps one connection, checks
// every event against the state it was produced in, reads back everything
// the connection writes as its peer would, and checks the API contract of
// each call (connection.hpp, errors.hpp). Shared by connection_server,
// connection_client, roundtrip and split_invariance.
#pragma once

#include "../tests/rfc6455_examples.hpp"
#include <limits>
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

/// The 101 a server would send for the request a client has queued; empty
/// when the client queued none.
inline std::string answer_for(sansws::connection& client) {
    const std::string request = queued(client);
    sansws::http_head_parser p(sansws::http_head_parser::kind::request, {});
    std::size_t used = 0;
    if (p.feed(sansws::as_bytes(request), used) != sansws::http_head_parser::status::done) return {};
    const auto key = sansws::header_value(p.head().headers, "Sec-WebSocket-Key");
    if (!key) return {};
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           sansws::websocket_accept_key(*key) + "\r\n\r\n";
}

/// Reads a connection's output as its peer would and traps on anything a
/// conforming peer would refuse: a bad head, an invalid frame, broken
/// fragmentation, text that is not UTF-8, a bad Close, anything after Close.
class output_checker {
public:
    output_checker(sansws::role writer, bool text_checked)
        : writer_(writer),
          text_checked_(text_checked),
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

private:
    enum class phase : std::uint8_t { head, body, frames };

    void on_head() {
        sansws::http_head head = head_.head();
        if (writer_ == sansws::role::client) {
            // Our own request must satisfy our own server.
            check(sansws::check_client_request(std::move(head)).request.has_value());
            phase_ = phase::frames;
            return;
        }
        if (head.status == 101) {
            check(sansws::header_value(head.headers, "Sec-WebSocket-Accept").has_value());
            phase_ = phase::frames;
            return;
        }
        check(head.status >= 200 && head.status <= 599);
        const auto length = sansws::header_value(head.headers, "Content-Length");
        check(length.has_value());
        body_left_ = std::stoull(*length);
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
            if (sansws::is_control(h.op)) {
                control_.clear();
            } else if (h.op == opcode::continuation) {
                check(message_open_);  // §5.4
            } else {
                check(!message_open_);  // §5.4
                message_open_ = true;
                text_ = h.op == opcode::text;
                utf8_.reset();
            }
        }
        if (sansws::is_control(h.op)) {
            control_.insert(control_.end(), piece.payload.begin(), piece.payload.end());
            if (piece.last && h.op == opcode::close) on_close();
            return;
        }
        const bool ends = piece.last && h.fin;
        if (text_ && text_checked_) check(utf8_.feed(piece.payload) && (!ends || utf8_.complete()));
        if (ends) message_open_ = false;
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
};

/// Size on the wire of a frame with `payload` bytes written by `writer`.
inline std::size_t frame_size(sansws::role writer, std::size_t payload) noexcept {
    return sansws::frame_header_size(payload, writer == sansws::role::client) + payload;
}

/// One connection and the checks around every call made on it.
class harness {
public:
    explicit harness(sansws::config cfg)
        : role_(cfg.role),
          delivery_(cfg.delivery),
          max_message_(cfg.max_message_size),
          max_reject_body_(cfg.max_reject_body),
          auto_pong_(cfg.auto_pong),
          out_(cfg.role, cfg.validate_outgoing_text),
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
        if (c_.should_close_transport()) check(c_.buffered() == 0 && over);
        if (st == connection_state::failed) check(c_.next_deadline() == sansws::no_deadline);
        // Once closed or failed, a connection never writes again: in
        // particular a failed one sends no data frame (§7.1.7).
        if (over && !frozen_) {
            frozen_ = true;
            frozen_at_ = produced();
        }
        if (frozen_) check(over && produced() == frozen_at_);
    }

    sansws::role role_;
    sansws::delivery_mode delivery_;
    std::uint64_t max_message_;
    std::size_t max_reject_body_;
    bool auto_pong_;
    output_checker out_;
    sansws::connection c_;
    sansws::timestamp now_{};
    std::uint64_t consumed_ = 0;
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
