// AVX2 kernels: unmasking (RFC 6455 §5.3) and UTF-8 validation after
// Keiser & Lemire, "Validating UTF-8 In Less Than One Instruction Per Byte",
// Software: Practice and Experience 51(5), 2021. Built with -mavx2 and
// called only when cpuid reports AVX2 (dispatch.cpp). Helpers have internal
// linkage and no standard template is used, so nothing compiled for AVX2 can
// leak into the rest of the library through the linker (internal.hpp).
#include <immintrin.h>

#include <cstring>

#include "internal.hpp"
#include "utf8_lookup.hpp"

namespace sansws::detail {
namespace {

constexpr std::size_t block = 32;

/// The input shifted by `k` bytes towards higher positions, the gap filled
/// with the last `k` bytes of `prev`. AVX2 byte shifts work within 128-bit
/// lanes, so the lane boundary is bridged with a permute first.
template <int k>
__m256i shift_in(__m256i in, __m256i prev) noexcept {
    const __m256i bridge = _mm256_permute2x128_si256(prev, in, 0x21);  // prev.hi : in.lo
    return _mm256_alignr_epi8(in, bridge, 16 - k);
}

__m256i table(const std::uint8_t (&t)[16]) noexcept {
    const __m128i lane = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t));
    return _mm256_broadcastsi128_si256(lane);
}

struct lookup {
    __m256i byte1_high = table(utf8_lookup::byte1_high);
    __m256i byte1_low = table(utf8_lookup::byte1_low);
    __m256i byte2_high = table(utf8_lookup::byte2_high);
    __m256i low_nibble = _mm256_set1_epi8(0x0F);
    __m256i third_min = _mm256_set1_epi8(static_cast<char>(utf8_lookup::third_byte_bias));
    __m256i fourth_min = _mm256_set1_epi8(static_cast<char>(utf8_lookup::fourth_byte_bias));
    __m256i high_bit = _mm256_set1_epi8(static_cast<char>(0x80));
    // Largest byte allowed in the last three positions of a block that ends
    // between code points: a lead byte there starts a sequence the block
    // does not finish (paper §6, "is_incomplete").
    __m256i incomplete_max = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, static_cast<char>(0xEF),
        static_cast<char>(0xDF), static_cast<char>(0xBF));

    /// Non-zero bytes where the 32 bytes of `in` (after `prev`) are not valid
    /// UTF-8: the three nibble lookups find every error visible in a window
    /// of two bytes; the 0x80 bit, set for two continuations in a row, must
    /// equal "a 3- or 4-byte lead is two or three bytes back" (paper §6).
    __m256i errors(__m256i in, __m256i prev) const noexcept {
        const __m256i prev1 = shift_in<1>(in, prev);
        const __m256i p1_high = _mm256_and_si256(_mm256_srli_epi16(prev1, 4), low_nibble);
        const __m256i p1_low = _mm256_and_si256(prev1, low_nibble);
        const __m256i in_high = _mm256_and_si256(_mm256_srli_epi16(in, 4), low_nibble);
        const __m256i special = _mm256_and_si256(
            _mm256_and_si256(_mm256_shuffle_epi8(byte1_high, p1_high), _mm256_shuffle_epi8(byte1_low, p1_low)),
            _mm256_shuffle_epi8(byte2_high, in_high));
        const __m256i third = _mm256_subs_epu8(shift_in<2>(in, prev), third_min);
        const __m256i fourth = _mm256_subs_epu8(shift_in<3>(in, prev), fourth_min);
        const __m256i must_be_cont = _mm256_and_si256(_mm256_or_si256(third, fourth), high_bit);
        return _mm256_xor_si256(special, must_be_cont);
    }
    bool incomplete(__m256i in) const noexcept {
        return !_mm256_testz_si256(_mm256_subs_epu8(in, incomplete_max), _mm256_subs_epu8(in, incomplete_max));
    }
};

bool nonzero(__m256i v) noexcept { return !_mm256_testz_si256(v, v); }
bool ascii(__m256i v) noexcept { return _mm256_movemask_epi8(v) == 0; }

}  // namespace

