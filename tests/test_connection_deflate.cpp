// permessage-deflate in the engine (RFC 7692): negotiation through the
// opening handshake, the RSV1 rules, the checked vectors on the wire in both
// directions, bounded inflation, streaming, prepared and shared compression,
// and memory accounting.
#include "connection_helpers.hpp"

#include <random>

using namespace wstest;

namespace {

constexpr std::uint8_t rsv1_bit = 0x40;

config deflate_server(deflate_options o = {}) {
    config c = server_config();
    o.enabled = true;
    c.compression.negotiate = o;
    c.compression.threshold = 0;  // compress everything, so the wire bytes are known
    return c;
}
config deflate_client(deflate_options o = {}) {
    config c = client_config();
    o.enabled = true;
    c.compression.negotiate = o;
    c.compression.threshold = 0;
    return c;
}

/// The Sec-WebSocket-Extensions line of an HTTP head, or "" when absent.
std::string extensions_line(std::string_view head) {
    constexpr std::string_view field = "Sec-WebSocket-Extensions: ";
    const auto at = head.find(field);
    if (at == std::string_view::npos) return {};
    const auto start = at + field.size();
    return std::string(head.substr(start, head.find("\r\n", start) - start));
}

std::string request_with(std::string_view extensions) {
    std::string r = short_request();
    r.insert(r.size() - 2, "Sec-WebSocket-Extensions: " + std::string(extensions) + "\r\n");
    return r;
}

/// A server that accepted `offer` under `cfg`; its 101 answer in `answer`.
connection open_deflate_server(config cfg, std::string_view offer, std::string* answer = nullptr) {
    connection s(std::move(cfg));
    const got_list evs = feed(s, bytes(request_with(offer)));
    CHECK(evs.size() == 1);
    const std::string out = take_text(s);
    if (answer) *answer = extensions_line(out);
    CHECK(s.state() == connection_state::open);
    return s;
}

/// A client whose offer was answered with `answer` (no header when empty).
connection open_deflate_client(config cfg, std::string_view answer, got_list* events = nullptr) {
    connection c(std::move(cfg));
    const std::string request = take_text(c);
    std::string response = accept_response(request);
    if (!answer.empty()) response.insert(response.size() - 2, "Sec-WebSocket-Extensions: " + std::string(answer) + "\r\n");
    const got_list evs = feed(c, bytes(response));
    if (events) *events = evs;
    return c;
}

buffer payload_bytes(std::initializer_list<int> v) { return bytes(v); }

/// A server frame with header byte `b0` around raw (already compressed) payload bytes.
buffer raw_sframe(std::uint8_t b0, const buffer& payload) { return frame(b0, bytes_view(payload)); }
buffer raw_cframe(std::uint8_t b0, const buffer& payload) { return frame(b0, bytes_view(payload), example_key); }

/// Deterministic JSON-like text: compressible, like real traffic.
std::string json_like(std::size_t n, unsigned seed = 1) {
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < n) {
        s += "{\"id\":" + std::to_string(rng() % 100000) + ",\"name\":\"user" + std::to_string(rng() % 977) +
             "\",\"tags\":[\"a\",\"b\"],\"score\":" + std::to_string(rng() % 1000) + "},";
    }
    s.resize(n);
    return s;
}
std::string random_bytes(std::size_t n, unsigned seed = 7) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    return s;
}

}  // namespace

