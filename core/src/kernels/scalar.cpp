// The scalar reference kernels, always built: every other kernel must return
// exactly what these return (tests/test_kernels.cpp checks it), and the SIMD
// UTF-8 kernels hand the DFA the bytes around a code point they cannot settle
// on their own, so that all report the same error offsets.
//
// Unmasking (RFC 6455 §5.3): one octet at a time, and eight at a time in a
// general-purpose register.
//
// UTF-8 validation (RFC 3629) as a table-driven DFA. The automaton is built
// from the well-formed byte sequences of RFC 3629 §4 (the same table as
// Unicode Table 3-7): every byte is first mapped to a class, then (state,
// class) gives the next state. Because a state encodes exactly which bytes
// may come next, the automaton reaches the reject state on the first byte
// that cannot continue any valid text, which is the "fail fast" behaviour
// RFC 6455 §8.1 asks for: for example F4 90 fails at the 90, since F4 may
// only be followed by 80-8F (code points above U+10FFFF are excluded by
// RFC 3629 §3).
#include <array>
#include <cstring>

#include "internal.hpp"
#include "sansws/detail/utf8.hpp"

namespace sansws {
namespace detail {

// The reference: §5.3 read literally, one octet at a time.
void mask_copy_bytewise(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    std::array<std::byte, 4> k;
    std::memcpy(k.data(), &key, 4);
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] ^ k[i & 3];
}

// Eight bytes at a time in a general-purpose register: portable, and the
// kernel used where no SIMD kernel is built.
void mask_copy_word(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    std::array<std::byte, 8> rot;
    std::memcpy(rot.data(), &key, 4);
    std::memcpy(rot.data() + 4, &key, 4);
    std::uint64_t word;
    std::memcpy(&word, rot.data(), 8);
    for (; n >= 8; n -= 8, src += 8, dst += 8) {
        std::uint64_t v;
        std::memcpy(&v, src, 8);
        v ^= word;
        std::memcpy(dst, &v, 8);
    }
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] ^ rot[i];
}

// In place is the copy onto itself: every kernel reads a block before it
// writes it.
void mask_bytewise(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_bytewise(p, p, n, key); }
void mask_word(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_word(p, p, n, key); }

}  // namespace detail

