// The frame parser and writer on their own (RFC 6455 §5).
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <sansws/frame.hpp>
#include <string>
#include <vector>

using namespace sansws;

namespace {

std::vector<std::byte> bytes(std::initializer_list<int> v) {
    std::vector<std::byte> out;
    for (int b : v) out.push_back(std::byte(b));
    return out;
}

struct parsed_frame {
    frame_header header;
    std::string payload;
};

struct parse_result {
    std::vector<parsed_frame> frames;
    violation error = violation::none;
    bool operator==(const parse_result& o) const {
        if (error != o.error || frames.size() != o.frames.size()) return false;
        for (std::size_t i = 0; i < frames.size(); ++i) {
            const auto &a = frames[i], &b = o.frames[i];
            if (a.payload != b.payload || a.header.fin != b.header.fin || a.header.op != b.header.op ||
                a.header.rsv != b.header.rsv || a.header.payload_length != b.header.payload_length)
                return false;
        }
        return true;
    }
};

/// Parse `input` (copied: parsing unmasks in place) split at `cuts`.
parse_result parse_split(std::vector<std::byte> input, std::vector<std::size_t> cuts, role r,
                         std::uint8_t allowed_rsv = 0) {
    frame_parser p(r, allowed_rsv);
    parse_result res;
    cuts.push_back(input.size());
    std::size_t start = 0;
    for (std::size_t cut : cuts) {
        mutable_bytes chunk(input.data() + start, cut - start);
        start = cut;
        while (true) {
            frame_piece piece = p.parse(chunk);
            REQUIRE(piece.consumed <= chunk.size());
            chunk = chunk.subspan(piece.consumed);
            if (piece.type == frame_piece::kind::error) {
                res.error = piece.error;
                return res;
            }
            if (piece.type == frame_piece::kind::need_more) {
                REQUIRE(chunk.empty());
                break;
            }
            if (piece.first) res.frames.push_back({piece.header, {}});
            REQUIRE(!res.frames.empty());
            res.frames.back().payload += std::string(as_text(piece.payload));
            if (chunk.empty() && !piece.last) break;
        }
    }
    return res;
}

parse_result parse_all(const std::vector<std::byte>& input, role r, std::uint8_t allowed_rsv = 0) {
    return parse_split(input, {}, r, allowed_rsv);
}

/// §5.2 split invariance: whole, byte by byte, every 1-cut and 2-cut split.
void check_split_invariance(const std::vector<std::byte>& input, role r) {
    const parse_result whole = parse_all(input, r);
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
    CHECK(parse_split(input, every, r) == whole);
    for (std::size_t i = 0; i <= input.size(); ++i) {
        CHECK(parse_split(input, {i}, r) == whole);
        for (std::size_t j = i; j <= input.size() && input.size() <= 80; ++j)
            CHECK(parse_split(input, {i, j}, r) == whole);
    }
}

std::vector<std::byte> make_frame(frame_header h, std::string_view payload) {
    std::vector<std::byte> out(max_frame_header_size + payload.size());
    h.payload_length = payload.size();
    const std::size_t n = write_frame_header(std::span(out).first<max_frame_header_size>(), h);
    out.resize(n + payload.size());
    std::memcpy(out.data() + n, payload.data(), payload.size());
    if (h.masked) apply_mask(std::span(out).subspan(n), h.key, 0);
    return out;
}

const mask_key example_key{std::byte(0x37), std::byte(0xfa), std::byte(0x21), std::byte(0x3d)};

}  // namespace

TEST_CASE("RFC 6455 §5.7: single-frame unmasked text \"Hello\" (client receives)") {
    auto r = parse_all(bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), role::client);
    REQUIRE(r.error == violation::none);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].header.fin);
    CHECK(r.frames[0].header.op == opcode::text);
    CHECK(r.frames[0].payload == "Hello");
}

TEST_CASE("RFC 6455 §5.7: single-frame masked text \"Hello\" (server receives)") {
    auto in = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    auto r = parse_all(in, role::server);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].payload == "Hello");
    CHECK(r.frames[0].header.key == example_key);
    // The writer produces the same bytes (§5.3 masking with that key).
    frame_header h;
    h.op = opcode::text;
    h.masked = true;
    h.key = example_key;
    CHECK(make_frame(h, "Hello") == in);
    check_split_invariance(in, role::server);
}

