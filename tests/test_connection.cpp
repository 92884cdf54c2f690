// The connection engine against RFC 6455: the §5.7 example frames, the
// opening handshake, every framing rule and API misuse. Control frames, the
// closing handshake, deadlines, message delivery, split invariance and the
// randomised round trips are in test_connection_messages.cpp.
#include <doctest/doctest.h>

#include "connection_helpers.hpp"

using namespace wstest;

namespace {

bool is_need_more(const event& e) { return std::holds_alternative<need_more>(e); }

accept_options answer(std::optional<std::string> subprotocol, std::vector<std::string> extensions = {},
                      http_headers headers = {}) {
    accept_options o;
    o.subprotocol = std::move(subprotocol);
    o.extensions = std::move(extensions);
    o.headers = std::move(headers);
    return o;
}

/// Feed `input` to an open connection of role `to`: it must fail with `what`
/// and `code`, send exactly one Close carrying `code` (§7.1.7), and stay failed.
void check_violation(role to, buffer input, violation what, close_code code, config cfg = {},
                     got_list before = {}) {
    connection c = open_as(to, std::move(cfg));
    before.push_back(got_failure{what, code});
    CHECK(feed(c, std::move(input)) == before);
    CHECK(c.failure_reason() == what);
    const auto frames = frames_from(c);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].op == opcode::close);
    CHECK(frames[0].close_code() == static_cast<std::uint16_t>(code));
    CHECK(frames[0].masked == (to == role::client));
    check_stays_failed(c);
}

}  // namespace

// ---- §5.7 examples -----------------------------------------------------------------

TEST_CASE("RFC 6455 §5.7: a client receives the unmasked example frames") {
    connection c = open_client();
    SUBCASE("single-frame unmasked text") {
        CHECK(feed(c, bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})) == got_list{text_msg("Hello")});
    }
    SUBCASE("fragmented unmasked text") {
        CHECK(feed(c, bytes({0x01, 0x03, 0x48, 0x65, 0x6c})).empty());
        CHECK(feed(c, bytes({0x80, 0x02, 0x6c, 0x6f})) == got_list{text_msg("Hello")});
    }
    SUBCASE("unmasked ping, answered with a masked pong") {
        CHECK(feed(c, bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f})) == got_list{got_ping{"Hello"}});
        const auto frames = frames_from(c);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].op == opcode::pong);
        CHECK(frames[0].fin);
        CHECK(frames[0].masked);  // §5.1: a client masks every frame, pongs too
        CHECK(frames[0].payload == "Hello");
    }
    SUBCASE("256 bytes binary in a single unmasked frame") {
        const std::string payload(256, 'x');
        CHECK(feed(c, cat({bytes({0x82, 0x7E, 0x01, 0x00}), bytes(payload)})) == got_list{binary_msg(payload)});
    }
    SUBCASE("64KiB binary in a single unmasked frame") {
        std::string payload(65536, '\0');
        for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
        CHECK(feed(c, cat({bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}), bytes(payload)})) ==
              got_list{binary_msg(payload)});
    }
}

TEST_CASE("RFC 6455 §5.7: a server receives the masked example frames") {
    connection s = open_server();
    SUBCASE("single-frame masked text") {
        CHECK(feed(s, bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})) ==
              got_list{text_msg("Hello")});
    }
    SUBCASE("masked pong") {
        CHECK(feed(s, bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})) ==
              got_list{got_pong{"Hello"}});
        CHECK(s.buffered() == 0);
    }
    SUBCASE("masked ping, answered with an unmasked pong") {
        CHECK(feed(s, bytes({0x89, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58})) ==
              got_list{got_ping{"Hello"}});
        CHECK(take_output(s) == bytes({0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    }
}

TEST_CASE("RFC 6455 §5.7: our server writes the example frames byte for byte") {
    connection s = open_server();
    SUBCASE("text") {
        CHECK(s.send_text("Hello") == misuse::none);
        CHECK(take_output(s) == bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    }
    SUBCASE("fragmented text") {
        CHECK(s.send_text("Hel", false) == misuse::none);
        CHECK(s.send_text("lo") == misuse::none);
        CHECK(take_output(s) == bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f}));
    }
    SUBCASE("ping") {
        CHECK(s.ping(as_bytes("Hello")) == misuse::none);
        CHECK(take_output(s) == bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
    }
    SUBCASE("256 bytes binary") {
        const buffer payload(256, std::byte{0xAB});
        CHECK(s.send_binary(bytes_view(payload)) == misuse::none);
        CHECK(take_output(s) == cat({bytes({0x82, 0x7E, 0x01, 0x00}), payload}));
    }
    SUBCASE("64KiB binary, copied and moved in") {
        const buffer payload(65536, std::byte{0x5A});
        const buffer expected = cat({bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}), payload});
        CHECK(s.send_binary(bytes_view(payload)) == misuse::none);
        CHECK(take_output(s) == expected);
        CHECK(s.send_binary(buffer(payload)) == misuse::none);
        CHECK(take_output(s) == expected);
    }
    SUBCASE("empty frames") {
        CHECK(s.send_binary(buffer{}) == misuse::none);
        CHECK(s.pong() == misuse::none);
        CHECK(s.close(1005) == misuse::none);
        CHECK(take_output(s) == bytes({0x82, 0x00, 0x8a, 0x00, 0x88, 0x00}));
    }
}

