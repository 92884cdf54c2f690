// Messages through the connection engine: the two delivery modes, control
// frames, the closing handshake and deadlines, invariance under every split
// of the input, randomised round trips between an in-memory client and
// server, and the whole life cycle of a connection.
#include <doctest/doctest.h>

#include <random>

#include "connection_helpers.hpp"

using namespace wstest;

namespace {

/// Text of about `n` bytes: random code points of every UTF-8 length
/// (surrogates excluded, RFC 3629 §3), so pieces split code points.
std::string random_text(std::mt19937_64& rng, std::size_t n) {
    std::string out;
    out.reserve(n + 3);
    std::uniform_int_distribution<int> kind(0, 9);
    while (out.size() < n) {
        const int k = kind(rng);
        char32_t cp;
        if (k < 6) cp = std::uniform_int_distribution<char32_t>(0x00, 0x7F)(rng);
        else if (k < 7) cp = std::uniform_int_distribution<char32_t>(0x80, 0x7FF)(rng);
        else if (k < 9) cp = std::uniform_int_distribution<char32_t>(0x800, 0xFFFF)(rng);
        else cp = std::uniform_int_distribution<char32_t>(0x10000, 0x10FFFF)(rng);
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }
    return out;
}

std::string random_binary(std::mt19937_64& rng, std::size_t n) {
    std::string out(n, '\0');
    for (auto& c : out) c = static_cast<char>(rng());
    return out;
}

}  // namespace

// ---- delivery modes ---------------------------------------------------------------

TEST_CASE("RFC 6455 §5.4, §6.2: whole_message delivery gives one event per message") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection c = open_as(r, {});
        buffer in = cat({frame_to(r, 0x01, "a"), frame_to(r, 0x00), frame_to(r, 0x89, "p"), frame_to(r, 0x00, "b"),
                         frame_to(r, 0x80, "c"), frame_to(r, 0x81), frame_to(r, 0x02), frame_to(r, 0x80),
                         frame_to(r, 0x82, "bin")});
        CHECK(feed(c, in) ==
              got_list{got_ping{"p"}, text_msg("abc"), text_msg(""), binary_msg(""), binary_msg("bin")});
        // Each event is whole: first and last are both set, also when the
        // pieces arrive one byte at a time.
        buffer again = cat({frame_to(r, 0x01, "12"), frame_to(r, 0x80, "34")});
        std::vector<std::size_t> every(again.size() - 1);
        for (std::size_t i = 0; i < every.size(); ++i) every[i] = i + 1;
        CHECK(feed_split(c, again, every) == got_list{text_msg("1234")});
    }
}

TEST_CASE("RFC 6455 §6.2: streaming delivery hands out a 1 MiB message in pieces, ignoring max_message_size") {
    std::mt19937_64 rng(6455);
    const std::string text = random_text(rng, 1 << 20);
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        config cfg;
        cfg.delivery = delivery_mode::streaming;
        cfg.max_message_size = 1000;
        connection c = open_as(r, cfg);
        // Three frames with cuts that fall inside code points.
        const std::size_t a = 300'001, b = 700'003;
        buffer in = cat({frame_to(r, 0x01, text.substr(0, a)), frame_to(r, 0x00, text.substr(a, b - a)),
                         frame_to(r, 0x80, text.substr(b))});
        const got_list evs = feed_reads(c, in, [] { return std::size_t{16 * 1024}; });
        REQUIRE(evs.size() > 3);
        std::string joined;
        for (std::size_t i = 0; i < evs.size(); ++i) {
            const auto* m = std::get_if<got_message>(&evs[i]);
            REQUIRE(m != nullptr);
            CHECK(m->type == message_type::text);
            CHECK(m->first == (i == 0));
            CHECK(m->last == (i + 1 == evs.size()));
            joined += m->data;
        }
        CHECK(joined == text);
        CHECK(c.state() == connection_state::open);
    }
}