TEST_CASE("RFC 7692 §5: the server accepts an offer and answers it; params are in force") {
    std::string answer;
    connection s = open_deflate_server(deflate_server(), "permessage-deflate; client_max_window_bits", &answer);
    CHECK(answer.starts_with("permessage-deflate"));
    REQUIRE(s.compression_params());
    CHECK(s.compression_params()->server_max_window_bits == 15);

    SUBCASE("disabled: the offer is declined and RSV1 stays reserved (RFC 6455 §5.2)") {
        connection plain = open_deflate_server(server_config(), "permessage-deflate", &answer);
        CHECK(answer.empty());
        CHECK_FALSE(plain.compression_params());
        const got_list evs = feed(plain, raw_cframe(0xC1, payload_bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})));
        CHECK(evs == got_list{failed_with(violation::reserved_bits, close_code::protocol_error)});
    }
    SUBCASE("a malformed header is no offer: the handshake goes on without compression") {
        connection odd = open_deflate_server(deflate_server(), "permessage-deflate; =", &answer);
        CHECK(answer.empty());
        CHECK_FALSE(odd.compression_params());
    }
    SUBCASE("the caller may still not agree to other extensions (RFC 6455 §9.1)") {
        connection t(deflate_server());
        feed(t, bytes(request_with("permessage-deflate")), false);
        accept_options o;
        o.extensions.push_back("x-other");
        CHECK(t.accept(o) == misuse::invalid_argument);
    }
}

TEST_CASE("RFC 7692 §5: the client offers, checks the answer strictly and fails on a bad one") {
    connection c(deflate_client());
    CHECK(extensions_line(take_text(c)) == "permessage-deflate; client_max_window_bits");

    got_list evs;
    connection ok = open_deflate_client(deflate_client(), "permessage-deflate; server_max_window_bits=10", &evs);
    CHECK(evs == got_list{got_response{}});
    REQUIRE(ok.compression_params());
    CHECK(ok.compression_params()->server_max_window_bits == 10);

    connection declined = open_deflate_client(deflate_client(), "", &evs);
    CHECK(evs == got_list{got_response{}});
    CHECK_FALSE(declined.compression_params());

    const char* bad[] = {
        "permessage-deflate; foo",                                         // unknown parameter
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",  // repeated
        "permessage-deflate; server_max_window_bits=16",                   // out of range
        "permessage-deflate; client_max_window_bits",                      // an answer needs a value
        "permessage-deflate, permessage-deflate",                          // answered twice
        "x-unknown",                                                       // never offered (RFC 6455 §4.1)
        "permessage-deflate; =",                                           // not the §9.1 grammar
    };
    for (const char* answer : bad) {
        CAPTURE(answer);
        connection f = open_deflate_client(deflate_client(), answer, &evs);
        CHECK(evs == got_list{failed_with(violation::bad_handshake, close_code::protocol_error)});
        CHECK(f.state() == connection_state::failed);
    }
    // §7.1.2.2: a client that offered client_max_window_bits=10 refuses 12.
    deflate_options limited;
    limited.client_max_window_bits = 10;
    connection f = open_deflate_client(deflate_client(limited), "permessage-deflate; client_max_window_bits=12", &evs);
    CHECK(evs == got_list{failed_with(violation::bad_handshake, close_code::protocol_error)});
    // Not offered at all: an answer naming permessage-deflate is refused.
    connection g = open_deflate_client(client_config(), "permessage-deflate", &evs);
    CHECK(evs == got_list{failed_with(violation::bad_handshake, close_code::protocol_error)});
}

