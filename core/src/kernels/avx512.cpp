// AVX-512 kernels (F, BW, VL): unmasking (RFC 6455 §5.3) and UTF-8
// validation after Keiser & Lemire, "Validating UTF-8 In Less Than One
// Instruction Per Byte", Software: Practice and Experience 51(5), 2021.
// Built with -mavx512f -mavx512bw -mavx512vl and called only when cpuid
// reports all three (dispatch.cpp). Masked loads and stores handle the last
// partial block without touching bytes past the end. Helpers have internal
// linkage and no standard template is used (see internal.hpp).
#include <immintrin.h>

#include "internal.hpp"
#include "utf8_lookup.hpp"

namespace sansws::detail {
namespace {

constexpr std::size_t block = 64;

/// Lanes [0, n) of a 64-byte block, n < 64.
__mmask64 first_lanes(std::size_t n) noexcept { return (__mmask64{1} << n) - 1; }

/// The input shifted by `k` bytes towards higher positions, the gap filled
/// with the last `k` bytes of `prev`. Byte shifts work within 128-bit lanes:
/// `bridge` holds, in each lane, the lane that precedes it.
template <int k>
__m512i shift_in(__m512i in, __m512i bridge) noexcept {
    return _mm512_alignr_epi8(in, bridge, 16 - k);
}

// The all-lanes masked forms (maskz_*) are used where GCC 12's plain forms
// start from _mm512_undefined_epi32() and trip -Wmaybe-uninitialized.
constexpr __mmask16 all16 = 0xFFFF;

__m512i table(const std::uint8_t (&t)[16]) noexcept {
    return _mm512_maskz_broadcast_i32x4(all16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
}

struct lookup {
    __m512i byte1_high = table(utf8_lookup::byte1_high);
    __m512i byte1_low = table(utf8_lookup::byte1_low);
    __m512i byte2_high = table(utf8_lookup::byte2_high);
    __m512i low_nibble = _mm512_set1_epi8(0x0F);
    __m512i third_min = _mm512_set1_epi8(static_cast<char>(utf8_lookup::third_byte_bias));
    __m512i fourth_min = _mm512_set1_epi8(static_cast<char>(utf8_lookup::fourth_byte_bias));
    __m512i high_bit = _mm512_set1_epi8(static_cast<char>(0x80));
    // Largest byte allowed in the last three positions of a block that ends
    // between code points (paper §6, "is_incomplete").
    __m512i incomplete_max = _mm512_mask_blend_epi8(
        __mmask64{0x7} << 61, _mm512_set1_epi8(-1),
        _mm512_set_epi64(static_cast<long long>(0xBFDFEF0000000000ull), 0, 0, 0, 0, 0, 0, 0));

    /// Lanes where the 64 bytes of `in` (after `prev`) are not valid UTF-8:
    /// the three nibble lookups find every error visible in a window of two
    /// bytes; the 0x80 bit, set for two continuations in a row, must equal
    /// "a 3- or 4-byte lead is two or three bytes back" (paper §6).
    __mmask64 errors(__m512i in, __m512i prev) const noexcept {
        const __m512i bridge = _mm512_maskz_alignr_epi32(all16, in, prev, 12);  // prev lane 3, in lanes 0-2
        const __m512i prev1 = shift_in<1>(in, bridge);
        const __m512i p1_high = _mm512_and_si512(_mm512_srli_epi16(prev1, 4), low_nibble);
        const __m512i p1_low = _mm512_and_si512(prev1, low_nibble);
        const __m512i in_high = _mm512_and_si512(_mm512_srli_epi16(in, 4), low_nibble);
        const __m512i special = _mm512_and_si512(
            _mm512_and_si512(_mm512_shuffle_epi8(byte1_high, p1_high), _mm512_shuffle_epi8(byte1_low, p1_low)),
            _mm512_shuffle_epi8(byte2_high, in_high));
        const __m512i third = _mm512_subs_epu8(shift_in<2>(in, bridge), third_min);
        const __m512i fourth = _mm512_subs_epu8(shift_in<3>(in, bridge), fourth_min);
        const __m512i must_be_cont = _mm512_and_si512(_mm512_or_si512(third, fourth), high_bit);
        const __m512i err = _mm512_xor_si512(special, must_be_cont);
        return _mm512_test_epi8_mask(err, err);
    }
    bool incomplete(__m512i in) const noexcept { return _mm512_cmpgt_epu8_mask(in, incomplete_max) != 0; }
};

bool ascii(__m512i v) noexcept { return _mm512_movepi8_mask(v) == 0; }

}  // namespace

void mask_copy_avx512(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    const __m512i k = _mm512_set1_epi32(static_cast<int>(key));
    // All four blocks are loaded before any is stored, so dst == src works.
    for (; n >= 4 * block; n -= 4 * block, src += 4 * block, dst += 4 * block) {
        const __m512i a = _mm512_loadu_si512(src), b = _mm512_loadu_si512(src + block);
        const __m512i c = _mm512_loadu_si512(src + 2 * block), e = _mm512_loadu_si512(src + 3 * block);
        _mm512_storeu_si512(dst, _mm512_xor_si512(a, k));
        _mm512_storeu_si512(dst + block, _mm512_xor_si512(b, k));
        _mm512_storeu_si512(dst + 2 * block, _mm512_xor_si512(c, k));
        _mm512_storeu_si512(dst + 3 * block, _mm512_xor_si512(e, k));
    }
    for (; n >= block; n -= block, src += block, dst += block)
        _mm512_storeu_si512(dst, _mm512_xor_si512(_mm512_loadu_si512(src), k));
    if (n == 0) return;
    // Masked lanes are neither read nor written (and cannot fault).
    const __mmask64 m = first_lanes(n);
    _mm512_mask_storeu_epi8(dst, m, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, src), k));
}

