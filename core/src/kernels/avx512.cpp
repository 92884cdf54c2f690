// AVX-512 kernels (F, BW, VL): unmasking (mask_generic.hpp) and UTF-8
// validation (utf8_generic.hpp) on 64-byte vectors. Built with -mavx512f
// -mavx512bw -mavx512vl and called only when cpuid reports all three
// (dispatch.cpp). Masked loads and stores handle the last partial block
// without touching bytes past the end. The traits and everything the generic
// headers instantiate with them have internal linkage, and no standard
// template is used (see internal.hpp).
#include <immintrin.h>

#include "internal.hpp"
#include "mask_generic.hpp"
#include "utf8_generic.hpp"

namespace sansws::detail {
namespace {

// The all-lanes masked forms (maskz_*) are used where GCC 12's plain forms
// start from _mm512_undefined_epi32() and trip -Wmaybe-uninitialized.
constexpr __mmask16 all16 = 0xFFFF;

struct avx512 {
    using vec = __m512i;
    static constexpr std::size_t width = 64;

    /// Lanes [0, n) of a block, n < 64.
    static __mmask64 first_lanes(std::size_t n) noexcept { return (__mmask64{1} << n) - 1; }

    static vec load(const std::byte* p) noexcept { return _mm512_loadu_si512(p); }
    static void store(std::byte* p, vec v) noexcept { _mm512_storeu_si512(p, v); }
    static vec zero() noexcept { return _mm512_setzero_si512(); }
    static vec splat8(std::uint8_t b) noexcept { return _mm512_set1_epi8(static_cast<char>(b)); }
    static vec splat32(std::uint32_t k) noexcept { return _mm512_set1_epi32(static_cast<int>(k)); }
    static vec vand(vec a, vec b) noexcept { return _mm512_and_si512(a, b); }
    static vec vor(vec a, vec b) noexcept { return _mm512_or_si512(a, b); }
    static vec vxor(vec a, vec b) noexcept { return _mm512_xor_si512(a, b); }
    static vec shr4(vec v) noexcept { return _mm512_srli_epi16(v, 4); }
    static vec subs(vec a, vec b) noexcept { return _mm512_subs_epu8(a, b); }
    static vec table(const std::uint8_t (&t)[16]) noexcept {
        return _mm512_maskz_broadcast_i32x4(all16, _mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
    }
    static vec lookup(vec table, vec idx) noexcept { return _mm512_shuffle_epi8(table, idx); }

    /// Byte shifts work within 128-bit lanes: the bridge holds, in each
    /// lane, the lane that precedes it (the same for every k, so the
    /// compiler computes it once per block).
    template <int k>
    static vec shift_in(vec in, vec prev) noexcept {
        const vec bridge = _mm512_maskz_alignr_epi32(all16, in, prev, 12);  // prev lane 3, in lanes 0-2
        return _mm512_alignr_epi8(in, bridge, 16 - k);
    }

    static bool ascii(vec v) noexcept { return _mm512_movepi8_mask(v) == 0; }
    static bool any(vec v) noexcept { return _mm512_test_epi8_mask(v, v) != 0; }
    static bool any_gt(vec v, vec max) noexcept { return _mm512_cmpgt_epu8_mask(v, max) != 0; }

    // Masked lanes are neither read nor written (and cannot fault).
    static vec load_first(const std::byte* p, std::size_t n) noexcept { return _mm512_maskz_loadu_epi8(first_lanes(n), p); }
    static bool any_in_first(vec v, std::size_t n) noexcept { return (_mm512_test_epi8_mask(v, v) & first_lanes(n)) != 0; }
    static void mask_tail(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t, vec k) noexcept {
        const __mmask64 m = first_lanes(n);
        _mm512_mask_storeu_epi8(dst, m, vxor(_mm512_maskz_loadu_epi8(m, src), k));
    }
};

}  // namespace

void mask_copy_avx512(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    mask_copy<avx512>(dst, src, n, key);
}

void mask_avx512(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_avx512(p, p, n, key); }

std::size_t utf8_avx512(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept {
    // Without copy nothing is written through the pointer.
    return utf8_validate<avx512, false>(state, const_cast<std::byte*>(p), p, n, 0);
}

std::size_t utf8_copy_avx512(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                             std::uint32_t key) noexcept {
    return utf8_validate<avx512, true>(state, dst, src, n, key);
}

}  // namespace sansws::detail
