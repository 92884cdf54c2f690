// Error values. Local misuse (the caller broke the API contract) and remote
// violations (the peer broke RFC 6455) are distinct types; every violation
// maps to the close code the engine sends (RFC 6455 §7.4.1).
#pragma once

#include <cstdint>
#include <string_view>

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Close status codes (RFC 6455 §7.4.1, IANA registry §11.7).
enum class close_code : std::uint16_t {
    normal = 1000,
    going_away = 1001,
    protocol_error = 1002,
    unsupported_data = 1003,
    no_status = 1005,   // never sent on the wire (§7.4.1)
    abnormal = 1006,    // never sent on the wire (§7.4.1)
    invalid_payload = 1007,
    policy_violation = 1008,
    message_too_big = 1009,
    mandatory_extension = 1010,
    internal_error = 1011,
    service_restart = 1012,
    try_again_later = 1013,
    bad_gateway = 1014,
};

/// True when `code` may appear in a Close frame on the wire (§7.4.1, §7.4.2):
/// 1000-1003, 1007-1014, and 3000-4999.
constexpr bool is_valid_wire_close_code(std::uint16_t code) noexcept {
    if (code >= 3000 && code <= 4999) return true;
    if (code >= 1000 && code <= 1003) return true;
    return code >= 1007 && code <= 1014;
}

/// The caller used the API wrongly. Nothing is sent; the connection state is
/// unchanged.
enum class misuse : std::uint8_t {
    none = 0,
    wrong_role,          // e.g. accept() on a client
    wrong_state,         // e.g. send before the handshake finished or after close
    input_pending,       // receive() before next_event() drained the last input
    message_in_progress, // a fragmented send is open and this needs it closed
    no_message_open,     // a continuation send without a started message
    control_too_long,    // ping/pong/close payload over 125 bytes (§5.5)
    invalid_close_code,  // code not allowed on the wire (§7.4)
    invalid_utf8,        // text or close reason that is not UTF-8 (§5.6, §5.5.1)
    invalid_argument,    // malformed header name/value, status, subprotocol ...
    too_large,           // over a configured limit (the bindings' max_backpressure)
};
std::string_view to_string(misuse m) noexcept;

/// What the peer did wrong. Every value maps to a close code.
enum class violation : std::uint8_t {
    none = 0,
    // opening handshake (§4)
    bad_handshake,        // malformed or non-conforming request/response
    handshake_too_large,  // over max_handshake_size or max_header_count
    handshake_timeout,
    // framing (§5)
    reserved_bits,        // RSV1-3 set without a negotiated extension (§5.2)
    reserved_opcode,      // opcode 3-7 or 0xB-0xF (§5.2)
    fragmented_control,   // control frame without FIN (§5.5)
    control_too_long,     // control frame payload > 125 (§5.5)
    unmasked_frame,       // client-to-server frame without mask (§5.1)
    masked_frame,         // server-to-client frame with mask (§5.1)
    length_too_large,     // 64-bit length with the top bit set (§5.2)
    non_minimal_length,   // length not in its minimal encoding (§5.2)
    unexpected_continuation, // continuation with no message started (§5.4)
    expected_continuation,   // new data frame inside a fragmented message (§5.4)
    invalid_close_payload,   // 1-byte close payload (§5.5.1)
    invalid_close_code,      // code not allowed on the wire (§7.4)
    invalid_utf8,            // text or close reason not UTF-8 (§8.1), 1007
    message_too_big,         // over max_message_size, 1009
    pong_timeout,            // keep-alive pong did not arrive in time
    close_timeout,           // the peer did not answer our Close in time
    connection_lost,         // the transport ended without a Close (1006, §7.1.5)
    // permessage-deflate (RFC 7692)
    invalid_compressed_data, // payload is not valid DEFLATE data (§7.2.2), 1007
    compression_failed,      // zlib could not work (out of memory), 1011
};
std::string_view to_string(violation v) noexcept;
/// The close code the engine sends for `v` (§7.4.1).
close_code close_code_for(violation v) noexcept;

}  // namespace sansws

#pragma GCC visibility pop
