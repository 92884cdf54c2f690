// The body of connection_server and connection_client: a script read from
// the front of the input drives one connection through the harness of
// connection_target.hpp; the rest of the input is the peer's bytes.
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
//            (read_compression in connection_target.hpp); with flag 1 the
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
