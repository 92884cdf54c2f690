// Known-answer tests for SHA-1, base64, the accept key and ChaCha20.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sansws/detail/crypto.hpp"
#include "sansws/handshake.hpp"

using namespace sansws;

namespace {

std::string to_hex(bytes_view b) {
    constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::byte x : b) {
        out += digits[std::to_integer<unsigned>(x) >> 4];
        out += digits[std::to_integer<unsigned>(x) & 15];
    }
    return out;
}

std::vector<std::byte> from_hex(std::string_view hex) {
    std::vector<std::byte> out;
    auto nibble = [](char c) {
        return static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10);
    };
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out.push_back(std::byte(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
    return out;
}

std::string sha1_hex(std::string_view s) { return to_hex(sha1::hash(as_bytes(s))); }

// A small deterministic generator so the tests need no entropy source.
std::uint32_t next_rand(std::uint32_t& x) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return x;
}

struct chacha_setup {
    std::array<std::byte, 32> key{};
    std::array<std::byte, 12> nonce{};
};

// Key 00 01 .. 1f as used by RFC 8439 §2.3.2 and §2.4.2.
chacha_setup rfc8439_setup(std::string_view nonce_hex) {
    chacha_setup s;
    for (std::size_t i = 0; i < 32; ++i) s.key[i] = std::byte(i);
    const auto n = from_hex(nonce_hex);
    std::copy(n.begin(), n.end(), s.nonce.begin());
    return s;
}

}  // namespace

