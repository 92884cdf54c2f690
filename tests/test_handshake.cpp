// Tests for the opening handshake (RFC 6455 §4) and the HTTP/1.1 head parser
// underneath it (RFC 7230 §3).
#include "rfc6455_examples.hpp"
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "sansws/detail/crypto.hpp"
#include "sansws/handshake.hpp"

using namespace sansws;

namespace {

using kind = http_head_parser::kind;
using pstatus = http_head_parser::status;

// RFC 6455 §1.3, byte for byte (the RFC shows lines without their CRLF).
constexpr std::string_view example_request = rfc6455_examples::request;
constexpr std::string_view example_response =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "\r\n";
constexpr std::string_view example_key = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view example_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

struct outcome {
    pstatus status = pstatus::need_more;
    std::size_t consumed = 0;
    std::size_t feeds = 0;  // feed() calls made
    http_head head;
    std::string error;
};

// Feed `input` cut at the given ascending offsets, stopping like a caller
// would once the parser leaves need_more.
outcome parse_pieces(kind k, std::string_view input, const std::vector<std::size_t>& cuts,
                     http_limits limits = {}) {
    http_head_parser parser(k, limits);
    outcome out;
    std::size_t pos = 0;
    const auto feed_to = [&](std::size_t end) {
        if (out.status != pstatus::need_more) return;
        std::size_t used = 99;
        out.status = parser.feed(as_bytes(input.substr(pos, end - pos)), used);
        out.consumed += used;
        ++out.feeds;
        pos = end;
    };
    for (const auto cut : cuts) feed_to(cut);
    feed_to(input.size());
    out.head = parser.head();
    out.error = std::string(parser.error());
    return out;
}

outcome parse_whole(kind k, std::string_view input, http_limits limits = {}) {
    return parse_pieces(k, input, {}, limits);
}

outcome parse_bytewise(kind k, std::string_view input, http_limits limits = {}) {
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
    return parse_pieces(k, input, every, limits);
}

bool same_head(const http_head& a, const http_head& b) {
    if (a.method != b.method || a.target != b.target || a.status != b.status ||
        a.reason != b.reason || a.version != b.version || a.headers.size() != b.headers.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) {
            return false;
        }
    }
    return true;
}

bool same_outcome(const outcome& a, const outcome& b) {
    return a.status == b.status && a.consumed == b.consumed && a.error == b.error &&
           same_head(a.head, b.head);
}

// Compare the whole-input parse with byte-by-byte feeding and with every
// 1-cut and 2-cut split (a cut at 0 or at the end also feeds empty input).
std::size_t split_mismatches(kind k, std::string_view input, http_limits limits = {}) {
    const auto whole = parse_whole(k, input, limits);
    std::size_t bad = same_outcome(whole, parse_bytewise(k, input, limits)) ? 0 : 1;
    for (std::size_t i = 0; i <= input.size(); ++i) {
        if (!same_outcome(whole, parse_pieces(k, input, {i}, limits))) ++bad;
        for (std::size_t j = i; j <= input.size(); ++j) {
            if (!same_outcome(whole, parse_pieces(k, input, {i, j}, limits))) ++bad;
        }
    }
    return bad;
}

http_headers good_fields() {
    return {{"Host", "server.example.com"},
            {"Upgrade", "websocket"},
            {"Connection", "Upgrade"},
            {"Sec-WebSocket-Key", std::string(example_key)},
            {"Sec-WebSocket-Version", "13"}};
}

http_headers without(http_headers fields, std::string_view name) {
    std::erase_if(fields, [&](const http_header& f) { return f.name == name; });
    return fields;
}

http_headers replaced(http_headers fields, std::string_view name, std::string value) {
    for (auto& f : fields) {
        if (f.name == name) f.value = value;
    }
    return fields;
}

http_headers added(http_headers fields, std::string name, std::string value) {
    fields.push_back({std::move(name), std::move(value)});
    return fields;
}

std::string make_head(std::string_view start_line, const http_headers& fields) {
    std::string out(start_line);
    out += "\r\n";
    for (const auto& f : fields) out += f.name + ": " + f.value + "\r\n";
    out += "\r\n";
    return out;
}

std::string make_request(const http_headers& fields,
                         std::string_view request_line = "GET /chat HTTP/1.1") {
    return make_head(request_line, fields);
}

request_check check_request_text(std::string_view text) {
    auto parsed = parse_whole(kind::request, text);
    REQUIRE(parsed.status == pstatus::done);
    return check_client_request(std::move(parsed.head));
}

http_headers good_response_fields() {
    return {{"Upgrade", "websocket"},
            {"Connection", "Upgrade"},
            {"Sec-WebSocket-Accept", std::string(example_accept)}};
}

client_options offer() {
    client_options opts;
    opts.host = "server.example.com";
    opts.target = "/chat";
    opts.subprotocols = {"chat", "superchat"};
    opts.extensions = {"permessage-deflate; client_max_window_bits", "x-custom"};
    return opts;
}

