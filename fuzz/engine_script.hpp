// The body of connection_server and connection_client: a script read from
// the front of the input drives one connection through the harness of
// connection_target.hpp; the rest of the input is the peer's bytes. Also
// the permessage-deflate settings and handshake forms that every engine
// target reads from its input (roundtrip and split_invariance too).
//
// Input layout:
//   byte 0   flags: 1 prefix a valid handshake to the peer's bytes (server:
//            the §1.3 request, accepted as soon as it arrives; client: the
//            101 for the key it sent), 2 streaming delivery, 4 tiny
//            max_message_size, 8 no auto-pong, 16 keep-alive pings, 32 echo
//            messages and pings, 64 no outgoing UTF-8 check, 128 end of
//            transport after the last byte
//   byte 1   options: 1 tiny handshake limits, 2 tiny reject body, 4 short
//            close timeout, 8 short handshake timeout, 16 client offers
//            subprotocols, 32|64|128 all set: client without a host (setup
//            error); 32 without both 64 and 128: permessage-deflate
//            (RFC 7692), configured by the four bytes that follow
//            (read_compression below); with flag 1 the
//            prefix then carries the offer (server) or the answer (client)
//            its byte z2 chooses
//   byte 2   K, the script length; then K script bytes
//   rest     the peer's bytes
// A script byte is an operation (low nibble, see run_engine), two flag bits
// for it (64, 128), and how much output to flush afterwards (bits 16, 32).
// Sends of text and binary views take their compression (automatic, on,
// off) from their length byte / 48, so the lengths below 48 of older inputs
// keep meaning an automatic send.
#pragma once

#include <chrono>

#include "connection_target.hpp"

namespace fuzz {

// ---- permessage-deflate settings (RFC 7692), shared with roundtrip and
// split_invariance ---------------------------------------------------------

/// RFC 6455 §1.3's request with `extensions` as Sec-WebSocket-Extensions
/// lines (a server's prefix).
inline std::string request_with(const std::vector<std::string>& extensions) {
    std::string r(sample_request);
    r.resize(r.size() - 2);  // before the blank line that ends the head
    return r + extension_fields(extensions) + "\r\n";
}

/// Compression settings read from four input bytes:
///   z0  the negotiation policy: server_max_window_bits 8 + (z0 & 7),
///       client_max_window_bits 8 + (z0 >> 3 & 7), 64 server_no_context_takeover,
///       128 client_no_context_takeover
///   z1  tuning: & 3 threshold {64, 0, 1, 1000}; >> 2 & 3 stream_chunk
///       {16384, 1, 7, 100}; >> 4 & 3 inflate cap {256 over 1 MiB, none,
///       2 over 64 bytes, 1 over 0}; >> 6 level/mem_level {-1/8, 0/8, 1/1, 9/9}
///   z2  the peer's side of the negotiation: & 15 the form of the offer
///       (server, offer_lines) or of the answer (client, answer_form), >> 4 & 7
///       a window step, 128 both no_context_takeover flags
///   z3  & 3 a shared compressor {none, 9, 12, 15 window bits}; 4 an invalid
///       setting (the connection must refuse its config: setup_error)
struct compression_setup {
    sansws::compression_config cfg;
    std::uint8_t peer = 0;
    int shared_window = 0;