void mask_avx512(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_avx512(p, p, n, key); }

namespace {

/// The next block to validate: loaded from `src`, or (copy) unmasked from
/// `src` and stored to `dst` on the way, so the bytes are touched once.
template <bool copy>
__m512i next_block(std::byte* dst, const std::byte* src, std::size_t i, __m512i key) noexcept {
    if constexpr (copy) {
        const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(src + i), key);
        _mm512_storeu_si512(dst + i, v);
        return v;
    } else {
        (void)dst;
        (void)key;
        return _mm512_loadu_si512(src + i);
    }
}

/// An error in the block at `b`: unmask what is left of the input (copy),
/// then let the DFA find the exact offset.
template <bool copy>
std::size_t fail_at(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t start, std::size_t b,
                    std::size_t done, std::size_t n, std::uint32_t key) noexcept {
    if constexpr (copy) mask_copy_avx512(dst + done, src + done, n - done, key);
    return utf8_locate(state, dst, start, b, n);
}

/// The validator of utf8_avx512 and utf8_copy_avx512. `dst` holds the text
/// to validate: `src` itself, or (copy) src XOR `key` written as it goes.
template <bool copy>
std::size_t validate(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                     std::uint32_t key) noexcept {
    // Finish a code point left open by the previous piece with the DFA (it
    // needs at most three more bytes); from there on the input starts
    // between code points.
    std::size_t i = 0;
    if (state != utf8_lookup::accept) {
        const std::size_t head = n < 3 ? n : 3;
        if constexpr (copy) mask_copy_avx512(dst, src, head, key);
        i = utf8_dfa_finish(state, dst, head);
        if (state != utf8_lookup::accept) {
            if constexpr (copy) mask_copy_avx512(dst + head, src + head, n - head, rotate_key(key, head));
            return i;
        }
    }
    const std::size_t start = i;
    const std::uint32_t rk = rotate_key(key, i);  // 64-byte steps keep this phase
    const __m512i k = _mm512_set1_epi32(static_cast<int>(rk));
    const lookup lk;
    __m512i prev = _mm512_setzero_si512();
    bool prev_incomplete = false;
    while (n - i >= block) {
        const __m512i in = next_block<copy>(dst, src, i, k);
        if (ascii(in)) {
            // ASCII fast path (paper §6): nothing to check, except that the
            // previous block may have left a sequence unfinished. Runs of
            // ASCII are skipped four blocks per test.
            if (prev_incomplete) return fail_at<copy>(state, dst, src, start, i, i + block, n, rk);
            i += block;
            while (n - i >= 4 * block) {
                const __m512i a = next_block<copy>(dst, src, i, k), b = next_block<copy>(dst, src, i + block, k);
                const __m512i c = next_block<copy>(dst, src, i + 2 * block, k);
                const __m512i d = next_block<copy>(dst, src, i + 3 * block, k);
                if (!ascii(_mm512_or_si512(_mm512_or_si512(a, b), _mm512_or_si512(c, d)))) break;
                i += 4 * block;
            }
            prev = in;  // only its last three bytes matter, and they are ASCII like any skipped block
            continue;
        }
        if (lk.errors(in, prev) != 0) return fail_at<copy>(state, dst, src, start, i, i + block, n, rk);
        prev_incomplete = lk.incomplete(in);
        prev = in;
        i += block;
    }
    if (i < n) {
        // The last 1-63 bytes: masked-off lanes read as zero (ASCII), and
        // errors they cause (a sequence cut by the end) lie past the end.
        if constexpr (copy) mask_copy_avx512(dst + i, src + i, n - i, rk);
        const __mmask64 m = first_lanes(n - i);
        const __m512i in = _mm512_maskz_loadu_epi8(m, dst + i);
        if ((lk.errors(in, prev) & m) != 0) return utf8_locate(state, dst, start, i, n);
    }
    return utf8_finish_end(state, dst, start, n);
}

}  // namespace

std::size_t utf8_avx512(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept {
    // Without copy nothing is written through the pointer.
    return validate<false>(state, const_cast<std::byte*>(p), p, n, 0);
}

std::size_t utf8_copy_avx512(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                             std::uint32_t key) noexcept {
    return validate<true>(state, dst, src, n, key);
}

}  // namespace sansws::detail