TEST_CASE("RFC 7692 §7.2.3: the checked vectors, received by a client and by a server") {
    struct vec {
        const char* what;
        std::vector<buffer> frames;  // header byte, then payload
        std::vector<std::uint8_t> heads;
    };
    const std::vector<vec> vectors = {
        {"one frame", {payload_bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00})}, {0xC1}},
        {"fragmented", {payload_bytes({0xf2, 0x48, 0xcd}), payload_bytes({0xc9, 0xc9, 0x07, 0x00})}, {0x41, 0x80}},
        {"stored block", {payload_bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00})}, {0xC1}},
        {"BFINAL block", {payload_bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00})}, {0xC1}},
        {"two blocks",
         {payload_bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00})},
         {0xC1}},
    };
    for (const auto& v : vectors) {
        CAPTURE(v.what);
        for (role r : {role::client, role::server}) {
            connection c = r == role::client ? open_deflate_client(deflate_client(), "permessage-deflate")
                                             : open_deflate_server(deflate_server(), "permessage-deflate");
            buffer wire;
            for (std::size_t i = 0; i < v.frames.size(); ++i) {
                const buffer f = r == role::client ? raw_sframe(v.heads[i], v.frames[i]) : raw_cframe(v.heads[i], v.frames[i]);
                wire.insert(wire.end(), f.begin(), f.end());
            }
            // Events must not depend on the split (any cut point).
            for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
                connection fresh = r == role::client ? open_deflate_client(deflate_client(), "permessage-deflate")
                                                     : open_deflate_server(deflate_server(), "permessage-deflate");
                const std::size_t cuts[] = {cut};
                CHECK(normalise(feed_split(fresh, wire, cuts)) == got_list{text_msg("Hello")});
            }
            CHECK(feed(c, wire) == got_list{text_msg("Hello")});
        }
    }
    // The empty message, and a second "Hello" that uses the first's window
    // (context takeover, §7.1.1).
    connection c = open_deflate_client(deflate_client(), "permessage-deflate");
    CHECK(feed(c, raw_sframe(0xC1, payload_bytes({0x00}))) == got_list{text_msg("")});
    CHECK(feed(c, raw_sframe(0xC1, payload_bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}))) ==
          got_list{text_msg("Hello")});
    CHECK(feed(c, raw_sframe(0xC1, payload_bytes({0xf2, 0x00, 0x11, 0x00, 0x00}))) == got_list{text_msg("Hello")});
}

TEST_CASE("RFC 7692 §7.2.1: what a server sends, byte for byte") {
    connection s = open_deflate_server(deflate_server(), "permessage-deflate");
    CHECK(s.send_text("Hello") == misuse::none);
    CHECK(take_output(s) == bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
    // Context takeover: the second "Hello" refers back to the first.
    CHECK(s.send_text("Hello") == misuse::none);
    CHECK(take_output(s) == bytes({0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00}));
    // An empty compressed message is the single byte 00.
    CHECK(s.send_text("", true, compression::on) == misuse::none);
    CHECK(take_output(s) == bytes({0xc1, 0x01, 0x00}));
    // compression::off: RSV1 clear, payload as is (§6: per message).
    CHECK(s.send_text("Hello", true, compression::off) == misuse::none);
    CHECK(take_output(s) == cat({bytes({0x81, 0x05}), bytes("Hello")}));

    SUBCASE("server_no_context_takeover: every message starts afresh (§7.1.1.1)") {
        deflate_options o;
        o.server_no_context_takeover = true;
        connection t = open_deflate_server(deflate_server(o), "permessage-deflate");
        for (int i = 0; i < 2; ++i) {
            CHECK(t.send_text("Hello") == misuse::none);
            CHECK(take_output(t) == bytes({0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}));
        }
    }
    SUBCASE("automatic: below the threshold a message goes uncompressed") {
        config cfg = deflate_server();
        cfg.compression.threshold = 64;
        connection t = open_deflate_server(cfg, "permessage-deflate");
        CHECK(t.send_binary(as_bytes(std::string_view("short"))) == misuse::none);
        auto frames = frames_from(t, rsv1_bit);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].rsv == 0);
        const std::string big = json_like(1000);
        CHECK(t.send_text(big) == misuse::none);
        frames = frames_from(t, rsv1_bit);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].rsv == rsv1_bit);
        CHECK(frames[0].payload.size() < big.size() / 2);
    }
}

