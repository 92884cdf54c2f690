// UTF-8 validation after Keiser & Lemire, "Validating UTF-8 In Less Than One
// Instruction Per Byte", Software: Practice and Experience 51(5), 2021,
// written once for every vector width (the idea of simdutf's generic/
// directory): avx2.cpp and avx512.cpp each define a traits struct for their
// instruction set, include this header and instantiate utf8_validate with it.
// The same driver, with copy set, unmasks (RFC 6455 §5.3) and copies while
// it validates, so that each byte is loaded and stored once.
//
// Everything here, templates included, sits in an anonymous namespace and so
// has internal linkage in each translation unit that includes it. That is
// what keeps the rule of internal.hpp: a template or inline function with
// external (vague) linkage, compiled once with -mavx2 and once with
// -mavx512*, would be one symbol to the linker, which could keep either copy
// for every caller. Nothing in this header may be moved out of the anonymous
// namespace, and nothing from the standard library that the compiler may
// emit out of line may be used (templates, inline functions such as
// std::byte's operators: at -O0 GCC always emits them, as weak symbols).
//
// Besides mask_generic.hpp's members, a traits struct T provides:
//   splat8(b), zero()          b in every byte; all zero
//   table(t)                   the 16 bytes of t in every 128-bit lane
//   lookup(table, idx)         byte shuffle: table[idx & 15] per byte, within
//                              lanes (idx < 0x80)
//   vand(a, b), vor(a, b)
//   shr4(v)                    16-bit lanes shifted right by 4 (callers keep
//                              the low nibble of each byte)
//   subs(a, b)                 unsigned saturating a - b per byte
//   shift_in<k>(in, prev)      `in` moved k bytes towards higher positions,
//                              the gap filled with the last k bytes of prev
//   ascii(v)                   no byte has its high bit set
//   any(v), any_gt(v, max)     some byte non-zero; some byte above max's
//   load_first(p, n)           n < width bytes, the rest zero, reading
//                              nothing past p + n
//   any_in_first(v, n)         some byte of the first n non-zero
#pragma once

#include <cstddef>
#include <cstdint>

#include "internal.hpp"
#include "mask_generic.hpp"
#include "utf8_lookup.hpp"

namespace sansws::detail {
namespace {

/// The lookup tables in vector registers, loaded once per call, and the
/// checks of one block.
template <class T>
struct utf8_blocks {
    using vec = typename T::vec;
    vec byte1_high = T::table(utf8_lookup::byte1_high);
    vec byte1_low = T::table(utf8_lookup::byte1_low);
    vec byte2_high = T::table(utf8_lookup::byte2_high);
    vec low_nibble = T::splat8(0x0F);
    vec third_min = T::splat8(utf8_lookup::third_byte_bias);
    vec fourth_min = T::splat8(utf8_lookup::fourth_byte_bias);
    vec high_bit = T::splat8(0x80);
    vec incomplete_max =
        T::load(reinterpret_cast<const std::byte*>(utf8_lookup::incomplete_max) + sizeof utf8_lookup::incomplete_max - T::width);