TEST_CASE("RFC 6455 §4.1, §5.3: a client masks every frame with keys drawn from its entropy") {
    connection c = open_client();
    // The engine seeds with 60 entropy bytes: 16 for Sec-WebSocket-Key, then
    // a ChaCha20 key and nonce for the mask keys. Replay the same stream.
    std::array<std::byte, 60> seed{};
    counter_entropy()(seed);
    chacha20_rng rng;
    rng.seed(std::span(seed).subspan<16, 32>(), std::span(seed).subspan<48, 12>());
    auto next_key = [&] {
        mask_key k;
        rng.fill(k);
        return k;
    };

    CHECK(c.send_text("Hello") == misuse::none);
    const buffer out = take_output(c);
    const mask_key k1 = next_key();
    REQUIRE(out.size() == 11);
    CHECK(buffer(out.begin(), out.begin() + 2) == bytes({0x81, 0x85}));
    CHECK(std::equal(k1.begin(), k1.end(), out.begin() + 2));
    for (std::size_t i = 0; i < 5; ++i) CHECK((out[6 + i] ^ k1[i % 4]) == std::byte("Hello"[i]));

    CHECK(c.send_binary(as_bytes(std::string(300, 'b'))) == misuse::none);
    CHECK(c.ping(as_bytes("p")) == misuse::none);
    CHECK(c.close(1000, "bye") == misuse::none);
    const auto frames = parse_frames(take_output(c), role::server);
    REQUIRE(frames.size() == 3);
    for (const auto& f : frames) {
        CHECK(f.masked);
        CHECK(f.key == next_key());
    }
    CHECK(frames[0].payload == std::string(300, 'b'));
    CHECK(frames[1].payload == "p");
    CHECK(frames[2].payload == close_payload(1000, "bye"));
}

// ---- opening handshake -----------------------------------------------------------