TEST_CASE("RFC 6455 §5.7: fragmented unmasked text \"Hel\" + \"lo\"") {
    auto in = bytes({0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f});
    auto r = parse_all(in, role::client);
    REQUIRE(r.frames.size() == 2);
    CHECK(!r.frames[0].header.fin);
    CHECK(r.frames[0].header.op == opcode::text);
    CHECK(r.frames[0].payload == "Hel");
    CHECK(r.frames[1].header.fin);
    CHECK(r.frames[1].header.op == opcode::continuation);
    CHECK(r.frames[1].payload == "lo");
    check_split_invariance(in, role::client);
}

TEST_CASE("RFC 6455 §5.7: unmasked Ping and masked Pong") {
    auto ping_in = bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f});
    auto r = parse_all(ping_in, role::client);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].header.op == opcode::ping);
    CHECK(r.frames[0].payload == "Hello");
    auto pong_in = bytes({0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
    r = parse_all(pong_in, role::server);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].header.op == opcode::pong);
    CHECK(r.frames[0].payload == "Hello");
}

TEST_CASE("RFC 6455 §5.7: 256-byte and 64 KiB binary frames use 16- and 64-bit lengths") {
    frame_header h;
    h.op = opcode::binary;
    std::array<std::byte, max_frame_header_size> out{};
    h.payload_length = 256;
    REQUIRE(write_frame_header(out, h) == 4);
    CHECK(std::vector(out.begin(), out.begin() + 4) == bytes({0x82, 0x7E, 0x01, 0x00}));
    h.payload_length = 65536;
    REQUIRE(write_frame_header(out, h) == 10);
    CHECK(std::vector(out.begin(), out.begin() + 10) ==
          bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
    std::vector<std::byte> frame(10 + 65536, std::byte{0x5a});
    std::copy(out.begin(), out.begin() + 10, frame.begin());
    auto r = parse_all(frame, role::client);
    REQUIRE(r.frames.size() == 1);
    CHECK(r.frames[0].header.payload_length == 65536);
    CHECK(r.frames[0].payload == std::string(65536, 'Z'));
}

TEST_CASE("RFC 6455 §5.2: minimal length encoding at every boundary, writer and parser agree") {
    for (std::uint64_t len : {0ull, 1ull, 125ull, 126ull, 127ull, 65535ull, 65536ull, 100000ull}) {
        for (bool masked : {false, true}) {
            frame_header h;
            h.op = opcode::binary;
            h.masked = masked;
            h.key = example_key;
            const std::string payload(len, 'x');
            auto frame = make_frame(h, payload);
            CHECK(frame.size() == frame_header_size(len, masked) + len);
            auto r = parse_all(frame, masked ? role::server : role::client);
            REQUIRE(r.error == violation::none);
            REQUIRE(r.frames.size() == 1);
            CHECK(r.frames[0].payload == payload);
        }
    }
}

TEST_CASE("RFC 6455 §5.2: a zero-length frame is one piece with first and last set") {
    frame_parser p(role::client);
    auto in = bytes({0x82, 0x00});
    frame_piece piece = p.parse(in);
    CHECK(piece.type == frame_piece::kind::data);
    CHECK(piece.first);
    CHECK(piece.last);
    CHECK(piece.payload.empty());
    CHECK(piece.consumed == 2);
    CHECK(p.at_frame_boundary());
}

TEST_CASE("RFC 6455 §5.2: RSV bits fail unless an extension allowed them") {
    for (int rsv : {0x40, 0x20, 0x10, 0x70}) {
        auto in = bytes({0x82 | rsv, 0x00});
        CHECK(parse_all(in, role::client).error == violation::reserved_bits);
        CHECK(parse_all(in, role::client, static_cast<std::uint8_t>(rsv)).error == violation::none);
    }
    CHECK(parse_all(bytes({0xC2, 0x00}), role::client, rsv2).error == violation::reserved_bits);
}

TEST_CASE("RFC 6455 §5.2: reserved opcodes 3-7 and 0xB-0xF fail") {
    for (int op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF})
        CHECK(parse_all(bytes({0x80 | op, 0x00}), role::client).error == violation::reserved_opcode);
    for (int op : {0, 1, 2, 8, 9, 0xA})
        CHECK(parse_all(bytes({0x80 | op, 0x00}), role::client).error == violation::none);
}

TEST_CASE("RFC 6455 §5.5: control frames must have FIN and at most 125 bytes") {
    for (int op : {0x8, 0x9, 0xA}) {
        CHECK(parse_all(bytes({op, 0x00}), role::client).error == violation::fragmented_control);
        CHECK(parse_all(bytes({0x80 | op, 126, 0x00, 126}), role::client).error == violation::control_too_long);
        CHECK(parse_all(bytes({0x80 | op, 127, 0, 0, 0, 0, 0, 0, 0, 126}), role::client).error ==
              violation::control_too_long);
        std::vector<std::byte> ok = bytes({0x80 | op, 125});
        ok.resize(2 + 125, std::byte{'a'});
        CHECK(parse_all(ok, role::client).error == violation::none);
    }
}

