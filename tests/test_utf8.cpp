// UTF-8 validation tests: a table of boundary cases, split invariance, and a
// differential test against an independent reference decoder.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <initializer_list>
#include <cstdint>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sansws/detail/utf8.hpp"

using namespace sansws;

namespace {

using byte_vec = std::vector<std::byte>;

byte_vec from_hex(std::string_view hex) {
    byte_vec out;
    auto nibble = [](char c) {
        return static_cast<unsigned>(c <= '9' ? c - '0' : c - 'a' + 10);
    };
    std::size_t i = 0;
    while (i < hex.size()) {
        if (hex[i] == ' ') {
            ++i;
            continue;
        }
        out.push_back(std::byte(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
        i += 2;
    }
    return out;
}

std::string to_hex(bytes_view b) {
    constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::byte x : b) {
        if (!out.empty()) out += ' ';
        out += digits[std::to_integer<unsigned>(x) >> 4];
        out += digits[std::to_integer<unsigned>(x) & 15];
    }
    return out;
}

// What validating a whole input should produce.
struct outcome {
    bool ok = true;             // every feed() returned true
    bool complete = true;       // complete() at the end (only when ok)
    std::uint64_t offset = 0;   // error_offset() (only when !ok)
    bool operator==(const outcome&) const = default;
};

std::string describe(const outcome& o) {
    if (!o.ok) return "error at " + std::to_string(o.offset);
    return o.complete ? "valid" : "truncated";
}

// Feed `data` cut at the given ascending positions.
outcome run_split(bytes_view data, std::span<const std::size_t> cuts) {
    utf8_validator v;
    std::size_t start = 0;
    bool ok = true;
    auto feed_to = [&](std::size_t end) {
        if (ok) ok = v.feed(data.subspan(start, end - start));
        start = end;
    };
    for (std::size_t c : cuts) feed_to(c);
    feed_to(data.size());
    // failed() must agree with what feed() returned; a disagreement shows
    // up as an impossible outcome that matches no expectation.
    if (ok == v.failed()) return {false, true, ~std::uint64_t{0}};
    if (!ok) return {false, false, v.error_offset()};
    return {true, v.complete(), 0};
}

outcome run_whole(bytes_view data) { return run_split(data, {}); }

outcome run_split(bytes_view data, std::initializer_list<std::size_t> cuts) {
    return run_split(data, std::span<const std::size_t>(cuts.begin(), cuts.size()));
}

// Reference: an independent formulation of RFC 3629. It decodes code point
// bits as it goes and, after each byte, asks whether the code points still
// reachable by completing the current sequence intersect the range allowed
// for that sequence length (minus surrogates). The first byte after which
// the answer is "no" is the fail-fast error offset of RFC 6455 §8.1.
outcome reference_validate(bytes_view data) {
    auto viable = [](std::uint32_t partial, int len, int remaining) {
        static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        static constexpr std::uint32_t max_cp[] = {0, 0x7F, 0x7FF, 0xFFFF, 0x10FFFF};
        const std::uint32_t lo = partial << (6 * remaining);
        const std::uint32_t hi = lo | ((1u << (6 * remaining)) - 1);
        const std::uint32_t a = std::max(lo, min_cp[len]);
        const std::uint32_t b = std::min(hi, max_cp[len]);
        if (a > b) return false;
        // Only surrogates left (RFC 3629 §3 excludes U+D800..U+DFFF).
        return !(a >= 0xD800 && b <= 0xDFFF);
    };
    std::size_t i = 0;
    while (i < data.size()) {
        const unsigned lead = std::to_integer<unsigned>(data[i]);
        int len = 0;
        std::uint32_t cp = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        }
        if ((lead & 0xE0) == 0xC0) {
            len = 2;
            cp = lead & 0x1F;
        } else if ((lead & 0xF0) == 0xE0) {
            len = 3;
            cp = lead & 0x0F;
        } else if ((lead & 0xF8) == 0xF0) {
            len = 4;
            cp = lead & 0x07;
        } else {
            return {false, false, i};  // continuation byte or 5+ byte lead
        }
        if (!viable(cp, len, len - 1)) return {false, false, i};
        for (int k = 1; k < len; ++k) {
            const std::size_t at = i + static_cast<std::size_t>(k);
            if (at >= data.size()) return {true, false, 0};  // truncated
            const unsigned c = std::to_integer<unsigned>(data[at]);
            if ((c & 0xC0) != 0x80) return {false, false, at};
            cp = cp << 6 | (c & 0x3F);
            if (!viable(cp, len, len - 1 - k)) return {false, false, at};
        }
        i += static_cast<std::size_t>(len);
    }
    return {true, true, 0};
}

struct table_case {
    const char* what;
    const char* hex;
    outcome expected;
};

constexpr outcome valid{true, true, 0};
constexpr outcome truncated{true, false, 0};
constexpr outcome error_at(std::uint64_t off) { return {false, false, off}; }

const table_case table[] = {
    // Valid, including every length boundary (RFC 3629 §3).
    {"empty", "", valid},
    {"NUL", "00", valid},
    {"U+007F", "7f", valid},
    {"U+0080", "c2 80", valid},
    {"U+07FF", "df bf", valid},
    {"U+0800", "e0 a0 80", valid},
    {"U+D7FF", "ed 9f bf", valid},
    {"U+E000", "ee 80 80", valid},
    {"U+FFFE noncharacter is still valid", "ef bf be", valid},
    {"U+FFFF", "ef bf bf", valid},
    {"U+10000", "f0 90 80 80", valid},
    {"U+FFFFF", "f3 bf bf bf", valid},
    {"U+100000", "f4 80 80 80", valid},
    {"U+10FFFF", "f4 8f bf bf", valid},
    {"kosme", "ce ba e1 bd b9 cf 83 ce bc ce b5", valid},
    {"long ASCII", "48 65 6c 6c 6f 2c 20 77 6f 72 6c 64 21 21 21 21 21", valid},
    {"ASCII then 4-byte at word edge", "41 41 41 41 41 41 41 f0 9f 98 80 41", valid},
    // Beyond U+10FFFF (RFC 3629 §3).
    {"U+110000", "f4 90 80 80", error_at(1)},
    {"F4 90 alone", "f4 90", error_at(1)},
    {"U+13FFFF", "f4 bf bf bf", error_at(1)},
    {"F5 lead", "f5 80 80 80", error_at(0)},
    {"F7 lead", "f7 bf bf bf", error_at(0)},
    {"F8 five-byte lead", "f8 88 80 80 80", error_at(0)},
    {"FC six-byte lead", "fc 84 80 80 80 80", error_at(0)},
    {"FE", "fe", error_at(0)},
    {"FF", "ff", error_at(0)},
    // Surrogates (RFC 3629 §3).
    {"U+D800", "ed a0 80", error_at(1)},
    {"U+DBFF", "ed af bf", error_at(1)},
    {"U+DC00", "ed b0 80", error_at(1)},
    {"U+DFFF", "ed bf bf", error_at(1)},
    {"ED A0 alone", "ed a0", error_at(1)},
    {"surrogate pair", "ed a0 80 ed b0 80", error_at(1)},
    // Overlongs of each length (RFC 3629 §3, §10).
    {"C0 alone", "c0", error_at(0)},
    {"overlong NUL 2-byte", "c0 80", error_at(0)},
    {"overlong '/' 2-byte", "c0 af", error_at(0)},
    {"overlong U+007F 2-byte", "c1 bf", error_at(0)},
    {"E0 80", "e0 80", error_at(1)},
    {"overlong NUL 3-byte", "e0 80 80", error_at(1)},
    {"overlong '/' 3-byte", "e0 80 af", error_at(1)},
    {"overlong U+07FF 3-byte", "e0 9f bf", error_at(1)},
    {"overlong NUL 4-byte", "f0 80 80 80", error_at(1)},
    {"overlong '/' 4-byte", "f0 80 80 af", error_at(1)},
    {"overlong U+FFFF 4-byte", "f0 8f bf bf", error_at(1)},
    // Stray and missing continuation bytes.
    {"lone 80", "80", error_at(0)},
    {"lone BF", "bf", error_at(0)},
    {"ASCII then continuation", "41 80", error_at(1)},
    {"extra continuation", "c2 80 80", error_at(2)},
    {"2-byte interrupted by ASCII", "c2 41", error_at(1)},
    {"3-byte interrupted by ASCII", "e1 80 41", error_at(2)},
    {"4-byte interrupted by ASCII", "f1 80 80 41", error_at(3)},
    {"lead after lead", "c2 c2 80", error_at(1)},
    {"3-byte lead interrupted by lead", "e1 80 e1 80 80", error_at(2)},
    {"Autobahn 6.4.x style", "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64",
     error_at(12)},
    // Errors around the 8-byte ASCII fast path.
    {"7 ASCII then 80", "41 41 41 41 41 41 41 80", error_at(7)},
    {"8 ASCII then 80", "41 41 41 41 41 41 41 41 80", error_at(8)},
    {"9 ASCII then FF", "41 41 41 41 41 41 41 41 41 ff", error_at(9)},
    {"16 ASCII then C0",
     "41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 c0 80", error_at(16)},
    {"error inside a word of ASCII", "41 41 41 ff 41 41 41 41 41 41 41", error_at(3)},
    // ASCII may not be skipped in bulk while a code point is unfinished.
    {"2-byte lead then 8 ASCII", "c2 41 41 41 41 41 41 41 41", error_at(1)},
    {"3-byte lead, one tail, then 8 ASCII", "e1 80 41 41 41 41 41 41 41 41", error_at(2)},
    // Truncated at the end: every feed() succeeds, complete() is false.
    {"C2 at end", "c2", truncated},
    {"DF at end", "df", truncated},
    {"E0 at end", "e0", truncated},
    {"E0 A0 at end", "e0 a0", truncated},
    {"E1 80 at end", "e1 80", truncated},
    {"ED at end", "ed", truncated},
    {"ED 9F at end", "ed 9f", truncated},
    {"F0 at end", "f0", truncated},
    {"F0 90 at end", "f0 90", truncated},
    {"F0 90 80 at end", "f0 90 80", truncated},
    {"F1 at end", "f1", truncated},
    {"F3 BF BF at end", "f3 bf bf", truncated},
    {"F4 8F BF at end", "f4 8f bf", truncated},
    {"text then E2 82 at end", "41 42 e2 82", truncated},
};

// Up to four encoded bytes, kept off the heap so the exhaustive loops stay
// fast under sanitizers.
struct encoded {
    std::array<std::byte, 4> bytes{};
    std::size_t size = 0;
    bytes_view view() const { return {bytes.data(), size}; }
};

// Encode a value per RFC 3629 §3 (no checks; callers pass scalars or
// deliberately bad values such as surrogates).
encoded encode(std::uint32_t cp) {
    encoded out;
    auto push = [&](std::uint32_t b) { out.bytes[out.size++] = std::byte(b & 0xFF); };
    if (cp < 0x80) {
        push(cp);
    } else if (cp < 0x800) {
        push(0xC0 | cp >> 6);
        push(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        push(0xE0 | cp >> 12);
        push(0x80 | ((cp >> 6) & 0x3F));
        push(0x80 | (cp & 0x3F));
    } else {
        push(0xF0 | cp >> 18);
        push(0x80 | ((cp >> 12) & 0x3F));
        push(0x80 | ((cp >> 6) & 0x3F));
        push(0x80 | (cp & 0x3F));
    }
    return out;
}

}  // namespace

TEST_CASE("RFC 3629 §3/§4, RFC 6455 §8.1: table of valid and invalid sequences") {
    for (const auto& c : table) {
        const byte_vec data = from_hex(c.hex);
        CAPTURE(c.what);
        const outcome got = run_whole(data);
        CHECK_MESSAGE(got == c.expected, describe(got), " expected ", describe(c.expected));
        // The reference agrees with every hand-written expectation, which
        // checks the reference used by the differential test below.
        CHECK(reference_validate(data) == c.expected);
        CHECK(is_valid_utf8(data) == (c.expected.ok && c.expected.complete));
    }
}

TEST_CASE("RFC 6455 §8.1: every 1- and 2-cut split of each table case gives the same result") {
    for (const auto& c : table) {
        const byte_vec data = from_hex(c.hex);
        CAPTURE(c.what);
        for (std::size_t i = 0; i <= data.size(); ++i) {
            CAPTURE(i);
            CHECK(run_split(data, {i}) == c.expected);
            for (std::size_t j = i; j <= data.size(); ++j) {
                CAPTURE(j);
                CHECK(run_split(data, {i, j}) == c.expected);
            }
        }
        std::vector<std::size_t> every_byte;
        for (std::size_t i = 1; i < data.size(); ++i) every_byte.push_back(i);
        CHECK(run_split(data, every_byte) == c.expected);
    }
}

TEST_CASE("RFC 6455 §8.1: the validator stays failed and counts offsets across feeds") {
    utf8_validator v;
    CHECK(v.complete());
    CHECK_FALSE(v.failed());
    CHECK(v.feed(as_bytes("hello ")));
    CHECK(v.feed(as_bytes("\xE2\x82")));
    CHECK_FALSE(v.complete());
    CHECK(v.feed(as_bytes("\xAC")));  // completes U+20AC across the split
    CHECK(v.complete());
    CHECK(v.feed(bytes_view{}));
    CHECK_FALSE(v.feed(as_bytes("ab\xFF")));
    CHECK(v.failed());
    CHECK_FALSE(v.complete());
    CHECK(v.error_offset() == 11);
    // Later input cannot revive it or move the reported offset.
    CHECK_FALSE(v.feed(as_bytes("ok")));
    CHECK_FALSE(v.feed(bytes_view{}));
    CHECK(v.error_offset() == 11);
    v.reset();
    CHECK_FALSE(v.failed());
    CHECK(v.complete());
    CHECK_FALSE(v.feed(as_bytes("\x80")));
    CHECK(v.error_offset() == 0);
}

TEST_CASE("RFC 3629 §3: every scalar value is valid, every surrogate fails at byte 1") {
    std::size_t bad_scalars = 0;
    std::size_t bad_surrogates = 0;
    for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
        const outcome got = run_whole(encode(cp).view());
        if (cp >= 0xD800 && cp <= 0xDFFF) {
            if (!(got == outcome{false, false, 1})) ++bad_surrogates;
        } else if (!(got == valid)) {
            ++bad_scalars;
        }
    }
    CHECK(bad_scalars == 0);
    CHECK(bad_surrogates == 0);
    // Just past the top: F4 90 80 80 fails at the second byte.
    CHECK(run_whole(encode(0x110000).view()) == error_at(1));
}

