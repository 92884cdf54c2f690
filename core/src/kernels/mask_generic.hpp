// The unmasking loop (RFC 6455 §5.3) written once for every vector width:
// sse2.cpp, avx2.cpp and avx512.cpp each include it after defining a traits
// struct for their instruction set, and instantiate it for that struct.
//
// Everything here, templates included, sits in an anonymous namespace and so
// has internal linkage in each translation unit that includes it. That is
// what keeps the rule of internal.hpp: a template or inline function with
// external (vague) linkage, compiled once with -mavx512* and once without,
// would be one symbol to the linker, which could keep the AVX-512 copy for
// every caller. Nothing in this header may be moved out of the anonymous
// namespace, and nothing from the standard library that the compiler may
// emit out of line may be used (templates, inline functions such as
// std::byte's operators: at -O0 GCC always emits them, as weak symbols).
//
// A traits struct T provides:
//   vec, width                 the vector type and its size in bytes (a
//                              multiple of the 4-byte key)
//   load(p), store(p, v)       unaligned, `width` bytes
//   vxor(a, b), splat32(k)     XOR; the 32-bit `k` in every 4-byte lane
//   mask_tail(dst, src, n, key, k)
//                              unmask the last n < width bytes without
//                              touching memory past either end; `k` is
//                              splat32(key)
#pragma once

#include <cstddef>
#include <cstdint>

namespace sansws::detail {
namespace {

/// dst = src XOR the repeated `key` (a pattern in memory order), n bytes;
/// dst == src or the ranges do not overlap. A block is a whole number of
/// key periods, so one broadcast key serves every block.
template <class T>
void mask_copy(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept {
    constexpr std::size_t w = T::width;
    const typename T::vec k = T::splat32(key);
    // Four independent blocks per step keep the load and store ports busy;
    // all four are loaded before any is stored, so dst == src works.
    for (; n >= 4 * w; n -= 4 * w, src += 4 * w, dst += 4 * w) {
        const typename T::vec a = T::load(src), b = T::load(src + w);
        const typename T::vec c = T::load(src + 2 * w), e = T::load(src + 3 * w);
        T::store(dst, T::vxor(a, k));
        T::store(dst + w, T::vxor(b, k));
        T::store(dst + 2 * w, T::vxor(c, k));
        T::store(dst + 3 * w, T::vxor(e, k));
    }
    for (; n >= w; n -= w, src += w, dst += w) T::store(dst, T::vxor(T::load(src), k));
    if (n != 0) T::mask_tail(dst, src, n, key, k);
}

}  // namespace
}  // namespace sansws::detail