    /// Non-zero bytes where the block `in` (after `prev`) is not valid
    /// UTF-8: the three nibble lookups find every error visible in a window
    /// of two bytes; the 0x80 bit, set for two continuations in a row, must
    /// equal "a 3- or 4-byte lead is two or three bytes back" (paper §6).
    vec errors(vec in, vec prev) const noexcept {
        const vec prev1 = T::template shift_in<1>(in, prev);
        const vec p1_high = T::vand(T::shr4(prev1), low_nibble);
        const vec p1_low = T::vand(prev1, low_nibble);
        const vec in_high = T::vand(T::shr4(in), low_nibble);
        const vec special = T::vand(T::vand(T::lookup(byte1_high, p1_high), T::lookup(byte1_low, p1_low)),
                                    T::lookup(byte2_high, in_high));
        const vec third = T::subs(T::template shift_in<2>(in, prev), third_min);
        const vec fourth = T::subs(T::template shift_in<3>(in, prev), fourth_min);
        const vec must_be_cont = T::vand(T::vor(third, fourth), high_bit);
        return T::vxor(special, must_be_cont);
    }
    /// The block ends inside a code point (or on a byte that cannot start
    /// one): the next block must begin with its continuations.
    bool incomplete(vec in) const noexcept { return T::any_gt(in, incomplete_max); }
};

/// The next block to validate: loaded from `src`, or (copy) unmasked from
/// `src` and stored to `dst` on the way, so the bytes are touched once.
template <class T, bool copy>
typename T::vec next_block(std::byte* dst, const std::byte* src, std::size_t i, typename T::vec key) noexcept {
    const typename T::vec v = T::load(src + i);
    if constexpr (copy) {
        const typename T::vec u = T::vxor(v, key);
        T::store(dst + i, u);
        return u;
    } else {
        (void)dst;
        (void)key;
        return v;
    }
}

/// An error in the block at `b`: unmask what is left of the input (copy),
/// then let the DFA find the exact offset.
template <class T, bool copy>
std::size_t fail_at(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t start, std::size_t b,
                    std::size_t done, std::size_t n, std::uint32_t key) noexcept {
    if constexpr (copy) mask_copy<T>(dst + done, src + done, n - done, key);
    return utf8_locate(state, dst, start, b, n);
}

/// The kernel's utf8_fn (copy false) and utf8_copy_fn (copy true). `dst`
/// holds the text to validate: `src` itself, or (copy) src XOR `key`
/// written as it goes. Returns exactly what utf8_dfa returns.
template <class T, bool copy>
std::size_t utf8_validate(std::uint8_t& state, std::byte* dst, const std::byte* src, std::size_t n,
                          std::uint32_t key) noexcept {
    using vec = typename T::vec;
    constexpr std::size_t w = T::width;
    // Finish a code point left open by the previous piece with the DFA (it
    // needs at most three more bytes); from there on the input starts
    // between code points.
    std::size_t i = 0;
    if (state != utf8_lookup::accept) {
        const std::size_t head = n < 3 ? n : 3;
        if constexpr (copy) mask_copy<T>(dst, src, head, key);
        i = utf8_dfa_finish(state, dst, head);
        if (state != utf8_lookup::accept) {
            if constexpr (copy) mask_copy<T>(dst + head, src + head, n - head, rotate_key(key, head));
            return i;
        }
    }
    const std::size_t start = i;
    const std::uint32_t rk = rotate_key(key, i);  // whole blocks keep this phase
    const vec k = T::splat32(rk);
    const utf8_blocks<T> lk;
    vec prev = T::zero();
    bool prev_incomplete = false;
    while (n - i >= w) {
        const vec in = next_block<T, copy>(dst, src, i, k);
        if (T::ascii(in)) {
            // ASCII fast path (paper §6): nothing to check, except that the
            // previous block may have left a sequence unfinished. Runs of
            // ASCII are skipped four blocks per test.
            if (prev_incomplete) return fail_at<T, copy>(state, dst, src, start, i, i + w, n, rk);
            i += w;
            while (n - i >= 4 * w) {
                const vec a = next_block<T, copy>(dst, src, i, k), b = next_block<T, copy>(dst, src, i + w, k);
                const vec c = next_block<T, copy>(dst, src, i + 2 * w, k);
                const vec d = next_block<T, copy>(dst, src, i + 3 * w, k);
                if (!T::ascii(T::vor(T::vor(a, b), T::vor(c, d)))) break;
                i += 4 * w;
            }
            prev = in;  // only its last three bytes matter, and they are ASCII like any skipped block
            continue;
        }
        if (T::any(lk.errors(in, prev))) return fail_at<T, copy>(state, dst, src, start, i, i + w, n, rk);
        prev_incomplete = lk.incomplete(in);
        prev = in;
        i += w;
    }
    if (i < n) {
        // The last bytes, zero-padded: padding is ASCII, and errors it
        // causes (a sequence cut by the end) lie past the end and are masked.
        if constexpr (copy) mask_copy<T>(dst + i, src + i, n - i, rk);
        const vec in = T::load_first(dst + i, n - i);
        if (T::any_in_first(lk.errors(in, prev), n - i)) return utf8_locate(state, dst, start, i, n);
    }
    return utf8_finish_end(state, dst, start, n);
}

}  // namespace
}  // namespace sansws::detail
