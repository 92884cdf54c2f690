// The opening handshake example of RFC 6455 §1.3, byte for byte (the RFC
// shows the lines without their CRLF). Shared by the tests and the fuzz
// targets.
#pragma once

#include <string_view>

namespace rfc6455_examples {

inline constexpr std::string_view request =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

}  // namespace rfc6455_examples