TEST_CASE("RFC 6455 §1.3, §4.2.2: the example handshake is accepted with the chat subprotocol") {
    connection s(server_config());
    buffer in = bytes(example_request());
    CHECK(s.next_deadline() == timestamp(10s));
    REQUIRE(s.receive(in) == misuse::none);
    event e = s.next_event();
    auto* req = std::get_if<handshake_request>(&e);
    REQUIRE(req != nullptr);
    CHECK(req->target == "/chat");
    CHECK(req->host == "server.example.com");
    CHECK(req->origin == "http://example.com");
    CHECK(req->subprotocols == std::vector<std::string>{"chat", "superchat"});
    CHECK(req->key == "dGhlIHNhbXBsZSBub25jZQ==");
    CHECK(s.state() == connection_state::handshake_pending);
    CHECK(is_need_more(s.next_event()));
    CHECK(s.buffered() == 0);  // nothing is answered before the application decides

    CHECK(s.accept(answer("chat")) == misuse::none);
    CHECK(s.state() == connection_state::open);
    CHECK(s.subprotocol() == "chat");
    CHECK(s.next_deadline() == no_deadline);
    const std::string out = take_text(s);
    CHECK(out.starts_with("HTTP/1.1 101"));
    CHECK(out.find("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
    CHECK(out.find("\r\nSec-WebSocket-Protocol: chat\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\n"));
    CHECK(s.accept() == misuse::wrong_state);
}

namespace {

/// Feed a request to a fresh server and expect a refusal with `status`.
std::string check_refused(std::string request, int status, violation what, config cfg = server_config()) {
    connection s(std::move(cfg));
    CHECK(feed(s, bytes(request)) == got_list{got_failure{what, close_code_for(what)}});
    CHECK(s.state() == connection_state::failed);
    CHECK(s.failure_reason() == what);
    CHECK_FALSE(s.should_close_transport());  // the refusal is not written yet
    const std::string out = take_text(s);
    CHECK(out.starts_with("HTTP/1.1 " + std::to_string(status) + " "));
    CHECK(out.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(s.should_close_transport());
    CHECK(is_need_more(s.next_event()));
    CHECK(s.accept() == misuse::wrong_state);
    return out;
}

std::string replaced(std::string s, std::string_view from, std::string_view to) {
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("RFC 6455 §4.2.1: a bad request is refused with 400 and fails the connection") {
    SUBCASE("not GET") { check_refused(replaced(example_request(), "GET", "POST"), 400, violation::bad_handshake); }
    SUBCASE("no Upgrade") {
        check_refused(replaced(example_request(), "Upgrade: websocket\r\n", ""), 400, violation::bad_handshake);
    }
    SUBCASE("malformed HTTP") { check_refused("GET\r\n\r\n", 400, violation::bad_handshake); }
}

TEST_CASE("RFC 6455 §4.2.2, §4.4: an unsupported version is refused with 426 naming version 13") {
    const std::string out = check_refused(replaced(example_request(), "Version: 13", "Version: 8"), 426,
                                          violation::bad_handshake);
    CHECK(out.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
}

TEST_CASE("RFC 6455 §10.4: an oversized handshake is refused with 431") {
    config cfg = server_config();
    cfg.handshake_limits.max_size = 100;
    check_refused(example_request(), 431, violation::handshake_too_large, cfg);
    config few = server_config();
    few.handshake_limits.max_headers = 3;
    check_refused(example_request(), 431, violation::handshake_too_large, few);
}

TEST_CASE("RFC 6455 §4.2.2: reject() answers with the status and closes") {
    connection s(server_config());
    buffer in = cat({bytes(example_request()), cframe(0x81, "ignored")});
    const got_list evs = feed(s, in, false);
    REQUIRE(evs.size() == 1);
    CHECK(s.reject(99) == misuse::invalid_argument);
    CHECK(s.reject(403, {{"Bad Name", "x"}}) == misuse::invalid_argument);
    CHECK(s.reject(403, {{"X-Why", "a\r\nInjected: 1"}}) == misuse::invalid_argument);
    CHECK(s.state() == connection_state::handshake_pending);
    CHECK(s.reject(403, {{"X-Why", "origin"}}, "go away") == misuse::none);
    CHECK(s.state() == connection_state::closed);
    CHECK_FALSE(s.should_close_transport());
    const std::string out = take_text(s);
    CHECK(out.starts_with("HTTP/1.1 403 "));
    CHECK(out.find("\r\nX-Why: origin\r\n") != std::string::npos);
    CHECK(out.ends_with("\r\n\r\ngo away"));
    CHECK(s.should_close_transport());
    CHECK(is_need_more(s.next_event()));  // the early frame is never delivered
    CHECK(s.accept() == misuse::wrong_state);
    CHECK(s.send_text("x") == misuse::wrong_state);
}

TEST_CASE("RFC 6455 §4.1: a client reports a refusal with status, headers and a bounded body") {
    const std::string refusal = "HTTP/1.1 404 Not Found\r\nX-Trace: 7\r\nContent-Length: 9\r\n\r\nnot here!";
    SUBCASE("whole body, in pieces, with bytes after it ignored") {
        connection c(client_config());
        CHECK(take_text(c).starts_with("GET /chat HTTP/1.1\r\n"));
        const std::array<std::size_t, 2> cuts{refusal.size() - 5, refusal.size() - 2};
        buffer in = cat({bytes(refusal), bytes("trailing junk")});
        CHECK(feed_split(c, in, cuts) == got_list{got_rejected{404, "not here!", false}});
        CHECK(c.state() == connection_state::closed);
        CHECK(c.should_close_transport());
        CHECK(c.next_deadline() == no_deadline);
        CHECK(c.send_text("x") == misuse::wrong_state);
    }
    SUBCASE("status, reason and headers") {
        connection c(client_config());
        take_output(c);
        buffer in = bytes(refusal);
        REQUIRE(c.receive(in) == misuse::none);
        const event e = c.next_event();
        const auto* r = std::get_if<handshake_rejected>(&e);
        REQUIRE(r != nullptr);
        CHECK(r->status == 404);
        CHECK(r->reason == "Not Found");
        CHECK(header_value(r->headers, "x-trace") == "7");
        CHECK(r->body == "not here!");
    }
    SUBCASE("body truncated to max_reject_body") {
        config cfg = client_config();
        cfg.max_reject_body = 4;
        connection c(std::move(cfg));
        take_output(c);
        CHECK(feed(c, bytes(refusal)) == got_list{got_rejected{404, "not ", true}});
    }
    SUBCASE("body until the transport ends") {
        connection c(client_config());
        take_output(c);
        CHECK(feed(c, bytes("HTTP/1.1 503 Service Unavailable\r\n\r\nbusy, ")).empty());
        CHECK(feed(c, bytes("try later")).empty());
        CHECK(c.state() == connection_state::handshake);
        c.receive_eof();
        CHECK(drain(c) == got_list{got_rejected{503, "busy, try later", false}});
        CHECK(c.state() == connection_state::closed);
        CHECK(c.should_close_transport());
    }
    SUBCASE("Content-Length body cut short by the end of the transport") {
        connection c(client_config());
        take_output(c);
        CHECK(feed(c, bytes("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10\r\n\r\nabc")).empty());
        c.receive_eof();
        CHECK(drain(c) == got_list{got_rejected{500, "abc", false}});
    }
}

TEST_CASE("RFC 6455 §4.1: a wrong Sec-WebSocket-Accept fails the client") {
    connection c(client_config());
    const std::string request = take_text(c);
    const std::string good = accept_response(request);
    const std::string bad = replaced(good, websocket_accept_key(request_key(request)), "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    CHECK(feed(c, bytes(bad)) == got_list{got_failure{violation::bad_handshake, close_code_for(violation::bad_handshake)}});
    CHECK(c.buffered() == 0);  // no Close: the connection never opened
    check_stays_failed(c);
}

TEST_CASE("RFC 6455 §4.1: the key is base64 of the first 16 entropy bytes; the 101 opens the client") {
    connection c(client_config());
    CHECK(c.state() == connection_state::handshake);
    CHECK(c.next_deadline() == timestamp(10s));
    CHECK(c.send_text("early") == misuse::wrong_state);
    const std::string request = take_text(c);
    std::array<std::byte, 16> first{};
    counter_entropy()(first);
    CHECK(request_key(request) == base64_encode(first));
    CHECK(request.find("\r\nSec-WebSocket-Version: 13\r\n") != std::string::npos);
    // Bytes after the 101 in the same read are frames and must not be lost.
    buffer in = cat({bytes(accept_response(request)), sframe(0x81, "Hello"), sframe(0x89, "p")});
    CHECK(feed(c, in) == got_list{got_response{}, text_msg("Hello"), got_ping{"p"}});
    CHECK(c.state() == connection_state::open);
    CHECK(c.next_deadline() == no_deadline);
}

TEST_CASE("RFC 6455 §4.1: a client without entropy or with bad options refuses to start") {
    config none = client_config();
    none.entropy = nullptr;
    connection a(std::move(none));
    CHECK(a.setup_error() == misuse::invalid_argument);
    CHECK(a.state() == connection_state::failed);
    CHECK(a.buffered() == 0);

    config injected = client_config();
    injected.client.host = "h\r\nX-Evil: 1";
    connection b(std::move(injected));
    CHECK(b.setup_error() == misuse::invalid_argument);
    CHECK(b.buffered() == 0);

    connection ok(client_config());
    CHECK(ok.setup_error() == misuse::none);
}

TEST_CASE("RFC 6455 §4.1: frames sent right behind the request are delivered after accept()") {
    connection s(server_config());
    buffer first = cat({bytes(short_request()), cframe(0x81, "one")});
    CHECK(feed(s, first, false) == got_list{got_request{"/", {}}});
    CHECK(s.state() == connection_state::handshake_pending);
    // More frames before the application decides; the caller reuses its
    // buffer afterwards, so the engine must have kept a copy.
    buffer second = cat({cframe(0x01, "tw"), cframe(0x80, "o")});
    CHECK(feed(s, second, false).empty());
    std::fill(first.begin(), first.end(), std::byte{0xEE});
    std::fill(second.begin(), second.end(), std::byte{0xEE});
    CHECK(s.accept() == misuse::none);
    CHECK(drain(s) == got_list{text_msg("one"), text_msg("two")});
    CHECK(feed(s, cframe(0x81, "three")) == got_list{text_msg("three")});
}

TEST_CASE("RFC 6455 §4.2.2: after a deferred accept(), receive() takes new input and early frames come first") {
    connection s(server_config());
    CHECK(feed(s, cat({bytes(short_request()), cframe(0x81, "early")}), false).size() == 1);
    CHECK(s.accept() == misuse::none);
    // No next_event() between accept() and receive(): the held-back frame is
    // still delivered before the new one.
    buffer later = cframe(0x81, "later");
    CHECK(s.receive(later) == misuse::none);
    CHECK(drain(s) == got_list{text_msg("early"), text_msg("later")});
}

TEST_CASE("RFC 6455 §10.4: data held back before accept() is bounded by the handshake limit") {
    config cfg = server_config();
    cfg.handshake_limits.max_size = 200;
    const buffer early = cframe(0x82, std::string(195, 'e'));  // 203 bytes
    SUBCASE("in the same read as the request, the decision deferred") {
        connection s(cfg);
        const got_list evs = feed(s, cat({bytes(short_request()), early}), false);
        CHECK(evs == got_list{got_request{"/", {}},
                              got_failure{violation::handshake_too_large, close_code_for(violation::handshake_too_large)}});
        // §4.1: the client sent data before our answer; it gets a 400.
        CHECK(take_text(s).starts_with("HTTP/1.1 400 "));
        check_stays_failed(s);
    }
    SUBCASE("in the same read as the request, accepted at once: parsed from the input, no limit") {
        connection s(cfg);
        buffer many;
        for (int i = 0; i < 20; ++i) many = cat({many, cframe(0x82, std::string(1024, char('a' + i)))});
        got_list want{got_request{"/", {}}};
        for (int i = 0; i < 20; ++i) want.push_back(binary_msg(std::string(1024, char('a' + i))));
        CHECK(feed(s, cat({bytes(short_request()), many})) == want);
    }
    SUBCASE("in later reads") {
        connection s(cfg);
        CHECK(feed(s, bytes(short_request()), false).size() == 1);
        buffer head(early.begin(), early.begin() + 100), tail(early.begin() + 100, early.end());
        CHECK(feed(s, head, false).empty());
        CHECK(feed(s, tail, false) ==
              got_list{got_failure{violation::handshake_too_large, close_code_for(violation::handshake_too_large)}});
        CHECK(s.accept() == misuse::wrong_state);
        CHECK(take_text(s).starts_with("HTTP/1.1 400 "));
        check_stays_failed(s);
    }
    SUBCASE("within the limit") {
        connection s(cfg);
        buffer fits(early.begin(), early.begin() + 200);
        CHECK(feed(s, cat({bytes(short_request()), fits}), false).size() == 1);
        CHECK(s.accept() == misuse::none);
        CHECK(drain(s).empty());  // 3 payload bytes still to come
        CHECK(feed(s, buffer(early.begin() + 200, early.end())) == got_list{binary_msg(std::string(195, 'e'))});
    }
}

// ---- framing rules -------------------------------------------------------------

TEST_CASE("RFC 6455 §5.2: RSV bits without an extension fail with 1002") {
    for (int rsv : {0x40, 0x20, 0x10, 0x70}) {
        CAPTURE(rsv);
        check_violation(role::server, cframe(static_cast<std::uint8_t>(0x81 | rsv), "x"), violation::reserved_bits,
                        close_code::protocol_error);
        check_violation(role::client, sframe(static_cast<std::uint8_t>(0x89 | rsv), "x"), violation::reserved_bits,
                        close_code::protocol_error);
    }
}

TEST_CASE("RFC 6455 §5.2: reserved opcodes 3-7 and B-F fail with 1002") {
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
        CAPTURE(op);
        check_violation(role::server, cframe(static_cast<std::uint8_t>(0x80 | op), "x"), violation::reserved_opcode,
                        close_code::protocol_error);
        check_violation(role::client, sframe(static_cast<std::uint8_t>(0x80 | op)), violation::reserved_opcode,
                        close_code::protocol_error);
    }
}

TEST_CASE("RFC 6455 §5.5: fragmented and oversized control frames fail with 1002") {
    for (int op : {0x8, 0x9, 0xA}) {
        CAPTURE(op);
        check_violation(role::server, cframe(static_cast<std::uint8_t>(op), "x"), violation::fragmented_control,
                        close_code::protocol_error);
        check_violation(role::server, cframe(static_cast<std::uint8_t>(0x80 | op), std::string(126, 'x')),
                        violation::control_too_long, close_code::protocol_error);
        check_violation(role::client, sframe(static_cast<std::uint8_t>(0x80 | op), std::string(126, 'x')),
                        violation::control_too_long, close_code::protocol_error);
    }
    // 125 is the limit, and the header alone (mask key included) is enough to tell.
    connection s = open_server();
    CHECK(feed(s, cframe(0x89, std::string(125, 'p'))) == got_list{got_ping{std::string(125, 'p')}});
    check_violation(role::server, bytes({0x89, 0xFE, 0x00, 0x7E, 1, 2, 3, 4}), violation::control_too_long,
                    close_code::protocol_error);
}

TEST_CASE("RFC 6455 §5.1: an unmasked frame to a server and a masked frame to a client fail with 1002") {
    check_violation(role::server, sframe(0x81, "Hello"), violation::unmasked_frame, close_code::protocol_error);
    check_violation(role::server, sframe(0x89), violation::unmasked_frame, close_code::protocol_error);
    check_violation(role::client, cframe(0x81, "Hello"), violation::masked_frame, close_code::protocol_error);
    check_violation(role::client, cframe(0x8A), violation::masked_frame, close_code::protocol_error);
}

TEST_CASE("RFC 6455 §5.2: a 64-bit length with the top bit set fails with 1002") {
    check_violation(role::server, bytes({0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}),
                    violation::length_too_large, close_code::protocol_error);
    check_violation(role::client, bytes({0x82, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}),
                    violation::length_too_large, close_code::protocol_error);
}

TEST_CASE("RFC 6455 §5.2: a length not in its minimal encoding fails with 1002") {
    check_violation(role::client, bytes({0x82, 0x7E, 0x00, 0x05, 1, 2, 3, 4, 5}), violation::non_minimal_length,
                    close_code::protocol_error);
    check_violation(role::client, bytes({0x82, 0x7E, 0x00, 0x7D}), violation::non_minimal_length,
                    close_code::protocol_error);
    check_violation(role::client, bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}), violation::non_minimal_length,
                    close_code::protocol_error);
    check_violation(role::server, bytes({0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0x01, 0x00, 1, 2, 3, 4}),
                    violation::non_minimal_length, close_code::protocol_error);
    // The smallest lengths of each form are accepted.
    connection c = open_client();
    CHECK(feed(c, cat({bytes({0x82, 0x7E, 0x00, 0x7E}), buffer(126)})) == got_list{binary_msg(std::string(126, '\0'))});
    CHECK(feed(c, cat({bytes({0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0}), buffer(65536)})) ==
          got_list{binary_msg(std::string(65536, '\0'))});
}

TEST_CASE("RFC 6455 §5.4: continuation without a started message fails with 1002") {
    check_violation(role::server, cframe(0x80, "x"), violation::unexpected_continuation, close_code::protocol_error);
    check_violation(role::client, sframe(0x00, "x"), violation::unexpected_continuation, close_code::protocol_error);
    // A finished message does not leave a continuation open.
    check_violation(role::client, cat({sframe(0x01, "a"), sframe(0x80, "b"), sframe(0x80, "c")}),
                    violation::unexpected_continuation, close_code::protocol_error, {}, {text_msg("ab")});
}

TEST_CASE("RFC 6455 §5.4: a new data frame inside a fragmented message fails with 1002") {
    check_violation(role::server, cat({cframe(0x01, "a"), cframe(0x81, "b")}), violation::expected_continuation,
                    close_code::protocol_error);
    check_violation(role::client, cat({sframe(0x02, "a"), sframe(0x02, "b")}), violation::expected_continuation,
                    close_code::protocol_error);
}

TEST_CASE("RFC 6455 §5.5.1: a one-byte Close payload fails with 1002") {
    check_violation(role::server, cframe(0x88, "\x03"), violation::invalid_close_payload, close_code::protocol_error);
    check_violation(role::client, sframe(0x88, "\x03"), violation::invalid_close_payload, close_code::protocol_error);
}

TEST_CASE("RFC 6455 §7.4: close codes not allowed on the wire fail with 1002") {
    for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
        CAPTURE(code);
        check_violation(role::server, cframe(0x88, close_payload(static_cast<std::uint16_t>(code), "r")),
                        violation::invalid_close_code, close_code::protocol_error);
    }
}

TEST_CASE("RFC 6455 §7.4: valid close codes are reported and echoed") {
    for (int code : {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999}) {
        CAPTURE(code);
        for (role r : {role::server, role::client}) {
            connection c = open_as(r, {});
            const auto c16 = static_cast<std::uint16_t>(code);
            CHECK(feed(c, frame_to(r, 0x88, close_payload(c16, "why"))) == got_list{got_close{c16, "why"}});
            CHECK(c.state() == connection_state::closed);
            const auto frames = frames_from(c);
            REQUIRE(frames.size() == 1);
            CHECK(frames[0].close_code() == c16);
        }
    }
}

TEST_CASE("RFC 6455 §5.5.1: a Close reason that is not UTF-8 fails with 1007") {
    check_violation(role::server, cframe(0x88, close_payload(1000, "ok\xff")), violation::invalid_utf8,
                    close_code::invalid_payload);
    check_violation(role::client, sframe(0x88, close_payload(1000, "\xed\xa0\x80")), violation::invalid_utf8,
                    close_code::invalid_payload);
}

TEST_CASE("RFC 6455 §8.1: invalid UTF-8 in a text message fails with 1007") {
    check_violation(role::server, cframe(0x81, "ab\xc0\xaf"), violation::invalid_utf8, close_code::invalid_payload);
    check_violation(role::client, sframe(0x81, "\xf4\x90\x80\x80"), violation::invalid_utf8, close_code::invalid_payload);
    // A message may not end inside a code point.
    check_violation(role::client, sframe(0x81, "\xe2\x82"), violation::invalid_utf8, close_code::invalid_payload);
    // Binary messages are not UTF-8-checked.
    connection c = open_client();
    CHECK(feed(c, sframe(0x82, "\xff")) == got_list{binary_msg("\xff")});
}

TEST_CASE("RFC 6455 §8.1: invalid UTF-8 fails fast, before the frame ends") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        buffer whole = frame_to(r, 0x81, "ok\xff" + std::string(1000, 'x'));
        const std::size_t header = r == role::server ? 8 : 4;
        buffer part(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(header + 3));
        check_violation(r, part, violation::invalid_utf8, close_code::invalid_payload);
        // The same when the bad byte starts a fresh read.
        connection c = open_as(r, {});
        const std::array<std::size_t, 1> cut{header + 2};
        CHECK(feed_split(c, part, cut) == got_list{got_failure{violation::invalid_utf8, close_code::invalid_payload}});
    }
}

TEST_CASE("RFC 6455 §8.1: a code point split across fragments is valid; a bad continuation is not") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection c = open_as(r, {});
        // U+20AC (E2 82 AC) split after two bytes, with a ping in between.
        CHECK(feed(c, cat({frame_to(r, 0x01, "\xe2\x82"), frame_to(r, 0x89, "p"), frame_to(r, 0x80, "\xac!")})) ==
              got_list{got_ping{"p"}, text_msg("\xe2\x82\xac!")});
        check_violation(r, cat({frame_to(r, 0x01, "\xe2\x82"), frame_to(r, 0x80, "\x28")}), violation::invalid_utf8,
                        close_code::invalid_payload);
        // The bad byte is caught in the first fragment already.
        check_violation(r, frame_to(r, 0x01, "\xe2\x28"), violation::invalid_utf8, close_code::invalid_payload);
    }
}