constexpr std::string_view switching = "HTTP/1.1 101 Switching Protocols";

std::optional<handshake_response> check_response_text(std::string_view text,
                                                      const client_options& offered,
                                                      std::string& reason) {
    auto parsed = parse_whole(kind::response, text);
    REQUIRE(parsed.status == pstatus::done);
    return check_server_response(parsed.head, example_key, offered, reason);
}

// The checked response built from `fields`, expected to be accepted.
std::optional<handshake_response> response_accepted(const http_headers& fields) {
    std::string reason;
    auto result = check_response_text(make_head(switching, fields), offer(), reason);
    CHECK(reason.empty());
    return result;
}

// The reason a response built from `fields` is refused, expected non-empty.
std::string response_reason(const http_headers& fields, std::string_view status_line = switching,
                            const client_options& offered = offer()) {
    std::string reason;
    const auto result = check_response_text(make_head(status_line, fields), offered, reason);
    CHECK_FALSE(result.has_value());
    CHECK_FALSE(reason.empty());
    return reason;
}

void parse_malformed(kind k, std::string_view text) {
    const auto parsed = parse_whole(k, text);
    CHECK(parsed.status == pstatus::malformed);
    CHECK_FALSE(parsed.error.empty());
}

}  // namespace

// ---- examples -----------------------------------------------------------

TEST_CASE("RFC 6455 §1.3: the example client request parses and is accepted") {
    auto parsed = parse_whole(kind::request, example_request);
    REQUIRE(parsed.status == pstatus::done);
    CHECK(parsed.consumed == example_request.size());
    CHECK(parsed.head.method == "GET");
    CHECK(parsed.head.version == "HTTP/1.1");
    const auto result = check_client_request(std::move(parsed.head));
    REQUIRE(result.request.has_value());
    const auto& req = *result.request;
    CHECK(req.target == "/chat");
    CHECK(req.host == "server.example.com");
    CHECK(req.origin == std::optional<std::string>("http://example.com"));
    CHECK(req.subprotocols == std::vector<std::string>{"chat", "superchat"});
    CHECK(req.extensions.empty());
    CHECK(req.key == example_key);
    CHECK(req.headers.size() == 7);
}

TEST_CASE("RFC 6455 §1.3/§4.2.2: the example server response is written exactly") {
    CHECK(websocket_accept_key(example_key) == example_accept);
    accept_options opts;
    opts.subprotocol = "chat";
    CHECK(write_accept_response(example_key, opts) == example_response);
}

TEST_CASE("RFC 6455 §1.3/§4.1: the example server response is accepted by the client") {
    std::string reason;
    const auto result = check_response_text(example_response, offer(), reason);
    REQUIRE(result.has_value());
    CHECK(reason.empty());
    CHECK(result->subprotocol == std::optional<std::string>("chat"));
    CHECK(result->extensions.empty());
    CHECK(result->headers.size() == 4);
}

// ---- §4.2.1: the server's checks ---------------------------------------

TEST_CASE("RFC 6455 §4.2.1 items 1-5: each violated requirement gets 400 with a reason") {
    const auto good = good_fields();
    const std::string key = "Sec-WebSocket-Key";
    const std::vector<std::pair<const char*, std::string>> cases = {
        {"item 1: POST", make_request(good, "POST /chat HTTP/1.1")},
        {"item 1: methods are case-sensitive", make_request(good, "get /chat HTTP/1.1")},
        {"item 1: HTTP/1.0", make_request(good, "GET /chat HTTP/1.0")},
        {"item 1: HTTP/2.0", make_request(good, "GET /chat HTTP/2.0")},
        {"item 2: no Host", make_request(without(good, "Host"))},
        {"item 2: two Host fields", make_request(added(good, "host", "other.example"))},
        {"item 2: empty Host", make_request(replaced(good, "Host", ""))},
        {"item 3: no Upgrade", make_request(without(good, "Upgrade"))},
        {"item 3: Upgrade: h2c", make_request(replaced(good, "Upgrade", "h2c"))},
        {"item 3: Upgrade: websocketx", make_request(replaced(good, "Upgrade", "websocketx"))},
        {"item 4: no Connection", make_request(without(good, "Connection"))},
        {"item 4: keep-alive", make_request(replaced(good, "Connection", "keep-alive"))},
        {"item 4: Upgraded", make_request(replaced(good, "Connection", "Upgraded"))},
        {"item 5: no key", make_request(without(good, key))},
        {"item 5: 15 bytes", make_request(replaced(good, key, "AAAAAAAAAAAAAAAAAAAA"))},
        {"item 5: 17 bytes", make_request(replaced(good, key, "AAAAAAAAAAAAAAAAAAAAAAA="))},
        {"item 5: not base64", make_request(replaced(good, key, "dGhlIHNhbXBsZSBub25jZQ*="))},
        {"item 5: no padding", make_request(replaced(good, key, "dGhlIHNhbXBsZSBub25jZQ"))},
        {"item 5: empty", make_request(replaced(good, key, ""))},
        {"item 5 / §11.3.1: two keys", make_request(added(good, key, std::string(example_key)))},
    };
    for (const auto& c : cases) {
        CAPTURE(c.first);
        const auto result = check_request_text(c.second);
        CHECK_FALSE(result.request.has_value());
        CHECK(result.failure.status == 400);
        CHECK_FALSE(result.failure.reason.empty());
    }
    const auto minimal = check_request_text(make_request(good));
    REQUIRE(minimal.request.has_value());
    CHECK_FALSE(minimal.request->origin.has_value());
    CHECK(check_request_text(make_request(good, "GET /chat HTTP/1.2")).request);
}

