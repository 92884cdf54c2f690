// Unmasking with SSE2 (RFC 6455 §5.3), which every x86-64 CPU has: no
// target flags needed. 16 is a multiple of the 4-byte key, so one
// broadcast key serves every block.
#include "internal.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>

#include <cstring>

namespace sansws::detail {

void mask_copy_sse2(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    const __m128i k = _mm_set1_epi32(static_cast<int>(key));
    // Four independent blocks per step keep the load and store ports busy;
    // all four are loaded before any is stored, so dst == src works.
    for (; n >= 64; n -= 64, src += 64, dst += 64) {
        const auto* s = reinterpret_cast<const __m128i*>(src);
        auto* d = reinterpret_cast<__m128i*>(dst);
        const __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
        const __m128i c = _mm_loadu_si128(s + 2), e = _mm_loadu_si128(s + 3);
        _mm_storeu_si128(d, _mm_xor_si128(a, k));
        _mm_storeu_si128(d + 1, _mm_xor_si128(b, k));
        _mm_storeu_si128(d + 2, _mm_xor_si128(c, k));
        _mm_storeu_si128(d + 3, _mm_xor_si128(e, k));
    }
    for (; n >= 16; n -= 16, src += 16, dst += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(dst), _mm_xor_si128(v, k));
    }
    if (n == 0) return;
    // The last 1-15 bytes through a zero-padded copy: no access past the end.
    alignas(16) std::byte tail[16] = {};
    std::memcpy(tail, src, n);
    auto* t = reinterpret_cast<__m128i*>(tail);
    _mm_store_si128(t, _mm_xor_si128(_mm_load_si128(t), k));
    std::memcpy(dst, tail, n);
}

void mask_sse2(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_sse2(p, p, n, key); }

}  // namespace sansws::detail
#endif