TEST_CASE("RFC 6455 §6.2: streaming delivery of small messages flags each piece") {
    config cfg;
    cfg.delivery = delivery_mode::streaming;
    connection c = open_as(role::client, cfg);
    CHECK(feed(c, cat({sframe(0x81, "one"), sframe(0x02, "t"), sframe(0x80, "wo")})) ==
          got_list{text_msg("one"), got_message{message_type::binary, "t", true, false},
                   got_message{message_type::binary, "wo", false, true}});
    // A frame cut by the read is handed out in two pieces.
    buffer in = sframe(0x81, "split");
    const std::array<std::size_t, 1> cut{4};
    CHECK(feed_split(c, in, cut) == got_list{got_message{message_type::text, "sp", true, false},
                                             got_message{message_type::text, "lit", false, true}});
}

// ---- control frames and the closing handshake -----------------------------------

TEST_CASE("RFC 6455 §5.5.2: a ping is answered with a pong and still reported") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection c = open_as(r, {});
        CHECK(feed(c, cat({frame_to(r, 0x89, "a"), frame_to(r, 0x89), frame_to(r, 0x89, std::string(125, 'z'))})) ==
              got_list{got_ping{"a"}, got_ping{""}, got_ping{std::string(125, 'z')}});
        const auto frames = frames_from(c);
        REQUIRE(frames.size() == 3);
        CHECK(frames[0].op == opcode::pong);
        CHECK(frames[0].payload == "a");
        CHECK(frames[1].payload.empty());
        CHECK(frames[2].payload == std::string(125, 'z'));
        // Pongs answer no one.
        CHECK(feed(c, frame_to(r, 0x8A, "u")) == got_list{got_pong{"u"}});
        CHECK(c.buffered() == 0);

        config quiet;
        quiet.auto_pong = false;
        connection q = open_as(r, quiet);
        CHECK(feed(q, frame_to(r, 0x89, "a")) == got_list{got_ping{"a"}});
        CHECK(q.buffered() == 0);
        CHECK(q.pong(as_bytes("a")) == misuse::none);  // the application answers itself
        CHECK(frames_from(q).size() == 1);
    }
}

TEST_CASE("RFC 6455 §5.5: control frames inside a fragmented message are delivered in order") {
    for (delivery_mode mode : {delivery_mode::whole_message, delivery_mode::streaming}) {
        for (role r : {role::server, role::client}) {
            CAPTURE(r);
            config cfg;
            cfg.delivery = mode;
            connection c = open_as(r, cfg);
            buffer in = cat({frame_to(r, 0x01, "He"), frame_to(r, 0x89, "p"), frame_to(r, 0x00, "l"),
                             frame_to(r, 0x8A, "q"), frame_to(r, 0x80, "lo")});
            const got_list evs = normalise(feed(c, in));
            if (mode == delivery_mode::whole_message) {
                CHECK(evs == got_list{got_ping{"p"}, got_pong{"q"}, text_msg("Hello")});
            } else {
                CHECK(evs == got_list{got_message{message_type::text, "He", true, false}, got_ping{"p"},
                                      got_message{message_type::text, "l", false, false}, got_pong{"q"},
                                      got_message{message_type::text, "lo", false, true}});
            }
            // A Close in the middle of a message ends the conversation (§5.5.1).
            got_list expected{got_close{1001, ""}};
            if (mode == delivery_mode::streaming)
                expected.insert(expected.begin(), got_message{message_type::binary, "ab", true, false});
            CHECK(feed(c, cat({frame_to(r, 0x02, "ab"), frame_to(r, 0x88, close_payload(1001))})) == expected);
        }
    }
}

