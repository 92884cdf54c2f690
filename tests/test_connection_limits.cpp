// What a hostile peer can make a connection pay, bounded (RFC 6455 §10.4):
// the time a closed or failed connection holds its transport and queued
// output (the drain deadline), abort(), declared lengths refused on the
// header alone, and the memory a quiet connection keeps after large
// messages. Costs are counted (bytes held, deadlines), never timed.
#include <doctest/doctest.h>

#include "connection_helpers.hpp"

using namespace wstest;

namespace {

/// A server whose peer has sent a frame that fails the connection while
/// `backlog` bytes of echo are still queued (the peer stopped reading).
connection failed_with_backlog(std::size_t backlog, timestamp now) {
    connection s = open_server();
    s.on_time(now);
    CHECK(s.send_binary(std::vector<std::byte>(backlog)) == misuse::none);
    CHECK(feed(s, frame_to(role::server, 0x83, "x")) ==
          got_list{failed_with(violation::reserved_opcode, close_code::protocol_error)});
    return s;
}

}  // namespace

// ---- the drain deadline --------------------------------------------------------

TEST_CASE("RFC 6455 §7.1.7, §10.4: a failed connection's queued output is dropped after close_timeout") {
    connection s = failed_with_backlog(1 << 20, 100s);
    // The Close sits behind the backlog: the transport stays up while the
    // output may still be written...
    CHECK(s.buffered() > (1u << 20));
    CHECK_FALSE(s.should_close_transport());
    CHECK(s.next_deadline() == timestamp(105s));
    s.on_time(104s);
    CHECK_FALSE(s.should_close_transport());
    // ...but not forever: the peer never read, so the output is abandoned.
    s.on_time(105s);
    CHECK(s.should_close_transport());
    CHECK(s.output_abandoned());
    CHECK(s.next_deadline() == no_deadline);
    CHECK(std::holds_alternative<need_more>(s.next_event()));
}

TEST_CASE("RFC 6455 §7.1.7: output written in time is not abandoned; the connection just closes") {
    connection s = failed_with_backlog(1 << 16, 100s);
    take_output(s);
    CHECK(s.should_close_transport());
    CHECK_FALSE(s.output_abandoned());
    CHECK(s.next_deadline() == no_deadline);
    s.on_time(200s);
    CHECK_FALSE(s.output_abandoned());
}

TEST_CASE("RFC 6455 §5.5.1, §7.1.1: after the peer's Close, an unread echo does not hold the transport forever") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection c = open_as(r, {});
        c.on_time(10s);
        CHECK(c.send_binary(std::vector<std::byte>(200000)) == misuse::none);
        CHECK(feed(c, frame_to(r, 0x88, close_payload(1000))) == got_list{got_close{1000, ""}});
        CHECK(c.state() == connection_state::closed);
        CHECK_FALSE(c.should_close_transport());
        CHECK(c.next_deadline() == timestamp(15s));
        c.on_time(15s);
        CHECK(c.should_close_transport());
        CHECK(c.output_abandoned());
    }
}

TEST_CASE("RFC 6455 §4.2.2: a refusal the client never reads is dropped after close_timeout") {
    connection s(server_config(), 0s);
    CHECK(feed(s, bytes(short_request()), false).size() == 1);
    s.on_time(1s);
    CHECK(s.reject(403, {}, std::string(100000, 'x')) == misuse::none);
    CHECK(s.state() == connection_state::closed);
    CHECK(s.next_deadline() == timestamp(6s));
    s.on_time(6s);
    CHECK(s.should_close_transport());
    CHECK(s.output_abandoned());
}

TEST_CASE("RFC 6455 §7.1.7: a Close never answered and never read: close_timeout, then the drain deadline") {
    connection c = open_as(role::server, {});
    c.on_time(0s);
    CHECK(c.send_binary(std::vector<std::byte>(300000)) == misuse::none);
    CHECK(c.close(1000) == misuse::none);
    c.on_time(5s);
    CHECK(drain(c) == got_list{failed_with(violation::close_timeout, close_code_for(violation::close_timeout))});
    CHECK_FALSE(c.should_close_transport());
    CHECK(c.next_deadline() == timestamp(10s));
    c.on_time(10s);
    CHECK(c.should_close_transport());
    CHECK(c.output_abandoned());
}

// ---- abort() ---------------------------------------------------------------------

