// Human-readable reasons for misuse and violations, and the close code each
// violation is answered with (RFC 6455 §7.4.1). The reasons are short enough
// to travel as a Close frame reason, which must fit in 123 bytes (§5.5).
#include "sansws/errors.hpp"

namespace sansws {

std::string_view to_string(misuse m) noexcept {
    switch (m) {
        case misuse::none: return "no error";
        case misuse::wrong_role: return "operation not available in this role";
        case misuse::wrong_state: return "operation not allowed in the current state";
        case misuse::input_pending: return "previous input not yet drained by next_event()";
        case misuse::message_in_progress: return "a fragmented message is still open";
        case misuse::no_message_open: return "no fragmented message is open";
        case misuse::control_too_long: return "control payload over 125 bytes (RFC 6455 §5.5)";
        case misuse::invalid_close_code: return "close code not allowed on the wire (RFC 6455 §7.4)";
        case misuse::invalid_utf8: return "text is not valid utf-8 (RFC 6455 §5.6)";
        case misuse::invalid_argument: return "invalid argument";
        case misuse::too_large: return "over a configured limit";
    }
    // Reached only for a value outside the enumeration (e.g. a cast).
    return "unknown misuse";
}

std::string_view to_string(violation v) noexcept {
    switch (v) {
        case violation::none: return "no error";
        case violation::bad_handshake: return "bad opening handshake (RFC 6455 §4)";
        case violation::handshake_too_large: return "opening handshake too large";
        case violation::handshake_timeout: return "opening handshake timed out";
        case violation::reserved_bits: return "reserved bits set (RFC 6455 §5.2)";
        case violation::reserved_opcode: return "reserved opcode (RFC 6455 §5.2)";
        case violation::fragmented_control: return "fragmented control frame (RFC 6455 §5.5)";
        case violation::control_too_long: return "control frame over 125 bytes (RFC 6455 §5.5)";
        case violation::unmasked_frame: return "unmasked client frame (RFC 6455 §5.1)";
        case violation::masked_frame: return "masked server frame (RFC 6455 §5.1)";
        case violation::length_too_large: return "payload length top bit set (RFC 6455 §5.2)";
        case violation::non_minimal_length: return "non-minimal payload length (RFC 6455 §5.2)";
        case violation::unexpected_continuation:
            return "continuation without a message (RFC 6455 §5.4)";
        case violation::expected_continuation:
            return "new message inside a fragmented one (RFC 6455 §5.4)";
        case violation::invalid_close_payload: return "invalid close payload (RFC 6455 §5.5.1)";
        case violation::invalid_close_code: return "invalid close code (RFC 6455 §7.4)";
        case violation::invalid_utf8: return "invalid utf-8 in text (RFC 6455 §8.1)";
        case violation::message_too_big: return "message too big";
        case violation::pong_timeout: return "pong timeout";
        case violation::close_timeout: return "close handshake timed out";
        case violation::connection_lost: return "connection lost without a close frame (RFC 6455 §7.1.5)";
        case violation::invalid_compressed_data: return "invalid compressed data (RFC 7692 §7.2.2)";
        case violation::compression_failed: return "compression failed (zlib out of memory)";
    }
    // Reached only for a value outside the enumeration (e.g. a cast).
    return "unknown violation";
}

close_code close_code_for(violation v) noexcept {
    switch (v) {
        // §7.4.1: 1007 for data inconsistent with the message type, such as
        // non-UTF-8 in a text message (§8.1).
        case violation::invalid_utf8: return close_code::invalid_payload;
        // A payload that does not inflate is data inconsistent with the
        // message (RFC 7692 §7.2.2 names no code; 1007 as for bad UTF-8).
        case violation::invalid_compressed_data: return close_code::invalid_payload;
        // Our own resources failed, not the peer: 1011.
        case violation::compression_failed: return close_code::internal_error;
        // §7.4.1: 1009 for a message too big to process.
        case violation::message_too_big: return close_code::message_too_big;
        // A missing pong is not something the peer's frames did wrong; 1011
        // ("unexpected condition") is the closest fit in §7.4.1.
        case violation::pong_timeout: return close_code::internal_error;
        // §7.1.5: a connection that ends without a Close frame is reported
        // as 1006. Nothing can be sent then, so this code is only reported
        // locally, never written to the wire (§7.4.1).
        case violation::connection_lost: return close_code::abnormal;
        default:
            // Everything else breaks the protocol itself (§7.4.1: 1002),
            // including handshake failures and an unanswered Close.
            return close_code::protocol_error;
    }
}

}  // namespace sansws