TEST_CASE("RFC 6455 §4.2.1 item 1: an absolute URI target is kept as sent") {
    const auto result =
        check_request_text(make_request(good_fields(), "GET http://h.example/a?b=c HTTP/1.1"));
    REQUIRE(result.request.has_value());
    CHECK(result.request->target == "http://h.example/a?b=c");
}

TEST_CASE("RFC 6455 §4.2.1 item 6 / §4.4: a missing or other version gets 426 naming 13") {
    for (const char* version : {"", "8", "12", "14", " ", "13, 8"}) {
        CAPTURE(version);
        const auto fields = *version == '\0'
                                ? without(good_fields(), "Sec-WebSocket-Version")
                                : replaced(good_fields(), "Sec-WebSocket-Version", version);
        const auto result = check_request_text(make_request(fields));
        CHECK_FALSE(result.request.has_value());
        CHECK(result.failure.status == 426);
        REQUIRE(result.failure.headers.size() == 1);
        CHECK(result.failure.headers[0].name == "Sec-WebSocket-Version");
        CHECK(result.failure.headers[0].value == "13");
    }
    // An old-draft client sends no Sec-WebSocket-Key; it needs the 426 too.
    const auto old = replaced(without(good_fields(), "Sec-WebSocket-Key"),
                              "Sec-WebSocket-Version", "8");
    CHECK(check_request_text(make_request(old)).failure.status == 426);
}

TEST_CASE("RFC 6455 §4.2.1 / §4.1 last paragraph: names and tokens are case-insensitive") {
    const std::string text =
        "GET /chat HTTP/1.1\r\n"
        "hOST: server.example.com\r\n"
        "UPGRADE: WebSocket\r\n"
        "connection: keep-alive, upgrade\r\n"
        "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "SEC-WEBSOCKET-VERSION: 13\r\n"
        "origin: http://example.com\r\n"
        "\r\n";
    const auto result = check_request_text(text);
    REQUIRE(result.request.has_value());
    CHECK(result.request->host == "server.example.com");
    CHECK(result.request->origin == std::optional<std::string>("http://example.com"));
    CHECK(result.request->headers[1].name == "UPGRADE");
}

TEST_CASE("RFC 6455 §4.2.1 items 8-9 / RFC 7230 §3.2.2: repeated fields combine in order") {
    auto fields = good_fields();
    fields.push_back({"Sec-WebSocket-Protocol", "chat, superchat"});
    fields.push_back({"X-Other", "x"});
    fields.push_back({"sec-websocket-protocol", "v2.example"});
    fields.push_back({"Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"});
    fields.push_back({"Sec-WebSocket-Extensions", "x-custom, , y"});
    const auto result = check_request_text(make_request(fields));
    REQUIRE(result.request.has_value());
    CHECK(result.request->subprotocols ==
          std::vector<std::string>{"chat", "superchat", "v2.example"});
    CHECK(result.request->extensions ==
          std::vector<std::string>{"permessage-deflate; client_max_window_bits", "x-custom", "y"});
    CHECK(header_value(result.request->headers, "SEC-WEBSOCKET-PROTOCOL") ==
          std::optional<std::string>("chat, superchat, v2.example"));
}

// ---- header helpers -----------------------------------------------------

TEST_CASE("RFC 7230 §3.2: field values are trimmed and may hold obs-text") {
    const std::string text =
        "GET / HTTP/1.1\r\n"
        "Host:server.example.com\r\n"
        "A: \t  spaced  value \t \r\n"
        "Empty:\r\n"
        "Blank:   \t \r\n"
        "Obs-Text: caf\xc3\xa9 \xff\r\n"
        "\r\n";
    const auto parsed = parse_whole(kind::request, text);
    REQUIRE(parsed.status == pstatus::done);
    REQUIRE(parsed.head.headers.size() == 5);
    CHECK(parsed.head.headers[0].value == "server.example.com");
    CHECK(parsed.head.headers[1].value == "spaced  value");
    CHECK(parsed.head.headers[2].value.empty());
    CHECK(parsed.head.headers[3].value.empty());
    CHECK(parsed.head.headers[4].value == "caf\xc3\xa9 \xff");  // obs-text is allowed
}