TEST_CASE("RFC 6455 §7.1.2, §7.1.3, §7.1.1: the client starts the closing handshake") {
    endpoints p;
    CHECK(p.client.send_text("last words") == misuse::none);
    CHECK(p.client.close(1000, "done") == misuse::none);
    CHECK(p.client.state() == connection_state::closing);
    CHECK(p.client.next_deadline() == timestamp(5s));
    // §5.5.1: no data after a Close.
    CHECK(p.client.send_text("x") == misuse::wrong_state);
    CHECK(p.client.ping() == misuse::wrong_state);
    CHECK(p.client.close() == misuse::wrong_state);
    CHECK_FALSE(p.client.should_close_transport());

    // The server may still send until it sees the Close.
    CHECK(p.server.send_text("reply") == misuse::none);
    CHECK(p.to_server() == got_list{text_msg("last words"), got_close{1000, "done"}});
    CHECK(p.server.state() == connection_state::closed);
    CHECK(p.server.send_text("x") == misuse::wrong_state);
    CHECK_FALSE(p.server.should_close_transport());  // its echo is not written yet
    const buffer out = take_output(p.server);
    CHECK(p.server.should_close_transport());  // §7.1.1: the server closes TCP first
    const auto frames = parse_frames(out, role::client);
    REQUIRE(frames.size() == 2);
    CHECK(frames[1].op == opcode::close);
    CHECK(frames[1].close_code() == 1000);  // §5.5.1: the echo carries the code

    CHECK(feed(p.client, out) == got_list{text_msg("reply"), got_close{1000, ""}});
    CHECK(p.client.state() == connection_state::closed);
    CHECK(p.client.buffered() == 0);  // our Close was already sent: no echo of the echo
    CHECK_FALSE(p.client.should_close_transport());  // waits for the server to close TCP
    CHECK(p.client.next_deadline() == timestamp(5s));
    p.client.receive_eof();
    CHECK(drain(p.client).empty());  // an end after the closing handshake is no failure
    CHECK(p.client.state() == connection_state::closed);
    CHECK(p.client.should_close_transport());
}

TEST_CASE("RFC 6455 §7.1.2, §7.1.1: the server starts the closing handshake; the client waits close_timeout") {
    endpoints p;
    CHECK(p.server.close(1001, "going") == misuse::none);
    CHECK(p.server.state() == connection_state::closing);
    CHECK_FALSE(p.server.should_close_transport());
    CHECK(p.to_client() == got_list{got_close{1001, "going"}});
    CHECK(p.client.state() == connection_state::closed);
    CHECK_FALSE(p.client.should_close_transport());
    CHECK(p.to_server() == got_list{got_close{1001, ""}});
    CHECK(p.server.state() == connection_state::closed);
    CHECK(p.server.should_close_transport());
    CHECK(p.server.next_deadline() == no_deadline);

    // The server never closes TCP: the client gives up after close_timeout.
    CHECK_FALSE(p.client.should_close_transport());
    CHECK(p.client.next_deadline() == timestamp(5s));
    p.client.on_time(4s);
    CHECK_FALSE(p.client.should_close_transport());
    p.client.on_time(5s);
    CHECK(p.client.should_close_transport());
    CHECK(p.client.next_deadline() == no_deadline);
    CHECK(drain(p.client).empty());
    CHECK(p.client.state() == connection_state::closed);
}

TEST_CASE("RFC 6455 §7.1.3: both sides close at once") {
    endpoints p;
    CHECK(p.client.close(1000) == misuse::none);
    CHECK(p.server.close(1001) == misuse::none);
    CHECK(p.to_server() == got_list{got_close{1000, ""}});
    CHECK(p.to_client() == got_list{got_close{1001, ""}});
    CHECK(p.server.buffered() == 0);
    CHECK(p.client.buffered() == 0);
    CHECK(p.server.state() == connection_state::closed);
    CHECK(p.client.state() == connection_state::closed);
    CHECK(p.server.should_close_transport());
}

TEST_CASE("RFC 6455 §5.5.1: frames after the peer's Close are ignored") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection c = open_as(r, {});
        CHECK(feed(c, cat({frame_to(r, 0x88), frame_to(r, 0x81, "after"), frame_to(r, 0x89, "p")})) ==
              got_list{got_close{1005, ""}});
        const auto frames = frames_from(c);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].payload.empty());  // 1005 is answered with an empty Close
        CHECK(feed(c, cat({frame_to(r, 0x81, "later"), bytes({0xFF, 0xFF})})).empty());
        CHECK(c.state() == connection_state::closed);
        CHECK(c.buffered() == 0);
        c.receive_eof();
        CHECK(drain(c).empty());
    }
}

