// The interface between the dispatcher (dispatch.cpp), the scalar references
// and the SIMD kernels. Only plain functions on raw pointers cross it, and
// this header defines no inline function: the SIMD translation units are
// compiled with -mavx2 / -mavx512*, and an inline function they emitted with
// external linkage could be the copy the linker keeps for the whole library
// (the ODR merges them), putting AVX instructions on paths that must run on
// any x86-64.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sansws::detail {

/// XOR `n` bytes at `p` with the 4-byte pattern `key` in memory order: byte i
/// meets byte (i mod 4) of `key` (the caller has rotated it for the phase,
/// RFC 6455 §5.3). `p` may be null when `n` is zero.
using mask_fn = void (*)(std::byte* p, std::size_t n, std::uint32_t key) noexcept;

/// dst = src XOR the pattern, as mask_fn; the ranges are the same or do not
/// overlap.
using mask_copy_fn = void (*)(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept;

/// Continue UTF-8 validation (RFC 3629) over `n` bytes from DFA state
/// `state` (utf8_validator's states). Returns the index of the first byte
/// that cannot continue valid text, with `state` set to the reject state, or
/// `n` with `state` the DFA state after the last byte. Every kernel returns
/// exactly what utf8_dfa returns.
using utf8_fn = std::size_t (*)(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept;

/// mask_copy_fn and then utf8_fn over the copy, in one pass: all `n` bytes
/// of `dst` are written whatever the result; the result is utf8_fn's on dst.
using utf8_copy_fn = std::size_t (*)(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                                     std::uint32_t key) noexcept;

// Scalar references, always built (scalar.cpp).
void mask_bytewise(std::byte* p, std::size_t n, std::uint32_t key) noexcept;
void mask_word(std::byte* p, std::size_t n, std::uint32_t key) noexcept;
void mask_copy_bytewise(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept;
void mask_copy_word(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept;
std::size_t utf8_dfa(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept;
/// The DFA until the current code point ends: stops at the first byte after
/// which the state is accept (or reject), or at `n`. Returns the bytes
/// consumed, or the index of the rejected byte.
std::size_t utf8_dfa_finish(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept;

// SIMD kernels; each is defined only where its translation unit is built.
void mask_sse2(std::byte* p, std::size_t n, std::uint32_t key) noexcept;
void mask_avx2(std::byte* p, std::size_t n, std::uint32_t key) noexcept;
void mask_avx512(std::byte* p, std::size_t n, std::uint32_t key) noexcept;
void mask_copy_sse2(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept;
void mask_copy_avx2(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept;
void mask_copy_avx512(std::byte* dst, const std::byte* src, std::size_t n, std::uint32_t key) noexcept;
std::size_t utf8_avx2(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept;
std::size_t utf8_avx512(std::uint8_t& state, const std::byte* p, std::size_t n) noexcept;
std::size_t utf8_copy_avx2(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                           std::uint32_t key) noexcept;
std::size_t utf8_copy_avx512(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                             std::uint32_t key) noexcept;

}  // namespace sansws::detail