    /// Into `c`; the shared compressor, if any, lives in `owner`, which must
    /// outlive the connection (compression_config::shared is not owned).
    void apply(sansws::config& c, std::unique_ptr<sansws::deflater>& owner) const {
        c.compression = cfg;
        if (shared_window != 0) {
            owner = std::make_unique<sansws::deflater>(
                sansws::deflate_settings{shared_window, cfg.mem_level, cfg.level});
            c.compression.shared = owner.get();
        }
    }
};

/// `for_roundtrip`: every message must arrive, so no inflate-ratio cap that
/// ordinary data could trip and no invalid setting; pieces of 7 bytes at
/// least.
inline compression_setup read_compression(reader& in, bool for_roundtrip = false) {
    const std::uint8_t z0 = in.u8(), z1 = in.u8(), z2 = in.u8(), z3 = in.u8();
    compression_setup s;
    sansws::compression_config& c = s.cfg;
    c.negotiate.enabled = true;
    c.negotiate.server_max_window_bits = static_cast<std::uint8_t>(8 + (z0 & 7));
    c.negotiate.client_max_window_bits = static_cast<std::uint8_t>(8 + ((z0 >> 3) & 7));
    c.negotiate.server_no_context_takeover = (z0 & 0x40) != 0;
    c.negotiate.client_no_context_takeover = (z0 & 0x80) != 0;
    static constexpr std::size_t thresholds[] = {64, 0, 1, 1000};
    static constexpr std::size_t chunks[] = {16 * 1024, 1, 7, 100};
    static constexpr int levels[][2] = {{-1, 8}, {0, 8}, {1, 1}, {9, 9}};
    c.threshold = thresholds[z1 & 3];
    c.stream_chunk = chunks[(z1 >> 2) & 3];
    // A roundtrip carries up to 200 KB: one event per byte costs too much.
    if (for_roundtrip) c.stream_chunk = std::max<std::size_t>(c.stream_chunk, 7);
    switch ((z1 >> 4) & 3) {
    case 1: c.max_inflate_ratio = 0; break;
    case 2:
        if (!for_roundtrip) {
            c.max_inflate_ratio = 2;
            c.inflate_ratio_floor = 64;
        }
        break;
    case 3:
        if (!for_roundtrip) {
            c.max_inflate_ratio = 1;
            c.inflate_ratio_floor = 0;
        }
        break;
    default: break;
    }
    c.level = levels[z1 >> 6][0];
    c.mem_level = levels[z1 >> 6][1];
    s.peer = z2;
    static constexpr int shared[] = {0, 9, 12, 15};
    s.shared_window = shared[z3 & 3];
    if ((z3 & 4) && !for_roundtrip) {
        switch (z1 & 3) {
        case 0: c.negotiate.server_max_window_bits = 16; break;
        case 1: c.negotiate.client_max_window_bits = 7; break;
        case 2: c.mem_level = 0; break;
        default: c.stream_chunk = 0; break;
        }
    }
    return s;
}

/// The offer a client sends a server, as Sec-WebSocket-Extensions lines,
/// chosen by `peer` (compression_setup): none, plain, the common browser
/// offers, every parameter, several offers with bad ones first (RFC 7692
/// §5.1: the server goes on with the next), malformed lists and values.
/// Whatever the offer, the harness checks the 101 against the parameters
/// the server then works with.
inline std::vector<std::string> offer_lines(std::uint8_t peer) {
    const std::string pmd = "permessage-deflate";
    const std::string w = std::to_string(std::max(8, 15 - ((peer >> 4) & 7)));
    const std::string flags = (peer & 0x80) ? "; server_no_context_takeover; client_no_context_takeover" : "";
    switch (peer & 15) {
    case 0: return {};
    case 1: return {pmd};
    case 2: return {pmd + "; client_max_window_bits"};
    case 3: return {pmd + flags + "; server_max_window_bits=" + w + "; client_max_window_bits=" + w};
    case 4: return {pmd + "; foo, " + pmd + flags + "; server_max_window_bits=" + w + "; client_max_window_bits"};
    case 5: return {pmd + flags + "; server_max_window_bits=" + w};
    case 6: return {"x-webkit-deflate-frame, " + pmd + "; client_max_window_bits=" + w};
    case 7: return {pmd + "; server_max_window_bits"};
    case 8: return {pmd + ";;"};
    case 9: return {pmd + "; server_max_window_bits=\"" + w + "\"; client_max_window_bits"};
    case 10: return {pmd + "; server_max_window_bits=8; client_max_window_bits=8"};
    case 11: return {"PerMessage-Deflate ;Client_Max_Window_Bits ; SERVER_NO_CONTEXT_TAKEOVER"};
    case 12: return {"x-foo", pmd + flags + "; client_max_window_bits"};
    case 13: return {pmd + "; client_no_context_takeover"};
    case 14: return {pmd + "; server_max_window_bits=16, " + pmd + "; client_max_window_bits=" + w};
    default: return {pmd + "; client_max_window_bits=" + w + "; client_max_window_bits"};
    }
}

/// A server's answer to a client's offer, chosen by `peer`: the lines, and
/// what the client must make of them. Valid answers (§7.1) must be
/// accepted with exactly the parameters they state; invalid ones (unknown
/// or repeated parameters, bad values, windows above the offer, a required
/// parameter missing, an extension not offered, two answers, bad syntax)
/// must fail the handshake (§7.1: "_Fail the WebSocket Connection_").
struct answer_form {
    std::vector<std::string> lines;
    bool valid = true;
    std::optional<sansws::deflate_params> params;
};

inline answer_form make_answer(std::uint8_t peer, const sansws::deflate_options& offered) {
    const int s = offered.server_max_window_bits, c = offered.client_max_window_bits;
    const int k = (peer >> 4) & 7;
    const bool flags = (peer & 0x80) != 0;
    const int sw = std::max(8, s - k), cw = std::max(8, c - k);
    const std::string pmd = "permessage-deflate";
    // §7.1.1.1: a server accepts an offered server_no_context_takeover by
    // answering it, and §7.1.2.1: an offered server_max_window_bits by
    // answering a value no larger. Valid forms always do both.
    const std::string snct = offered.server_no_context_takeover ? "; server_no_context_takeover" : "";
    const std::string server_window = s < 15 ? "; server_max_window_bits=" + std::to_string(s) : "";
    auto n = [](int v) { return std::to_string(v); };
    answer_form a;
    sansws::deflate_params p;
    p.server_no_context_takeover = offered.server_no_context_takeover;
    p.server_max_window_bits = static_cast<std::uint8_t>(s);
    p.client_max_window_bits = static_cast<std::uint8_t>(c);
    auto invalid = [&](std::vector<std::string> lines) {
        a.lines = std::move(lines);
        a.valid = false;
        return a;
    };
    switch (peer & 15) {
    case 0: return a;  // declined: no compression (RFC 7692 §5)
    case 1: a.lines = {pmd + snct + server_window}; break;
    case 2:
        a.lines = {pmd + (flags || !snct.empty() ? "; server_no_context_takeover" : "") +
                   (flags ? "; client_no_context_takeover" : "") + "; server_max_window_bits=" + n(sw) +
                   "; client_max_window_bits=" + n(cw)};
        p.server_no_context_takeover = flags || offered.server_no_context_takeover;
        p.client_no_context_takeover = flags;
        p.server_max_window_bits = static_cast<std::uint8_t>(sw);
        p.client_max_window_bits = static_cast<std::uint8_t>(cw);
        break;
    case 3:
        // Parameter names are case-insensitive (extensions.cpp; the client
        // matches the extension name itself exactly against its offer);
        // whitespace around ";" is allowed.
        a.lines = {pmd + " ; Client_Max_Window_Bits=" + n(cw) + snct + " ;SERVER_MAX_WINDOW_BITS=" + n(sw)};
        p.server_max_window_bits = static_cast<std::uint8_t>(sw);
        p.client_max_window_bits = static_cast<std::uint8_t>(cw);
        break;
    case 4:
        // A value may be a quoted-string (RFC 6455 §9.1).
        a.lines = {pmd + snct + "; server_max_window_bits=\"" + n(sw) + "\"; client_no_context_takeover"};
        p.server_max_window_bits = static_cast<std::uint8_t>(sw);
        p.client_no_context_takeover = true;
        break;
    case 5:
        // Windows of 8 bits (zlib cannot compress with them: §6 lets that
        // side send uncompressed messages).
        a.lines = {pmd + snct + "; server_max_window_bits=8; client_max_window_bits=8"};
        p.server_max_window_bits = p.client_max_window_bits = 8;
        break;
    case 6:
        // §7.1.1.1: the server may add server_no_context_takeover unasked.
        a.lines = {pmd + "; server_no_context_takeover" + server_window};
        p.server_no_context_takeover = true;
        break;
    case 7: return invalid({pmd + server_window + "; foo=1"});
    case 8:
        return invalid({k & 1 ? pmd + server_window + "; client_no_context_takeover; client_no_context_takeover"
                              : pmd + server_window + "; server_no_context_takeover=1"});
    case 9: return invalid({pmd + "; server_max_window_bits=" + n(s < 15 ? s + 1 : 16)});
    case 10: return invalid({pmd + server_window + "; client_max_window_bits=" + n(c < 15 ? c + 1 : 16)});
    case 11: return invalid({pmd + "; server_max_window_bits"});
    case 12: return invalid({"x-foo"});
    case 13: return invalid({pmd + server_window, pmd + server_window});
    case 14: return invalid({pmd + server_window + "; a=\"1"});
    default:
        return invalid({k & 1 || s == 15 ? pmd + server_window + "; client_max_window_bits" : pmd});
    }
    a.params = p;
    return a;
}

/// Script operation 8 with bit 64: a prepared (broadcast) message, text with
/// bit 128: n % 48 script bytes repeated 1 + n / 48 times (so that it may
/// compress), then a byte of settings: window bits 8 + (s & 7) (8 has no
/// compressed form), mem_level 1 with s & 8, threshold {0, 16, 64, 1000}
/// by s >> 4 & 3.
inline void send_prepared(harness& h, reader& script, std::uint8_t n, bool text) {
    const auto unit = script.take(n % 48);
    const std::uint8_t s = script.u8();
    std::vector<std::byte> payload;
    for (int i = 0; i <= n / 48; ++i) payload.insert(payload.end(), unit.begin(), unit.end());
    static constexpr std::size_t thresholds[] = {0, 16, 64, 1000};
    const sansws::deflate_settings settings{8 + (s & 7), (s & 8) ? 1 : 8, -1};
    const std::size_t threshold = thresholds[(s >> 4) & 3];
    const sansws::prepared_message m(text ? sansws::message_type::text : sansws::message_type::binary, payload,
                                     settings, threshold);
    // §5.6: text must be UTF-8. The compressed form exists only when
    // compressing is allowed and worth it (connection.hpp).
    check(m.valid() == (!text || sansws::is_valid_utf8(payload)));
    check(!m.compressed() || (settings.window_bits >= 9 && payload.size() >= threshold));
    const misuse r = h.send([&](sansws::connection& c) { return c.send(m); });
    if (!m.valid()) check(r != misuse::none);
}

inline int run_engine(sansws::role role, const std::uint8_t* data, std::size_t size) {
    using namespace std::chrono_literals;
    using sansws::connection;
    pick_kernel(hash(bytes(data, size)));
    reader in(bytes(data, size));
    const std::uint8_t flags = in.u8();
    const std::uint8_t opts = in.u8();
    const bool deflate = (opts & 0x20) != 0 && (opts & 0xE0) != 0xE0;
    compression_setup z;
    if (deflate) z = read_compression(in);
    reader script(in.take(in.u8()));
    const sansws::bytes_view peer_bytes = in.rest();
    const bool server = role == sansws::role::server;

    sansws::config cfg;
    cfg.role = role;
    if (flags & 2) cfg.delivery = sansws::delivery_mode::streaming;
    if (flags & 4) cfg.max_message_size = 100;
    cfg.auto_pong = (flags & 8) == 0;
    if (flags & 16) {
        cfg.ping_interval = 1s;
        cfg.pong_timeout = 2s;
    }
    const bool echo = (flags & 32) != 0;
    cfg.validate_outgoing_text = (flags & 64) == 0;
    const bool eof_at_end = (flags & 128) != 0;
    if (opts & 1) cfg.handshake_limits = sansws::http_limits{256, 4};
    if (opts & 2) cfg.max_reject_body = 16;
    if (opts & 4) cfg.close_timeout = 1s;
    if (opts & 8) cfg.handshake_timeout = 2s;
    if (!server) {
        cfg.entropy = fixed_entropy();
        cfg.client.host = (opts & 0xE0) == 0xE0 ? "" : "server.example.com";
        cfg.client.target = "/chat";
        if (opts & 16) cfg.client.subprotocols = {"chat", "superchat"};
    }
    std::unique_ptr<sansws::deflater> shared;  // outlives the connection
    if (deflate) z.apply(cfg, shared);
    harness h(std::move(cfg));

    // The client's check of the answer in our prefix, when there is one.
    const bool check_answer = !server && deflate && (flags & 1);
    const answer_form answer = check_answer ? make_answer(z.peer, z.cfg.negotiate) : answer_form{};
    std::string prefix;
    if (flags & 1) {
        if (server) {
            prefix = deflate ? request_with(offer_lines(z.peer)) : std::string(sample_request);
        } else {
            prefix = answer_for(h.conn(), answer.lines);
        }
    }
    std::vector<std::byte> peer = copy(prefix);
    peer.insert(peer.end(), peer_bytes.begin(), peer_bytes.end());
    std::size_t fed = 0;

    const bool auto_accept = server && (flags & 1);
    auto on_event = [&](const sansws::event& ev) {
        if (check_answer && std::holds_alternative<sansws::handshake_response>(ev)) {
            // RFC 7692 §7.1: a valid answer is taken as it stands.
            check(answer.valid && same_params(h.conn().compression_params(), answer.params));
        } else if (auto* f = std::get_if<sansws::failure>(&ev);
                   f && check_answer && f->what == sansws::violation::bad_handshake) {
            check(!answer.valid);  // the key is right: only the answer can be wrong
        }
        if (auto_accept && std::holds_alternative<sansws::handshake_request>(ev)) {
            check(h.call([](connection& c) { return c.accept(); }) == misuse::none);
        } else if (auto* m = std::get_if<sansws::message>(&ev); m && echo) {
            // The README's echo loop: send the event's own view back.
            h.send([&](connection& c) { return c.send(*m); });
        } else if (auto* p = std::get_if<sansws::ping>(&ev); p && echo) {
            h.send([&](connection& c) { return c.pong(p->data); });
        }
    };
    auto receive = [&](std::size_t n) {
        n = std::min(n, peer.size() - fed);
        if (h.receive(sansws::mutable_bytes(peer).subspan(fed, n)) == misuse::none) fed += n;
    };

    static constexpr std::uint16_t close_codes[] = {1000, 1001, 1002, 1003, 1005, 1006, 1007, 1011,
                                                    1014, 1015, 999,  2999, 3000, 4999, 5000, 1004};
    static constexpr sansws::duration steps[] = {1ms, 100ms, 999ms, 1s, 2s, 5s, 11s};
    static constexpr sansws::compression modes[] = {sansws::compression::automatic, sansws::compression::on,
                                                    sansws::compression::off};

    while (!script.empty()) {
        const std::uint8_t op = script.u8();
        const bool bit6 = (op & 0x40) != 0;
        const bool bit7 = (op & 0x80) != 0;
        switch (op & 0x0F) {
        case 0:
            receive(1 + std::size_t{script.u8()});
            h.drain(on_event);
            break;
        case 1:
            receive(1 + std::size_t{script.u8()} % 16);
            h.drain(on_event);
            break;
        case 2:
            receive((1 + std::size_t{script.u8()}) * 64);
            h.drain(on_event);
            break;
        case 3:
            // Input left pending while other calls are made.
            receive(bit6 ? 0 : 1 + std::size_t{script.u8()});
            break;
        case 4: {
            const sansws::event ev = h.next();
            on_event(ev);
            break;
        }
        case 5:
            h.drain(on_event);
            break;
        case 6: {
            const std::uint8_t n = script.u8();
            const auto text = script.take(n % 48);
            h.send([&](connection& c) { return c.send_text(sansws::as_text(text), !bit6, modes[n / 48 % 3]); });
            break;
        }
        case 7: {
            const std::uint8_t n = script.u8();
            const auto data = script.take(n % 48);
            if (bit7) {
                const sansws::message m{bit6 ? sansws::message_type::text : sansws::message_type::binary, data,
                                        (script.u8() & 1) != 0, (script.u8() & 1) != 0};
                h.send([&](connection& c) { return c.send(m); });
            } else {
                h.send([&](connection& c) { return c.send_binary(data, !bit6, modes[n / 48 % 3]); });
            }
            break;
        }
        case 8: {
            const std::uint8_t n = script.u8();
            if (bit6) {
                send_prepared(h, script, n, bit7);
                break;
            }
            // 4 KiB and more takes the server's zero-copy path.
            std::vector<std::byte> big(std::size_t{n} * 64, std::byte{op});
            h.send([&](connection& c) { return c.send_binary(std::move(big)); });
            break;
        }
        case 9:
        case 10: {
            const auto data = script.take(script.u8() % 130);
            const bool ping = (op & 0x0F) == 9;
            const misuse m = h.send([&](connection& c) { return ping ? c.ping(data) : c.pong(data); });
            if (data.size() > 125) check(m != misuse::none);  // §5.5
            break;
        }
        case 11: {
            const std::uint16_t code = bit7 ? script.u16() : close_codes[script.u8() % 16];
            const std::string_view reason = sansws::as_text(script.take(script.u8() % 130));
            const bool open = h.conn().state() == connection_state::open;
            const misuse m = h.send([&](connection& c) { return c.close(code, reason); });
            // §5.5.1, §7.4: what a Close may carry on the wire.
            const bool valid = (code == 1005 ? reason.empty() : sansws::is_valid_wire_close_code(code)) &&
                               reason.size() <= 123 && sansws::is_valid_utf8(sansws::as_bytes(reason));
            if (open) check((m == misuse::none) == valid);
            break;
        }
        case 12: {
            const std::uint8_t pick = script.u8() % 8;
            if (pick == 7) {
                // Exactly at the deadline: "passed" includes "now".
                const sansws::timestamp d = h.conn().next_deadline();
                if (d != sansws::no_deadline) h.at(d);
            } else {
                h.advance(steps[pick]);
            }
            break;
        }
        case 13: {
            sansws::accept_options a;
            const auto& offered = h.offered_protocols();
            if (bit6 && !offered.empty()) a.subprotocol = offered[script.u8() % offered.size()];
            if (bit7) a.subprotocol = "not-offered";
            const bool pending = h.conn().state() == connection_state::handshake_pending;
            const misuse m = h.call([&](connection& c) { return c.accept(a); });
            if (!server) check(m == misuse::wrong_role);
            else if (!pending) check(m == misuse::wrong_state);
            else if (!bit7) check(m == misuse::none);
            break;
        }
        case 14: {
            static constexpr int statuses[] = {400, 403, 404, 503, 200, 599, 199, 600};
            const int status = statuses[script.u8() % 8];
            const auto body = sansws::as_text(script.take(script.u8() % 64));
            const sansws::http_headers extra =
                bit6 ? sansws::http_headers{{"Bad Name", "x"}} : sansws::http_headers{{"X-Reason", "test"}};
            const bool pending = h.conn().state() == connection_state::handshake_pending;
            const misuse m = h.call([&](connection& c) { return c.reject(status, extra, body); });
            if (!server) check(m == misuse::wrong_role);
            else if (!pending) check(m == misuse::wrong_state);
            else check((m == misuse::none) == (!bit6 && status >= 200 && status <= 599));
            break;
        }
        case 15:
            h.conn().receive_eof();
            break;
        }
        switch ((op >> 4) & 3) {
        case 1: h.flush(); break;
        case 2: h.flush(h.conn().buffered() / 2); break;
        case 3: h.flush(1); break;
        default: break;
        }
    }

    // Whatever the script did not feed arrives now, then maybe the end of
    // the transport, which must always settle the connection one way or
    // the other.
    h.drain(on_event);
    if (fed < peer.size()) {
        check(h.receive(sansws::mutable_bytes(peer).subspan(fed)) == misuse::none);
        h.drain(on_event);
    }
    if (eof_at_end) {
        h.conn().receive_eof();
        h.drain(on_event);
        const connection_state st = h.conn().state();
        check(st != connection_state::handshake && st != connection_state::open && st != connection_state::closing);
    }
    h.finish();
    return 0;
}

}  // namespace fuzz