TEST_CASE("RFC 7230 §7: header_list splits, trims and drops empty elements") {
    const http_headers headers = {{"List", " ,a , ,\tb,,"},
                                  {"Other", "z"},
                                  {"list", "c"},
                                  {"Quoted", "\"a, b\", \"unterminated"},
                                  {"Commas", ",,,"}};
    CHECK(header_list(headers, "LIST") == std::vector<std::string>{"a", "b", "c"});
    CHECK(header_list(headers, "missing").empty());
    CHECK(header_list(headers, "Commas").empty());
    // Quoted strings are not understood, only split safely.
    CHECK(header_list(headers, "Quoted").size() == 3);
    CHECK(header_value(headers, "list") == std::optional<std::string>(" ,a , ,\tb,,, c"));
    CHECK_FALSE(header_value(headers, "missing").has_value());
    CHECK(header_has_token(headers, "List", "B"));
    CHECK_FALSE(header_has_token(headers, "List", "d"));
    CHECK_FALSE(header_has_token(headers, "List", ""));
}

TEST_CASE("RFC 6455 §2.1: iequals is ASCII case-insensitive only") {
    CHECK(iequals("Sec-WebSocket-Key", "sec-websocket-key"));
    CHECK(iequals("", ""));
    CHECK_FALSE(iequals("Upgrade", "Upgrades"));
    CHECK_FALSE(iequals("a", "b"));
    CHECK_FALSE(iequals("@", "`"));  // differ by 0x20 but are not letters
    CHECK_FALSE(iequals("\xc9", "\xe9"));
}

// ---- the parser ---------------------------------------------------------

TEST_CASE("RFC 6455 §4.1: bytes after the head are left for the frame parser") {
    const std::string frame = "\x81\x05hello";
    const std::string input = std::string(example_response) + frame;
    const auto parsed = parse_whole(kind::response, input);
    CHECK(parsed.status == pstatus::done);
    CHECK(parsed.consumed == example_response.size());

    // Split so that the final CRLF and the frame arrive together.
    http_head_parser parser(kind::response, {});
    std::size_t used = 0;
    const auto cut = example_response.size() - 1;
    CHECK(parser.feed(as_bytes(std::string_view(input).substr(0, cut)), used) ==
          pstatus::need_more);
    CHECK(used == cut);
    CHECK(parser.feed(as_bytes(std::string_view(input).substr(cut)), used) == pstatus::done);
    CHECK(used == 1);
}

TEST_CASE("RFC 7230 §3.5: bare LF line endings and leading empty lines are accepted") {
    const std::string text =
        "GET /chat HTTP/1.1\n"
        "Host: server.example.com\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
        "Sec-WebSocket-Version: 13\n"
        "\nrest";
    const auto parsed = parse_whole(kind::request, text);
    REQUIRE(parsed.status == pstatus::done);
    CHECK(parsed.consumed == text.size() - 4);
    CHECK(parsed.head.headers[0].value == "server.example.com");
    auto head = parsed.head;
    CHECK(check_client_request(std::move(head)).request.has_value());
    // Empty lines before the start line are ignored too.
    const auto lead = parse_whole(kind::response, "\r\n\nHTTP/1.1 101 OK\r\n\r\n");
    CHECK(lead.status == pstatus::done);
    CHECK(lead.head.status == 101);
}

TEST_CASE("RFC 7230 §3.1.2: status lines with and without a reason phrase") {
    const std::vector<std::tuple<std::string, int, std::string>> cases = {
        {"HTTP/1.1 404 Not Found here", 404, "Not Found here"},
        {"HTTP/1.1 101 ", 101, ""},
        {"HTTP/1.1 101", 101, ""},
        {"HTTP/1.2 200 D\xc3\xa9j\xc3\xa0 vu", 200, "D\xc3\xa9j\xc3\xa0 vu"}};
    for (const auto& c : cases) {
        const auto& line = std::get<0>(c);
        CAPTURE(line);
        const auto parsed = parse_whole(kind::response, line + "\r\n\r\n");
        REQUIRE(parsed.status == pstatus::done);
        CHECK(parsed.head.version == line.substr(0, 8));
        CHECK(parsed.head.status == std::get<1>(c));
        CHECK(parsed.head.reason == std::get<2>(c));
    }
}