TEST_CASE("RFC 6455 §7.1.7: a Close that is never answered fails with close_timeout") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        connection c = open_as(r, {});
        c.on_time(100s);
        CHECK(c.close(3000, "bye") == misuse::none);
        CHECK(frames_from(c).size() == 1);
        CHECK(c.next_deadline() == timestamp(105s));
        c.on_time(104s);
        CHECK(drain(c).empty());
        CHECK(c.state() == connection_state::closing);
        // Data the peer sent before it saw our Close still arrives.
        CHECK(feed(c, frame_to(r, 0x81, "in flight")) == got_list{text_msg("in flight")});
        c.on_time(105s);
        const got_list evs = drain(c);
        REQUIRE(evs.size() == 1);
        CHECK(std::get<got_failure>(evs[0]).what == violation::close_timeout);
        CHECK(c.buffered() == 0);  // one Close is enough
        check_stays_failed(c);
    }
}

TEST_CASE("RFC 6455 §4.1: the opening handshake times out") {
    SUBCASE("server waiting for the request") {
        connection s(server_config(), 100s);
        CHECK(s.next_deadline() == timestamp(110s));
        s.on_time(109s);
        CHECK(drain(s).empty());
        s.on_time(110s);
        CHECK(drain(s) == got_list{failed_with(violation::handshake_timeout, close_code_for(violation::handshake_timeout))});
        CHECK(s.buffered() == 0);
        check_stays_failed(s);
    }
    SUBCASE("server application never decides") {
        connection s(server_config());
        CHECK(feed(s, bytes(short_request()), false).size() == 1);
        s.on_time(10s);
        CHECK(drain(s) == got_list{failed_with(violation::handshake_timeout, close_code_for(violation::handshake_timeout))});
        CHECK(s.accept() == misuse::wrong_state);
        check_stays_failed(s);
    }
    SUBCASE("client waiting for the response") {
        config cfg = client_config();
        cfg.handshake_timeout = 2s;
        connection c(std::move(cfg));
        take_output(c);
        CHECK(c.next_deadline() == timestamp(2s));
        c.on_time(3s);
        CHECK(drain(c) == got_list{failed_with(violation::handshake_timeout, close_code_for(violation::handshake_timeout))});
        check_stays_failed(c);
    }
}

TEST_CASE("RFC 6455 §5.5.2, §5.5.3: keep-alive pings, pongs and the pong timeout (1011)") {
    for (role r : {role::server, role::client}) {
        CAPTURE(r);
        config cfg;
        cfg.ping_interval = 30s;
        cfg.pong_timeout = 10s;
        connection c = open_as(r, cfg);
        CHECK(c.next_deadline() == timestamp(30s));
        c.on_time(29s);
        CHECK(c.buffered() == 0);
        c.on_time(30s);
        auto frames = frames_from(c);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].op == opcode::ping);
        CHECK(c.next_deadline() == timestamp(40s));  // the pong is due before the next ping
        c.on_time(35s);
        CHECK(feed(c, frame_to(r, 0x8A)) == got_list{got_pong{""}});
        CHECK(c.next_deadline() == timestamp(60s));  // the pong cleared its deadline
        c.on_time(60s);
        CHECK(frames_from(c).size() == 1);
        CHECK(c.next_deadline() == timestamp(70s));
        // Other traffic does not stand in for the pong.
        CHECK(feed(c, frame_to(r, 0x81, "busy")) == got_list{text_msg("busy")});
        c.on_time(69s);
        CHECK(drain(c).empty());
        c.on_time(70s);
        CHECK(drain(c) == got_list{got_failure{violation::pong_timeout, close_code::internal_error}});
        frames = frames_from(c);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].op == opcode::close);
        CHECK(frames[0].close_code() == 1011);
        check_stays_failed(c);
    }
}

TEST_CASE("RFC 6455 §5.5.2: keep-alive between two engines that answer each other") {
    config c = client_config();
    c.ping_interval = 20s;
    config s = server_config();
    s.ping_interval = 30s;
    s.pong_timeout = 5s;
    endpoints p(std::move(c), std::move(s));
    for (int t = 1; t <= 200; ++t) {
        p.client.on_time(std::chrono::seconds(t));
        p.server.on_time(std::chrono::seconds(t));
        for (const got& g : p.to_server()) CHECK(!std::holds_alternative<got_failure>(g));
        for (const got& g : p.to_client()) CHECK(!std::holds_alternative<got_failure>(g));
    }
    CHECK(p.client.state() == connection_state::open);
    CHECK(p.server.state() == connection_state::open);
    CHECK(p.server.next_deadline() == timestamp(210s));
}