namespace {

// Byte classes. Continuation bytes are split three ways because the second
// byte after E0, ED, F0 and F4 is restricted to a sub-range (RFC 3629 §4).
enum byte_class : std::uint8_t {
    c_ascii = 0,    // 00-7F: a complete code point
    c_cont_lo = 1,  // 80-8F
    c_cont_mid = 2, // 90-9F
    c_cont_hi = 3,  // A0-BF
    c_never = 4,    // C0, C1, F5-FF: can only start overlongs or > U+10FFFF
    c_lead2 = 5,    // C2-DF
    c_e0 = 6,       // E0: second byte A0-BF (otherwise overlong)
    c_lead3 = 7,    // E1-EC, EE-EF
    c_ed = 8,       // ED: second byte 80-9F (otherwise a surrogate D800-DFFF)
    c_f0 = 9,       // F0: second byte 90-BF (otherwise overlong)
    c_lead4 = 10,   // F1-F3
    c_f4 = 11,      // F4: second byte 80-8F (otherwise > U+10FFFF)
    class_count = 12,
};

constexpr std::array<std::uint8_t, 256> make_classes() noexcept {
    std::array<std::uint8_t, 256> t{};
    for (unsigned b = 0; b < 256; ++b) {
        std::uint8_t c = c_never;
        if (b <= 0x7F) c = c_ascii;
        else if (b <= 0x8F) c = c_cont_lo;
        else if (b <= 0x9F) c = c_cont_mid;
        else if (b <= 0xBF) c = c_cont_hi;
        else if (b <= 0xC1) c = c_never;
        else if (b <= 0xDF) c = c_lead2;
        else if (b == 0xE0) c = c_e0;
        else if (b == 0xED) c = c_ed;
        else if (b <= 0xEF) c = c_lead3;
        else if (b == 0xF0) c = c_f0;
        else if (b <= 0xF3) c = c_lead4;
        else if (b == 0xF4) c = c_f4;
        t[b] = c;
    }
    return t;
}
constexpr auto byte_classes = make_classes();

// States. 0 and 1 are fixed by the header (accept / reject); the rest name
// what the current unfinished code point still needs.
enum state : std::uint8_t {
    s_accept = utf8_validator::accept_state,
    s_reject = utf8_validator::reject_state,
    s_need1 = 2,     // one more continuation byte, any 80-BF
    s_need2 = 3,     // two more, any 80-BF
    s_e0 = 4,        // after E0: A0-BF, then one more
    s_ed = 5,        // after ED: 80-9F, then one more
    s_f0 = 6,        // after F0: 90-BF, then two more
    s_need3 = 7,     // after F1-F3: 80-BF, then two more
    s_f4 = 8,        // after F4: 80-8F, then two more
    state_count = 9,
};

// Short aliases so the table below reads as a grid.
constexpr std::uint8_t A = s_accept, R = s_reject, N1 = s_need1, N2 = s_need2, N3 = s_need3,
                       E0 = s_e0, ED = s_ed, F0 = s_f0, F4 = s_f4;

// Transition table, one row per state, one column per byte class (in the
// order of byte_class above). Derived row by row from RFC 3629 §4:
//   UTF8-2 = %xC2-DF UTF8-tail
//   UTF8-3 = %xE0 %xA0-BF UTF8-tail / %xE1-EC 2( UTF8-tail ) /
//            %xED %x80-9F UTF8-tail / %xEE-EF 2( UTF8-tail )
//   UTF8-4 = %xF0 %x90-BF 2( UTF8-tail ) / %xF1-F3 3( UTF8-tail ) /
//            %xF4 %x80-8F 2( UTF8-tail )
constexpr std::uint8_t transitions[state_count][class_count] = {
    //          asc 80-8F 90-9F A0-BF never C2-DF E0  lead3 ED  F0  F1-F3 F4
    /* accept */ {A, R,    R,    R,    R,    N1,   E0, N2,   ED, F0, N3,   F4},
    /* reject */ {R, R,    R,    R,    R,    R,    R,  R,    R,  R,  R,    R},
    /* need1  */ {R, A,    A,    A,    R,    R,    R,  R,    R,  R,  R,    R},
    /* need2  */ {R, N1,   N1,   N1,   R,    R,    R,  R,    R,  R,  R,    R},
    /* e0     */ {R, R,    R,    N1,   R,    R,    R,  R,    R,  R,  R,    R},
    /* ed     */ {R, N1,   N1,   R,    R,    R,    R,  R,    R,  R,  R,    R},
    /* f0     */ {R, R,    N2,   N2,   R,    R,    R,  R,    R,  R,  R,    R},
    /* need3  */ {R, N2,   N2,   N2,   R,    R,    R,  R,    R,  R,  R,    R},
    /* f4     */ {R, N2,   R,    R,    R,    R,    R,  R,    R,  R,  R,    R},
};

constexpr std::uint64_t high_bits = 0x8080808080808080ull;

}  // namespace

namespace detail {

std::size_t utf8_dfa(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept {
    std::uint8_t s = state;
    std::size_t i = 0;
    while (i < n) {
        // Text payloads are mostly ASCII. Between code points, eight bytes
        // with no high bit set are all complete code points and cannot change
        // the state, so skip them in one step. memcpy keeps the load free of
        // alignment and aliasing problems.
        if (s == s_accept) {
            while (n - i >= 8) {
                std::uint64_t word = 0;
                std::memcpy(&word, p + i, sizeof word);
                if ((word & high_bits) != 0) break;
                i += 8;
            }
            if (i == n) break;
        }
        s = transitions[s][byte_classes[static_cast<std::uint8_t>(p[i])]];
        if (s == s_reject) {
            state = s;
            return i;
        }
        ++i;
    }
    state = s;
    return n;
}

std::size_t utf8_dfa_finish(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept {
    std::size_t i = 0;
    while (i < n && state != s_accept) {
        state = transitions[state][byte_classes[static_cast<std::uint8_t>(p[i])]];
        if (state == s_reject) return i;
        ++i;
    }
    return i;
}

}  // namespace detail
}  // namespace sansws
