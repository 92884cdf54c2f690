// Clock, entropy and URL parsing for the bindings.
#include "sansws/posix.hpp"

#include <sys/random.h>
#include <time.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>

#include "sansws/handshake.hpp"

namespace sansws {

timestamp monotonic_now() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

void fill_random(mutable_bytes out) noexcept {
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            std::perror("sansws: getrandom");
            std::abort();
        }
        done += static_cast<std::size_t>(n);
    }
}

std::string ws_url::host_header() const {
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
    // positive) about `"[" + host + "]"`.
    const bool v6 = host.find(':') != std::string::npos;
    std::string h;
    if (v6) h += '[';
    h += host;
    if (v6) h += ']';
    if (port != 80) {
        h += ':';
        h += std::to_string(port);
    }
    return h;
}

std::optional<ws_url> parse_ws_url(std::string_view url, std::string& error) {
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        error = "not a URL (expected ws://host[:port]/path): " + std::string(url);
        return std::nullopt;
    }
    const std::string_view scheme = url.substr(0, scheme_end);
    if (iequals(scheme, "wss")) {
        error = "wss:// is not supported yet (no TLS); use ws://";
        return std::nullopt;
    }
    if (!iequals(scheme, "ws")) {
        error = "unsupported scheme '" + std::string(scheme) + "' (expected ws://)";
        return std::nullopt;
    }
    std::string_view rest = url.substr(scheme_end + 3);
    if (rest.find('#') != std::string_view::npos) {
        error = "fragments (#...) are not allowed in WebSocket URLs";
        return std::nullopt;
    }
    const auto path_start = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_start);
    std::string_view target = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
    if (authority.find('@') != std::string_view::npos) {
        error = "credentials in the URL are not supported";
        return std::nullopt;
    }

    ws_url u;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {  // IPv6 literal (RFC 3986 §3.2.2)
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            error = "unterminated IPv6 literal in URL";
            return std::nullopt;
        }
        u.host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty() && after.front() != ':') {
            error = "unexpected text after IPv6 literal";
            return std::nullopt;
        }
        if (!after.empty()) port = after.substr(1);
        if (u.host.find(':') == std::string::npos) {
            error = "brackets may only hold an IPv6 address";
            return std::nullopt;
        }
    } else {
        const auto colon = authority.find(':');
        u.host = authority.substr(0, colon);
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
    }
    if (u.host.empty()) {
        error = "missing host in URL";
        return std::nullopt;
    }
    if (!port.empty() || authority.ends_with(':')) {
        unsigned value = 0;
        auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
            error = "invalid port '" + std::string(port) + "' in URL";
            return std::nullopt;
        }
        u.port = static_cast<std::uint16_t>(value);
    }
    if (target.empty()) target = "/";
    u.target = target.front() == '?' ? "/" + std::string(target) : std::string(target);
    for (char c : u.target) {
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
            error = "spaces and control characters must be percent-encoded in the URL";
            return std::nullopt;
        }
    }
    return u;
}

}  // namespace sansws