// ---- split invariance -----------------------------------------------------------

namespace {

struct split_case {
    std::string name;
    config cfg;
    buffer input;
    bool eof = false;
    /// Where the frames start (after the HTTP head); 0 for a handshake alone.
    std::size_t frames_at = 0;
};

struct split_result {
    got_list events;
    buffer output;
    connection_state state = connection_state::handshake;
    bool operator==(const split_result&) const = default;
};

split_result run_split(const split_case& sc, delivery_mode mode, std::span<const std::size_t> cuts) {
    config cfg = sc.cfg;
    cfg.delivery = mode;
    // A fresh counter per run: the key and mask stream must be the same each time.
    if (cfg.role == role::client) cfg.entropy = counter_entropy();
    connection c(std::move(cfg));
    split_result res;
    res.output = take_output(c);
    res.events = feed_split(c, sc.input, cuts);
    if (sc.eof) {
        c.receive_eof();
        const got_list tail = drain(c);
        res.events.insert(res.events.end(), tail.begin(), tail.end());
    }
    res.events = normalise(res.events);
    const buffer out = take_output(c);
    res.output.insert(res.output.end(), out.begin(), out.end());
    res.state = c.state();
    return res;
}

std::vector<split_case> split_cases() {
    const buffer request = bytes(short_request());
    const std::string client_request = [] {
        connection c(client_config());
        return take_text(c);
    }();
    const buffer response = bytes(accept_response(client_request));
    config small = server_config();
    small.max_message_size = 5;
    auto after_request = [&](std::initializer_list<buffer> frames) { return cat({request, cat(frames)}); };
    auto after_response = [&](std::initializer_list<buffer> frames) { return cat({response, cat(frames)}); };
    const std::size_t req = request.size(), resp = response.size();

    std::vector<split_case> cases;
    cases.push_back({"server: every kind of frame, masked", server_config(),
                     after_request({cframe(0x81, "Hi"), cframe(0x01, "\xe2\x82"), cframe(0x89, "pi"), cframe(0x80, "\xac"),
                                    cframe(0x8A, "po"), cframe(0x88, close_payload(1000)), cframe(0x81, "x")}),
                     false, req});
    cases.push_back({"server: 16-bit length", server_config(),
                     after_request({cframe(0x82, std::string(130, 'L')), cframe(0x88)}), false, req});
    cases.push_back({"server: invalid UTF-8 after a good message", server_config(),
                     after_request({cframe(0x81, "ok"), cframe(0x01, "a\xe2"), cframe(0x80, "\x28z")}), false, req});
    cases.push_back({"server: reserved bit", server_config(), after_request({cframe(0x81, "x"), cframe(0xC1, "x")}),
                     false, req});
    cases.push_back({"server: message too big across fragments", small,
                     after_request({cframe(0x02, "abc"), cframe(0x80, "def")}), false, req});
    cases.push_back({"server: bad request", server_config(), bytes("GET / HTTP/1.0\r\nHost: h\r\n\r\n")});
    buffer cut_short = after_request({cframe(0x81, "abc")});
    cut_short.pop_back();
    cases.push_back({"server: transport ends inside a frame", server_config(), cut_short, true, req});
    cases.push_back({"client: response and unmasked frames", client_config(),
                     after_response({sframe(0x81, "Hi"), sframe(0x02, "ab"), sframe(0x89, "pi"), sframe(0x80, "cd"),
                                     sframe(0x8A, "po"), sframe(0x88, close_payload(1001, "bye"))}),
                     false, resp});
    cases.push_back({"client: 64-bit length", client_config(),
                     after_response({sframe(0x82, std::string(65536, 'B')), sframe(0x81, "after")}), false, resp});
    cases.push_back({"client: refusal with a body", client_config(),
                     bytes("HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")});
    cases.push_back({"client: refusal read until the end", client_config(),
                     bytes("HTTP/1.1 500 Oops\r\nX: y\r\n\r\nbody"), true});
    cases.push_back({"client: masked frame", client_config(), after_response({sframe(0x81, "ok"), cframe(0x81, "x")}),
                     false, resp});
    cases.push_back({"client: end without Close", client_config(), after_response({sframe(0x81, "ok")}), true, resp});
    return cases;
}

/// Compare one split against the whole feeding, naming the split on failure.
void check_split(const split_case& sc, delivery_mode mode, const split_result& whole,
                 std::span<const std::size_t> cuts) {
    const split_result got = run_split(sc, mode, cuts);
    if (got == whole) return;
    std::string where;
    for (std::size_t cut : cuts) where += std::to_string(cut) + " ";
    CAPTURE(where);
    CHECK(got.events == whole.events);
    CHECK(got.output == whole.output);
    CHECK(got.state == whole.state);
}

}  // namespace

