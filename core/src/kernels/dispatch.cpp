// Run-time kernel choice: cpuid once (through __builtin_cpu_supports, which
// also checks that the OS saves the AVX register state), SANSWS_KERNEL read
// once at the same moment, force_kernel() for tests and benchmarks.
#include "dispatch.hpp"

#include <array>
#include <cstdlib>

namespace sansws {
namespace detail {
namespace {

constexpr std::array<std::string_view, 5> names = {"scalar", "word", "sse2", "avx2", "avx512"};

// Indexed by kernel. A null mask function: not built into this library.
constexpr kernel_set sets[] = {
    {kernel::scalar, mask_bytewise, mask_copy_bytewise, utf8_dfa, nullptr},
    {kernel::word, mask_word, mask_copy_word, utf8_dfa, nullptr},
#if defined(__SSE2__)
    {kernel::sse2, mask_sse2, mask_copy_sse2, utf8_dfa, nullptr},
#else
    {kernel::sse2, nullptr, nullptr, nullptr, nullptr},
#endif
#if defined(SANSWS_SIMD_KERNELS)
    {kernel::avx2, mask_avx2, mask_copy_avx2, utf8_avx2, utf8_copy_avx2},
    {kernel::avx512, mask_avx512, mask_copy_avx512, utf8_avx512, utf8_copy_avx512},
#else
    {kernel::avx2, nullptr, nullptr, nullptr, nullptr},
    {kernel::avx512, nullptr, nullptr, nullptr, nullptr},
#endif
};

bool cpu_runs(kernel k) noexcept {
    switch (k) {
    case kernel::scalar:
    case kernel::word:
        return true;
    case kernel::sse2:
#if defined(__SSE2__)
        return true;  // part of x86-64 itself
#else
        return false;
#endif
    case kernel::avx2:
    case kernel::avx512:
#if defined(SANSWS_SIMD_KERNELS)
        __builtin_cpu_init();
        if (k == kernel::avx2) return __builtin_cpu_supports("avx2");
        // The AVX-512 kernels use byte and word operations (BW) and 256-bit
        // forms (VL) besides the foundation.
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl");
#else
        return false;
#endif
    }
    return false;
}

struct availability {
    std::array<kernel, 5> list{};
    std::size_t count = 0;
    availability() noexcept {
        for (const kernel_set& s : sets)
            if (s.mask != nullptr && cpu_runs(s.id)) list[count++] = s.id;
    }
};

const availability& available() noexcept {
    static const availability a;  // thread-safe, computed once
    return a;
}

}  // namespace

std::atomic<const kernel_set*> active_set{nullptr};

const kernel_set* choose_kernels() noexcept {
    const availability& a = available();
    const kernel_set* choice = &sets[static_cast<std::size_t>(a.list[a.count - 1])];
    if (const char* env = std::getenv("SANSWS_KERNEL")) {
        if (auto k = kernel_from_string(env); k && kernel_available(*k))
            choice = &sets[static_cast<std::size_t>(*k)];
    }
    // Another thread may have chosen (or forced) meanwhile: keep its choice.
    const kernel_set* expected = nullptr;
    if (!active_set.compare_exchange_strong(expected, choice, std::memory_order_relaxed)) return expected;
    return choice;
}

}  // namespace detail

std::string_view to_string(kernel k) noexcept {
    const auto i = static_cast<std::size_t>(k);
    return i < detail::names.size() ? detail::names[i] : std::string_view("unknown");
}

std::optional<kernel> kernel_from_string(std::string_view name) noexcept {
    for (std::size_t i = 0; i < detail::names.size(); ++i)
        if (detail::names[i] == name) return static_cast<kernel>(i);
    return std::nullopt;
}

bool kernel_available(kernel k) noexcept {
    const auto& a = detail::available();
    for (std::size_t i = 0; i < a.count; ++i)
        if (a.list[i] == k) return true;
    return false;
}

std::span<const kernel> available_kernels() noexcept {
    const auto& a = detail::available();
    return {a.list.data(), a.count};
}

kernel active_kernel() noexcept { return detail::kernels().id; }

bool force_kernel(kernel k) noexcept {
    if (!kernel_available(k)) return false;
    detail::active_set.store(&detail::sets[static_cast<std::size_t>(k)], std::memory_order_relaxed);
    return true;
}

}  // namespace sansws