TEST_CASE("RFC 7230 §3.2 / §3.2.4: malformed header lines") {
    const std::vector<std::pair<const char*, std::string>> cases = {
        {"no colon", "Host server"},
        {"space before colon", "Host : server"},
        {"tab before colon", "Host\t: server"},
        {"empty name", ": value"},
        {"non-token name", "X(y): value"},
        {"non-ASCII name", "X\xc3\xa9: value"},
        {"obs-fold with SP", "X: a\r\n b"},
        {"obs-fold with HTAB", "X: a\r\n\tb"},
        {"NUL in value", std::string("X: a\0b", 7)},
        {"DEL in value", "X: a\x7f"},
        {"ESC in value", "X: a\x1b[0m"},
        {"bare CR in value", "X: a\rInjected: b"},
        {"CR CR LF", "X: a\r"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.first);
        parse_malformed(kind::request, "GET / HTTP/1.1\r\n" + c.second + "\r\n\r\n");
    }
    parse_malformed(kind::response, "HTTP/1.1 101 OK\r\n Upgrade: websocket\r\n\r\n");
    // HTAB inside a value is fine.
    CHECK(parse_whole(kind::request, "GET / HTTP/1.1\r\nX: a\tb\r\n\r\n").status ==
          pstatus::done);
}

TEST_CASE("RFC 7230 §3.1.1: bad request lines are malformed") {
    for (const char* line : {"GET", "GET /", "GET  / HTTP/1.1", "GET /  HTTP/1.1",
                             "GET / HTTP/1.1 ", " GET / HTTP/1.1", "GET / http/1.1", "GET / HTTP/1",
                             "GET / HTTP/1.1x", "GET / HTTP/11.1", "G(T / HTTP/1.1",
                             "GET /\x01 HTTP/1.1", "GET /caf\xc3\xa9 HTTP/1.1", "GET\t/ HTTP/1.1",
                             "\rGET / HTTP/1.1"}) {
        CAPTURE(line);
        parse_malformed(kind::request, std::string(line) + "\r\n\r\n");
    }
}

TEST_CASE("RFC 7230 §3.1.2: bad status lines are malformed") {
    for (const char* line :
         {"HTTP/1.1", "HTTP/1.1 ", "HTTP/1.1 10", "HTTP/1.1 1a1 OK", "HTTP/1.1 -01 OK",
          "HTTP/1.1 1010 OK", "HTTP/1.1 101Switching", "HTTP/1.1  101 OK", "HTTP/1.1 101 \x01",
          "HTTP/1.1 101 bad\x7f", "HTTPS/1.1 101 OK", "http/1.1 101 OK", "HTTP/1.1x 101 OK",
          "GET / HTTP/1.1"}) {
        CAPTURE(line);
        parse_malformed(kind::response, std::string(line) + "\r\n\r\n");
    }
}

TEST_CASE("RFC 7230 §3: terminal states stick and consume nothing more") {
    const auto again = [](http_head_parser& parser, pstatus expected) {
        std::size_t used = 99;
        CHECK(parser.feed(as_bytes(example_request), used) == expected);
        CHECK(used == 0);
    };
    std::size_t used = 0;
    http_head_parser done(kind::request, {});
    REQUIRE(done.feed(as_bytes(example_request), used) == pstatus::done);
    again(done, pstatus::done);
    CHECK(done.head().headers.size() == 7);

    http_head_parser bad(kind::request, {});
    REQUIRE(bad.feed(as_bytes(std::string_view("BAD\r\n")), used) == pstatus::malformed);
    CHECK(used == 5);
    const std::string reason(bad.error());
    again(bad, pstatus::malformed);
    CHECK(bad.error() == reason);

    http_head_parser large(kind::request, {.max_size = 8, .max_headers = 100});
    REQUIRE(large.feed(as_bytes(example_request), used) == pstatus::too_large);
    CHECK(used == 8);
    again(large, pstatus::too_large);

    http_head_parser waiting(kind::request, {});
    used = 99;
    CHECK(waiting.feed({}, used) == pstatus::need_more);
    CHECK(used == 0);
}

TEST_CASE("RFC 7230 §3: any split of the input gives the same result") {
    const std::string reject_with_frame =
        write_reject_response(403, {{"X-Why", "no"}}, "forbidden") + "\x81\x00";
    struct sample {
        kind k;
        std::string text;
        http_limits limits;
    };
    const std::vector<sample> samples = {
        {kind::request, std::string(example_request), {}},
        {kind::response, std::string(example_response) + "\x81\x05hello", {}},
        {kind::response, reject_with_frame, {}},
        {kind::request, "\r\nGET /a HTTP/1.1\nHost:  h \n\nframe", {}},
        {kind::request, "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", {}},
        {kind::request, "GET / HTTP/1.1\r\nNoColon\r\n\r\n", {}},
        {kind::response, "HTTP/1.1 1x1 OK\r\n\r\n", {}},
        {kind::request, std::string(example_request), {.max_size = 64, .max_headers = 100}},
        {kind::request, std::string(example_request), {.max_size = 1024, .max_headers = 2}},
        {kind::request, "GET / HTTP/1.1\r\nA: b\r\n\r\n", {.max_size = 24, .max_headers = 9}},
        {kind::request, "GET / HTTP/1.1\r\nA: b\r\n\r\n", {.max_size = 23, .max_headers = 9}},
    };
    for (const auto& s : samples) {
        CAPTURE(s.text);
        CHECK(split_mismatches(s.k, s.text, s.limits) == 0);
    }
}

