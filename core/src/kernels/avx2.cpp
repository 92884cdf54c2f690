// AVX2 kernels: unmasking (mask_generic.hpp) and UTF-8 validation
// (utf8_generic.hpp) on 32-byte vectors. Built with -mavx2 and called only
// when cpuid reports AVX2 (dispatch.cpp). The traits and everything the
// generic headers instantiate with them have internal linkage, and no
// standard template is used, so nothing compiled for AVX2 can leak into the
// rest of the library through the linker (internal.hpp).
#include <immintrin.h>

#include <cstring>

#include "internal.hpp"
#include "mask_generic.hpp"
#include "utf8_generic.hpp"

namespace sansws::detail {
namespace {

struct avx2 {
    using vec = __m256i;
    static constexpr std::size_t width = 32;

    static vec load(const std::byte* p) noexcept { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
    static void store(std::byte* p, vec v) noexcept { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }
    static vec zero() noexcept { return _mm256_setzero_si256(); }
    static vec splat8(std::uint8_t b) noexcept { return _mm256_set1_epi8(static_cast<char>(b)); }
    static vec splat32(std::uint32_t k) noexcept { return _mm256_set1_epi32(static_cast<int>(k)); }
    static vec vand(vec a, vec b) noexcept { return _mm256_and_si256(a, b); }
    static vec vor(vec a, vec b) noexcept { return _mm256_or_si256(a, b); }
    static vec vxor(vec a, vec b) noexcept { return _mm256_xor_si256(a, b); }
    static vec shr4(vec v) noexcept { return _mm256_srli_epi16(v, 4); }
    static vec subs(vec a, vec b) noexcept { return _mm256_subs_epu8(a, b); }
    static vec table(const std::uint8_t (&t)[16]) noexcept {
        return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t)));
    }
    static vec lookup(vec table, vec idx) noexcept { return _mm256_shuffle_epi8(table, idx); }

    /// Byte shifts work within 128-bit lanes, so the lane boundary is
    /// bridged with a permute first.
    template <int k>
    static vec shift_in(vec in, vec prev) noexcept {
        const vec bridge = _mm256_permute2x128_si256(prev, in, 0x21);  // prev.hi : in.lo
        return _mm256_alignr_epi8(in, bridge, 16 - k);
    }

    static bool ascii(vec v) noexcept { return _mm256_movemask_epi8(v) == 0; }
    static bool any(vec v) noexcept { return !_mm256_testz_si256(v, v); }
    static bool any_gt(vec v, vec max) noexcept { return any(subs(v, max)); }

    /// Through a zero-padded copy: no access past the end.
    static vec load_first(const std::byte* p, std::size_t n) noexcept {
        alignas(32) std::byte tail[width] = {};
        std::memcpy(tail, p, n);
        return load(tail);
    }
    static bool any_in_first(vec v, std::size_t n) noexcept {
        const auto nonzero = ~static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, zero())));
        return (nonzero & ((std::uint32_t{1} << n) - 1)) != 0;
    }

    /// Half a block, a word, then single bytes: 16 and 8 are multiples of
    /// the key's 4 bytes, so the key keeps its phase up to the last bytes.
    static void mask_tail(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key, vec k) noexcept {
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
        // On integers: std::byte's operator^ is an inline function, which
        // this translation unit must not emit (internal.hpp).
        for (std::size_t i = 0; i < n; ++i)
            dst[i] = static_cast<std::byte>(static_cast<std::uint8_t>(src[i]) ^ static_cast<std::uint8_t>(key >> (8 * (i & 3))));
    }
};

}  // namespace

void mask_copy_avx2(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    mask_copy<avx2>(dst, src, n, key);
}

void mask_avx2(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_avx2(p, p, n, key); }

std::size_t utf8_avx2(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept {
    // Without copy nothing is written through the pointer.
    return utf8_validate<avx2, false>(state, const_cast<std::byte*>(p), p, n, 0);
}

std::size_t utf8_copy_avx2(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                           std::uint32_t key) noexcept {
    return utf8_validate<avx2, true>(state, dst, src, n, key);
}

}  // namespace sansws::detail