TEST_CASE("RFC 7692 §6: RSV1 only on the first frame of a data message") {
    const buffer hello = payload_bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    SUBCASE("on a continuation frame: 1002") {
        connection s = open_deflate_server(deflate_server(), "permessage-deflate");
        const buffer wire = cat({raw_cframe(0x41, payload_bytes({0xf2, 0x48})), raw_cframe(0xC0, payload_bytes({0xcd}))});
        CHECK(feed(s, wire) == got_list{failed_with(violation::reserved_bits, close_code::protocol_error)});
        const auto frames = frames_from(s, rsv1_bit);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].close_code() == 1002);
        check_stays_failed(s);
    }
    SUBCASE("on a control frame: 1002") {
        connection s = open_deflate_server(deflate_server(), "permessage-deflate");
        CHECK(feed(s, raw_cframe(0xC9, {})) == got_list{failed_with(violation::reserved_bits, close_code::protocol_error)});
    }
    SUBCASE("RSV2 and RSV3 stay reserved (RFC 6455 §5.2)") {
        connection s = open_deflate_server(deflate_server(), "permessage-deflate");
        CHECK(feed(s, raw_cframe(0xA1, hello)) == got_list{failed_with(violation::reserved_bits, close_code::protocol_error)});
    }
    SUBCASE("control frames may come between the fragments of a compressed message") {
        connection s = open_deflate_server(deflate_server(), "permessage-deflate");
        const buffer wire = cat({raw_cframe(0x41, payload_bytes({0xf2, 0x48, 0xcd})), cframe(0x89, "p"),
                                 raw_cframe(0x80, payload_bytes({0xc9, 0xc9, 0x07, 0x00}))});
        CHECK(feed(s, wire) == got_list{got_ping{"p"}, text_msg("Hello")});
    }
}

TEST_CASE("RFC 7692 §7.2.2: data that does not inflate fails with 1007, and so does bad UTF-8 after inflation") {
    connection s = open_deflate_server(deflate_server(), "permessage-deflate");
    CHECK(feed(s, raw_cframe(0xC2, payload_bytes({0xff, 0xff, 0xff, 0xff}))) ==
          got_list{failed_with(violation::invalid_compressed_data, close_code::invalid_payload)});
    auto frames = frames_from(s, rsv1_bit);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].close_code() == 1007);
    check_stays_failed(s);

    // RFC 6455 §8.1 on the inflated bytes: compress invalid UTF-8 as binary
    // with our own deflater, then send it as text.
    deflater z;
    buffer body;
    REQUIRE(z.compress(as_bytes(std::string_view("ok\xff")), true, body));
    connection t = open_deflate_server(deflate_server(), "permessage-deflate");
    CHECK(feed(t, raw_cframe(0xC1, body)) == got_list{failed_with(violation::invalid_utf8, close_code::invalid_payload)});
}

TEST_CASE("RFC 6455 §10.4, RFC 7692 §8: a compressed length declared far past the limit is refused on the header") {
    config cfg = deflate_server();
    cfg.max_message_size = 8000;
    const std::uint64_t limit = compressed_message_limit(cfg.max_message_size);
    CHECK(limit == 8000 + 1000 + 1024);
    // Just past what DEFLATE needs for any message within the limit: the
    // header alone (64-bit length, mask key) fails, before any inflating.
    buffer f = raw_cframe(0xC2, buffer(limit + 1));
    f.resize(2 + 2 + 4);
    connection s = open_deflate_server(cfg, "permessage-deflate");
    CHECK(feed(s, f) == got_list{failed_with(violation::message_too_big, close_code::message_too_big)});
    CHECK(s.inflate_work() == 0);
    // Across fragments too: the declared lengths add up.
    connection t = open_deflate_server(cfg, "permessage-deflate");
    buffer stored = payload_bytes({0x00, 0x00, 0x00, 0xff, 0xff});  // an empty stored block
    buffer first = raw_cframe(0x42, stored);
    buffer second = raw_cframe(0x00, buffer(limit));
    second.resize(8);
    CHECK(feed(t, cat({first, second})) == got_list{failed_with(violation::message_too_big, close_code::message_too_big)});
    // Within the limit, a padded but valid message still arrives.
    connection u = open_deflate_server(cfg, "permessage-deflate");
    buffer padded;
    for (int i = 0; i < 1000; ++i) padded.insert(padded.end(), stored.begin(), stored.end());
    const buffer hello = payload_bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
    padded.insert(padded.end(), hello.begin(), hello.end());
    CHECK(feed(u, raw_cframe(0xC1, padded)) == got_list{text_msg("Hello")});
    // One zlib call per frame here, however many empty blocks it holds.
    CHECK(u.inflate_work() <= 4 + padded.size() / 2);
}

