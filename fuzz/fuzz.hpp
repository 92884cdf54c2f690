// Shared helpers for the fuzz targets: the libFuzzer entry point, an invariant
// check, a byte reader for structured inputs and a small deterministic PRNG
// for split points.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sansws/kernels.hpp"
#include "sansws/types.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fuzz {

/// An invariant failed. A trap (not abort) so that libFuzzer, the replay
/// driver and a debugger all stop exactly here, with no sanitizer or
/// NDEBUG setting able to turn the check off.
inline void check(bool ok) {
    if (!ok) __builtin_trap();
}

inline sansws::bytes_view bytes(const std::uint8_t* data, std::size_t size) noexcept {
    return {reinterpret_cast<const std::byte*>(data), size};
}

inline std::vector<std::byte> copy(sansws::bytes_view b) { return {b.begin(), b.end()}; }

inline std::vector<std::byte> copy(std::string_view s) { return copy(sansws::as_bytes(s)); }

/// memcmp rather than std::equal: an inlined loop would be coverage-
/// instrumented byte by byte and slow every target down.
inline bool same(sansws::bytes_view a, sansws::bytes_view b) noexcept {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

/// FNV-1a: derives split points from the input itself, so an input that
/// does not spend bytes on a split description still replays identically.
inline std::uint64_t hash(sansws::bytes_view b) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (std::byte c : b) h = (h ^ std::to_integer<std::uint64_t>(c)) * 0x100000001b3ull;
    return h;
}

/// SplitMix64: tiny, fast and good enough to scatter chunk sizes.
class rng {
public:
    explicit rng(std::uint64_t seed) noexcept : s_(seed) {}
    std::uint64_t next() noexcept {
        std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /// Uniform-ish in [0, n); 0 when n is 0.
    std::size_t below(std::size_t n) noexcept { return n == 0 ? 0 : static_cast<std::size_t>(next() % n); }
    /// A chunk length for splitting `left` bytes: mostly tiny (to hit every
    /// boundary inside headers), sometimes large, never zero when left > 0.
    std::size_t chunk(std::size_t left) noexcept {
        if (left == 0) return 0;
        const std::size_t pick = below(8);
        const std::size_t cap = pick < 4 ? 4 : pick < 7 ? 64 : left;
        return 1 + below(std::min(cap, left));
    }

private:
    std::uint64_t s_;
};

/// Run the library on the kernel `seed` picks among those this CPU has, so
/// that every unmasking and UTF-8 kernel is fuzzed, not only the fastest.
inline void pick_kernel(std::uint64_t seed) {
    const auto available = sansws::available_kernels();
    check(sansws::force_kernel(available[seed % available.size()]));
}

/// Reads a structured input from the front; past the end every read yields
/// zeros, so any byte string is a valid input.
class reader {
public:
    explicit reader(sansws::bytes_view b) noexcept : b_(b) {}
    bool empty() const noexcept { return b_.empty(); }
    std::size_t size() const noexcept { return b_.size(); }
    std::uint8_t u8() noexcept {
        if (b_.empty()) return 0;
        const auto v = std::to_integer<std::uint8_t>(b_.front());
        b_ = b_.subspan(1);
        return v;
    }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>((u8() << 8) | u8()); }
    bool flag() noexcept { return (u8() & 1) != 0; }
    /// Up to n bytes (fewer at the end of the input).
    sansws::bytes_view take(std::size_t n) noexcept {
        n = std::min(n, b_.size());
        auto out = b_.first(n);
        b_ = b_.subspan(n);
        return out;
    }
    sansws::bytes_view rest() noexcept { return take(b_.size()); }

private:
    sansws::bytes_view b_;
};

}  // namespace fuzz
