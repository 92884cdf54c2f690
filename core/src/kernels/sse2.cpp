// Unmasking with SSE2 (RFC 6455 §5.3), which every x86-64 CPU has: no
// target flags needed. The loop is mask_generic.hpp's.
#include "internal.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>

#include <cstring>

#include "mask_generic.hpp"

namespace sansws::detail {
namespace {

struct sse2 {
    using vec = __m128i;
    static constexpr std::size_t width = 16;
    static vec load(const std::byte* p) noexcept { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)); }
    static void store(std::byte* p, vec v) noexcept { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); }
    static vec vxor(vec a, vec b) noexcept { return _mm_xor_si128(a, b); }
    static vec splat32(std::uint32_t k) noexcept { return _mm_set1_epi32(static_cast<int>(k)); }
    /// Through a zero-padded copy: no access past the end.
    static void mask_tail(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t, vec k) noexcept {
        alignas(16) std::byte tail[16] = {};
        std::memcpy(tail, src, n);
        store(tail, vxor(load(tail), k));
        std::memcpy(dst, tail, n);
    }
};

}  // namespace

void mask_copy_sse2(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    mask_copy<sse2>(dst, src, n, key);
}

void mask_sse2(std::byte* p, std::size_t n, std::uint32_t key) noexcept { mask_copy_sse2(p, p, n, key); }

}  // namespace sansws::detail
#endif