TEST_CASE("abort(): no close handshake, output dropped, nothing more reported, in every state") {
    SUBCASE("open, with output queued") {
        connection s = open_server();
        CHECK(s.send_text("queued") == misuse::none);
        CHECK(s.abort() == misuse::none);
        CHECK(s.state() == connection_state::failed);
        CHECK(s.should_close_transport());
        CHECK(s.output_abandoned());
        CHECK(s.failure_reason() == violation::none);  // the application's doing, not the peer's
        buffer late = frame_to(role::server, 0x81, "late");
        CHECK(s.receive(late) == misuse::none);
        CHECK(std::holds_alternative<need_more>(s.next_event()));
        CHECK(s.send_text("x") == misuse::wrong_state);
        CHECK(s.close() == misuse::wrong_state);
        CHECK(s.abort() == misuse::wrong_state);
        CHECK(s.next_deadline() == no_deadline);
    }
    SUBCASE("during the handshake, with input pending") {
        connection s(server_config());
        buffer req = bytes(short_request());
        CHECK(s.receive(req) == misuse::none);
        CHECK(s.abort() == misuse::none);
        CHECK(std::holds_alternative<need_more>(s.next_event()));
        CHECK(s.should_close_transport());
    }
    SUBCASE("closed, with the Close echo unwritten") {
        connection s = open_server();
        CHECK(feed(s, frame_to(role::server, 0x88, close_payload(1001))).size() == 1);
        CHECK(s.buffered() > 0);
        CHECK(s.abort() == misuse::none);
        CHECK(s.state() == connection_state::failed);
        CHECK(s.should_close_transport());
    }
    SUBCASE("a deadline failure not yet reported is not reported after abort()") {
        connection s(server_config(), 0s);
        s.on_time(10s);
        CHECK(s.abort() == misuse::none);
        CHECK(std::holds_alternative<need_more>(s.next_event()));
    }
}

// ---- declared lengths ------------------------------------------------------------

TEST_CASE("RFC 6455 §10.4: a declared length over max_message_size is refused on the header alone") {
    config cfg;
    cfg.max_message_size = 1000;
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        const std::size_t header = r == role::server ? 8 : 4;  // 16-bit length (+ mask key)
        for (std::size_t length : {1001, 70000}) {
            CAPTURE(length);
            buffer f = frame_to(r, 0x82, std::string(length, 'x'));
            f.resize(header + (length > 0xFFFF ? 6 : 0));  // the header, not one payload byte
            connection c = open_as(r, cfg);
            CHECK(feed(c, f) == got_list{failed_with(violation::message_too_big, close_code::message_too_big)});
            // The same header split byte by byte fails at its last byte.
            connection d = open_as(r, cfg);
            std::vector<std::size_t> cuts;
            for (std::size_t i = 1; i < f.size(); ++i) cuts.push_back(i);
            CHECK(feed_split(d, f, cuts) == got_list{failed_with(violation::message_too_big, close_code::message_too_big)});
        }
        // At the limit the header alone is fine: the frame waits for its payload.
        buffer ok = frame_to(r, 0x82, std::string(1000, 'x'));
        const buffer head(ok.begin(), ok.begin() + static_cast<std::ptrdiff_t>(header));
        connection e = open_as(r, cfg);
        CHECK(feed(e, head).empty());
        CHECK(feed(e, buffer(ok.begin() + static_cast<std::ptrdiff_t>(header), ok.end())) ==
              got_list{binary_msg(std::string(1000, 'x'))});
    }
}

TEST_CASE("RFC 6455 §6.2: streaming delivery shows no empty piece for a header announced alone") {
    config cfg;
    cfg.delivery = delivery_mode::streaming;
    connection s = open_as(role::server, cfg);
    buffer f = frame_to(role::server, 0x82, "abcdef");
    CHECK(feed(s, buffer(f.begin(), f.begin() + 6)).empty());
    CHECK(feed(s, buffer(f.begin() + 6, f.end())) == got_list{binary_msg("abcdef")});
}

// ---- memory a quiet connection keeps ---------------------------------------------

TEST_CASE("RFC 6455 §10.4: buffers above retain_size go back as soon as the message is delivered") {
    config cfg;
    cfg.retain_size = 64 * 1024;
    connection s = open_as(role::server, cfg);
    s.on_time(1s);
    s.release_memory();
    const std::size_t idle = s.memory_use();
    // A 1 MiB message in 16 KiB reads is assembled in the message buffer.
    buffer big = frame_to(role::server, 0x82, std::string(1 << 20, 'm'));
    const got_list evs = feed_reads(s, big, [] { return std::size_t{16384}; });
    REQUIRE(evs.size() == 1);
    CHECK(s.memory_use() >= idle + (1u << 20));
    const std::size_t held = s.memory_use();
    CHECK(s.release_memory() == held - idle);
    CHECK(s.memory_use() == idle);
}

TEST_CASE("RFC 6455 §10.4: smaller buffers serve back-to-back messages, then go after retain_time") {
    config cfg;
    cfg.retain_size = 256 * 1024;
    cfg.retain_time = 2s;
    connection s = open_as(role::server, cfg);
    s.on_time(10s);
    s.release_memory();
    const std::size_t idle = s.memory_use();
    buffer msg = frame_to(role::server, 0x82, std::string(64 * 1024, 'm'));
    CHECK(feed_reads(s, msg, [] { return std::size_t{16384}; }).size() == 1);
    s.release_memory();
    const std::size_t kept = s.memory_use();
    CHECK(kept >= idle + 64 * 1024);  // kept for the next message
    CHECK(kept <= idle + cfg.retain_size);
    CHECK(s.next_deadline() == timestamp(12s));
    // The next message reuses it: nothing more is allocated.
    s.on_time(11s);
    msg = frame_to(role::server, 0x82, std::string(64 * 1024, 'n'));
    CHECK(feed_reads(s, msg, [] { return std::size_t{16384}; }).size() == 1);
    s.release_memory();
    CHECK(s.memory_use() == kept);
    CHECK(s.next_deadline() == timestamp(13s));
    // Quiet for retain_time: back to the idle size, and no deadline left.
    s.on_time(13s);
    CHECK(s.next_deadline() == no_deadline);
    s.release_memory();
    CHECK(s.memory_use() == idle);
}

