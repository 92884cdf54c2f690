// The opening handshake (RFC 6455 §4): a bounded, incremental HTTP/1.1 head
// parser (RFC 7230 §3), the server's checks of the client's request
// (§4.2.1), the client's checks of the server's response (§4.1), and the
// writers for both directions.
//
// The writers copy header names and values verbatim: callers (the connection)
// validate strings that reach them so that no CR or LF can be injected.
#include "sansws/handshake.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "http_chars.hpp"
#include "sansws/detail/crypto.hpp"

namespace sansws {
namespace {

using detail::is_ows, detail::is_tchar, detail::is_token;

// RFC 7230 §3.2: field-vchar is VCHAR or obs-text; SP and HTAB may appear
// between them. Everything else (CTLs, DEL, a stray CR) is refused.
constexpr bool is_field_char(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

// request-target (RFC 7230 §5.3) is URI syntax: visible ASCII only.
constexpr bool is_target_char(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c >= 0x21 && c <= 0x7e;
}

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

constexpr char ascii_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string_view trim_ows(std::string_view s) noexcept {
    while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
    return s;
}

bool all_of(std::string_view s, bool (*pred)(char) noexcept) noexcept {
    for (const char c : s) {
        if (!pred(c)) return false;
    }
    return true;
}

// RFC 7230 §2.6: HTTP-version = "HTTP/" DIGIT "." DIGIT, "HTTP" case-sensitive.
bool is_http_version(std::string_view v) noexcept {
    return v.size() == 8 && v.substr(0, 5) == "HTTP/" && is_digit(v[5]) && v[6] == '.' &&
           is_digit(v[7]);
}

// §4.2.1 item 1 asks for HTTP/1.1 or higher; a 2.x or 3.x version never
// travels in an HTTP/1 head, so only 1.1 to 1.9 qualify.
bool is_http11_or_later(std::string_view v) noexcept {
    return is_http_version(v) && v[5] == '1' && v[7] >= '1';
}

// RFC 7230 §3.1.1: request-line = method SP request-target SP HTTP-version.
bool parse_request_line(std::string_view line, http_head& head, std::string& error) {
    const auto sp1 = line.find(' ');
    if (sp1 == std::string_view::npos) {
        error = "malformed request line";
        return false;
    }
    const auto method = line.substr(0, sp1);
    const auto rest = line.substr(sp1 + 1);
    const auto sp2 = rest.find(' ');
    if (sp2 == std::string_view::npos) {
        error = "malformed request line";
        return false;
    }
    const auto target = rest.substr(0, sp2);
    const auto version = rest.substr(sp2 + 1);
    if (!is_token(method)) {
        error = "invalid method";
        return false;
    }
    if (target.empty() || !all_of(target, is_target_char)) {
        error = "invalid request target";
        return false;
    }
    if (!is_http_version(version)) {
        error = "invalid HTTP version";
        return false;
    }
    head.method = method;
    head.target = target;
    head.version = version;
    return true;
}

// RFC 7230 §3.1.2: status-line = HTTP-version SP status-code SP reason-phrase.
// The SP before an empty reason is sometimes omitted by servers; accepting
// its absence costs nothing and loses no information.
bool parse_status_line(std::string_view line, http_head& head, std::string& error) {
    const auto sp = line.find(' ');
    if (sp == std::string_view::npos || !is_http_version(line.substr(0, sp))) {
        error = "malformed status line";
        return false;
    }
    const auto rest = line.substr(sp + 1);
    if (rest.size() < 3 || !is_digit(rest[0]) || !is_digit(rest[1]) || !is_digit(rest[2]) ||
        (rest.size() > 3 && rest[3] != ' ')) {
        error = "invalid status code";
        return false;
    }
    const auto reason = rest.size() > 3 ? rest.substr(4) : std::string_view{};
    if (!all_of(reason, is_field_char)) {
        error = "invalid reason phrase";
        return false;
    }
    head.version = line.substr(0, sp);
    head.status = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
    head.reason = reason;
    return true;
}

// RFC 7230 §3.2: header-field = field-name ":" OWS field-value OWS.
bool parse_field_line(std::string_view line, http_head& head, std::string& error) {
    // §3.2.4: obs-fold is deprecated; a recipient outside a media type may
    // reject it, and silently joining lines is how smuggling starts.
    if (is_ows(line.front())) {
        error = "obsolete line folding";
        return false;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) {
        error = "header line without colon";
        return false;
    }
    const auto name = line.substr(0, colon);
    if (name.empty()) {
        error = "empty header name";
        return false;
    }
    // §3.2.4: no whitespace is allowed between the name and the colon; it
    // shows up here as a non-tchar.
    if (!all_of(name, is_tchar)) {
        error = "invalid header name";
        return false;
    }
    const auto value = trim_ows(line.substr(colon + 1));
    if (!all_of(value, is_field_char)) {
        error = "invalid character in header value";
        return false;
    }
    head.headers.push_back(http_header{std::string(name), std::string(value)});
    return true;
}

std::size_t header_count(const http_headers& headers, std::string_view name) noexcept {
    std::size_t n = 0;
    for (const auto& h : headers) {
        if (iequals(h.name, name)) ++n;
    }
    return n;
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += ", ";
        out += item;
    }
    return out;
}

// §9.1: an extension element is "name *( ; param )"; only the name says which
// extension it is.
std::string_view extension_name(std::string_view element) noexcept {
    return trim_ows(element.substr(0, element.find(';')));
}

handshake_failure fail_request(int status, std::string reason) {
    return handshake_failure{status, std::move(reason), {}};
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    }
    return true;
}

std::optional<std::string> header_value(const http_headers& headers, std::string_view name) {
    std::optional<std::string> out;
    for (const auto& h : headers) {
        if (!iequals(h.name, name)) continue;
        if (out) {
            *out += ", ";
            *out += h.value;
        } else {
            out = h.value;
        }
    }
    return out;
}

namespace {

/// Every comma-separated item of every `name` field, trimmed, empty items
/// kept: for fields where an empty value is an error.
std::vector<std::string_view> header_values(const http_headers& headers, std::string_view name) {
    std::vector<std::string_view> out;
    for (const auto& h : headers) {
        if (!iequals(h.name, name)) continue;
        std::string_view rest = h.value;
        while (true) {
            const auto comma = rest.find(',');
            out.push_back(trim_ows(rest.substr(0, comma)));
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return out;
}

}  // namespace

std::vector<std::string> header_list(const http_headers& headers, std::string_view name) {
    std::vector<std::string> out;
    for (std::string_view item : header_values(headers, name))
        if (!item.empty()) out.emplace_back(item);
    return out;
}

bool header_has_token(const http_headers& headers, std::string_view name, std::string_view token) {
    for (const auto& item : header_list(headers, name)) {
        if (iequals(item, token)) return true;
    }
    return false;
}

// Each call scans only bytes it has not seen: memchr looks for the next LF in
// the new input, and a line is parsed once, when its LF arrives. Bytes are
// copied into buf_ at most up to max_size, so the total work is linear in the
// head however it is split (the quadratic re-scan of CVE-2023-43669 cannot
// happen).
http_head_parser::status http_head_parser::feed(bytes_view input, std::size_t& consumed) {
    consumed = 0;
    if (status_ != status::need_more) return status_;
    const auto* data = reinterpret_cast<const char*>(input.data());
    while (consumed < input.size()) {
        const char* start = data + consumed;
        const std::size_t avail = input.size() - consumed;
        const std::size_t room = limits_.max_size - buf_.size();  // buf_ never exceeds it
        const void* lf = std::memchr(start, '\n', std::min(avail, room));
        if (lf == nullptr && avail > room) {
            // The head needs more than the limit. Consume exactly up to it so
            // the outcome, consumed count included, does not depend on how the
            // input was split.
            buf_.append(start, room);
            consumed += room;
            error_ = "HTTP head too large";
            status_ = status::too_large;
            return status_;
        }
        const std::size_t take =
            lf != nullptr ? static_cast<std::size_t>(static_cast<const char*>(lf) - start) + 1
                          : avail;
        buf_.append(start, take);
        consumed += take;
        if (lf == nullptr) return status::need_more;
        status_ = parse_lines();
        if (status_ != status::need_more) return status_;
    }
    return status::need_more;
}

// Parse the line that the last appended LF completed: [line_start_, LF).
http_head_parser::status http_head_parser::parse_lines() {
    std::string_view line(buf_.data() + line_start_, buf_.size() - 1 - line_start_);
    line_start_ = buf_.size();
    // RFC 7230 §3.5: lines end with CRLF, but a recipient MAY accept a bare
    // LF; we do, and a CR anywhere else is refused as a control character.
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (lines_ == 0) {
        // RFC 7230 §3.5: ignore empty lines before the start line (they still
        // count against max_size).
        if (line.empty()) return status::need_more;
        ++lines_;
        const bool ok = kind_ == kind::request ? parse_request_line(line, head_, error_)
                                               : parse_status_line(line, head_, error_);
        return ok ? status::need_more : status::malformed;
    }
    if (line.empty()) return status::done;
    ++lines_;
    if (head_.headers.size() >= limits_.max_headers) {
        error_ = "too many header fields";
        return status::too_large;
    }
    return parse_field_line(line, head_, error_) ? status::need_more : status::malformed;
}

request_check check_client_request(http_head&& head) {
    request_check out;
    // §4.2.1 item 1. GET is case-sensitive (RFC 7231 §4.1).
    if (head.method != "GET") {
        out.failure = fail_request(400, "method must be GET");
        return out;
    }
    if (!is_http11_or_later(head.version)) {
        out.failure = fail_request(400, "HTTP/1.1 or later required");
        return out;
    }
    // RFC 7230 §3.3.3: the framing of a body must be known before anything
    // after the head is read as WebSocket frames. A Transfer-Encoding (items
    // 3 and 4) or an invalid or conflicting Content-Length (item 4) gets 400;
    // a valid non-zero Content-Length declares a body the upgrade cannot
    // have (§4.1 sends none), which would otherwise be parsed as frames: 400.
    if (header_count(head.headers, "Transfer-Encoding") != 0) {
        out.failure = fail_request(400, "Transfer-Encoding on an upgrade request (RFC 7230 §3.3.3)");
        return out;
    }
    if (const auto lengths = header_values(head.headers, "Content-Length"); !lengths.empty()) {
        std::optional<std::uint64_t> length;
        for (std::string_view v : lengths) {
            // 19 digits always fit in 64 bits; more is no length we could take.
            if (v.empty() || !all_of(v, is_digit) || v.size() > 19) {
                out.failure = fail_request(400, "invalid Content-Length (RFC 7230 §3.3.3)");
                return out;
            }
            std::uint64_t n = 0;
            for (char c : v) n = n * 10 + static_cast<std::uint64_t>(c - '0');
            // §3.3.2: repeats of the same decimal value are one length.
            if (length && *length != n) {
                out.failure = fail_request(400, "conflicting Content-Length values (RFC 7230 §3.3.3)");
                return out;
            }
            length = n;
        }
        if (*length != 0) {
            out.failure = fail_request(400, "a request body is not allowed on the upgrade request");
            return out;
        }
    }
    // §4.2.1 item 2; RFC 7230 §5.4 requires 400 for a missing or repeated
    // Host. A ws: URI always has an authority, so an empty one is refused too.
    const auto hosts = header_count(head.headers, "Host");
    if (hosts != 1) {
        out.failure = fail_request(400, hosts == 0 ? "missing Host" : "duplicate Host");
        return out;
    }
    auto host = header_value(head.headers, "Host");
    if (host->empty()) {
        out.failure = fail_request(400, "empty Host");
        return out;
    }
    // §4.2.1 items 3 and 4.
    if (!header_has_token(head.headers, "Upgrade", "websocket")) {
        out.failure = fail_request(400, "missing Upgrade: websocket");
        return out;
    }
    if (!header_has_token(head.headers, "Connection", "Upgrade")) {
        out.failure = fail_request(400, "missing Connection: Upgrade");
        return out;
    }
    // §4.2.1 item 6 and §4.4: checked before the key because a client of
    // another version (e.g. one sending Sec-WebSocket-Key1/Key2) must learn
    // which version we speak, not that its key is missing.
    const auto version = header_value(head.headers, "Sec-WebSocket-Version");
    if (!version || *version != "13") {
        out.failure = fail_request(426, version ? "unsupported Sec-WebSocket-Version"
                                                : "missing Sec-WebSocket-Version");
        out.failure.headers.push_back(http_header{"Sec-WebSocket-Version", "13"});
        return out;
    }
    // §4.2.1 item 5; §11.3.1: the field must not appear more than once.
    const auto keys = header_count(head.headers, "Sec-WebSocket-Key");
    if (keys != 1) {
        out.failure = fail_request(
            400, keys == 0 ? "missing Sec-WebSocket-Key" : "duplicate Sec-WebSocket-Key");
        return out;
    }
    auto key = header_value(head.headers, "Sec-WebSocket-Key");
    const auto nonce = base64_decode(*key);
    if (!nonce || nonce->size() != 16) {
        out.failure = fail_request(400, "invalid Sec-WebSocket-Key");
        return out;
    }
    handshake_request req;
    req.target = std::move(head.target);
    req.host = std::move(*host);
    req.origin = header_value(head.headers, "Origin");  // §4.2.1 item 7
    req.subprotocols = header_list(head.headers, "Sec-WebSocket-Protocol");  // item 8
    req.extensions = header_list(head.headers, "Sec-WebSocket-Extensions");  // item 9
    req.key = std::move(*key);
    req.headers = std::move(head.headers);
    out.request = std::move(req);
    return out;
}

// §4.2.2 step 5: the 101 answer.
std::string write_accept_response(std::string_view key, const accept_options& opts) {
    std::string out = "HTTP/1.1 101 Switching Protocols\r\n";
    append_field(out, "Upgrade", "websocket");
    append_field(out, "Connection", "Upgrade");
    append_field(out, "Sec-WebSocket-Accept", websocket_accept_key(key));
    if (opts.subprotocol) append_field(out, "Sec-WebSocket-Protocol", *opts.subprotocol);
    if (!opts.extensions.empty()) {
        append_field(out, "Sec-WebSocket-Extensions", join(opts.extensions));
    }
    for (const auto& h : opts.headers)
        if (!iequals(h.name, "Host") && !iequals(h.name, "Origin")) append_field(out, h.name, h.value);
    out += "\r\n";
    return out;
}

// §4.2.1 ends with "return an HTTP response with an appropriate error code";
// the response carries its own framing (RFC 7230 §3.3.2) and closes the
// connection, so caller-supplied Content-Length or Connection fields are
// dropped rather than sent twice with possibly conflicting values.
std::string write_reject_response(int status, const http_headers& headers, std::string_view body) {
    std::string out = "HTTP/1.1 ";
    out += std::to_string(status);
    out += ' ';
    out += http_reason_phrase(status);
    out += "\r\n";
    bool has_type = false;
    for (const auto& h : headers) {
        if (iequals(h.name, "Content-Length") || iequals(h.name, "Connection")) continue;
        if (iequals(h.name, "Content-Type")) has_type = true;
        append_field(out, h.name, h.value);
    }
    if (!body.empty() && !has_type) append_field(out, "Content-Type", "text/plain");
    append_field(out, "Content-Length", std::to_string(body.size()));
    append_field(out, "Connection", "close");
    out += "\r\n";
    out += body;
    return out;
}

// Reason phrases from RFC 9110 §15; any text would do (the phrase carries no
// meaning), but the registered ones are what people expect to read.
std::string_view http_reason_phrase(int status) noexcept {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

// §4.1 items 1-12 of the client's handshake.
bool safe_header_value(std::string_view value) noexcept {
    return value.find_first_of("\r\n") == std::string_view::npos && value.find('\0') == std::string_view::npos;
}

bool safe_headers(const http_headers& headers) noexcept {
    return std::all_of(headers.begin(), headers.end(),
                       [](const http_header& h) { return is_token(h.name) && safe_header_value(h.value); });
}

std::string_view reserved_client_header(const http_headers& headers) noexcept {
    static constexpr std::string_view reserved[] = {"Upgrade", "Connection", "Sec-WebSocket-Key",
                                                    "Sec-WebSocket-Version", "Sec-WebSocket-Protocol",
                                                    "Sec-WebSocket-Extensions"};
    for (const auto& h : headers) {
        for (std::string_view r : reserved)
            if (iequals(h.name, r)) return h.name;
        // RFC 7230 §5.4: one Host; RFC 6454 §7.3: one Origin.
        for (std::string_view once : {std::string_view("Host"), std::string_view("Origin")})
            if (iequals(h.name, once) && header_count(headers, once) > 1) return h.name;
    }
    return {};
}

std::string write_client_request(const client_options& opts, std::string_view key) {
    std::string out = "GET ";
    out += opts.target;
    out += " HTTP/1.1\r\n";
    // A Host or Origin among the extra fields replaces ours, in our place.
    const auto host = header_value(opts.headers, "Host");
    const auto origin = header_value(opts.headers, "Origin");
    append_field(out, "Host", host ? *host : opts.host);
    append_field(out, "Upgrade", "websocket");
    append_field(out, "Connection", "Upgrade");
    append_field(out, "Sec-WebSocket-Key", key);
    append_field(out, "Sec-WebSocket-Version", "13");
    if (origin || opts.origin) append_field(out, "Origin", origin ? *origin : *opts.origin);
    if (!opts.subprotocols.empty()) {
        append_field(out, "Sec-WebSocket-Protocol", join(opts.subprotocols));
    }
    if (!opts.extensions.empty()) {
        append_field(out, "Sec-WebSocket-Extensions", join(opts.extensions));
    }
    for (const auto& h : opts.headers)
        if (!iequals(h.name, "Host") && !iequals(h.name, "Origin")) append_field(out, h.name, h.value);
    out += "\r\n";
    return out;
}

std::optional<handshake_response> check_server_response(const http_head& head, std::string_view key,
                                                        const client_options& offered,
                                                        std::string& reason) {
    // §4.1 client step 1: anything but 101 is plain HTTP, not ours to accept.
    if (head.status != 101) {
        reason = "unexpected status " + std::to_string(head.status);
        return std::nullopt;
    }
    // 101 does not exist before HTTP/1.1 (RFC 7231 §6.2.2).
    if (!is_http11_or_later(head.version)) {
        reason = "HTTP/1.1 or later required";
        return std::nullopt;
    }
    // Step 2 is stricter than the request side: the field must be exactly
    // "websocket", not merely contain it.
    const auto upgrade = header_list(head.headers, "Upgrade");
    if (upgrade.size() != 1 || !iequals(upgrade.front(), "websocket")) {
        reason = "missing Upgrade: websocket";
        return std::nullopt;
    }
    // Step 3.
    if (!header_has_token(head.headers, "Connection", "Upgrade")) {
        reason = "missing Connection: Upgrade";
        return std::nullopt;
    }
    // Step 4: values are already trimmed of surrounding whitespace; the
    // comparison is exact because base64 is case-sensitive.
    if (header_count(head.headers, "Sec-WebSocket-Accept") != 1 ||
        *header_value(head.headers, "Sec-WebSocket-Accept") != websocket_accept_key(key)) {
        reason = "invalid Sec-WebSocket-Accept";
        return std::nullopt;
    }
    // §11.3.2, §11.3.4: Sec-WebSocket-Extensions and Sec-WebSocket-Protocol
    // must not appear more than once in a response, even with an empty copy.
    for (std::string_view once : {std::string_view("Sec-WebSocket-Extensions"), std::string_view("Sec-WebSocket-Protocol")}) {
        if (header_count(head.headers, once) > 1) {
            reason = std::string(once) + " appears more than once (RFC 6455 §11.3)";
            return std::nullopt;
        }
    }
    handshake_response out;
    // Step 5: every extension the server uses must have been offered (§9.1).
    out.extensions = header_list(head.headers, "Sec-WebSocket-Extensions");
    for (const auto& element : out.extensions) {
        const auto name = extension_name(element);
        bool was_offered = false;
        for (const auto& mine : offered.extensions) {
            if (extension_name(mine) == name) {
                was_offered = true;
                break;
            }
        }
        if (!is_token(name) || !was_offered) {
            reason = "extension not offered: " + std::string(name);
            return std::nullopt;
        }
    }
    // Step 6 with §4.2.2 step 5.5: the server selects at most one of the
    // offered subprotocols; identifiers compare exactly (§11.3.4 makes them
    // tokens, with no case folding).
    if (header_count(head.headers, "Sec-WebSocket-Protocol") != 0) {
        const auto chosen = header_list(head.headers, "Sec-WebSocket-Protocol");
        if (chosen.size() != 1) {
            reason = "Sec-WebSocket-Protocol must name one subprotocol";
            return std::nullopt;
        }
        bool was_offered = false;
        for (const auto& mine : offered.subprotocols) {
            if (mine == chosen.front()) was_offered = true;
        }
        if (!was_offered) {
            reason = "subprotocol not offered: " + chosen.front();
            return std::nullopt;
        }
        out.subprotocol = chosen.front();
    }
    out.headers = head.headers;
    return out;
}

}  // namespace sansws