TEST_CASE("RFC 6455 §10.4: a head over the default 16 KiB is too_large") {
    const std::string start = "GET / HTTP/1.1\r\nX-Big: ";
    std::string exact = start + std::string(16 * 1024 - start.size() - 4, 'a') + "\r\n\r\n";
    REQUIRE(exact.size() == 16 * 1024);
    auto parsed = parse_whole(kind::request, exact + "frame");
    CHECK(parsed.status == pstatus::done);
    CHECK(parsed.consumed == exact.size());

    const std::string over = start + std::string(16 * 1024 - start.size() - 3, 'a') + "\r\n\r\n";
    parsed = parse_whole(kind::request, over);
    CHECK(parsed.status == pstatus::too_large);
    CHECK(parsed.consumed == 16 * 1024);
    CHECK_FALSE(parsed.error.empty());

    // No overflow in the room arithmetic with an unbounded limit.
    CHECK(parse_whole(kind::request, exact, {.max_size = SIZE_MAX, .max_headers = 100}).status ==
          pstatus::done);

    // A line that never ends is refused as soon as the limit is crossed.
    parsed = parse_whole(kind::request, start + std::string(20000, 'a'));
    CHECK(parsed.status == pstatus::too_large);
    CHECK(parsed.consumed == 16 * 1024);
}

TEST_CASE("RFC 6455 §10.4: more header fields than max_headers is too_large") {
    std::string text = "GET / HTTP/1.1\r\n";
    for (int i = 0; i < 100; ++i) text += "X-" + std::to_string(i) + ": v\r\n";
    CHECK(parse_whole(kind::request, text + "\r\n").status == pstatus::done);
    const auto over = text + "X-100: v\r\n\r\n";
    const auto parsed = parse_whole(kind::request, over);
    CHECK(parsed.status == pstatus::too_large);
    CHECK(parsed.consumed == over.size() - 2);  // up to the 101st field's line
    CHECK(parsed.head.headers.size() == 100);
    CHECK(parse_whole(kind::request, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n",
                      {.max_size = 1024, .max_headers = 1})
              .status == pstatus::too_large);
}

TEST_CASE("RFC 6455 §10.4 / CVE-2023-43669: a 16 KiB head fed byte by byte") {
    // With a re-scan from the start on each call this input would cost
    // ~10^8 steps; a linear parser does one step per byte. Correctness is
    // checked here, not time.
    const std::string start = "GET / HTTP/1.1\r\nX-Big: ";
    const std::string text =
        start + std::string(16 * 1024 - start.size() - 4, 'q') + "\r\n\r\nAFTER";
    const auto parsed = parse_bytewise(kind::request, text);
    CHECK(parsed.status == pstatus::done);
    // Each one-byte feed consumed its byte, and the last one ended the head.
    CHECK(parsed.consumed == 16 * 1024);
    CHECK(parsed.feeds == 16 * 1024);
    REQUIRE(parsed.head.headers.size() == 1);
    CHECK(parsed.head.headers[0].value == std::string(16 * 1024 - start.size() - 4, 'q'));

    // One more byte of value: the same feeding ends in too_large at the limit.
    const auto over = parse_bytewise(
        kind::request, start + std::string(16 * 1024 - start.size() - 3, 'q') + "\r\n\r\n");
    CHECK(over.status == pstatus::too_large);
    CHECK(over.consumed == 16 * 1024);
    CHECK(over.feeds == 16 * 1024 + 1);
}

// ---- writers ------------------------------------------------------------

