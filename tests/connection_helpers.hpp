// Helpers shared by the connection tests: a deterministic entropy source,
// a frame encoder written independently of frame.cpp, a reader for what a
// connection writes, owned copies of events (payload views die at the next
// call) and the plumbing that moves bytes between connections with any split.
#pragma once

#include "rfc6455_examples.hpp"
#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sansws/sansws.hpp"

namespace wstest {

using namespace sansws;
using namespace std::chrono_literals;

using buffer = std::vector<std::byte>;

inline buffer bytes(std::initializer_list<int> values) {
    buffer out;
    for (int v : values) out.push_back(std::byte(v));
    return out;
}
inline buffer bytes(std::string_view s) {
    const auto b = as_bytes(s);
    return {b.begin(), b.end()};
}
inline buffer cat(std::initializer_list<buffer> parts) {
    buffer out;
    for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
    return out;
}
inline std::string str(bytes_view b) { return std::string(as_text(b)); }

/// Byte i of the stream is start + i (mod 256): reproducible keys and masks.
inline entropy_source counter_entropy(std::uint8_t start = 0) {
    auto next = std::make_shared<std::uint8_t>(start);
    return [next](mutable_bytes out) {
        for (auto& b : out) b = std::byte((*next)++);
    };
}

// ---- building frames ---------------------------------------------------------

/// The masking key of the RFC 6455 §5.7 examples.
inline constexpr mask_key example_key{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};

/// One frame: `b0` is the first header byte (FIN, RSV, opcode); the length
/// uses the minimal encoding; a key masks the payload (§5.3).
inline buffer frame(std::uint8_t b0, bytes_view payload, std::optional<mask_key> key = {}) {
    buffer out{std::byte(b0)};
    const std::byte mask_bit{static_cast<std::uint8_t>(key ? 0x80 : 0)};
    const std::uint64_t n = payload.size();
    if (n < 126) {
        out.push_back(mask_bit | std::byte(n));
    } else if (n <= 0xFFFF) {
        out.push_back(mask_bit | std::byte{126});
        out.push_back(std::byte(n >> 8));
        out.push_back(std::byte(n & 0xFF));
    } else {
        out.push_back(mask_bit | std::byte{127});
        for (int shift = 56; shift >= 0; shift -= 8) out.push_back(std::byte((n >> shift) & 0xFF));
    }
    if (key) out.insert(out.end(), key->begin(), key->end());
    for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(key ? payload[i] ^ (*key)[i % 4] : payload[i]);
    return out;
}
inline buffer frame(std::uint8_t b0, std::string_view payload, std::optional<mask_key> key = {}) {
    return frame(b0, as_bytes(payload), key);
}
/// A client's frame (masked) and a server's frame (unmasked).
inline buffer cframe(std::uint8_t b0, std::string_view payload = {}) { return frame(b0, payload, example_key); }
inline buffer sframe(std::uint8_t b0, std::string_view payload = {}) { return frame(b0, payload); }
/// Frames in the direction `to` receives.
inline buffer frame_to(role to, std::uint8_t b0, std::string_view payload = {}) {
    return to == role::server ? cframe(b0, payload) : sframe(b0, payload);
}
inline std::string close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::string out{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    out += reason;
    return out;
}

// ---- reading what a connection writes -----------------------------------------

/// Everything queued for the transport, consumed.
inline buffer take_output(connection& c) {
    buffer out;
    for (const bytes_view seg : c.output(std::numeric_limits<std::size_t>::max())) out.insert(out.end(), seg.begin(), seg.end());
    c.consume(out.size());
    return out;
}
inline std::string take_text(connection& c) {
    const buffer b = take_output(c);
    return str(b);
}

struct wire_frame {
    opcode op = opcode::binary;
    bool fin = true;
    bool masked = false;
    mask_key key{};
    std::string payload;  // unmasked
    std::uint8_t rsv = 0; // the RSV bits of the frame's first byte
    /// The status code of a Close frame; 1005 when the body is empty.
    std::uint16_t close_code() const {
        if (payload.size() < 2) return 1005;
        return static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) |
                                          static_cast<unsigned char>(payload[1]));
    }
};