TEST_CASE("RFC 7692 §8: a decompression bomb costs at most the message limit") {
    // 64 MiB of zeros compress to about 64 KiB.
    deflater z;
    buffer bomb;
    const std::vector<std::byte> zeros(1 << 20);
    for (int i = 0; i < 64; ++i) REQUIRE(z.compress(zeros, i == 63, bomb));
    CHECK(bomb.size() < 128 * 1024);

    SUBCASE("whole-message delivery: 1009 at the limit, memory within it") {
        config cfg = deflate_server();
        cfg.max_message_size = 1 << 20;
        connection s = open_deflate_server(cfg, "permessage-deflate");
        CHECK(feed(s, raw_cframe(0xC2, bomb)) == got_list{failed_with(violation::message_too_big, close_code::message_too_big)});
        CHECK(s.memory_use() < (1u << 20) + 256 * 1024);
        auto frames = frames_from(s, rsv1_bit);
        REQUIRE(frames.size() == 1);
        CHECK(frames[0].close_code() == 1009);
    }
    SUBCASE("streaming delivery: the inflate-ratio cap stops it") {
        config cfg = deflate_server();
        cfg.delivery = delivery_mode::streaming;
        cfg.compression.max_inflate_ratio = 100;
        cfg.compression.inflate_ratio_floor = 1 << 20;
        connection s = open_deflate_server(cfg, "permessage-deflate");
        const got_list evs = feed(s, raw_cframe(0xC2, bomb));
        REQUIRE_FALSE(evs.empty());
        CHECK(evs.back() == got{failed_with(violation::message_too_big, close_code::message_too_big)});
        std::size_t delivered = 0;
        for (const auto& e : evs) {
            if (const auto* m = std::get_if<got_message>(&e)) {
                CHECK(m->data.size() <= cfg.compression.stream_chunk);
                delivered += m->data.size();
            }
        }
        // Far less than the 64 MiB the frame holds.
        CHECK(delivered <= std::max<std::size_t>(100 * bomb.size(), 1 << 20) + cfg.compression.stream_chunk);
        CHECK(s.memory_use() < 512 * 1024);
    }
    SUBCASE("streaming delivery with no ratio cap inflates it all, a chunk at a time") {
        config cfg = deflate_server();
        cfg.delivery = delivery_mode::streaming;
        cfg.compression.max_inflate_ratio = 0;
        connection s = open_deflate_server(cfg, "permessage-deflate");
        buffer wire = raw_cframe(0xC2, bomb);
        CHECK(s.receive(wire) == misuse::none);
        std::size_t delivered = 0, pieces = 0;
        bool last = false;
        while (true) {
            const event e = s.next_event();
            if (std::holds_alternative<need_more>(e)) break;
            const auto& m = std::get<message>(e);
            CHECK(m.data.size() <= cfg.compression.stream_chunk);
            CHECK(m.first == (pieces == 0));
            delivered += m.data.size();
            ++pieces;
            last = m.last;
        }
        CHECK(last);
        CHECK(delivered == 64u << 20);
        CHECK(s.memory_use() < 512 * 1024);
    }
}