TEST_CASE("RFC 3629 §4: all one- and two-byte inputs agree with the reference") {
    std::size_t mismatches = 0;
    std::string first;
    for (unsigned a = 0; a < 256; ++a) {
        const byte_vec one{std::byte(a)};
        if (!(run_whole(one) == reference_validate(one))) ++mismatches;
        for (unsigned b = 0; b < 256; ++b) {
            const byte_vec two{std::byte(a), std::byte(b)};
            if (!(run_whole(two) == reference_validate(two)) ||
                !(run_split(two, {1}) == reference_validate(two))) {
                if (mismatches++ == 0) first = to_hex(two);
            }
        }
    }
    CAPTURE(first);
    CHECK(mismatches == 0);
}

TEST_CASE("RFC 3629 §3/§4, RFC 6455 §8.1: differential test against a reference decoder") {
    std::mt19937 rng(0x5EED);
    auto pick = [&](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };

    // Code points on and next to every boundary, so mutations land near
    // the interesting edges.
    const std::uint32_t edges[] = {0x00,    0x7F,    0x80,     0x7FF,    0x800,
                                   0xD7FF,  0xD800,  0xDFFF,   0xE000,   0xFFFF,
                                   0x10000, 0x3FFFF, 0x40000,  0xFFFFF,  0x100000,
                                   0x10FFFF, 0x110000, 0x1FFFFF};
    const std::uint8_t edge_bytes[] = {0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0,
                                       0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF,
                                       0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFF};

    auto random_code_point = [&]() -> std::uint32_t {
        switch (pick(4)) {
            case 0: return edges[pick(std::size(edges))];
            case 1: return edges[pick(std::size(edges))] + pick(5) - 2;
            case 2: return pick(0x800);
            default: return pick(0x110000);
        }
    };

    // One buffer reused for every input keeps allocation out of the loop.
    auto make_input = [&](byte_vec& s) {
        s.clear();
        const std::uint32_t pieces = pick(10);
        for (std::uint32_t p = 0; p < pieces; ++p) {
            const std::uint32_t kind = pick(100);
            if (kind < 35) {
                // ASCII runs of varied length exercise the 8-byte fast path.
                const std::uint32_t n = pick(20);
                for (std::uint32_t k = 0; k < n; ++k) s.push_back(std::byte(0x20 + pick(0x5F)));
            } else if (kind < 70) {
                // encode() of a surrogate or > U+10FFFF yields invalid bytes,
                // which the edge list includes on purpose.
                const encoded e = encode(random_code_point() & 0x1FFFFF);
                s.insert(s.end(), e.bytes.begin(), e.bytes.begin() + static_cast<std::ptrdiff_t>(e.size));
            } else if (kind < 82) {
                s.push_back(std::byte(edge_bytes[pick(std::size(edge_bytes))]));
            } else if (kind < 92) {
                // A code point with its tail cut off.
                const encoded e = encode(random_code_point() & 0x1FFFFF);
                const auto keep = 1 + pick(static_cast<std::uint32_t>(e.size));
                s.insert(s.end(), e.bytes.begin(), e.bytes.begin() + keep);
            } else if (kind < 97 && !s.empty()) {
                // Flip one bit of something already there.
                s[pick(static_cast<std::uint32_t>(s.size()))] ^= std::byte(1u << pick(8));
            } else {
                s.push_back(std::byte(pick(256)));
            }
        }
    };

    constexpr int iterations = 200'000;
    std::size_t mismatches = 0;
    std::size_t invalid_seen = 0;
    std::size_t truncated_seen = 0;
    std::string first;
    byte_vec s;
    std::vector<std::size_t> cuts;
    for (int it = 0; it < iterations; ++it) {
        make_input(s);
        const outcome want = reference_validate(s);
        if (!want.ok) ++invalid_seen;
        else if (!want.complete) ++truncated_seen;

        cuts.clear();
        if (!s.empty()) {
            const std::uint32_t ncuts = pick(4);
            for (std::uint32_t k = 0; k < ncuts; ++k)
                cuts.push_back(pick(static_cast<std::uint32_t>(s.size()) + 1));
            std::sort(cuts.begin(), cuts.end());
        }
        const outcome whole = run_whole(s);
        const outcome chunked = run_split(s, cuts);
        const bool one_shot = is_valid_utf8(s);
        if (!(whole == want) || !(chunked == want) || one_shot != (want.ok && want.complete)) {
            if (mismatches++ == 0)
                first = to_hex(s) + " -> " + describe(whole) + ", want " + describe(want);
        }
    }
    CAPTURE(first);
    CHECK(mismatches == 0);
    // The generator must actually reach all three outcomes in bulk.
    CHECK(invalid_seen > iterations / 10);
    CHECK(truncated_seen > iterations / 50);
    CHECK(iterations - invalid_seen - truncated_seen > iterations / 10);
}