TEST_CASE("RFC 6455 §7.4.1: a message over max_message_size fails with 1009") {
    config cfg;
    cfg.max_message_size = 10;
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection ok = open_as(r, cfg);
        CHECK(feed(ok, frame_to(r, 0x82, "0123456789")) == got_list{binary_msg("0123456789")});
        CHECK(feed(ok, cat({frame_to(r, 0x01, "01234"), frame_to(r, 0x80, "56789")})) ==
              got_list{text_msg("0123456789")});
        // The declared length decides: the failure comes with the first
        // payload byte (the parser reports a frame with its first bytes).
        buffer big = frame_to(r, 0x82, "0123456789A");
        big.resize(r == role::server ? 7 : 3);
        check_violation(r, big, violation::message_too_big, close_code::message_too_big, cfg);
        check_violation(r, frame_to(r, 0x82, std::string(70000, 'x')), violation::message_too_big,
                        close_code::message_too_big, cfg);
        // Across fragments: the second header pushes the total over.
        buffer two = cat({frame_to(r, 0x02, "012345"), frame_to(r, 0x80, "678901")});
        two.resize(two.size() - 5);
        check_violation(r, two, violation::message_too_big, close_code::message_too_big, cfg);
    }
}

TEST_CASE("RFC 6455 §7.1.5: the transport ending without a Close fails with 1006 and sends nothing") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        for (bool mid_message : {false, true}) {
            CAPTURE(mid_message);
            connection c = open_as(r, {});
            if (mid_message) CHECK(feed(c, frame_to(r, 0x01, "half")).empty());
            c.receive_eof();
            CHECK(drain(c) == got_list{got_failure{violation::connection_lost, close_code::abnormal}});
            CHECK(c.buffered() == 0);
            check_stays_failed(c);
        }
    }
    // During the opening handshake too.
    connection s(server_config());
    CHECK(feed(s, bytes("GET / HTTP/1.1\r\n")).empty());
    s.receive_eof();
    CHECK(drain(s) == got_list{got_failure{violation::connection_lost, close_code::abnormal}});
    CHECK(s.buffered() == 0);
}

