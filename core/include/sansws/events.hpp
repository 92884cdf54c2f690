// Events: a closed set of small value types in one std::variant (the shape of
// Python wsproto's events.py). The same types describe what is received and
// what may be sent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "sansws/errors.hpp"
#include "sansws/handshake.hpp"
#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Nothing more can be produced until more input (or time) arrives.
struct need_more {};

/// Client role: the server refused the upgrade. The body is bounded by
/// config::max_reject_body; `body_truncated` says if bytes were dropped.
struct handshake_rejected {
    int status = 0;
    std::string reason;
    http_headers headers;
    std::string body;
    bool body_truncated = false;
};

enum class message_type : std::uint8_t { text = 1, binary = 2 };

/// A data message or, in streaming delivery, a piece of one. In whole-message
/// delivery first and last are both true. `data` is valid until the next call
/// to next_event(), receive() or any send on the connection: it points either
/// into the caller's input (unmasked in place) or into the connection's
/// message buffer. Streamed text pieces may split a code point; their
/// concatenation is valid UTF-8 (checked before the last piece is delivered).
struct message {
    message_type type = message_type::binary;
    bytes_view data;
    bool first = true;
    bool last = true;
    std::string_view text() const noexcept { return as_text(data); }
};

/// Ping and Pong (§5.5.2, §5.5.3). `data` has the lifetime of message::data.
struct ping {
    bytes_view data;
};
struct pong {
    bytes_view data;
};

/// A Close frame (§5.5.1). Received: the peer's code (1005 when its payload
/// was empty) and reason; the engine has already queued its answer.
struct close_frame {
    std::uint16_t code = 1005;
    std::string_view reason;  // lifetime of message::data
};

/// The peer violated the protocol (or a deadline passed). The engine has
/// queued a Close with `code` where one may still be sent; the connection is
/// failed from now on (§7.1.7).
struct failure {
    violation what = violation::none;
    close_code code = close_code::protocol_error;
    /// A short detail (e.g. the HTTP parser's error); it points into the
    /// connection and lives as message::data does.
    std::string_view reason;
};

using event = std::variant<need_more, handshake_request, handshake_response, handshake_rejected,
                           message, ping, pong, close_frame, failure>;

}  // namespace sansws

#pragma GCC visibility pop