TEST_CASE("RFC 6455 §4.1: write_client_request emits the handshake fields") {
    client_options opts;
    opts.host = "server.example.com:8080";
    opts.target = "/chat?room=1";
    opts.origin = "http://example.com";
    opts.subprotocols = {"chat", "superchat"};
    opts.extensions = {"permessage-deflate; client_max_window_bits", "x-custom"};
    opts.headers = {{"Cookie", "a=b"}};
    CHECK(write_client_request(opts, example_key) ==
          "GET /chat?room=1 HTTP/1.1\r\n"
          "Host: server.example.com:8080\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "Origin: http://example.com\r\n"
          "Sec-WebSocket-Protocol: chat, superchat\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-custom\r\n"
          "Cookie: a=b\r\n"
          "\r\n");

    // Optional fields are left out when not asked for.
    client_options minimal;
    minimal.host = "h";
    CHECK(write_client_request(minimal, example_key) ==
          "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

TEST_CASE("RFC 6455 §4.2.2: write_accept_response with extensions and extra fields") {
    accept_options opts;
    opts.extensions = {"permessage-deflate; server_no_context_takeover", "x-custom"};
    opts.headers = {{"Set-Cookie", "s=1"}};
    CHECK(write_accept_response(example_key, opts) ==
          "HTTP/1.1 101 Switching Protocols\r\n"
          "Upgrade: websocket\r\n"
          "Connection: Upgrade\r\n"
          "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover, x-custom\r\n"
          "Set-Cookie: s=1\r\n"
          "\r\n");
}

TEST_CASE("RFC 6455 §4.2.1 / §4.4: write_reject_response frames the refusal") {
    CHECK(write_reject_response(400, {}, "missing Host") ==
          "HTTP/1.1 400 Bad Request\r\n"
          "Content-Type: text/plain\r\n"
          "Content-Length: 12\r\n"
          "Connection: close\r\n"
          "\r\n"
          "missing Host");
    CHECK(write_reject_response(426, {{"Sec-WebSocket-Version", "13"}}, "") ==
          "HTTP/1.1 426 Upgrade Required\r\n"
          "Sec-WebSocket-Version: 13\r\n"
          "Content-Length: 0\r\n"
          "Connection: close\r\n"
          "\r\n");
    // The caller's Content-Type wins; framing fields are the writer's own.
    const http_headers given = {{"content-type", "application/json"},
                                {"Content-Length", "999"},
                                {"Connection", "keep-alive"}};
    CHECK(write_reject_response(403, given, "{}") ==
          "HTTP/1.1 403 Forbidden\r\n"
          "content-type: application/json\r\n"
          "Content-Length: 2\r\n"
          "Connection: close\r\n"
          "\r\n"
          "{}");
    CHECK(write_reject_response(299, {}, "").starts_with("HTTP/1.1 299 Unknown\r\n"));
}

TEST_CASE("RFC 6455 §4.2.2: reason phrases for common status codes") {
    const std::vector<std::pair<int, std::string_view>> table = {
        {101, "Switching Protocols"}, {200, "OK"}, {400, "Bad Request"}, {401, "Unauthorized"},
        {403, "Forbidden"}, {404, "Not Found"}, {405, "Method Not Allowed"},
        {426, "Upgrade Required"}, {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"}, {500, "Internal Server Error"},
        {503, "Service Unavailable"}, {0, "Unknown"}, {-1, "Unknown"}, {299, "Unknown"},
        {999, "Unknown"}};
    for (const auto& row : table) {
        CAPTURE(row.first);
        CHECK(http_reason_phrase(row.first) == row.second);
    }
}

// ---- §4.1: the client's checks -----------------------------------------

TEST_CASE("RFC 6455 §4.1 step 1: a status other than 101, or 101 over HTTP/1.0, fails") {
    CHECK(response_reason(good_response_fields(), "HTTP/1.1 200 OK") == "unexpected status 200");
    CHECK(response_reason(good_response_fields(), "HTTP/1.1 401 Unauthorized") ==
          "unexpected status 401");
    response_reason(good_response_fields(), "HTTP/1.0 101 Switching Protocols");
}

TEST_CASE("RFC 6455 §4.1 step 2: missing or wrong Upgrade fails") {
    const auto good = good_response_fields();
    response_reason(without(good, "Upgrade"));
    response_reason(replaced(good, "Upgrade", "h2c"));
    response_reason(replaced(good, "Upgrade", "websocket, h2c"));
    CHECK(response_accepted(replaced(good, "Upgrade", "WebSocket")));
}

TEST_CASE("RFC 6455 §4.1 step 3: missing or wrong Connection fails") {
    const auto good = good_response_fields();
    response_reason(without(good, "Connection"));
    response_reason(replaced(good, "Connection", "close"));
    CHECK(response_accepted(replaced(good, "Connection", "keep-alive, UPGRADE")));
}

TEST_CASE("RFC 6455 §4.1 step 4: a missing, wrong or repeated Sec-WebSocket-Accept fails") {
    const auto good = good_response_fields();
    const std::string accept = "Sec-WebSocket-Accept";
    response_reason(without(good, accept));
    // One character off; and a different case (base64 is exact).
    response_reason(replaced(good, accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOp="));
    response_reason(replaced(good, accept, "S3PPLMBITXAQ9KYGZZHZRBK+XOO="));
    response_reason(added(good, accept, std::string(example_accept)));
    response_reason(replaced(good, accept, ""));
}

TEST_CASE("RFC 6455 §4.1 step 5: an extension not offered fails") {
    const auto with = [](std::string value) {
        return added(good_response_fields(), "Sec-WebSocket-Extensions", std::move(value));
    };
    CHECK(response_reason(with("x-unknown")).find("x-unknown") != std::string::npos);
    response_reason(with("permessage-deflate, x-other; a=1"));
    response_reason(with("; a=1"));
    client_options none = offer();
    none.extensions.clear();
    response_reason(with("x-custom"), switching, none);
}

TEST_CASE("RFC 6455 §4.1 step 5 / §9.1, §11.3.2: offered extensions are accepted by name, in one field") {
    auto fields = added(good_response_fields(), "Sec-WebSocket-Extensions",
                        "permessage-deflate ; server_no_context_takeover, x-custom");
    // §11.3.2 and §11.3.4: never two fields in a response, even one empty.
    for (const char* name : {"Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"})
        CHECK(response_reason(added(added(good_response_fields(), name, "x"), name, "")).find("more than once") !=
              std::string::npos);
    const auto result = response_accepted(fields);
    REQUIRE(result.has_value());
    CHECK(result->extensions ==
          std::vector<std::string>{"permessage-deflate ; server_no_context_takeover", "x-custom"});
    CHECK_FALSE(result->subprotocol.has_value());
}

TEST_CASE("RFC 6455 §4.1 step 6 / §4.2.2: a subprotocol not offered, or several, fail") {
    const auto with = [](std::string value) {
        return added(good_response_fields(), "Sec-WebSocket-Protocol", std::move(value));
    };
    CHECK(response_reason(with("mqtt")).find("mqtt") != std::string::npos);
    response_reason(with("Chat"));  // identifiers compare exactly
    client_options none = offer();
    none.subprotocols.clear();
    response_reason(with("chat"), switching, none);
    response_reason(with("chat, superchat"));
    auto twice = with("chat");
    twice.push_back({"Sec-WebSocket-Protocol", "chat"});
    response_reason(twice);
    response_reason(with(""));
}

// ---- both sides together ------------------------------------------------

TEST_CASE("RFC 6455 §4: round trip from client request to accepted response") {
    client_options opts;
    opts.host = "example.org:9000";
    opts.target = "/live?x=1";
    opts.origin = "https://example.org";
    opts.subprotocols = {"v1.proto", "v2.proto"};
    opts.extensions = {"permessage-deflate; client_max_window_bits"};
    opts.headers = {{"Authorization", "Bearer t"}};
    const std::string key = "AQIDBAUGBwgJCgsMDQ4PEA==";

    const auto request_text = write_client_request(opts, key);
    auto parsed_request = parse_whole(kind::request, request_text + "\x82\x00");
    REQUIRE(parsed_request.status == pstatus::done);
    CHECK(parsed_request.consumed == request_text.size());
    auto checked = check_client_request(std::move(parsed_request.head));
    REQUIRE(checked.request.has_value());
    const auto& req = *checked.request;
    CHECK(req.target == opts.target);
    CHECK(req.host == opts.host);
    CHECK(req.origin == opts.origin);
    CHECK(req.subprotocols == opts.subprotocols);
    CHECK(req.extensions == opts.extensions);
    CHECK(req.key == key);
    CHECK(header_value(req.headers, "authorization") == std::optional<std::string>("Bearer t"));

    accept_options answer;
    answer.subprotocol = req.subprotocols[1];
    answer.extensions = {"permessage-deflate; server_no_context_takeover"};
    answer.headers = {{"Server", "sansws"}};
    const auto response_text = write_accept_response(req.key, answer);
    const auto parsed_response = parse_whole(kind::response, response_text);
    REQUIRE(parsed_response.status == pstatus::done);
    CHECK(parsed_response.head.status == 101);

    std::string reason;
    const auto result = check_server_response(parsed_response.head, key, opts, reason);
    REQUIRE(result.has_value());
    CHECK(result->subprotocol == std::optional<std::string>("v2.proto"));
    CHECK(result->extensions == answer.extensions);
    CHECK(header_value(result->headers, "server") == std::optional<std::string>("sansws"));

    // The same response checked against another key fails (§4.1 step 4).
    CHECK_FALSE(check_server_response(parsed_response.head, example_key, opts, reason));
    CHECK(reason == "invalid Sec-WebSocket-Accept");
}

TEST_CASE("RFC 6455 §4.2.1 / §4.4: a refusal parses back as a response") {
    const auto refused =
        check_request_text(make_request(without(good_fields(), "Sec-WebSocket-Version")));
    const auto text = write_reject_response(refused.failure.status, refused.failure.headers,
                                            refused.failure.reason);
    const auto parsed = parse_whole(kind::response, text);
    REQUIRE(parsed.status == pstatus::done);
    CHECK(parsed.head.status == 426);
    CHECK(parsed.head.reason == "Upgrade Required");
    CHECK(header_value(parsed.head.headers, "Sec-WebSocket-Version") ==
          std::optional<std::string>("13"));
    CHECK(text.substr(parsed.consumed) == refused.failure.reason);
    std::string reason;
    CHECK_FALSE(check_server_response(parsed.head, example_key, offer(), reason));
    CHECK(reason == "unexpected status 426");
}