TEST_CASE("RFC 6455 §5.2, §5.4: events do not depend on how the input is split") {
    // Whole, byte by byte, and every single cut of the whole input (handshake
    // included) up to 2000 bytes. Every pair of cuts is tried over the frames
    // when they take up to 100 bytes (the HTTP head arrives in the first read,
    // its splits being covered by the single cuts): pairs over the head too
    // would multiply the runs by ten for little more coverage.
    constexpr std::size_t one_cut_limit = 2000, two_cut_limit = 100;
    for (const split_case& sc : split_cases()) {
        for (delivery_mode mode : {delivery_mode::whole_message, delivery_mode::streaming}) {
            CAPTURE(sc.name);
            CAPTURE(static_cast<int>(mode));
            const split_result whole = run_split(sc, mode, {});
            REQUIRE_FALSE(whole.events.empty());
            const std::size_t n = sc.input.size();

            std::vector<std::size_t> every(n - 1);
            for (std::size_t i = 0; i < every.size(); ++i) every[i] = i + 1;
            check_split(sc, mode, whole, every);

            if (n > one_cut_limit) continue;
            for (std::size_t i = 1; i < n; ++i) check_split(sc, mode, whole, std::array{i});

            const std::size_t from = std::max<std::size_t>(sc.frames_at, 1);
            if (n - from > two_cut_limit) continue;
            for (std::size_t i = from; i < n; ++i)
                for (std::size_t j = i + 1; j < n; ++j) check_split(sc, mode, whole, std::array{i, j});
        }
    }
}

// ---- randomised round trips -------------------------------------------------------

namespace {

/// One direction of traffic and what its two ends must report.
struct direction {
    connection* from;
    connection* to;
    delivery_mode to_mode;
    got_list expected;        // data and pings, as `to` must report them
    got_list expected_pongs;  // the answers to our pings, as `from` must report them
    got_list received;
    got_list pongs;
};

class traffic {
public:
    traffic(endpoints& p, delivery_mode client_mode, delivery_mode server_mode, std::uint64_t seed)
        : rng_(seed),
          up_{&p.client, &p.server, server_mode, {}, {}, {}, {}},
          down_{&p.server, &p.client, client_mode, {}, {}, {}, {}} {}

    void run(int steps) {
        for (int i = 0; i < steps; ++i) {
            direction& d = pick(0, 1) ? up_ : down_;
            if (pick(0, 9) == 0) {
                send_ping(d);
            } else {
                send_message(d);
            }
            if (pick(0, 2) == 0) pump(pick(0, 1) ? up_ : down_);
        }
        while (up_.from->buffered() != 0 || down_.from->buffered() != 0) {
            pump(up_);
            pump(down_);
        }
    }

    void check() const {
        for (const direction* d : {&up_, &down_}) {
            CAPTURE(d->from->role());
            CHECK(normalise(d->received) == normalise(d->expected));
            CHECK(d->pongs == d->expected_pongs);
        }
    }

private:
    std::size_t pick(std::size_t lo, std::size_t hi) { return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_); }