// ---- API misuse ------------------------------------------------------------------

TEST_CASE("RFC 6455 API misuse: receive() before the last input is drained is input_pending") {
    connection s = open_server();
    buffer a = cframe(0x81, "a");
    buffer b = cframe(0x81, "b");
    CHECK(s.receive(a) == misuse::none);
    CHECK(s.receive(b) == misuse::input_pending);
    CHECK(drain(s) == got_list{text_msg("a")});
    CHECK(s.receive(b) == misuse::none);
    CHECK(drain(s) == got_list{text_msg("b")});
}

TEST_CASE("RFC 6455 §5.5, §7.4: close() and control frames check their arguments") {
    connection s = open_server();
    for (int code : {0, 999, 1004, 1006, 1015, 1016, 2999, 5000}) {
        CAPTURE(code);
        CHECK(s.close(static_cast<std::uint16_t>(code)) == misuse::invalid_close_code);
    }
    CHECK(s.close(1005, "reason without a code") == misuse::invalid_argument);
    CHECK(s.close(1000, std::string(124, 'r')) == misuse::control_too_long);
    CHECK(s.close(1000, "\xff") == misuse::invalid_utf8);
    CHECK(s.ping(as_bytes(std::string(126, 'p'))) == misuse::control_too_long);
    CHECK(s.pong(as_bytes(std::string(126, 'p'))) == misuse::control_too_long);
    CHECK(s.buffered() == 0);
    CHECK(s.state() == connection_state::open);
    CHECK(s.ping(as_bytes(std::string(125, 'p'))) == misuse::none);
    CHECK(s.close(4999, std::string(123, 'r')) == misuse::none);
    const auto frames = frames_from(s);
    REQUIRE(frames.size() == 2);
    CHECK(frames[1].payload == close_payload(4999, std::string(123, 'r')));
}

