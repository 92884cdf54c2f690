// Basic vocabulary shared by every layer of the engine.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Read-only bytes. Payload views handed out by the engine use this type;
/// each view documents how long it stays valid.
using bytes_view = std::span<const std::byte>;
/// Writable bytes: input given to the parsers, unmasked in place.
using mutable_bytes = std::span<std::byte>;

/// Time is an input (the engine never reads a clock): any monotonic count of
/// nanoseconds since an epoch the caller chooses, used consistently.
using timestamp = std::chrono::nanoseconds;
using duration = std::chrono::nanoseconds;
inline constexpr timestamp no_deadline = timestamp::max();

/// Which side of the connection this engine plays (RFC 6455 §1.2/§1.3).
enum class role : std::uint8_t { client, server };

/// View text as bytes and bytes as text without copying.
inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_text(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace sansws

#pragma GCC visibility pop
