// RFC 7230 character classes shared by the HTTP head parser (handshake.cpp)
// and the Sec-WebSocket-Extensions parser (extensions.cpp).
#pragma once

#include <algorithm>
#include <string_view>

namespace sansws::detail {

// RFC 7230 §3.2.6: tchar, the characters of a token.
constexpr bool is_tchar(char c) noexcept {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
    switch (c) {
        case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
        case '-': case '.': case '^': case '_': case '`': case '|': case '~':
            return true;
        default:
            return false;
    }
}

// RFC 7230 §3.2.3: optional whitespace.
constexpr bool is_ows(char c) noexcept { return c == ' ' || c == '\t'; }

// RFC 7230 §3.2.6: token = 1*tchar.
inline bool is_token(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

}  // namespace sansws::detail