    /// Mostly small, sometimes one of each larger length encoding (§5.2).
    std::size_t message_size() {
        const std::size_t k = pick(0, 99);
        if (k < 70) return pick(0, 125);
        if (k < 90) return pick(126, 70'000);
        if (k < 98) return pick(70'000, 200'000);
        return pick(200'000, 1 << 20);
    }

    void send_ping(direction& d) {
        const std::string payload = random_binary(rng_, pick(0, 125));
        CHECK(d.from->ping(as_bytes(payload)) == misuse::none);
        d.expected.push_back(got_ping{payload});
        d.expected_pongs.push_back(got_pong{payload});
    }

    void send_message(direction& d) {
        const bool text = pick(0, 1) == 0;
        const message_type type = text ? message_type::text : message_type::binary;
        const std::size_t size = message_size();
        const std::string payload = text ? random_text(rng_, size) : random_binary(rng_, size);
        // Cut anywhere, inside code points too: only the whole must be UTF-8.
        std::vector<std::size_t> cuts{0, payload.size()};
        if (pick(0, 1)) {
            const std::size_t extra = pick(1, 5);
            for (std::size_t i = 0; i < extra; ++i) cuts.push_back(pick(0, payload.size()));
        }
        std::sort(cuts.begin(), cuts.end());
        const std::size_t pieces = cuts.size() - 1;
        for (std::size_t i = 0; i < pieces; ++i) {
            if (i > 0 && pick(0, 3) == 0) send_ping(d);
            const std::string_view piece = std::string_view(payload).substr(cuts[i], cuts[i + 1] - cuts[i]);
            const bool first = i == 0, last = i + 1 == pieces;
            misuse m;
            if (pieces == 1 && !text && pick(0, 2) == 0) {
                m = d.from->send_binary(bytes(piece));
            } else if (pick(0, 3) == 0) {
                m = d.from->send(message{type, as_bytes(piece), first, last});
            } else {
                m = text ? d.from->send_text(piece, last) : d.from->send_binary(as_bytes(piece), last);
            }
            CHECK(m == misuse::none);
            if (d.to_mode == delivery_mode::streaming) d.expected.push_back(got_message{type, std::string(piece), first, last});
        }
        if (d.to_mode == delivery_mode::whole_message) d.expected.push_back(got_message{type, payload, true, true});
    }

    /// Move what `d.from` wrote into `d.to` in random reads. Pongs belong to
    /// the other direction: they answer the pings `d.to` sent.
    void pump(direction& d) {
        buffer out = take_output(*d.from);
        if (out.empty()) return;
        // Tiny reads only for small amounts, to keep the run short.
        const std::size_t regime = out.size() > 100'000 ? pick(1, 2) : pick(0, 2);
        const got_list evs = feed_reads(*d.to, std::move(out), [&] {
            return regime == 0 ? pick(1, 16) : regime == 1 ? pick(1, 1500) : pick(1, 65536);
        });
        direction& other = &d == &up_ ? down_ : up_;
        for (const got& g : evs) {
            if (std::holds_alternative<got_pong>(g)) {
                other.pongs.push_back(g);
            } else {
                d.received.push_back(g);
            }
        }
    }

    std::mt19937_64 rng_;
    direction up_, down_;
};

}  // namespace

TEST_CASE("RFC 6455 §5.4, §5.5.2: random fragmented traffic both ways arrives unchanged and in order") {
    const std::array<std::pair<delivery_mode, delivery_mode>, 2> modes{
        std::pair{delivery_mode::whole_message, delivery_mode::streaming},
        std::pair{delivery_mode::streaming, delivery_mode::whole_message}};
    std::uint64_t seed = 0x6455'0000'5eed'0001;
    for (const auto& [client_mode, server_mode] : modes) {
        config c = client_config();
        c.delivery = client_mode;
        config s = server_config();
        s.delivery = server_mode;
        endpoints p(std::move(c), std::move(s));
        traffic t(p, client_mode, server_mode, seed++);
        t.run(150);
        t.check();
        // The conversation ends cleanly.
        CHECK(p.client.close(1000, "done") == misuse::none);
        CHECK(p.to_server() == got_list{got_close{1000, "done"}});
        CHECK(p.to_client() == got_list{got_close{1000, ""}});
        CHECK(p.server.should_close_transport());
        p.client.receive_eof();
        CHECK(p.client.should_close_transport());
    }
}

// ---- the whole life cycle ---------------------------------------------------------

TEST_CASE("RFC 6455 §4, §5, §7: a client and a server from handshake to close") {
    config c = client_config();
    c.client.subprotocols = {"v2", "v1"};
    c.client.origin = "https://example.com";
    connection client(std::move(c));
    connection server(server_config());

    // §4: the handshake; the server picks a subprotocol the client offered.
    const got_list req = pump(client, server);
    CHECK(req == got_list{got_request{"/chat", {"v2", "v1"}}});
    CHECK(server.state() == connection_state::open);  // drain() accepted without a subprotocol
    CHECK(pump(server, client) == got_list{got_response{}});
    CHECK_FALSE(client.subprotocol().has_value());

    // §5: messages both ways, fragmented, with pings in the middle.
    CHECK(client.send_text("hello server") == misuse::none);
    CHECK(client.send_binary(as_bytes("\x01\x02"), false) == misuse::none);
    CHECK(client.ping(as_bytes("mid")) == misuse::none);
    CHECK(client.send_binary(as_bytes("\x03"), true) == misuse::none);
    CHECK(pump(client, server) == got_list{text_msg("hello server"), got_ping{"mid"}, binary_msg("\x01\x02\x03")});
    CHECK(server.send_text("hello ", false) == misuse::none);
    CHECK(server.ping() == misuse::none);
    CHECK(server.send_text("client") == misuse::none);
    CHECK(pump(server, client) == got_list{got_pong{"mid"}, got_ping{""}, text_msg("hello client")});
    CHECK(pump(client, server) == got_list{got_pong{""}});

    SUBCASE("the client closes") {
        CHECK(client.close(1000, "bye") == misuse::none);
        CHECK(pump(client, server) == got_list{got_close{1000, "bye"}});
        CHECK(pump(server, client) == got_list{got_close{1000, ""}});
        CHECK(server.should_close_transport());
        CHECK_FALSE(client.should_close_transport());
        client.receive_eof();
        CHECK(drain(client).empty());
        CHECK(client.should_close_transport());
    }
    SUBCASE("the server closes") {
        CHECK(server.close(1001) == misuse::none);
        CHECK(pump(server, client) == got_list{got_close{1001, ""}});
        CHECK(pump(client, server) == got_list{got_close{1001, ""}});
        CHECK(server.should_close_transport());
        client.on_time(5s);
        CHECK(client.should_close_transport());
    }
    SUBCASE("the server receives bad data and the client learns why") {
        buffer bad = cframe(0xC2, "x");  // RSV1 without an extension
        CHECK(feed(server, bad) == got_list{got_failure{violation::reserved_bits, close_code::protocol_error}});
        const got_list seen = pump(server, client);
        REQUIRE(seen.size() == 1);
        CHECK(std::get<got_close>(seen[0]).code == 1002);
        CHECK(pump(client, server).empty());  // a failed server ignores the echo
        CHECK(server.should_close_transport());
        CHECK(client.state() == connection_state::closed);
    }
    SUBCASE("the client sends invalid text and is told 1007") {
        config lax = client_config();
        lax.validate_outgoing_text = false;
        endpoints p(std::move(lax));
        CHECK(p.client.send_text("\xed\xa0\x80") == misuse::none);
        CHECK(p.to_server() == got_list{got_failure{violation::invalid_utf8, close_code::invalid_payload}});
        const got_list seen = p.to_client();
        REQUIRE(seen.size() == 1);
        CHECK(std::get<got_close>(seen[0]).code == 1007);
    }
    SUBCASE("the server limits message size and the client is told 1009") {
        config s = server_config();
        s.max_message_size = 100;
        endpoints p(client_config(), std::move(s));
        CHECK(p.client.send_binary(buffer(100)) == misuse::none);
        CHECK(p.to_server() == got_list{binary_msg(std::string(100, '\0'))});
        CHECK(p.client.send_binary(buffer(101)) == misuse::none);
        CHECK(p.to_server() == got_list{got_failure{violation::message_too_big, close_code::message_too_big}});
        const got_list seen = p.to_client();
        REQUIRE(seen.size() == 1);
        CHECK(std::get<got_close>(seen[0]).code == 1009);
    }
    SUBCASE("the client vanishes") {
        server.receive_eof();
        CHECK(drain(server) == got_list{got_failure{violation::connection_lost, close_code::abnormal}});
        CHECK(server.buffered() == 0);
        CHECK(server.should_close_transport());
    }
}