/// The frames in `data` as a `reader` sees them, after skipping an HTTP head
/// if the data starts with one. The parse must succeed and end on a frame
/// boundary: a connection never writes half a frame.
inline std::vector<wire_frame> parse_frames(buffer data, role reader, std::uint8_t allowed_rsv = 0) {
    std::size_t pos = 0;
    if (str(data).starts_with("HTTP/")) {
        const auto end = str(data).find("\r\n\r\n");
        REQUIRE(end != std::string::npos);
        pos = end + 4;
    }
    std::vector<wire_frame> frames;
    frame_parser parser(reader, allowed_rsv);
    mutable_bytes rest(data.data() + pos, data.size() - pos);
    while (!rest.empty()) {
        const frame_piece piece = parser.parse(rest);
        rest = rest.subspan(piece.consumed);
        REQUIRE(piece.type != frame_piece::kind::error);
        if (piece.type == frame_piece::kind::need_more) break;
        if (piece.first) {
            frames.push_back(
                {piece.header.op, piece.header.fin, piece.header.masked, piece.header.key, {}, piece.header.rsv});
        }
        frames.back().payload += as_text(piece.payload);
    }
    CHECK(parser.at_frame_boundary());
    return frames;
}

// ---- events, owned --------------------------------------------------------------

struct got_request {
    std::string target;
    std::vector<std::string> subprotocols;
    bool operator==(const got_request&) const = default;
};
struct got_response {
    std::optional<std::string> subprotocol;
    bool operator==(const got_response&) const = default;
};
struct got_rejected {
    int status = 0;
    std::string body;
    bool truncated = false;
    bool operator==(const got_rejected&) const = default;
};
struct got_message {
    message_type type = message_type::binary;
    std::string data;
    bool first = true;
    bool last = true;
    bool operator==(const got_message&) const = default;
};
struct got_ping {
    std::string data;
    bool operator==(const got_ping&) const = default;
};
struct got_pong {
    std::string data;
    bool operator==(const got_pong&) const = default;
};
struct got_close {
    std::uint16_t code = 1005;
    std::string reason;
    bool operator==(const got_close&) const = default;
};
struct got_failure {
    violation what = violation::none;
    close_code code = close_code::protocol_error;
    bool operator==(const got_failure&) const = default;
};
using got = std::variant<got_request, got_response, got_rejected, got_message, got_ping, got_pong, got_close,
                         got_failure>;
using got_list = std::vector<got>;

inline got_message text_msg(std::string s) { return {message_type::text, std::move(s), true, true}; }
inline got_message binary_msg(std::string s) { return {message_type::binary, std::move(s), true, true}; }
inline got_failure failed_with(violation v, close_code c) { return {v, c}; }

inline std::ostream& operator<<(std::ostream& os, const got& g) {
    auto shown = [](const std::string& s) {
        return s.size() <= 40 ? s : s.substr(0, 40) + "...(" + std::to_string(s.size()) + " bytes)";
    };
    std::visit(
        [&](const auto& e) {
            using T = std::decay_t<decltype(e)>;
            if constexpr (std::is_same_v<T, got_request>) os << "request " << e.target;
            if constexpr (std::is_same_v<T, got_response>) os << "response " << e.subprotocol.value_or("-");
            if constexpr (std::is_same_v<T, got_rejected>) os << "rejected " << e.status << " " << shown(e.body);
            if constexpr (std::is_same_v<T, got_message>)
                os << (e.type == message_type::text ? "text" : "binary") << (e.first ? " first" : "")
                   << (e.last ? " last" : "") << " '" << shown(e.data) << "'";
            if constexpr (std::is_same_v<T, got_ping>) os << "ping '" << shown(e.data) << "'";
            if constexpr (std::is_same_v<T, got_pong>) os << "pong '" << shown(e.data) << "'";
            if constexpr (std::is_same_v<T, got_close>) os << "close " << e.code << " '" << e.reason << "'";
            if constexpr (std::is_same_v<T, got_failure>)
                os << "failure " << to_string(e.what) << " " << static_cast<int>(e.code);
        },
        g);
    return os;
}
inline std::ostream& operator<<(std::ostream& os, const got_list& list) {
    os << "[";
    for (const auto& g : list) os << "\n  " << g;
    return os << "\n]";
}