TEST_CASE("FIPS 180-4 / RFC 3174 §7.3: SHA-1 test vectors") {
    CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    CHECK(sha1_hex("The quick brown fox jumps over the lazy dog") ==
          "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
    // RFC 3174 TEST4: "01234567" repeated 80 times (640 bytes, ten blocks).
    std::string t4;
    for (int i = 0; i < 80; ++i) t4 += "01234567";
    CHECK(sha1_hex(t4) == "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

TEST_CASE("FIPS 180-4 / RFC 3174 §7.3: SHA-1 of one million 'a' fed in uneven chunks") {
    const std::string a(1'000'000, 'a');
    sha1 h;
    std::size_t pos = 0;
    std::size_t step = 1;
    while (pos < a.size()) {
        // Chunk sizes cycle through 1..130 so every offset within a 64-byte
        // block is hit both at chunk start and chunk end.
        const std::size_t take = std::min(step, a.size() - pos);
        h.update(as_bytes(std::string_view(a).substr(pos, take)));
        pos += take;
        step = step % 130 + 1;
    }
    CHECK(to_hex(h.finish()) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    CHECK(sha1_hex(a) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("FIPS 180-4 §5.1.1: SHA-1 padding boundaries, incremental equals one-shot") {
    // Expected digests from an independent implementation (Python hashlib).
    // Lengths around 55/56/64 exercise the one- and two-block padding paths.
    CHECK(sha1_hex(std::string(55, 'x')) == "cef734ba81a024479e09eb5a75b6ddae62e6abf1");
    CHECK(sha1_hex(std::string(56, 'x')) == "901305367c259952f4e7af8323f480d59f81335b");
    CHECK(sha1_hex(std::string(64, 'x')) == "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163");
    std::uint32_t seed = 12345;
    for (std::size_t len = 0; len <= 200; ++len) {
        std::vector<std::byte> data(len);
        for (auto& b : data) b = std::byte(next_rand(seed));
        sha1 h;
        for (std::byte b : data) {
            h.update(bytes_view(&b, 1));
            h.update(bytes_view{});  // empty updates change nothing
        }
        CHECK(h.finish() == sha1::hash(data));
    }
}

TEST_CASE("RFC 4648 §10: base64 test vectors encode and decode") {
    const std::pair<std::string_view, std::string_view> vectors[] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},     {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    // Named members rather than a structured binding: clang 14 cannot
    // capture bindings in the lambda CAPTURE creates.
    for (const auto& v : vectors) {
        const std::string_view plain = v.first;
        const std::string_view encoded = v.second;
        CAPTURE(plain);
        CHECK(base64_encode(as_bytes(plain)) == encoded);
        const auto decoded = base64_decode(encoded);
        REQUIRE(decoded.has_value());
        CHECK(*decoded == plain);
    }
}

TEST_CASE("RFC 4648 §4: base64 round-trips arbitrary bytes, both alphabet ends") {
    CHECK(base64_encode(from_hex("fbff")) == "+/8=");
    CHECK(base64_decode("+/8=") == std::string("\xfb\xff"));
    std::uint32_t seed = 777;
    for (std::size_t len = 0; len < 100; ++len) {
        std::vector<std::byte> data(len);
        for (auto& b : data) b = std::byte(next_rand(seed));
        const std::string enc = base64_encode(data);
        CHECK(enc.size() == (len + 2) / 3 * 4);
        const auto dec = base64_decode(enc);
        REQUIRE(dec.has_value());
        CHECK(*dec == as_text(data));
    }
}

TEST_CASE("RFC 4648 §3.2/§3.3/§3.5: strict base64 decode rejects malformed input") {
    const std::string_view bad[] = {
        "Zg",        // padding omitted (§3.2)
        "Zg=",       // length not a multiple of four
        "Zm9vY",     // length not a multiple of four
        "Zh==",      // non-zero discarded bits (§3.5)
        "Zm9=",      // non-zero discarded bits (§3.5)
        "Z===",      // too much padding
        "====",      // padding only
        "=Zg=",      // padding at the start
        "Zg=a",      // data after padding
        "Zg==Zg==",  // padding in the middle (§3.3)
        "Zm9v\n",    // whitespace (§3.3)
        "Zm 9v",     // whitespace
        " Zm9v",     // whitespace
        "Zm9-",      // URL-safe alphabet (§5) is not base64 (§4)
        "Zm9_",      // URL-safe alphabet
        "Zm9*",      // character outside the alphabet
    };
    for (std::string_view s : bad) {
        CAPTURE(s);
        CHECK_FALSE(base64_decode(s).has_value());
    }
    CHECK_FALSE(base64_decode(std::string_view("Zm\0v", 4)).has_value());
    CHECK_FALSE(base64_decode("Zm\x80v").has_value());
    CHECK_FALSE(base64_decode("Zm\xffv").has_value());
}

TEST_CASE("RFC 6455 §4.2.2: accept key for the §1.3 example") {
    // The value printed in §1.3 and §4.2.2 of the RFC.
    CHECK(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("RFC 6455 §4.2.2: accept key is always 28 base64 characters of a SHA-1") {
    const std::string key = "x3JJHMbDL1EzLkh9GBhXDw==";
    const std::string accept = websocket_accept_key(key);
    CHECK(accept == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
    const auto raw = base64_decode(accept);
    REQUIRE(raw.has_value());
    CHECK(raw->size() == 20);
}

TEST_CASE("RFC 8439 §2.3.2: ChaCha20 block function test vector") {
    const auto s = rfc8439_setup("000000090000004a00000000");
    chacha20_rng rng;
    rng.seed(s.key, s.nonce, 1);
    const auto block = rng.next_block();
    CHECK(to_hex(block) ==
          "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
          "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e");
}

TEST_CASE("RFC 8439 §2.4.2: ChaCha20 keystream encrypts the sunscreen plaintext") {
    const auto s = rfc8439_setup("000000000000004a00000000");
    chacha20_rng rng;
    rng.seed(s.key, s.nonce, 1);
    const std::string_view plain =
        "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
        "the future, sunscreen would be it.";
    REQUIRE(plain.size() == 114);
    std::vector<std::byte> ks(plain.size());
    rng.fill(ks);
    std::vector<std::byte> cipher(plain.size());
    for (std::size_t i = 0; i < plain.size(); ++i)
        cipher[i] = std::byte(static_cast<unsigned char>(plain[i])) ^ ks[i];
    CHECK(to_hex(cipher) ==
          "6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
          "f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
          "07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
          "5af90bbf74a35be6b40b8eedf2785e42874d");
}

TEST_CASE("RFC 8439 §2.3: fill() in odd-sized pieces equals fill() in one go") {
    const auto s = rfc8439_setup("000000000000004a00000000");
    chacha20_rng whole;
    whole.seed(s.key, s.nonce, 7);
    std::vector<std::byte> expected(1000);
    whole.fill(expected);

    const std::size_t sizes[] = {1, 3, 5, 7, 11, 13, 63, 65, 127, 129};
    for (std::size_t first : sizes) {
        CAPTURE(first);
        chacha20_rng pieces;
        pieces.seed(s.key, s.nonce, 7);
        std::vector<std::byte> got(expected.size());
        std::size_t pos = 0;
        std::size_t step = first;
        while (pos < got.size()) {
            const std::size_t take = std::min(step, got.size() - pos);
            pieces.fill(mutable_bytes(got).subspan(pos, take));
            pos += take;
            step = step * 3 % 97 + 1;
        }
        CHECK(got == expected);
    }

    // The stream is the concatenation of successive blocks (§2.4).
    chacha20_rng blocks;
    blocks.seed(s.key, s.nonce, 7);
    for (std::size_t b = 0; b < 15; ++b) {
        const auto blk = blocks.next_block();
        CHECK(std::equal(blk.begin(), blk.end(), expected.begin() + static_cast<std::ptrdiff_t>(64 * b)));
    }
}

TEST_CASE("RFC 8439 §2.3: reseeding restarts the keystream") {
    const auto s = rfc8439_setup("000000090000004a00000000");
    chacha20_rng rng;
    rng.seed(s.key, s.nonce, 1);
    std::array<std::byte, 5> partial{};
    rng.fill(partial);
    rng.seed(s.key, s.nonce, 1);
    std::array<std::byte, 64> again{};
    rng.fill(again);
    CHECK(to_hex(again).substr(0, 16) == "10f1e7e4d13b5915");
    CHECK(to_hex(partial) == "10f1e7e4d1");
}
