// Sec-WebSocket-Extensions (RFC 6455 §9.1) and the negotiation of
// permessage-deflate (RFC 7692 §5, §7.1), both roles. Pure functions over
// strings: no zlib here (deflate.hpp has the transform).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// One parameter of an extension element: `name` or `name=value`. A value
/// sent as a quoted-string is stored unescaped (RFC 7230 §3.2.6).
struct extension_param {
    std::string name;
    std::optional<std::string> value;
};
/// One element of the list: an extension token and its parameters, in order.
struct extension_offer {
    std::string name;
    std::vector<extension_param> params;
};

/// Bounds on what parse_extensions accepts (the input is also bounded by the
/// handshake size limit).
struct extension_limits {
    std::size_t max_elements = 32;  // elements in the whole list
    std::size_t max_params = 16;    // parameters in one element
};

/// Parse a Sec-WebSocket-Extensions value (several header lines joined with
/// ", ", as header_value() returns them). Grammar of RFC 6455 §9.1 with
/// RFC 7230 tokens, quoted-strings and optional whitespace; empty list
/// elements are skipped (RFC 7230 §7). Linear in the input. nullopt on a
/// syntax error or a limit exceeded, with `error` (when given) set to a
/// short reason. Stricter than "any quoted-string": §9.1 requires a quoted
/// value to be a token once unescaped, so `a; b="x y"` and `a; b=""` are
/// errors, and so is a value with no element at all ("" or ", ,": the list
/// is 1#extension). Names and values are kept as received; compare names
/// with iequals.
std::optional<std::vector<extension_offer>> parse_extensions(std::string_view value, std::string* error = nullptr,
                                                             const extension_limits& limits = {});

/// What this endpoint is willing to do with permessage-deflate (RFC 7692).
/// Window bits are 8..15 (values outside are clamped into that range); the
/// compressor never uses 8 (zlib's raw deflate cannot, see README
/// "Compression"): a side whose compressor is limited to 8 bits sends its
/// messages uncompressed, which §6 allows.
struct deflate_options {
    bool enabled = false;
    /// Largest LZ77 window of the server's compressor. Server: the largest it
    /// agrees to use (answered when below 15 or when the client asked for a
    /// smaller one). Client: below 15, asked for with server_max_window_bits.
    std::uint8_t server_max_window_bits = 15;
    /// Largest LZ77 window of the client's compressor. Server: below 15, an
    /// offer without client_max_window_bits is declined (the client could not
    /// be held to it). Client: 15 offers the parameter without a value (any
    /// limit the server picks is honoured), below 15 offers that value.
    std::uint8_t client_max_window_bits = 15;
    /// Server: always answer with server_no_context_takeover (§7.1.1.1; it
    /// lets connections share one compressor). Client: ask for it.
    bool server_no_context_takeover = false;
    /// Server: answer with client_no_context_takeover (§7.1.1.2), so the
    /// client resets after each message. Client: offer it (a hint).
    bool client_no_context_takeover = false;
};

/// The parameters in force on a connection after the handshake.
struct deflate_params {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    std::uint8_t server_max_window_bits = 15;
    std::uint8_t client_max_window_bits = 15;

    /// One direction of the agreement: the window its compressor was limited
    /// to and whether that compressor resets after each message (§7.1.1).
    struct direction {
        int window_bits = 15;
        bool no_context_takeover = false;
    };
    /// What `r` compresses with (its own parameters) and what it inflates
    /// (the peer's), so the role is resolved once, here.
    direction sending(role r) const noexcept {
        return r == role::server ? direction{server_max_window_bits, server_no_context_takeover}
                                 : direction{client_max_window_bits, client_no_context_takeover};
    }
    direction receiving(role r) const noexcept { return sending(r == role::server ? role::client : role::server); }
};

/// Server: the first acceptable permessage-deflate offer (§5.1: in the
/// client's order of preference) under `policy`, and the extension element
/// to answer with. Offers with an unknown or repeated parameter or a bad
/// value (§7.1: value 8..15, decimal, no leading zero; flags take no value;
/// server_max_window_bits needs one) are declined and the next is tried.
/// nullopt when none is acceptable or policy.enabled is false.
///
/// An offered client_no_context_takeover (a hint, §7.1.1.2) is echoed, so
/// both sides know the client resets. The response lists its parameters in
/// a fixed order: server_no_context_takeover, client_no_context_takeover,
/// server_max_window_bits=N (when offered or N < 15),
/// client_max_window_bits=N (when offered and N < 15).
struct deflate_agreement {
    deflate_params params;
    std::string response;  // e.g. "permessage-deflate; server_max_window_bits=12"
};
std::optional<deflate_agreement> negotiate_deflate(const std::vector<extension_offer>& offers,
                                                   const deflate_options& policy);

/// Client: the permessage-deflate element to offer for `opts` (whatever
/// opts.enabled says), parameters in the order of the server's response;
/// client_max_window_bits is always offered, without a value at 15.
std::string deflate_offer(const deflate_options& opts);

/// Client: check the server's answer, which must be exactly one
/// permessage-deflate element (§7.1: the client offered one). Fails (nullopt,
/// `reason` set) on an unknown or repeated parameter, an invalid value,
/// client_max_window_bits without a value, a window above the offered limit,
/// or no server_max_window_bits when we offered one below 15 (§7.1.2.1,
/// §7.1.2.2). The offer from deflate_offer always has
/// client_max_window_bits, so the answer may carry it. Flags are taken as
/// answered: a server_no_context_takeover we did not ask for is accepted, and
/// one we asked for but the server left out means the server keeps context.
std::optional<deflate_params> check_deflate_answer(const extension_offer& answer, const deflate_options& offered,
                                                   std::string& reason);

}  // namespace sansws

#pragma GCC visibility pop