/// An owned copy of `e`; nullopt for need_more.
inline std::optional<got> record(const event& e) {
    return std::visit(
        [](const auto& v) -> std::optional<got> {
            using T = std::decay_t<decltype(v)>;
            if constexpr (std::is_same_v<T, need_more>) return std::nullopt;
            if constexpr (std::is_same_v<T, handshake_request>) return got_request{v.target, v.subprotocols};
            if constexpr (std::is_same_v<T, handshake_response>) return got_response{v.subprotocol};
            if constexpr (std::is_same_v<T, handshake_rejected>)
                return got_rejected{v.status, v.body, v.body_truncated};
            if constexpr (std::is_same_v<T, message>) return got_message{v.type, str(v.data), v.first, v.last};
            if constexpr (std::is_same_v<T, ping>) return got_ping{str(v.data)};
            if constexpr (std::is_same_v<T, pong>) return got_pong{str(v.data)};
            if constexpr (std::is_same_v<T, close_frame>) return got_close{v.code, std::string(v.reason)};
            if constexpr (std::is_same_v<T, failure>) return got_failure{v.what, v.code};
        },
        e);
}

/// Events until need_more. A server's handshake request is accepted at once
/// when `auto_accept` is set, as an application would.
inline got_list drain(connection& c, bool auto_accept = true) {
    got_list out;
    // A bound far above any test's event count turns a livelock into a failure.
    for (int guard = 0; guard < 1'000'000; ++guard) {
        const event e = c.next_event();
        auto g = record(e);
        if (!g) return out;
        if (auto_accept && std::holds_alternative<got_request>(*g)) CHECK(c.accept() == misuse::none);
        out.push_back(std::move(*g));
    }
    FAIL("next_event() never returned need_more");
    return out;
}

/// Merge adjacent streamed pieces of one message, so that event lists from
/// different splits compare equal. A streamed message cut short by a failure
/// is dropped: how much of a doomed message was already handed out depends on
/// where the reads ended, since validation fails at the first bad byte.
inline got_list normalise(const got_list& in) {
    got_list out;
    for (const auto& g : in) {
        const auto* m = std::get_if<got_message>(&g);
        auto* prev = out.empty() ? nullptr : std::get_if<got_message>(&out.back());
        if (m && prev && !prev->last && !m->first) {
            prev->data += m->data;
            prev->last = m->last;
            continue;
        }
        if (std::holds_alternative<got_failure>(g) && prev && !prev->last) out.pop_back();
        out.push_back(g);
    }
    return out;
}

/// Feed `data` (a fresh copy: receive() unmasks in place) cut at `cuts`
/// (ascending offsets), draining events after every read.
inline got_list feed_split(connection& c, buffer data, std::span<const std::size_t> cuts, bool auto_accept = true) {
    got_list out;
    std::size_t from = 0;
    auto read = [&](std::size_t to) {
        CHECK(c.receive(mutable_bytes(data.data() + from, to - from)) == misuse::none);
        auto evs = drain(c, auto_accept);
        out.insert(out.end(), evs.begin(), evs.end());
        from = to;
    };
    for (std::size_t cut : cuts) read(cut);
    read(data.size());
    return out;
}
inline got_list feed(connection& c, buffer data, bool auto_accept = true) {
    return feed_split(c, std::move(data), {}, auto_accept);
}

/// Feed `data` in reads whose sizes `next_read` chooses (at least one byte).
inline got_list feed_reads(connection& c, buffer data, const std::function<std::size_t()>& next_read) {
    got_list out;
    for (std::size_t pos = 0; pos < data.size();) {
        const std::size_t n = std::min(std::max<std::size_t>(next_read(), 1), data.size() - pos);
        CHECK(c.receive(mutable_bytes(data.data() + pos, n)) == misuse::none);
        auto evs = drain(c);
        out.insert(out.end(), evs.begin(), evs.end());
        pos += n;
    }
    return out;
}

