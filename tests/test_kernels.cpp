// Differential tests of every kernel this CPU runs against the scalar
// references: unmasking (RFC 6455 §5.3) for every length 0..300, phase and
// alignment; UTF-8 validation (RFC 3629, RFC 6455 §8.1) for every length
// 0..300 and alignment, sequences straddling every block boundary, errors at
// every position, and random chunked feeds, all with the exact error offset
// and per-feed verdicts of the scalar DFA.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "connection_helpers.hpp"
#include "sansws/frame.hpp"
#include "sansws/kernels.hpp"
#include "sansws/detail/utf8.hpp"

using namespace sansws;

namespace {

using byte_vec = std::vector<std::byte>;

/// Restores the kernel in use when a test ends.
struct kernel_scope {
    kernel saved = active_kernel();
    ~kernel_scope() { force_kernel(saved); }
};

// ---- UTF-8 test data ----------------------------------------------------------

void append_code_point(byte_vec& out, std::uint32_t cp) {
    if (cp < 0x80) {
        out.push_back(std::byte(cp));
    } else if (cp < 0x800) {
        out.push_back(std::byte(0xC0 | (cp >> 6)));
        out.push_back(std::byte(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(std::byte(0xE0 | (cp >> 12)));
        out.push_back(std::byte(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(std::byte(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(std::byte(0xF0 | (cp >> 18)));
        out.push_back(std::byte(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(std::byte(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(std::byte(0x80 | (cp & 0x3F)));
    }
}

/// A random scalar value, biased towards the edges of each length's range
/// where overlong, surrogate and too-large checks sit.
std::uint32_t random_code_point(std::mt19937_64& rng) {
    static constexpr std::uint32_t edges[] = {0x00,   0x7F,   0x80,    0x7FF,    0x800,   0xFFF,  0x1000,
                                              0xD7FF, 0xE000, 0xFFFF,  0x10000,  0x3FFFF, 0x40000,
                                              0xFFFFF, 0x100000, 0x10FFFF};
    switch (rng() % 6) {
    case 0: return edges[rng() % std::size(edges)];
    case 1: return static_cast<std::uint32_t>(rng() % 0x80);
    case 2: return static_cast<std::uint32_t>(0x80 + rng() % 0x780);
    case 3: {
        std::uint32_t cp;
        do cp = static_cast<std::uint32_t>(0x800 + rng() % 0xF800);
        while (cp >= 0xD800 && cp <= 0xDFFF);
        return cp;
    }
    case 4: return static_cast<std::uint32_t>(0x10000 + rng() % 0x100000);
    default: return static_cast<std::uint32_t>(0x20 + rng() % 0x5F);  // plain ASCII runs
    }
}

/// Valid text of exactly `len` bytes (ASCII fills what a long code point
/// would overshoot).
byte_vec random_text(std::mt19937_64& rng, std::size_t len) {
    byte_vec out;
    while (out.size() < len) {
        byte_vec cp;
        append_code_point(cp, random_code_point(rng));
        if (out.size() + cp.size() > len) cp.assign(1, std::byte{'a'});
        out.insert(out.end(), cp.begin(), cp.end());
    }
    return out;
}

/// Bytes that matter to the validators: every lead class, the continuation
/// sub-ranges of RFC 3629 §4, and never-valid bytes.
constexpr std::array<std::uint8_t, 24> interesting = {
    0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2,
    0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF3, 0xF4, 0xF5, 0xFF};

/// One random corruption: a byte replaced, inserted, or the text cut short.
void corrupt(std::mt19937_64& rng, byte_vec& text) {
    if (text.empty()) {
        text.push_back(std::byte(interesting[rng() % interesting.size()]));
        return;
    }
    const std::size_t at = rng() % text.size();
    const auto b = std::byte(rng() % 3 == 0 ? static_cast<std::uint8_t>(rng()) : interesting[rng() % interesting.size()]);
    switch (rng() % 3) {
    case 0: text[at] = b; break;
    case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), b); break;
    default: text.resize(at); break;
    }
}

// ---- running the validator ------------------------------------------------------

/// Everything observable about one validation: the verdict of every feed,
/// then failed(), error_offset() and complete().
struct trace {
    std::vector<bool> feeds;
    bool failed = false;
    std::uint64_t offset = 0;
    bool complete = false;
    bool operator==(const trace&) const = default;
};

trace run(kernel k, bytes_view text, std::span<const std::size_t> cuts = {}) {
    REQUIRE(force_kernel(k));
    utf8_validator v;
    trace t;
    std::size_t start = 0;
    for (std::size_t c : cuts) {
        t.feeds.push_back(v.feed(text.subspan(start, c - start)));
        start = c;
    }
    t.feeds.push_back(v.feed(text.subspan(start)));
    t.failed = v.failed();
    t.offset = v.failed() ? v.error_offset() : 0;
    t.complete = v.complete();
    return t;
}

/// As run(), through feed_unmasked(): `text` masked with a key, each piece
/// unmasked into a copy while validated. The copies must rebuild `text`.
trace run_unmasked(kernel k, bytes_view text, std::span<const std::size_t> cuts, bool& copy_ok) {
    REQUIRE(force_kernel(k));
    static constexpr mask_key key{std::byte{0xa5}, std::byte{0x3c}, std::byte{0x0f}, std::byte{0x81}};
    byte_vec masked(text.begin(), text.end()), out(text.size(), std::byte{0});
    for (std::size_t i = 0; i < masked.size(); ++i) masked[i] ^= key[i % 4];
    utf8_validator v;
    trace t;
    std::size_t start = 0;
    auto piece = [&](std::size_t end) {
        t.feeds.push_back(v.feed_unmasked(std::span(out).subspan(start, end - start),
                                          bytes_view(masked).subspan(start, end - start), key, start % 4));
        start = end;
    };
    for (std::size_t c : cuts) piece(c);
    piece(text.size());
    t.failed = v.failed();
    t.offset = v.failed() ? v.error_offset() : 0;
    t.complete = v.complete();
    copy_ok = std::equal(out.begin(), out.end(), text.begin(), text.end());
    return t;
}

std::string hex(bytes_view b) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string s;
    for (std::byte x : b) {
        s += digits[std::to_integer<unsigned>(x) >> 4];
        s += digits[std::to_integer<unsigned>(x) & 15];
        s += ' ';
    }
    return s;
}

/// Every available kernel agrees with the scalar DFA on `text` (placed at
/// `text`'s own address) with the given cuts, through feed() and through
/// feed_unmasked(). Returns false after reporting
/// the first disagreement, so callers can stop early.
bool agrees(bytes_view text, std::span<const std::size_t> cuts = {}) {
    const trace want = run(kernel::scalar, text, cuts);
    for (kernel k : available_kernels()) {
        bool copy_ok = true;
        const trace got = k == kernel::scalar ? want : run(k, text, cuts);
        const trace fused = run_unmasked(k, text, cuts, copy_ok);
        if (got != want || fused != want || !copy_ok) {
            INFO("kernel ", to_string(k), ", ", text.size(), " bytes: ", hex(text.first(std::min<std::size_t>(text.size(), 96))));
            INFO("want  failed=", want.failed, " offset=", want.offset, " complete=", want.complete);
            INFO("feed  failed=", got.failed, " offset=", got.offset, " complete=", got.complete);
            INFO("fused failed=", fused.failed, " offset=", fused.offset, " complete=", fused.complete);
            CHECK(got == want);
            CHECK(fused == want);
            CHECK(copy_ok);
            return false;
        }
    }
    return true;
}

/// `text` copied to `align` bytes past a 64-byte boundary.
struct placed {
    std::vector<std::byte> storage;
    bytes_view view;
    placed(bytes_view text, std::size_t align) : storage(text.size() + 128) {
        const auto base = reinterpret_cast<std::uintptr_t>(storage.data());
        const std::size_t skip = (64 - base % 64) % 64 + align;
        std::copy(text.begin(), text.end(), storage.begin() + static_cast<std::ptrdiff_t>(skip));
        view = bytes_view(storage.data() + skip, text.size());
    }
};

}  // namespace

TEST_CASE("kernels: names, availability and forcing") {
    kernel_scope scope;
    CHECK(kernel_available(kernel::scalar));
    CHECK(kernel_available(kernel::word));
    const auto avail = available_kernels();
    REQUIRE(avail.size() >= 2);
    CHECK(std::is_sorted(avail.begin(), avail.end()));
    for (kernel k : {kernel::scalar, kernel::word, kernel::sse2, kernel::avx2, kernel::avx512}) {
        CHECK(kernel_from_string(to_string(k)) == k);
        CHECK(force_kernel(k) == kernel_available(k));
        if (kernel_available(k)) CHECK(active_kernel() == k);
    }
    CHECK(!kernel_from_string("native"));
    CHECK(has_utf8_kernel(kernel::scalar));
    CHECK(!has_utf8_kernel(kernel::word));
    MESSAGE("kernels on this CPU: ", avail.size(), ", fastest ", to_string(avail.back()));
}

TEST_CASE("kernels: unmasking matches §5.3 bytewise for every length 0..300, phase and alignment") {
    kernel_scope scope;
    std::mt19937_64 rng(11);
    const mask_key key{std::byte{0x37}, std::byte{0xfa}, std::byte{0x21}, std::byte{0x3d}};
    std::vector<std::byte> buf(300 + 64 + 2 * 64);
    for (kernel k : available_kernels()) {
        REQUIRE(force_kernel(k));
        bool ok = true;
        for (std::size_t len = 0; len <= 300 && ok; ++len)
            for (std::size_t align = 0; align < 64 && ok; ++align)
                for (std::size_t phase = 0; phase < 4 && ok; ++phase) {
                    for (auto& b : buf) b = std::byte(rng());
                    const auto before = buf;
                    // 64 guard bytes on either side must stay as they were.
                    auto data = std::span(buf).subspan(64 + align, len);
                    apply_mask(data, key, phase);
                    for (std::size_t i = 0; i < buf.size(); ++i) {
                        const bool inside = i >= 64 + align && i < 64 + align + len;
                        const std::byte want = inside ? before[i] ^ key[(phase + i - 64 - align) % 4] : before[i];
                        if (buf[i] != want) {
                            INFO("kernel ", to_string(k), " len ", len, " align ", align, " phase ", phase, " byte ", i);
                            CHECK(buf[i] == want);
                            ok = false;
                            break;
                        }
                    }
                }
        CHECK(ok);
    }
}

TEST_CASE("kernels: copy_masked matches §5.3 bytewise for every length 0..300, phase and both alignments") {
    kernel_scope scope;
    std::mt19937_64 rng(13);
    const mask_key key{std::byte{0x9c}, std::byte{0x01}, std::byte{0xe7}, std::byte{0x55}};
    std::vector<std::byte> src(300 + 128), dst(300 + 3 * 64);
    for (kernel k : available_kernels()) {
        REQUIRE(force_kernel(k));
        bool ok = true;
        for (std::size_t len = 0; len <= 300 && ok; ++len)
            for (std::size_t align = 0; align < 64 && ok; ++align)
                for (std::size_t phase = 0; phase < 4 && ok; ++phase) {
                    for (auto& b : src) b = std::byte(rng());
                    for (auto& b : dst) b = std::byte(rng());
                    const auto before = dst;
                    const std::size_t from = (align * 7 + phase) % 64;  // the source at another alignment
                    copy_masked(std::span(dst).subspan(64 + align, len), std::span(src).subspan(from, len), key, phase);
                    for (std::size_t i = 0; i < dst.size(); ++i) {
                        const bool inside = i >= 64 + align && i < 64 + align + len;
                        const std::size_t j = i - 64 - align;
                        const std::byte want = inside ? src[from + j] ^ key[(phase + j) % 4] : before[i];
                        if (dst[i] != want) {
                            INFO("kernel ", to_string(k), " len ", len, " align ", align, " phase ", phase, " byte ", i);
                            CHECK(dst[i] == want);
                            ok = false;
                            break;
                        }
                    }
                }
        CHECK(ok);
    }
}

TEST_CASE("kernels: a parser that leaves payloads masked reports each piece's phase") {
    // frame_parser::set_unmask(false): the connection unmasks pieces itself,
    // in place or fused with a copy, at phase offset % 4.
    kernel_scope scope;
    std::mt19937_64 rng(14);
    for (kernel k : available_kernels()) {
        REQUIRE(force_kernel(k));
        for (int round = 0; round < 40; ++round) {
            frame_header h;
            h.op = opcode::binary;
            h.masked = true;
            for (auto& b : h.key) b = std::byte(rng());
            std::vector<std::byte> payload(rng() % 3000);
            for (auto& b : payload) b = std::byte(rng());
            h.payload_length = payload.size();
            std::array<std::byte, max_frame_header_size> hdr;
            std::vector<std::byte> wire(hdr.begin(), hdr.begin() + static_cast<std::ptrdiff_t>(write_frame_header(hdr, h)));
            for (std::size_t i = 0; i < payload.size(); ++i) wire.push_back(payload[i] ^ h.key[i % 4]);
            frame_parser parser(role::server);
            parser.set_unmask(false);
            std::vector<std::byte> got;
            for (std::size_t at = 0; at < wire.size();) {
                const std::size_t n = std::min<std::size_t>(wire.size() - at, 1 + rng() % 200);
                auto chunk = std::span(wire).subspan(at, n);
                while (!chunk.empty()) {
                    const frame_piece piece = parser.parse(chunk);
                    chunk = chunk.subspan(piece.consumed);
                    REQUIRE(piece.type != frame_piece::kind::error);
                    if (piece.type != frame_piece::kind::data) continue;
                    CHECK(piece.offset == got.size());
                    std::vector<std::byte> out(piece.payload.size());
                    copy_masked(out, piece.payload, piece.header.key, piece.offset % 4);
                    got.insert(got.end(), out.begin(), out.end());
                }
                at += n;
            }
            INFO("kernel ", to_string(k), " round ", round);
            CHECK(got == payload);
        }
    }
}

TEST_CASE("kernels: unmasking a payload in random pieces carries the phase") {
    kernel_scope scope;
    std::mt19937_64 rng(12);
    for (kernel k : available_kernels()) {
        REQUIRE(force_kernel(k));
        for (int round = 0; round < 50; ++round) {
            mask_key key;
            for (auto& b : key) b = std::byte(rng());
            std::vector<std::byte> data(rng() % 5000), want(data.size());
            for (std::size_t i = 0; i < data.size(); ++i) {
                data[i] = std::byte(rng());
                want[i] = data[i] ^ key[i % 4];
            }
            for (std::size_t at = 0; at < data.size();) {
                const std::size_t n = std::min<std::size_t>(data.size() - at, 1 + rng() % 700);
                apply_mask(std::span(data).subspan(at, n), key, at % 4);
                at += n;
            }
            INFO("kernel ", to_string(k), " round ", round);
            CHECK(data == want);
        }
    }
}

TEST_CASE("kernels: UTF-8, every length 0..300 and alignment, valid and corrupted") {
    kernel_scope scope;
    std::mt19937_64 rng(21);
    bool ok = true;
    for (std::size_t len = 0; len <= 300 && ok; ++len) {
        const byte_vec good = random_text(rng, len);
        byte_vec bad = good;
        corrupt(rng, bad);
        for (std::size_t align = 0; align < 64 && ok; align += (len < 80 ? 1 : 7)) {
            ok = agrees(placed(good, align).view) && agrees(placed(bad, align).view);
        }
    }
}

TEST_CASE("kernels: UTF-8, every short sequence of interesting bytes at every block position") {
    // Two- and three-byte sequences of the bytes that matter, embedded in
    // ASCII at each offset around the 32- and 64-byte block boundaries and
    // the end of the input, so every cross-block carry path is taken.
    kernel_scope scope;
    std::vector<std::size_t> offsets;
    for (std::size_t o = 0; o < 8; ++o) offsets.push_back(o);
    for (std::size_t o = 26; o < 38; ++o) offsets.push_back(o);
    for (std::size_t o = 58; o < 70; ++o) offsets.push_back(o);
    for (std::size_t o = 124; o < 132; ++o) offsets.push_back(o);
    bool ok = true;
    for (std::uint8_t a : interesting)
        for (std::uint8_t b : interesting)
            for (std::uint8_t c : {std::uint8_t{0x41}, std::uint8_t{0x80}, std::uint8_t{0xBF}, std::uint8_t{0xC2}})
                for (std::size_t o : offsets) {
                    if (!ok) return;
                    for (std::size_t tail : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{40}}) {
                        byte_vec text(o, std::byte{'x'});
                        text.push_back(std::byte(a));
                        text.push_back(std::byte(b));
                        text.push_back(std::byte(c));
                        // Complete what may be a valid 4-byte sequence so the
                        // valid paths are exercised too.
                        text.push_back(std::byte{0x80});
                        text.insert(text.end(), tail, std::byte{'y'});
                        ok = agrees(text);
                        if (!ok) break;
                    }
                }
}

TEST_CASE("kernels: UTF-8, an error at every position of mixed text") {
    kernel_scope scope;
    std::mt19937_64 rng(22);
    const byte_vec good = random_text(rng, 400);
    bool ok = agrees(good);
    for (std::size_t at = 0; at < good.size() && ok; ++at)
        for (std::uint8_t b : {std::uint8_t{0x80}, std::uint8_t{0xC0}, std::uint8_t{0xF5}, std::uint8_t{0xE0},
                               std::uint8_t{0xED}, std::uint8_t{0xF4}, std::uint8_t{0x41}}) {
            byte_vec bad = good;
            bad[at] = std::byte(b);
            ok = agrees(bad) && agrees(byte_vec(bad.begin(), bad.begin() + static_cast<std::ptrdiff_t>(at) + 1));
            if (!ok) break;
        }
}

TEST_CASE("kernels: UTF-8, one sequence at every position of a long ASCII run") {
    // The SIMD kernels skip ASCII four blocks per test (128 bytes for AVX2,
    // 256 for AVX-512) and fall back to one block where a group holds a
    // high bit: a sequence (or an error) in every position of such a group,
    // of the group after it and of the sub-block tail, and cut by the end.
    kernel_scope scope;
    const std::vector<byte_vec> sequences = {
        {std::byte{0xC3}, std::byte{0xA9}},                                      // valid, 2 bytes
        {std::byte{0xE2}, std::byte{0x82}, std::byte{0xAC}},                     // valid, 3 bytes
        {std::byte{0xF0}, std::byte{0x9F}, std::byte{0x98}, std::byte{0x80}},    // valid, 4 bytes
        {std::byte{0x80}},                                                       // lone continuation
        {std::byte{0xE0}, std::byte{0x80}, std::byte{0x80}},                     // overlong
        {std::byte{0xF4}, std::byte{0x90}, std::byte{0x80}, std::byte{0x80}},    // above U+10FFFF
        {std::byte{0xE2}, std::byte{0x82}},                                      // cut short
    };
    const std::size_t len = 600;
    bool ok = true;
    for (const byte_vec& seq : sequences)
        for (std::size_t at = 0; at + seq.size() <= len && ok; ++at) {
            byte_vec text(len, std::byte{'a'});
            std::copy(seq.begin(), seq.end(), text.begin() + static_cast<std::ptrdiff_t>(at));
            ok = agrees(text) && agrees(byte_vec(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at + seq.size())));
        }
}

TEST_CASE("kernels: UTF-8 fed in random chunks keeps per-feed verdicts and offsets") {
    kernel_scope scope;
    std::mt19937_64 rng(23);
    bool ok = true;
    for (int round = 0; round < 600 && ok; ++round) {
        const std::size_t len = round % 10 == 0 ? rng() % 20000 : rng() % 700;
        byte_vec text = round % 4 == 0 ? byte_vec(len, std::byte{'a'}) : random_text(rng, len);
        if (round % 4 == 0)
            for (std::size_t i = 0; i < 4 && len; ++i) text[rng() % len] = std::byte(0xC2 + rng() % 0x30);
        if (round % 3 != 0) corrupt(rng, text);
        std::vector<std::size_t> cuts;
        // Pieces of every size class: single bytes (cuts inside code
        // points), sub-block, multi-block.
        for (std::size_t at = 0;;) {
            const std::size_t step = rng() % 3 == 0 ? 1 + rng() % 4 : rng() % 2 ? 1 + rng() % 70 : 1 + rng() % 3000;
            at += step;
            if (at >= text.size()) break;
            cuts.push_back(at);
        }
        ok = agrees(placed(text, rng() % 64).view, cuts);
    }
}

TEST_CASE("kernels: UTF-8, 16 KiB reads of 64 KiB mixed text, valid and with one late error") {
    kernel_scope scope;
    std::mt19937_64 rng(24);
    byte_vec text = random_text(rng, 65536);
    std::vector<std::size_t> cuts;
    for (std::size_t at = 16384; at < text.size(); at += 16384) cuts.push_back(at);
    CHECK(agrees(text, cuts));
    for (std::size_t at : {std::size_t{16383}, std::size_t{16384}, std::size_t{40000}, std::size_t{65535}}) {
        byte_vec bad = text;
        bad[at] = std::byte{0xFF};
        CHECK(agrees(bad, cuts));
    }
}

TEST_CASE("kernels: a server connection reports the same events with every kernel") {
    // Through the engine: whole frames taken by the fast path, messages
    // spanning reads unmasked while copied (copy_masked), fragmented text
    // cut inside code points, and invalid text failing at the same place.
    kernel_scope scope;
    std::mt19937_64 rng(31);
    for (int round = 0; round < 60; ++round) {
        wstest::buffer stream;
        wstest::got_list expect;  // while no text was corrupted
        bool corrupted = false;
        const int messages = 1 + static_cast<int>(rng() % 6);
        for (int m = 0; m < messages; ++m) {
            const std::size_t len = rng() % 4 == 0 ? rng() % 70000 : rng() % 300;
            const bool text = rng() % 2 == 0;
            byte_vec body = text ? random_text(rng, len) : byte_vec(len);
            if (!text)
                for (auto& b : body) b = std::byte(rng());
            if (text && m == messages - 1 && rng() % 3 == 0) {
                corrupt(rng, body);
                corrupted = true;
            }
            const std::string payload(wstest::str(body));
            expect.push_back(text ? wstest::text_msg(payload) : wstest::binary_msg(payload));
            // One frame, or a fragmented message cut at random points.
            const std::size_t parts = rng() % 3 == 0 ? 1 + rng() % 4 : 1;
            std::size_t at = 0;
            for (std::size_t part = 0; part < parts; ++part) {
                const std::size_t end = part + 1 == parts ? payload.size() : at + rng() % (payload.size() - at + 1);
                const std::uint8_t op = part == 0 ? (text ? 0x1 : 0x2) : 0x0;
                const std::uint8_t fin = part + 1 == parts ? 0x80 : 0x00;
                const auto f = wstest::cframe(static_cast<std::uint8_t>(fin | op), std::string_view(payload).substr(at, end - at));
                stream.insert(stream.end(), f.begin(), f.end());
                at = end;
            }
            if (rng() % 5 == 0) {
                const auto ping = wstest::cframe(0x89, "p");
                stream.insert(stream.end(), ping.begin(), ping.end());
                expect.push_back(wstest::got_ping{"p"});
            }
        }
        for (auto delivery : {delivery_mode::whole_message, delivery_mode::streaming}) {
            const std::uint64_t seed = rng();
            auto events_with = [&](kernel k) {
                REQUIRE(force_kernel(k));
                config cfg = wstest::server_config();
                cfg.delivery = delivery;
                connection c = wstest::open_server(std::move(cfg));
                std::mt19937_64 reads(seed);
                return wstest::normalise(wstest::feed_reads(c, stream, [&] { return 1 + reads() % 20000; }));
            };
            const auto want = events_with(kernel::scalar);
            // The reference itself must be right: every message, unmasked.
            if (!corrupted) CHECK(want == expect);
            for (kernel k : available_kernels()) {
                INFO("kernel ", to_string(k), " round ", round, " streaming ", delivery == delivery_mode::streaming);
                CHECK(events_with(k) == want);
            }
        }
    }
}