TEST_CASE("RFC 6455 §5.6: invalid outgoing text is refused and nothing is queued") {
    connection s = open_server();
    CHECK(s.send_text("\xc0\x80") == misuse::invalid_utf8);
    CHECK(s.send_text("\xe2\x82") == misuse::invalid_utf8);  // a whole message may not end mid code point
    CHECK(s.buffered() == 0);
    // Fragments may split a code point; a refused fragment changes nothing.
    CHECK(s.send_text("\xe2", false) == misuse::none);
    CHECK(s.send_text("\x28") == misuse::invalid_utf8);
    CHECK(s.send_text("\x82\xac") == misuse::none);
    connection c = open_client();
    CHECK(feed(c, take_output(s)) == got_list{text_msg("\xe2\x82\xac")});

    config lax;
    lax.validate_outgoing_text = false;
    connection l = open_server(lax);
    CHECK(l.send_text("\xff") == misuse::none);
    CHECK(frames_from(l).at(0).payload == "\xff");
}

TEST_CASE("RFC 6455 §5.4: fragmented sends keep one message open at a time") {
    connection s = open_server();
    CHECK(s.send(message{message_type::text, as_bytes("x"), false, true}) == misuse::no_message_open);
    CHECK(s.send_text("a", false) == misuse::none);
    CHECK(s.send_binary(as_bytes("b")) == misuse::message_in_progress);
    CHECK(s.send_binary(buffer(5000)) == misuse::message_in_progress);
    CHECK(s.send(message{message_type::text, as_bytes("c"), true, true}) == misuse::message_in_progress);
    CHECK(s.ping(as_bytes("between")) == misuse::none);  // §5.4: control frames may be interleaved
    CHECK(s.send(message{message_type::text, as_bytes("b"), false, false}) == misuse::none);
    CHECK(s.send_text("c") == misuse::none);
    CHECK(s.send_binary(as_bytes("d")) == misuse::none);
    const auto frames = frames_from(s);
    REQUIRE(frames.size() == 5);
    CHECK(frames[0].op == opcode::text);
    CHECK_FALSE(frames[0].fin);
    CHECK(frames[1].op == opcode::ping);
    CHECK(frames[2].op == opcode::continuation);
    CHECK_FALSE(frames[2].fin);
    CHECK(frames[3].op == opcode::continuation);
    CHECK(frames[3].fin);
    CHECK(frames[4].op == opcode::binary);

    // §7.1.2: after our Close nothing is sent, and send(message) says so
    // the same way as every other send.
    CHECK(s.close() == misuse::none);
    CHECK(s.send(message{message_type::text, as_bytes("x"), false, true}) == misuse::wrong_state);
    CHECK(s.send(message{message_type::text, as_bytes("x"), true, true}) == misuse::wrong_state);
}

TEST_CASE("RFC 6455 §4.2.2: accept() and reject() belong to a server with a pending request") {
    connection c = open_client();
    CHECK(c.accept() == misuse::wrong_role);
    CHECK(c.reject(403) == misuse::wrong_role);

    connection early(server_config());
    CHECK(early.accept() == misuse::wrong_state);
    CHECK(early.send_text("x") == misuse::wrong_state);
    CHECK(early.close() == misuse::wrong_state);

    connection s(server_config());
    CHECK(feed(s, bytes(example_request()), false).size() == 1);
    CHECK(s.accept(answer("superchat2")) == misuse::invalid_argument);
    CHECK(s.accept(answer({}, {"permessage-deflate"})) == misuse::invalid_argument);
    CHECK(s.accept(answer({}, {}, {{"X-A", "1\r\n\r\nHTTP/1.1 200 OK"}})) == misuse::invalid_argument);
    CHECK(s.buffered() == 0);
    CHECK(s.state() == connection_state::handshake_pending);
    CHECK(s.accept(answer("superchat", {}, {{"X-A", "1"}})) == misuse::none);
    CHECK(s.subprotocol() == "superchat");
    CHECK(take_text(s).find("\r\nX-A: 1\r\n") != std::string::npos);
}