/// Move everything `from` has written into `to`; the events `to` produced.
inline got_list pump(connection& from, connection& to) { return feed(to, take_output(from)); }

/// The frames `c` wrote, as its peer reads them, consumed.
inline std::vector<wire_frame> frames_from(connection& c, std::uint8_t allowed_rsv = 0) {
    return parse_frames(take_output(c), c.role() == role::server ? role::client : role::server, allowed_rsv);
}

/// §7.1.7: a failed connection stays failed. It reports nothing more, drops
/// further input, refuses every send and wants the transport closed.
inline void check_stays_failed(connection& c) {
    CHECK(c.state() == connection_state::failed);
    CHECK(std::holds_alternative<need_more>(c.next_event()));
    buffer late = frame_to(c.role(), 0x81, "late");
    CHECK(c.receive(late) == misuse::none);
    CHECK(std::holds_alternative<need_more>(c.next_event()));
    CHECK(std::holds_alternative<need_more>(c.next_event()));
    CHECK(c.send_text("x") == misuse::wrong_state);
    CHECK(c.send_binary(as_bytes("x")) == misuse::wrong_state);
    CHECK(c.ping() == misuse::wrong_state);
    CHECK(c.pong() == misuse::wrong_state);
    CHECK(c.close() == misuse::wrong_state);
    CHECK(c.buffered() == 0);
    CHECK(c.next_deadline() == no_deadline);
    CHECK(c.should_close_transport());
}

// ---- opening connections ----------------------------------------------------------

/// The client handshake of RFC 6455 §1.3, verbatim.
inline std::string example_request() { return std::string(rfc6455_examples::request); }
/// A shorter valid request, so that tables of splits stay small.
inline std::string short_request() {
    return "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

inline config server_config() {
    config c;
    c.role = role::server;
    return c;
}
inline config client_config() {
    config c;
    c.role = role::client;
    c.entropy = counter_entropy();
    c.client.host = "server.example.com";
    c.client.target = "/chat";
    return c;
}

/// The Sec-WebSocket-Key a client request carries.
inline std::string request_key(std::string_view request) {
    constexpr std::string_view field = "Sec-WebSocket-Key: ";
    const auto at = request.find(field);
    REQUIRE(at != std::string_view::npos);
    const auto start = at + field.size();
    return std::string(request.substr(start, request.find("\r\n", start) - start));
}
/// A valid 101 answer to `request`.
inline std::string accept_response(std::string_view request) {
    return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " +
           websocket_accept_key(request_key(request)) + "\r\n\r\n";
}

/// A server past its handshake with nothing left in its output.
inline connection open_server(config cfg = server_config()) {
    connection s(std::move(cfg));
    const got_list evs = feed(s, bytes(short_request()));
    CHECK(evs.size() == 1);
    CHECK(s.state() == connection_state::open);
    take_output(s);
    return s;
}
/// A client past its handshake with nothing left in its output.
inline connection open_client(config cfg = client_config()) {
    connection c(std::move(cfg));
    const std::string request = take_text(c);
    const got_list evs = feed(c, bytes(accept_response(request)));
    CHECK(evs == got_list{got_response{}});
    CHECK(c.state() == connection_state::open);
    return c;
}
/// An open connection of either role.
inline connection open_as(role r, config cfg) {
    cfg.role = r;
    if (r == role::client) {
        config base = client_config();
        cfg.entropy = base.entropy;
        cfg.client = base.client;
        return open_client(std::move(cfg));
    }
    return open_server(std::move(cfg));
}

/// A client and a server joined in memory, past the handshake.
struct endpoints {
    connection client;
    connection server;
    explicit endpoints(config c = client_config(), config s = server_config())
        : client(std::move(c)), server(std::move(s)) {
        CHECK(pump(client, server) == got_list{got_request{"/chat", {}}});
        CHECK(pump(server, client) == got_list{got_response{}});
        CHECK(client.state() == connection_state::open);
        CHECK(server.state() == connection_state::open);
    }
    got_list to_server() { return pump(client, server); }
    got_list to_client() { return pump(server, client); }
};

}  // namespace wstest