TEST_CASE("RFC 6455 §10.4: a message at the limit never makes the buffer larger than the limit") {
    config cfg;
    cfg.max_message_size = 3 * 100000;  // not a power of two
    for (std::size_t read : {std::size_t{1000}, std::size_t{16384}, std::size_t{300000}}) {
        CAPTURE(read);
        connection s = open_as(role::server, cfg);
        const std::size_t idle = s.memory_use();
        buffer msg = frame_to(role::server, 0x82, std::string(cfg.max_message_size, 'z'));
        std::size_t most = 0;
        got_list evs;
        for (std::size_t pos = 0; pos < msg.size(); pos += read) {
            const std::size_t n = std::min(read, msg.size() - pos);
            CHECK(s.receive(mutable_bytes(msg.data() + pos, n)) == misuse::none);
            auto e = drain(s);
            evs.insert(evs.end(), e.begin(), e.end());
            most = std::max(most, s.memory_use());
        }
        CHECK(evs.size() == 1);
        CHECK(most <= idle + cfg.max_message_size);
    }
}

// ---- the upgrade request's body (RFC 7230 §3.3.3) --------------------------------

TEST_CASE("RFC 7230 §3.3.3: Transfer-Encoding or a bad, conflicting or non-zero Content-Length gets 400") {
    const auto with = [](std::string fields) {
        std::string r = short_request();
        r.insert(r.size() - 2, fields);
        return r;
    };
    for (const std::string& fields :
         {std::string("Content-Length: abc\r\n"), std::string("Content-Length: 5\r\nContent-Length: 6\r\n"),
          std::string("Content-Length: 0, 1\r\n"), std::string("Content-Length: \r\n"),
          std::string("Content-Length: -1\r\n"), std::string("Content-Length: 99999999999999999999999\r\n"),
          std::string("Transfer-Encoding: chunked\r\n"), std::string("Transfer-Encoding: gzip\r\n"),
          std::string("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"),
          // A valid body length: the upgrade request has no body (§4.1), and
          // its bytes would otherwise be read as frames.
          std::string("Content-Length: 5\r\n")}) {
        CAPTURE(fields);
        connection s(server_config());
        // Body bytes that are a valid masked frame: must not become a message.
        const got_list evs = feed(s, cat({bytes(with(fields)), cframe(0x81, "smuggled")}));
        REQUIRE(evs.size() == 1);
        CHECK(std::get<got_failure>(evs[0]).what == violation::bad_handshake);
        CHECK(take_text(s).starts_with("HTTP/1.1 400 "));
    }
    // Content-Length: 0, once or repeated with the same value, is no body.
    for (const std::string& fields : {std::string("Content-Length: 0\r\n"), std::string("Content-Length: 0\r\nContent-Length: 00\r\n")}) {
        CAPTURE(fields);
        connection s(server_config());
        CHECK(feed(s, cat({bytes(with(fields)), cframe(0x81, "frame")})) ==
              got_list{got_request{"/", {}}, text_msg("frame")});
    }
}

// ---- the client's extra header fields ----------------------------------------------

TEST_CASE("RFC 6455 §4.1: extra Host and Origin replace the client's own; handshake fields are refused") {
    config cfg = client_config();
    cfg.client.origin = "http://mine";
    cfg.client.headers = {{"host", "other.example:8080"}, {"Origin", "http://theirs"}, {"X-Trace", "1"}};
    connection c(cfg);
    const std::string request = take_text(c);
    CHECK(request.find("Host: other.example:8080\r\n") != std::string::npos);
    CHECK(request.find("server.example.com") == std::string::npos);
    CHECK(request.find("Origin: http://theirs\r\n") != std::string::npos);
    CHECK(request.find("http://mine") == std::string::npos);
    CHECK(request.find("X-Trace: 1\r\n") != std::string::npos);
    for (const char* name : {"Sec-WebSocket-Key", "sec-websocket-version", "Upgrade", "Connection",
                             "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions"}) {
        CAPTURE(name);
        config bad = client_config();
        bad.client.headers = {{name, "x"}};
        CHECK(reserved_client_header(bad.client.headers) == name);
        connection refused(bad);
        CHECK(refused.setup_error() == misuse::invalid_argument);
        CHECK(refused.buffered() == 0);
    }
    config twice = client_config();
    twice.client.headers = {{"Host", "a"}, {"Host", "b"}};
    CHECK(reserved_client_header(twice.client.headers) == "Host");
    CHECK(connection(twice).setup_error() == misuse::invalid_argument);
}
