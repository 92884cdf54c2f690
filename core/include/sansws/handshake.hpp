// The opening handshake on its own (RFC 6455 §4): an incremental, bounded
// HTTP/1.1 head parser, validation of the client's request (server role) and
// of the server's response (client role), and the writers for both.
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

struct http_header {
    std::string name;   // as received; compare case-insensitively
    std::string value;  // leading and trailing whitespace removed
};
using http_headers = std::vector<http_header>;

/// Case-insensitive ASCII comparison (HTTP field names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;
/// All values of header `name` joined with ", " in arrival order, as HTTP
/// combines repeated fields (RFC 7230 §3.2.2); nullopt when absent.
std::optional<std::string> header_value(const http_headers& headers, std::string_view name);
/// The comma-separated elements of every `name` field, trimmed, empty ones
/// dropped (RFC 7230 §7).
std::vector<std::string> header_list(const http_headers& headers, std::string_view name);
/// True when the comma list of `name` contains `token` (case-insensitive).
bool header_has_token(const http_headers& headers, std::string_view name, std::string_view token);

struct http_limits {
    std::size_t max_size = 16 * 1024;  // whole head, request line to blank line
    std::size_t max_headers = 100;
};

/// A parsed HTTP/1.1 message head: request or response.
struct http_head {
    // request line: method SP target SP version
    std::string method, target;
    // status line: version SP status SP reason
    int status = 0;
    std::string reason;
    std::string version;
    http_headers headers;
};

/// Incremental head parser. Bytes are copied into an internal buffer bounded
/// by http_limits::max_size; each byte is scanned once however the input is
/// split (no re-scan from the start, cf. CVE-2023-43669).
class http_head_parser {
public:
    enum class kind : std::uint8_t { request, response };
    enum class status : std::uint8_t { need_more, done, too_large, malformed };

    http_head_parser(kind k, http_limits limits) : kind_(k), limits_(limits) {}

    /// Consume bytes up to the end of the head. `consumed` receives how many
    /// bytes of `input` belong to the head; bytes after it (frames, a body)
    /// are left to the caller.
    status feed(bytes_view input, std::size_t& consumed);
    /// Valid after done.
    const http_head& head() const noexcept { return head_; }
    http_head& head() noexcept { return head_; }
    /// After malformed: a short reason.
    std::string_view error() const noexcept { return error_; }

private:
    status parse_lines();
    kind kind_;
    http_limits limits_;
    std::string buf_;
    std::size_t line_start_ = 0;  // start of the line being scanned
    std::size_t lines_ = 0;
    status status_ = status::need_more;  // sticky once no longer need_more
    http_head head_;
    std::string error_;
};

/// What the server application sees of the client's upgrade request (§4.2.1).
struct handshake_request {
    std::string target;   // request-target: path and query
    std::string host;
    std::optional<std::string> origin;
    std::vector<std::string> subprotocols;  // Sec-WebSocket-Protocol, in order
    std::vector<std::string> extensions;    // Sec-WebSocket-Extensions elements, raw
    std::string key;                        // Sec-WebSocket-Key as sent
    http_headers headers;                   // every field, as received
};

/// The answer refusing a handshake: status, reason and headers to send.
struct handshake_failure {
    int status = 400;
    std::string reason;   // short, human-readable; also the response body
    http_headers headers; // e.g. Sec-WebSocket-Version: 13 with 426
};

/// Check a parsed request against §4.2.1. Returns the request or the
/// response to send: 426 for a missing or unsupported version (§4.4), 400
/// for anything else.
struct request_check {
    std::optional<handshake_request> request;
    handshake_failure failure;
};
request_check check_client_request(http_head&& head);

/// Parameters of the server's 101 answer (§4.2.2).
struct accept_options {
    std::optional<std::string> subprotocol;  // one of those offered
    std::vector<std::string> extensions;     // extension elements to answer with
    http_headers headers;                    // extra fields
};
/// The 101 Switching Protocols response for `key`.
std::string write_accept_response(std::string_view key, const accept_options& opts);
/// A refusal: status line, headers, Content-Length, Connection: close, body.
std::string write_reject_response(int status, const http_headers& headers, std::string_view body);
std::string_view http_reason_phrase(int status) noexcept;

/// What the client asks for (§4.1).
struct client_options {
    std::string host;           // Host header value, with port when not default
    std::string target = "/";   // path and query
    std::optional<std::string> origin;
    std::vector<std::string> subprotocols;
    std::vector<std::string> extensions;
    /// Extra fields. A Host or Origin here replaces the one from `host` /
    /// `origin` (as Node's ws does); the fields the handshake itself
    /// consists of may not be given (reserved_client_header()).
    http_headers headers;
};
/// Checks of caller-given header fields before they are written (response
/// splitting): a value holds no CR, LF or NUL; a name is an RFC 7230 token.
bool safe_header_value(std::string_view value) noexcept;
bool safe_headers(const http_headers& headers) noexcept;

/// The first field in `headers` that a client may not add to its upgrade
/// request, or empty: Upgrade, Connection and the Sec-WebSocket-* fields
/// the handshake writes itself (§4.1), and a second Host or Origin. A
/// connection configured with one refuses to start (misuse::invalid_argument).
std::string_view reserved_client_header(const http_headers& headers) noexcept;
/// Sec-WebSocket-Accept for a Sec-WebSocket-Key (§4.2.2 step 5.4):
/// base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")).
std::string websocket_accept_key(std::string_view key);
/// The client's upgrade request with `key` (base64 of 16 random bytes).
std::string write_client_request(const client_options& opts, std::string_view key);

/// What the client sees when the server accepts (§4.2.2 / §4.1).
struct handshake_response {
    std::optional<std::string> subprotocol;
    std::vector<std::string> extensions;
    http_headers headers;
};
/// Check a 101 response against §4.1 (client steps 1-6). nullopt with
/// `reason` set when the handshake must fail.
std::optional<handshake_response> check_server_response(const http_head& head, std::string_view key,
                                                        const client_options& offered,
                                                        std::string& reason);

}  // namespace sansws

#pragma GCC visibility pop
