// The two loops that touch every payload byte, unmasking (RFC 6455 §5.3) and
// UTF-8 validation (RFC 3629, §8.1), exist in several implementations
// ("kernels"). The fastest one this CPU supports is chosen once, at first
// use (cpuid); the environment variable SANSWS_KERNEL (scalar, word, sse2,
// avx2, avx512), read at that moment, or force_kernel() picks another, so
// every kernel can be tested and measured on one machine. All kernels give
// identical results, including the offset of the first invalid UTF-8 byte.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Kernels, slowest first. UTF-8 validation has its own implementation in
/// scalar (the DFA, the reference), avx2 and avx512 (after Keiser & Lemire,
/// "Validating UTF-8 In Less Than One Instruction Per Byte", 2021); word and
/// sse2 validate with the scalar DFA. Masking has all five.
enum class kernel : std::uint8_t { scalar, word, sse2, avx2, avx512 };

std::string_view to_string(kernel k) noexcept;
/// The kernel named `name` (as to_string spells it), or nullopt.
std::optional<kernel> kernel_from_string(std::string_view name) noexcept;

/// True when `k` is built into the library and this CPU can run it.
bool kernel_available(kernel k) noexcept;
/// Every available kernel, slowest first; scalar and word always are.
std::span<const kernel> available_kernels() noexcept;
/// True when `k` has a UTF-8 validator of its own (see `kernel`).
constexpr bool has_utf8_kernel(kernel k) noexcept {
    return k == kernel::scalar || k == kernel::avx2 || k == kernel::avx512;
}

/// The kernel in use. The first call (or the first unmask or validation)
/// makes the choice: SANSWS_KERNEL when it names an available kernel, the
/// fastest available one otherwise.
kernel active_kernel() noexcept;
/// Use `k` from now on, in every connection of the process. Returns false
/// (and changes nothing) when `k` is not available. Safe to call from any
/// thread, but meant for tests and benchmarks.
bool force_kernel(kernel k) noexcept;

}  // namespace sansws

#pragma GCC visibility pop