TEST_CASE("RFC 6455 §5.1: a server fails unmasked frames, a client fails masked ones") {
    CHECK(parse_all(bytes({0x81, 0x00}), role::server).error == violation::unmasked_frame);
    CHECK(parse_all(bytes({0x81, 0x80, 1, 2, 3, 4}), role::client).error == violation::masked_frame);
    CHECK(parse_all(bytes({0x81, 0x80, 1, 2, 3, 4}), role::server).error == violation::none);
}

TEST_CASE("RFC 6455 §5.2: a 64-bit length with the most significant bit set fails") {
    CHECK(parse_all(bytes({0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}), role::client).error ==
          violation::length_too_large);
    CHECK(parse_all(bytes({0x82, 127, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}), role::client).error ==
          violation::length_too_large);
}

TEST_CASE("RFC 6455 §5.2: lengths not in their minimal encoding fail") {
    CHECK(parse_all(bytes({0x82, 126, 0x00, 125}), role::client).error == violation::non_minimal_length);
    CHECK(parse_all(bytes({0x82, 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF}), role::client).error ==
          violation::non_minimal_length);
}

TEST_CASE("RFC 6455 §5.2: a failed parser stays failed") {
    frame_parser p(role::client);
    auto bad = bytes({0x83, 0x00});
    CHECK(p.parse(bad).type == frame_piece::kind::error);
    CHECK(p.failed());
    auto good = bytes({0x82, 0x00});
    frame_piece again = p.parse(good);
    CHECK(again.type == frame_piece::kind::error);
    CHECK(again.error == violation::reserved_opcode);
}

TEST_CASE("RFC 6455 §5.3: masking phase carries across pieces of one payload") {
    frame_header h;
    h.op = opcode::binary;
    h.masked = true;
    h.key = example_key;
    std::string payload;
    for (int i = 0; i < 1000; ++i) payload += static_cast<char>('a' + i % 26);
    auto frame = make_frame(h, payload);
    // Cuts at every offset modulo 4 and several header positions.
    for (std::size_t a = 1; a < 12; ++a)
        for (std::size_t b : {a + 1, a + 5, a + 7, std::size_t(500), std::size_t(999)})
            if (b > a && b < frame.size()) {
                auto r = parse_split(frame, {a, b}, role::server);
                REQUIRE(r.frames.size() == 1);
                CHECK(r.frames[0].payload == payload);
            }
}

TEST_CASE("RFC 6455 §5.3: apply_mask matches the bytewise definition for every phase and length") {
    std::mt19937 rng(7);
    for (std::size_t len = 0; len < 70; ++len)
        for (std::size_t phase = 0; phase < 4; ++phase) {
            std::vector<std::byte> data(len);
            for (auto& b : data) b = std::byte(rng());
            auto expect = data;
            for (std::size_t i = 0; i < len; ++i) expect[i] ^= example_key[(phase + i) % 4];
            apply_mask(data, example_key, phase);
            CHECK(data == expect);
        }
}

TEST_CASE("RFC 6455 §5.2: random frame streams parse the same however they are split") {
    std::mt19937_64 rng(12345);
    for (int round = 0; round < 200; ++round) {
        std::vector<std::byte> stream;
        std::vector<std::string> payloads;
        const int frames = 1 + static_cast<int>(rng() % 5);
        for (int f = 0; f < frames; ++f) {
            frame_header h;
            h.op = (rng() & 1) ? opcode::binary : opcode::ping;
            h.masked = true;
            for (auto& k : h.key) k = std::byte(rng());
            const std::size_t len = is_control(h.op) ? rng() % 126 : (rng() & 3) ? rng() % 200 : rng() % 70000;
            std::string p(len, '\0');
            for (auto& c : p) c = static_cast<char>(rng());
            payloads.push_back(p);
            auto bytes_ = make_frame(h, p);
            stream.insert(stream.end(), bytes_.begin(), bytes_.end());
        }
        const auto whole = parse_all(stream, role::server);
        REQUIRE(whole.frames.size() == payloads.size());
        for (std::size_t i = 0; i < payloads.size(); ++i) CHECK(whole.frames[i].payload == payloads[i]);
        std::vector<std::size_t> cuts;
        for (std::size_t at = rng() % 20; at < stream.size(); at += 1 + rng() % 3000) cuts.push_back(at);
        CHECK(parse_split(stream, cuts, role::server) == whole);
    }
}