void mask_copy_avx2(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    const __m256i k = _mm256_set1_epi32(static_cast<int>(key));
    // All four blocks are loaded before any is stored, so dst == src works.
    for (; n >= 4 * block; n -= 4 * block, src += 4 * block, dst += 4 * block) {
        const auto* s = reinterpret_cast<const __m256i*>(src);
        auto* d = reinterpret_cast<__m256i*>(dst);
        const __m256i a = _mm256_loadu_si256(s), b = _mm256_loadu_si256(s + 1);
        const __m256i c = _mm256_loadu_si256(s + 2), e = _mm256_loadu_si256(s + 3);
        _mm256_storeu_si256(d, _mm256_xor_si256(a, k));
        _mm256_storeu_si256(d + 1, _mm256_xor_si256(b, k));
        _mm256_storeu_si256(d + 2, _mm256_xor_si256(c, k));
        _mm256_storeu_si256(d + 3, _mm256_xor_si256(e, k));
    }
    for (; n >= block; n -= block, src += block, dst += block) {
        const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), _mm256_xor_si256(v, k));
    }
    if (n >= 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_xor_si128(v, _mm256_castsi256_si128(k)));
        src += 16;
        dst += 16;
        n -= 16;
    }
    if (n >= 8) {
        std::uint64_t v;
        std::memcpy(&v, src, 8);
        v ^= (std::uint64_t{key} << 32) | key;
        std::memcpy(dst, &v, 8);
        src += 8;
        dst += 8;
        n -= 8;
    }
    for (std::size_t i = 0; i < n; ++i) dst[i] = src[i] ^ static_cast<std::byte>(key >> (8 * (i & 3)));
}

void mask_avx2(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_avx2(p, p, n, key); }

namespace {

/// The next block to validate: loaded from `src`, or (copy) unmasked from
/// `src` and stored to `dst` on the way, so the bytes are touched once.
template <bool copy>
__m256i next_block(std::byte* dst, const std::byte* src, std::size_t i, __m256i key) noexcept {
    const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i));
    if constexpr (copy) {
        const __m256i u = _mm256_xor_si256(v, key);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), u);
        return u;
    } else {
        (void)dst;
        (void)key;
        return v;
    }
}

/// An error in the block at `b`: unmask what is left of the input (copy),
/// then let the DFA find the exact offset.
template <bool copy>
std::size_t fail_at(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t start, std::size_t b,
                    std::size_t done, std::size_t n, std::uint32_t key) noexcept {
    if constexpr (copy) mask_copy_avx2(dst + done, src + done, n - done, key);
    return utf8_locate(state, dst, start, b, n);
}

/// The validator of utf8_avx2 and utf8_copy_avx2. `dst` holds the text to
/// validate: `src` itself, or (copy) src XOR `key` written as it goes.
template <bool copy>
std::size_t validate(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                     std::uint32_t key) noexcept {
    // Finish a code point left open by the previous piece with the DFA (it
    // needs at most three more bytes); from there on the input starts
    // between code points.
    std::size_t i = 0;
    if (state != utf8_lookup::accept) {
        const std::size_t head = n < 3 ? n : 3;
        if constexpr (copy) mask_copy_avx2(dst, src, head, key);
        i = utf8_dfa_finish(state, dst, head);
        if (state != utf8_lookup::accept) {
            if constexpr (copy) mask_copy_avx2(dst + head, src + head, n - head, rotate_key(key, head));
            return i;
        }
    }
    const std::size_t start = i;
    const std::uint32_t rk = rotate_key(key, i);  // 32-byte steps keep this phase
    const __m256i k = _mm256_set1_epi32(static_cast<int>(rk));
    const lookup lk;
    __m256i prev = _mm256_setzero_si256();
    bool prev_incomplete = false;
    for (; n - i >= block; i += block) {
        const __m256i in = next_block<copy>(dst, src, i, k);
        if (ascii(in)) {
            // ASCII fast path (paper §6): nothing to check, except that the
            // previous block may have left a sequence unfinished.
            if (prev_incomplete) return fail_at<copy>(state, dst, src, start, i, i + block, n, rk);
            prev = in;
            continue;
        }
        if (nonzero(lk.errors(in, prev))) return fail_at<copy>(state, dst, src, start, i, i + block, n, rk);
        prev_incomplete = lk.incomplete(in);
        prev = in;
    }
    if (i < n) {
        // The last 1-31 bytes, zero-padded: padding is ASCII, and errors it
        // causes (a sequence cut by the end) lie past the end and are masked.
        if constexpr (copy) mask_copy_avx2(dst + i, src + i, n - i, rk);
        alignas(32) std::byte tail[block] = {};
        std::memcpy(tail, dst + i, n - i);
        const __m256i in = _mm256_load_si256(reinterpret_cast<const __m256i*>(tail));
        const __m256i err = lk.errors(in, prev);
        const auto bad = ~static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(err, _mm256_setzero_si256())));
        if ((bad & ((std::uint32_t{1} << (n - i)) - 1)) != 0) return utf8_locate(state, dst, start, i, n);
    }
    return utf8_finish_end(state, dst, start, n);
}

}  // namespace

std::size_t utf8_avx2(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept {
    // Without copy nothing is written through the pointer.
    return validate<false>(state, const_cast<std::byte*>(p), p, n, 0);
}

std::size_t utf8_copy_avx2(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                           std::uint32_t key) noexcept {
    return validate<true>(state, dst, src, n, key);
}

}  // namespace sansws::detail
