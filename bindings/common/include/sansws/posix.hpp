// The operating-system services the engine deliberately does without, for
// the bindings: a monotonic clock, entropy, and ws:// URLs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sansws/types.hpp"

namespace sansws {

/// CLOCK_MONOTONIC as an engine timestamp. Every binding uses this clock, so
/// timestamps from different bindings compare.
timestamp monotonic_now() noexcept;

/// Fill `out` from getrandom(2); aborts if the kernel cannot provide entropy
/// (a client must not fall back to predictable mask keys, RFC 6455 §10.3).
/// Usable as config::entropy.
void fill_random(mutable_bytes out) noexcept;

/// A parsed ws:// URL (RFC 6455 §3).
struct ws_url {
    std::string host;         // without brackets for IPv6 literals
    std::uint16_t port = 80;  // 80 when the URL names none
    std::string target = "/";  // path and query, what goes in the request line
    /// The Host header value: host, bracketed if IPv6, with :port unless 80.
    std::string host_header() const;
};

/// Parse ws://host[:port][/path][?query]. nullopt with `error` set for
/// anything else, including wss:// (not supported yet), fragments (§3
/// forbids them) and credentials.
std::optional<ws_url> parse_ws_url(std::string_view url, std::string& error);

}  // namespace sansws
