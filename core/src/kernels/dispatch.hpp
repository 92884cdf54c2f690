// The kernel table in use, for the library's own hot paths (frame.cpp,
// utf8.cpp). Not included by the SIMD translation units (see internal.hpp).
#pragma once

#include <atomic>
#include <bit>
#include <cstring>

#include "internal.hpp"
#include "sansws/kernels.hpp"

namespace sansws::detail {

struct kernel_set {
    kernel id;
    mask_fn mask;
    mask_copy_fn mask_copy;
    utf8_fn utf8;
    utf8_copy_fn utf8_copy;  // null: mask_copy, then utf8
};

/// Null until the first use chooses (choose_kernels).
extern std::atomic<const kernel_set*> active_set;
const kernel_set* choose_kernels() noexcept;

/// One load and a predicted branch per call: the choice is made once.
inline const kernel_set& kernels() noexcept {
    // The sets are constant data, so relaxed ordering is enough.
    const kernel_set* s = active_set.load(std::memory_order_relaxed);
    if (s == nullptr) [[unlikely]]
        s = choose_kernels();
    return *s;
}

/// RFC 6455 §5.3: octet i is XORed with key[i mod 4]. The key rotated so
/// that the first byte meets key[phase]: the kernels then see a fixed 4-byte
/// pattern in memory order.
inline std::uint32_t rotated_key(const std::byte* key, std::size_t phase) noexcept {
    std::uint32_t k;
    std::memcpy(&k, key, 4);
    const int bits = static_cast<int>(8 * (phase & 3));
    return std::endian::native == std::endian::little ? std::rotr(k, bits) : std::rotl(k, bits);
}

}  // namespace sansws::detail