TEST_CASE("RFC 7692 §7.1: round trips in every parameter combination, any split") {
    const std::string json = json_like(5000);
    const std::string noise = random_bytes(3000);
    for (int snct = 0; snct < 2; ++snct)
        for (int cnct = 0; cnct < 2; ++cnct)
            for (int sw : {8, 9, 12, 15})
                for (int cw : {8, 9, 15}) {
                    CAPTURE(snct);
                    CAPTURE(cnct);
                    CAPTURE(sw);
                    CAPTURE(cw);
                    deflate_options o;
                    o.server_no_context_takeover = snct;
                    o.client_no_context_takeover = cnct;
                    o.server_max_window_bits = static_cast<std::uint8_t>(sw);
                    o.client_max_window_bits = static_cast<std::uint8_t>(cw);
                    endpoints e(deflate_client(o), deflate_server(o));
                    REQUIRE(e.client.compression_params());
                    REQUIRE(e.server.compression_params());
                    CHECK(e.client.compression_params()->server_max_window_bits == sw);
                    CHECK(e.server.compression_params()->client_max_window_bits == cw);
                    for (int round = 0; round < 3; ++round) {
                        CHECK(e.client.send_text(json) == misuse::none);
                        CHECK(e.client.send_binary(as_bytes(std::string_view(noise))) == misuse::none);
                        // A fragmented compressed send (§6: RSV1 on its first frame only).
                        CHECK(e.client.send_text(json.substr(0, 100), false) == misuse::none);
                        CHECK(e.client.send_text(json.substr(100, 2000), false) == misuse::none);
                        CHECK(e.client.send_text(json.substr(2100), true) == misuse::none);
                        const got_list expect{text_msg(json), binary_msg(noise), text_msg(json)};
                        CHECK(e.to_server() == expect);
                        CHECK(e.server.send_text(json) == misuse::none);
                        CHECK(e.server.send_binary(as_bytes(std::string_view(noise))) == misuse::none);
                        CHECK(e.to_client() == got_list{text_msg(json), binary_msg(noise)});
                    }
                    // Window 8: zlib cannot compress with it, so that side sends
                    // uncompressed (§6 allows it); the other side still does.
                    CHECK(e.server.send_text(json) == misuse::none);
                    const auto frames = frames_from(e.server, rsv1_bit);
                    REQUIRE(frames.size() == 1);
                    CHECK((frames[0].rsv == rsv1_bit) == (sw >= 9));
                }
}

TEST_CASE("RFC 7692 §7.2.2 with streaming delivery: inflated pieces, UTF-8 checked across them") {
    config cfg = deflate_server();
    cfg.delivery = delivery_mode::streaming;
    cfg.compression.stream_chunk = 100;
    deflate_options o;
    o.enabled = true;
    config client = deflate_client(o);
    endpoints e(client, cfg);
    const std::string text = json_like(1000) + "\xc3\xa9" + json_like(999);  // é across a piece boundary somewhere
    CHECK(e.client.send_text(text) == misuse::none);
    const got_list evs = e.to_server();
    REQUIRE(evs.size() > 10);
    for (const auto& g : evs) CHECK(std::get<got_message>(g).data.size() <= 100);
    CHECK(normalise(evs) == got_list{text_msg(text)});
}

TEST_CASE("prepared messages: framed and compressed once, valid for every peer") {
    const std::string json = json_like(4000);
    const prepared_message p(message_type::text, as_bytes(std::string_view(json)));
    CHECK(p.valid());
    CHECK(p.compressed());
    CHECK_FALSE(prepared_message(message_type::text, as_bytes(std::string_view("\xff"))).valid());

    deflate_options small_window;
    small_window.server_max_window_bits = 10;
    std::vector<std::pair<config, config>> pairs = {
        {deflate_client(), deflate_server()},            // takes the compressed form
        {deflate_client(small_window), deflate_server()}, // window too small for it: plain form
        {client_config(), server_config()},               // no compression: plain form
    };
    for (auto& [cc, sc] : pairs) {
        endpoints e(cc, sc);
        // Context takeover keeps working around the prepared message.
        CHECK(e.server.send_text(json) == misuse::none);
        CHECK(e.server.send(p) == misuse::none);
        CHECK(e.server.send_text(json) == misuse::none);
        CHECK(e.to_client() == got_list{text_msg(json), text_msg(json), text_msg(json)});
        // The client role masks its own copy.
        CHECK(e.client.send(p) == misuse::none);
        CHECK(e.to_server() == got_list{text_msg(json)});
    }
    connection s = open_deflate_server(deflate_server(), "permessage-deflate");
    CHECK(s.send(prepared_message(message_type::text, as_bytes(std::string_view("\xff")))) == misuse::invalid_utf8);
    CHECK(s.send_text("a", false) == misuse::none);
    CHECK(s.send(p) == misuse::message_in_progress);
}

TEST_CASE("a shared compressor serves connections whose peers granted no context takeover") {
    deflater shared(deflate_settings{15, 8, -1});
    deflate_options o;
    o.server_no_context_takeover = true;
    config sc = deflate_server(o);
    sc.compression.shared = &shared;
    endpoints a(deflate_client(), sc), b(deflate_client(), sc);
    const std::string json = json_like(3000);
    for (int i = 0; i < 3; ++i) {
        CHECK(a.server.send_text(json) == misuse::none);
        CHECK(b.server.send_text(json + "b") == misuse::none);
    }
    CHECK(a.to_client() == got_list{text_msg(json), text_msg(json), text_msg(json)});
    CHECK(b.to_client() == got_list{text_msg(json + "b"), text_msg(json + "b"), text_msg(json + "b")});
    CHECK(shared.memory() > 0);
    // The connections hold no compressor of their own.
    CHECK(a.server.memory_use() < shared.memory());
}

TEST_CASE("memory_use counts buffers and zlib state") {
    endpoints e(deflate_client(), deflate_server());
    const std::size_t idle = e.server.memory_use();
    CHECK(idle >= sizeof(connection));
    CHECK(e.client.send_text(json_like(2000)) == misuse::none);
    e.to_server();
    CHECK(e.server.send_text(json_like(2000)) == misuse::none);
    const std::size_t busy = e.server.memory_use();
    CHECK(busy >= idle + inflater_memory(15) + deflater_memory(deflate_settings{}));
}

TEST_CASE("bad compression settings are refused at construction") {
    config c = deflate_server();
    c.compression.negotiate.server_max_window_bits = 16;
    connection s(c);
    CHECK(s.setup_error() == misuse::invalid_argument);
    CHECK(s.state() == connection_state::failed);
    config d = deflate_client();
    d.compression.mem_level = 0;
    connection t(d);
    CHECK(t.setup_error() == misuse::invalid_argument);
}

TEST_CASE("release_memory: a quiet connection keeps only its zlib state and large buffers") {
    endpoints e(deflate_client(), deflate_server());
    const std::string json = json_like(3000);
    CHECK(e.client.send_text(json) == misuse::none);
    CHECK(e.to_server() == got_list{text_msg(json)});
    CHECK(e.server.send_text(json) == misuse::none);
    CHECK(e.server.buffered() > 0);
    const std::size_t queued = e.server.buffered();
    e.server.release_memory();  // output still queued: it stays
    CHECK(e.server.buffered() == queued);
    CHECK(e.to_client() == got_list{text_msg(json)});
    e.server.release_memory();
    const std::size_t zlib = inflater_memory(15) + deflater_memory(deflate_settings{});
    CHECK(e.server.memory_use() >= zlib);  // RFC 7692 §7.1.1: context takeover keeps the windows
    CHECK(e.server.memory_use() <= sizeof(connection) + sizeof(deflater) + sizeof(inflater) + zlib);
    // It works as before afterwards.
    for (int i = 0; i < 2; ++i) {
        CHECK(e.client.send_text(json) == misuse::none);
        CHECK(e.to_server() == got_list{text_msg(json)});
        CHECK(e.server.send_text(json) == misuse::none);
        CHECK(e.to_client() == got_list{text_msg(json)});
        e.server.release_memory();
    }
    // A large message's buffers are kept for the next one.
    const std::string big = json_like(100000);
    CHECK(e.client.send_text(big) == misuse::none);
    CHECK(e.to_server() == got_list{text_msg(big)});
    e.server.release_memory();
    CHECK(e.server.memory_use() >= zlib + big.size());
}
