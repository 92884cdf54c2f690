// Tests for the Sec-WebSocket-Extensions parser (RFC 6455 §9.1, RFC 7230
// §3.2.6, §7) and the permessage-deflate negotiation of both roles
// (RFC 7692 §5, §7.1).
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sansws/extensions.hpp"

using namespace sansws;
using namespace std::string_view_literals;

namespace {

// A compact, unambiguous picture of a parse: elements separated by " | ",
// parameters as ";name" or ";name=[value]".
std::string render(const std::vector<extension_offer>& list) {
    std::string out;
    for (const auto& e : list) {
        if (!out.empty()) out += " | ";
        out += e.name;
        for (const auto& p : e.params) {
            out += ';';
            out += p.name;
            if (p.value) out += "=[" + *p.value + "]";
        }
    }
    return out;
}

// The parse's picture, or "error: <reason>".
std::string parse(std::string_view value, const extension_limits& limits = {}) {
    std::string error;
    const auto list = parse_extensions(value, &error, limits);
    if (!list) {
        CHECK(!error.empty());
        return "error: " + error;
    }
    return render(*list);
}

deflate_options enabled() {
    deflate_options o;
    o.enabled = true;
    return o;
}

// The fields, written out so that a failing CHECK shows them.
std::string show(const deflate_params& p) {
    return std::string(p.server_no_context_takeover ? "snct " : "") + (p.client_no_context_takeover ? "cnct " : "") +
           "s" + std::to_string(p.server_max_window_bits) + " c" + std::to_string(p.client_max_window_bits);
}

// The server's answer to a header value: the response element and its
// params, or "declined".
std::string answer(std::string_view header, const deflate_options& policy) {
    const auto offers = parse_extensions(header);
    REQUIRE(offers);
    const auto a = negotiate_deflate(*offers, policy);
    if (!a) return "declined";
    return a->response + " => " + show(a->params);
}

// One permessage-deflate offer built directly (values the parser could not
// deliver, such as " 9", reach negotiate_deflate through the struct).
extension_offer deflate_element(std::vector<extension_param> params) {
    return extension_offer{"permessage-deflate", std::move(params)};
}

// The client's verdict on an answer element: params or "fail: <reason>".
std::string check_answer(std::string_view header, const deflate_options& offered) {
    const auto answers = parse_extensions(header);
    REQUIRE(answers);
    REQUIRE(answers->size() == 1);
    std::string reason;
    const auto p = check_deflate_answer(answers->front(), offered, reason);
    if (!p) {
        CHECK(!reason.empty());
        return "fail: " + reason;
    }
    return show(*p);
}

std::string repeat(std::string_view s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) out += s;
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Grammar

TEST_CASE("RFC 6455 §9.1: extension-list = 1#extension, extension = token *(';' param)") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"permessage-deflate", "permessage-deflate"},
        {"permessage-deflate; client_max_window_bits", "permessage-deflate;client_max_window_bits"},
        // §9.1's own examples.
        {"deflate-stream", "deflate-stream"},
        {"mux; max-channels=4; flow-control, deflate-stream", "mux;max-channels=[4];flow-control | deflate-stream"},
        {"private-extension", "private-extension"},
        {"foo, bar; baz=2", "foo | bar;baz=[2]"},
        {"a;b=c;d", "a;b=[c];d"},
        // RFC 7230 §3.2.6: every tchar.
        {"!#$%&'*+-.^_`|~09azAZ; !#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~",
         "!#$%&'*+-.^_`|~09azAZ;!#$%&'*+-.^_`|~=[!#$%&'*+-.^_`|~]"},
        // Names and values are kept as received (compared case-insensitively
        // later).
        {"PerMessage-Deflate; Client_Max_Window_Bits=10", "PerMessage-Deflate;Client_Max_Window_Bits=[10]"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(parse(in) == want);
    }
}

TEST_CASE("RFC 6455 §9.1 implied *LWS / RFC 7230 §3.2.3: OWS around ';', '=' and ','") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"  a  ", "a"},
        {"a ; b", "a;b"},
        {"a\t;\tb\t=\t1\t,\tc", "a;b=[1] | c"},
        {" \t a \t ; \t b \t = \t \"1\" \t , \t d \t ", "a;b=[1] | d"},
        {"a;b=1,c", "a;b=[1] | c"},
        {"a ;b ;c= 2 ,d", "a;b;c=[2] | d"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(parse(in) == want);
    }
}

TEST_CASE("RFC 7230 §3.2.6 / RFC 6455 §9.1: quoted-string values are unescaped and must be tokens") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"a; b=\"10\"", "a;b=[10]"},
        {"a; b=\"1\\0\"", "a;b=[10]"},
        {"a; b=\"\\a\\b\\c\"", "a;b=[abc]"},
        {"a; b=\"x-y.z\"; c=\"~\"", "a;b=[x-y.z];c=[~]"},
        {"a; b=\"1\", c; d=\"2\"", "a;b=[1] | c;d=[2]"},
        {"a; b=\"a,b\"", "error: quoted value is not a token"},
        {"a; b=\"a;b\"", "error: quoted value is not a token"},
        {"a; b=\"\"", "error: quoted value is not a token"},
        {"a; b=\"x y\"", "error: quoted value is not a token"},
        {"a; b=\"\\\"\"", "error: quoted value is not a token"},
        {"a; b=\"\\\\\"", "error: quoted value is not a token"},
        {"a; b=\"\xe9\"", "error: quoted value is not a token"},
        {"a; b=\"\\\xe9\"", "error: quoted value is not a token"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(parse(in) == want);
    }
}

TEST_CASE("RFC 7230 §7: empty list elements are skipped; several header lines join with \", \"") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"a, , b", "a | b"},
        {",a", "a"},
        {"a,", "a"},
        {",, a ,\t, ,b,,", "a | b"},
        // RFC 6455 §9.1: "foo" and "bar; baz=2" on two lines equal "foo, bar; baz=2".
        {"foo, bar; baz=2", "foo | bar;baz=[2]"},
        {"permessage-deflate; client_max_window_bits, permessage-deflate",
         "permessage-deflate;client_max_window_bits | permessage-deflate"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(parse(in) == want);
    }
}

TEST_CASE("RFC 6455 §9.1 / RFC 7230 §3.2.6: every kind of syntax error has its reason") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        // 1#extension: at least one element.
        {"", "empty extension list"},
        {" \t ", "empty extension list"},
        {", ,", "empty extension list"},
        // extension-token
        {";a", "expected extension token"},
        {"a, ;b", "expected extension token"},
        {"\"a\"", "expected extension token"},
        {"(a)", "expected extension token"},
        {"=1", "expected extension token"},
        {"\xe9", "expected extension token"},
        // after a token or a parameter
        {"a b", "expected ',' or ';'"},
        {"a/b", "expected ',' or ';'"},
        {"a;b=c/d", "expected ',' or ';'"},
        {"a;b=1 2", "expected ',' or ';'"},
        {"a;b=\"1\"2", "expected ',' or ';'"},
        {"a;b c", "expected ',' or ';'"},
        {"a\r\n b", "expected ',' or ';'"},  // no obs-fold inside a field value
        {"a\0"sv, "expected ',' or ';'"},
        {"a\x7f", "expected ',' or ';'"},
        // extension-param = token
        {"a;", "expected token after ';'"},
        {"a; ;b", "expected token after ';'"},
        {"a;=1", "expected token after ';'"},
        {"a;b=1;", "expected token after ';'"},
        {"a;\"b\"", "expected token after ';'"},
        // "=" ( token / quoted-string )
        {"a;b=", "expected value after '='"},
        {"a;b= ;c", "expected value after '='"},
        {"a;b==1", "expected value after '='"},
        {"a;b=,c", "expected value after '='"},
        {"a;b=\xe9", "expected value after '='"},
        // quoted-string
        {"a;b=\"1", "unterminated quoted-string"},
        {"a;b=\"1\\", "unterminated quoted-string"},
        {"a;b=\"", "unterminated quoted-string"},
        {"a;b=\"1\\\"", "unterminated quoted-string"},
        {"a;b=\"1\x01\"", "invalid character in quoted-string"},
        {"a;b=\"\x7f\"", "invalid character in quoted-string"},
        {"a;b=\"1\r\n\"", "invalid character in quoted-string"},
        {"a;b=\"1\0\""sv, "invalid character in quoted-string"},
        {"a;b=\"1\\\x7f\"", "invalid quoted-pair in quoted-string"},
        {"a;b=\"1\\\n\"", "invalid quoted-pair in quoted-string"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(parse(in) == "error: " + std::string(want));
    }
}

TEST_CASE("RFC 6455 §9.1: parse_extensions works without an error string") {
    CHECK(parse_extensions("a;b=1")->size() == 1);
    CHECK_FALSE(parse_extensions("a;", nullptr));
}

TEST_CASE("RFC 6455 §9.1: extension_limits bound elements and parameters") {
    const extension_limits defaults;
    REQUIRE(defaults.max_elements == 32);
    REQUIRE(defaults.max_params == 16);

    std::string list = std::string("e").append(repeat(", e", 31));
    CHECK(parse_extensions(list)->size() == 32);
    CHECK(parse(list + ", e") == "error: too many extension elements");
    // RFC 7230 §7: empty elements do not count.
    CHECK(parse_extensions(repeat(",", 100) + list + repeat(" ,", 100))->size() == 32);

    const std::string element = std::string("e").append(repeat("; p", 16));
    CHECK(parse_extensions(element)->front().params.size() == 16);
    CHECK(parse(element + "; p") == "error: too many extension parameters");
    CHECK(parse(element + "; p=\"1\"") == "error: too many extension parameters");
    // The limit is per element.
    CHECK(parse_extensions(element + ", " + element)->size() == 2);

    const extension_limits tight{2, 1};
    CHECK(parse("a;x, b;y", tight) == "a;x | b;y");
    CHECK(parse("a, b, c", tight) == "error: too many extension elements");
    CHECK(parse("a;x;y", tight) == "error: too many extension parameters");
    CHECK(parse("a", extension_limits{0, 0}) == "error: too many extension elements");
    CHECK(parse("a", extension_limits{1, 0}) == "a");
    CHECK(parse("a;b", extension_limits{1, 0}) == "error: too many extension parameters");
}

TEST_CASE("RFC 6455 §9.1: long inputs stop at the first limit crossed (linear work)") {
    // 16 KiB of ";a" is refused at the 17th parameter; 16 KiB of "a," at the
    // 33rd element. No timing assertion: the parser stops early by design.
    CHECK(parse(std::string("x").append(repeat(";a", 8192))) == "error: too many extension parameters");
    CHECK(parse(repeat("a,", 8192)) == "error: too many extension elements");
    // Long runs the limits do not bound are still accepted in one pass.
    CHECK(parse(std::string("a").append(repeat(" ", 16384)).append(";b")) == "a;b");
    CHECK(parse(repeat(", ", 8192) + "a") == "a");
    const auto long_quoted = parse_extensions(std::string("a; b=\"").append(repeat("\\x", 8192)).append("\""));
    REQUIRE(long_quoted);
    CHECK(long_quoted->front().params.front().value == repeat("x", 8192));
    CHECK(parse(std::string("a; b=\"").append(repeat("\\x", 8192))) == "error: unterminated quoted-string");
    CHECK(parse(repeat("t", 16384)) == repeat("t", 16384));
}

// ---------------------------------------------------------------------------
// Server: negotiate_deflate

TEST_CASE("RFC 7692 §5, §7.1: offers from real clients are accepted") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        // Chrome, Node ws, Python websockets (default client).
        {"permessage-deflate; client_max_window_bits", "permessage-deflate => s15 c15"},
        // Firefox.
        {"permessage-deflate", "permessage-deflate => s15 c15"},
        // Safari (older WebKit) sends the old extension first.
        {"permessage-deflate; client_max_window_bits, x-webkit-deflate-frame", "permessage-deflate => s15 c15"},
        {"x-webkit-deflate-frame, permessage-deflate", "permessage-deflate => s15 c15"},
        // Python websockets with compression options.
        {"permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
         "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12 => s12 c12"},
        // Autobahn-style offer with both flags.
        {"permessage-deflate; client_no_context_takeover; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover => snct cnct s15 c15"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(answer(in, enabled()) == want);
    }
}

TEST_CASE("RFC 7692 §7.1.1, §7.1.2: each parameter of an acceptable offer and its answer") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        // §7.1.1.1: an offered server_no_context_takeover must be answered.
        {"permessage-deflate; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover => snct s15 c15"},
        // §7.1.1.2: the client's hint is echoed (both sides then agree).
        {"permessage-deflate; client_no_context_takeover",
         "permessage-deflate; client_no_context_takeover => cnct s15 c15"},
        // §7.1.2.1: offered server_max_window_bits is answered, even at 15.
        {"permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=10 => s10 c15"},
        {"permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=15 => s15 c15"},
        {"permessage-deflate; server_max_window_bits=8", "permessage-deflate; server_max_window_bits=8 => s8 c15"},
        {"permessage-deflate; server_max_window_bits=9", "permessage-deflate; server_max_window_bits=9 => s9 c15"},
        // §7.1.2.2: a client's own limit is acknowledged when below 15.
        {"permessage-deflate; client_max_window_bits=10", "permessage-deflate; client_max_window_bits=10 => s15 c10"},
        {"permessage-deflate; client_max_window_bits=15", "permessage-deflate => s15 c15"},
        {"permessage-deflate; client_max_window_bits=8", "permessage-deflate; client_max_window_bits=8 => s15 c8"},
        // §7.1: values may be quoted.
        {"permessage-deflate; server_max_window_bits=\"10\"",
         "permessage-deflate; server_max_window_bits=10 => s10 c15"},
        {"permessage-deflate; client_max_window_bits=\"1\\1\"",
         "permessage-deflate; client_max_window_bits=11 => s15 c11"},
        // Names compare case-insensitively; the answer uses the canonical spelling.
        {"PERMESSAGE-DEFLATE; Server_Max_Window_Bits=9; CLIENT_NO_CONTEXT_TAKEOVER",
         "permessage-deflate; client_no_context_takeover; server_max_window_bits=9 => cnct s9 c15"},
        // Every parameter at once: the answer's order is fixed.
        {"permessage-deflate; client_max_window_bits=9; server_max_window_bits=11; client_no_context_takeover; "
         "server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=11; "
         "client_max_window_bits=9 => snct cnct s11 c9"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(answer(in, enabled()) == want);
    }
}

TEST_CASE("RFC 7692 §7.1.2.1, §7.1.2.2: invalid window values decline the offer") {
    const std::string_view bad[] = {"7", "16", "08", "+9", "-9", " 9", "9 ", "abc", "", "0", "1", "015",
                                    "9.0", "99", "150", "0x9", "\xef\xbc\x99"};
    for (const auto name : {"server_max_window_bits", "client_max_window_bits"}) {
        for (const auto value : bad) {
            CAPTURE(name);
            CAPTURE(value);
            const std::vector<extension_offer> offers{deflate_element({{name, std::string(value)}})};
            CHECK_FALSE(negotiate_deflate(offers, enabled()));
        }
        for (const auto value : {"8", "9", "10", "11", "12", "13", "14", "15"}) {
            CAPTURE(value);
            const std::vector<extension_offer> offers{deflate_element({{name, std::string(value)}})};
            CHECK(negotiate_deflate(offers, enabled()));
        }
    }
    // The same through the parser, quoted and not.
    for (const auto in : {"permessage-deflate; server_max_window_bits=7",
                          "permessage-deflate; server_max_window_bits=16",
                          "permessage-deflate; server_max_window_bits=08",
                          "permessage-deflate; client_max_window_bits=+9",
                          "permessage-deflate; client_max_window_bits=abc",
                          "permessage-deflate; server_max_window_bits=\"08\"",
                          "permessage-deflate; client_max_window_bits=\"16\""}) {
        CAPTURE(in);
        CHECK(answer(in, enabled()) == "declined");
    }
}

TEST_CASE("RFC 7692 §7.1: unknown, repeated and malformed parameters decline the offer") {
    const std::string_view cases[] = {
        // Unknown parameters.
        "permessage-deflate; foo",
        "permessage-deflate; max_window_bits=10",
        "permessage-deflate; client_max_window_bits; x",
        // §7.1: each parameter at most once (case-insensitively).
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_no_context_takeover; Client_No_Context_Takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; client_max_window_bits; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=9; client_max_window_bits",
        // §7.1.1.1, §7.1.1.2: the flags take no value.
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; server_no_context_takeover=\"x\"",
        // §7.1.2.1: server_max_window_bits needs a value.
        "permessage-deflate; server_max_window_bits",
        // Not permessage-deflate at all.
        "x-webkit-deflate-frame",
        "deflate-frame; max_window_bits=10",
        "permessage-deflate2",
        "perMessage-deflate-x; server_no_context_takeover",
    };
    for (const auto in : cases) {
        CAPTURE(in);
        CHECK(answer(in, enabled()) == "declined");
    }
}

TEST_CASE("RFC 7692 §5.1: offers are tried in the client's order; a declined one falls through") {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"permessage-deflate; foo, permessage-deflate; server_max_window_bits=12",
         "permessage-deflate; server_max_window_bits=12 => s12 c15"},
        {"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=9",
         "permessage-deflate; client_max_window_bits=9 => s15 c9"},
        // The first acceptable one wins even when a later one is "better".
        {"permessage-deflate; server_max_window_bits=10, permessage-deflate",
         "permessage-deflate; server_max_window_bits=10 => s10 c15"},
        {"permessage-deflate; server_max_window_bits=16, permessage-deflate; server_max_window_bits=07, "
         "permessage-deflate; client_max_window_bits",
         "permessage-deflate => s15 c15"},
        {"permessage-deflate; server_no_context_takeover=1, permessage-deflate; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover => snct s15 c15"},
        // Python websockets offering a preferred and a fallback configuration.
        {"permessage-deflate; server_max_window_bits=10; client_max_window_bits=10, "
         "permessage-deflate; client_max_window_bits",
         "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10 => s10 c10"},
        {"permessage-deflate; foo, permessage-deflate; bar, x", "declined"},
        {"a, b, c", "declined"},
    };
    for (const auto& [in, want] : cases) {
        CAPTURE(in);
        CHECK(answer(in, enabled()) == want);
    }
}

TEST_CASE("RFC 7692 §7.1: policy variations for each field") {
    struct row {
        deflate_options policy;
        std::string_view offer;
        std::string_view want;
    };
    deflate_options s10 = enabled();
    s10.server_max_window_bits = 10;
    deflate_options s8 = enabled();
    s8.server_max_window_bits = 8;
    deflate_options c10 = enabled();
    c10.client_max_window_bits = 10;
    deflate_options c8 = enabled();
    c8.client_max_window_bits = 8;
    deflate_options snct = enabled();
    snct.server_no_context_takeover = true;
    deflate_options cnct = enabled();
    cnct.client_no_context_takeover = true;
    deflate_options disabled = enabled();
    disabled.enabled = false;
    deflate_options out_of_range = enabled();
    out_of_range.server_max_window_bits = 200;
    out_of_range.client_max_window_bits = 0;

    const row rows[] = {
        // Disabled: nothing is ever agreed.
        {disabled, "permessage-deflate", "declined"},
        {disabled, "permessage-deflate; client_max_window_bits", "declined"},
        // §7.1.2.1: the server may limit its own window unasked.
        {s10, "permessage-deflate", "permessage-deflate; server_max_window_bits=10 => s10 c15"},
        {s10, "permessage-deflate; server_max_window_bits=12",
         "permessage-deflate; server_max_window_bits=10 => s10 c15"},
        {s10, "permessage-deflate; server_max_window_bits=9", "permessage-deflate; server_max_window_bits=9 => s9 c15"},
        // Window 8 is agreed like any other value (the compressor side then
        // sends uncompressed messages, §6).
        {s8, "permessage-deflate", "permessage-deflate; server_max_window_bits=8 => s8 c15"},
        {s8, "permessage-deflate; server_max_window_bits=15", "permessage-deflate; server_max_window_bits=8 => s8 c15"},
        // §7.1.2.2: the client's window can only be limited when it offered
        // client_max_window_bits; otherwise the offer is declined.
        {c10, "permessage-deflate", "declined"},
        {c10, "permessage-deflate; server_max_window_bits=10", "declined"},
        {c10, "permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=10 => s15 c10"},
        {c10, "permessage-deflate; client_max_window_bits=12",
         "permessage-deflate; client_max_window_bits=10 => s15 c10"},
        {c10, "permessage-deflate; client_max_window_bits=9", "permessage-deflate; client_max_window_bits=9 => s15 c9"},
        {c10, "permessage-deflate, permessage-deflate; client_max_window_bits",
         "permessage-deflate; client_max_window_bits=10 => s15 c10"},
        {c8, "permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits=8 => s15 c8"},
        {c8, "permessage-deflate", "declined"},
        // §7.1.1.1: the server may always announce it resets.
        {snct, "permessage-deflate", "permessage-deflate; server_no_context_takeover => snct s15 c15"},
        {snct, "permessage-deflate; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover => snct s15 c15"},
        // §7.1.1.2: the server may oblige the client to reset.
        {cnct, "permessage-deflate", "permessage-deflate; client_no_context_takeover => cnct s15 c15"},
        {cnct, "permessage-deflate; client_no_context_takeover",
         "permessage-deflate; client_no_context_takeover => cnct s15 c15"},
        // Options outside 8..15 are clamped into range.
        {out_of_range, "permessage-deflate; client_max_window_bits",
         "permessage-deflate; client_max_window_bits=8 => s15 c8"},
        {out_of_range, "permessage-deflate", "declined"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.offer);
        CAPTURE(show(deflate_params{r.policy.server_no_context_takeover, r.policy.client_no_context_takeover,
                                    r.policy.server_max_window_bits, r.policy.client_max_window_bits}));
        CHECK(answer(r.offer, r.policy) == r.want);
    }
    CHECK_FALSE(negotiate_deflate({}, enabled()));
}

TEST_CASE("RFC 7692 §7.1: the response is a well-formed element that parses back") {
    const auto offers = parse_extensions(
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
        "client_max_window_bits=12");
    REQUIRE(offers);
    deflate_options policy = enabled();
    policy.client_max_window_bits = 11;
    const auto a = negotiate_deflate(*offers, policy);
    REQUIRE(a);
    CHECK(a->response ==
          "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; "
          "client_max_window_bits=11");
    CHECK(parse(a->response) ==
          "permessage-deflate;server_no_context_takeover;client_no_context_takeover;server_max_window_bits=[9];"
          "client_max_window_bits=[11]");
}

// ---------------------------------------------------------------------------
// Client: deflate_offer and check_deflate_answer

TEST_CASE("RFC 7692 §7.1: the client's offer for each option combination") {
    struct row {
        bool snct, cnct;
        std::uint8_t server, client;
        std::string_view want;
    };
    const row rows[] = {
        {false, false, 15, 15, "permessage-deflate; client_max_window_bits"},
        {true, false, 15, 15, "permessage-deflate; server_no_context_takeover; client_max_window_bits"},
        {false, true, 15, 15, "permessage-deflate; client_no_context_takeover; client_max_window_bits"},
        {true, true, 15, 15,
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"},
        {false, false, 10, 15, "permessage-deflate; server_max_window_bits=10; client_max_window_bits"},
        {false, false, 15, 9, "permessage-deflate; client_max_window_bits=9"},
        {false, false, 8, 8, "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"},
        {true, true, 12, 11,
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12; "
         "client_max_window_bits=11"},
        // Out of range: clamped.
        {false, false, 200, 3, "permessage-deflate; client_max_window_bits=8"},
    };
    for (const auto& r : rows) {
        deflate_options o = enabled();
        o.server_no_context_takeover = r.snct;
        o.client_no_context_takeover = r.cnct;
        o.server_max_window_bits = r.server;
        o.client_max_window_bits = r.client;
        CAPTURE(r.want);
        CHECK(deflate_offer(o) == r.want);
        // Every offer is one element our own server accepts.
        const auto parsed = parse_extensions(deflate_offer(o));
        REQUIRE(parsed);
        CHECK(parsed->size() == 1);
        CHECK(negotiate_deflate(*parsed, enabled()));
    }
}

TEST_CASE("RFC 7692 §7.1: the client fails the connection on a bad answer") {
    deflate_options snct = enabled();
    snct.server_no_context_takeover = true;
    deflate_options s10 = enabled();
    s10.server_max_window_bits = 10;
    deflate_options c10 = enabled();
    c10.client_max_window_bits = 10;
    struct row {
        std::string_view answer;
        deflate_options offered;
        std::string_view reason;
    };
    const row rows[] = {
        // RFC 6455 §9.1: only what was offered may be answered.
        {"x-webkit-deflate-frame", enabled(), "extension answered is not permessage-deflate"},
        {"permessage-deflate-x", enabled(), "extension answered is not permessage-deflate"},
        {"permessage-deflate; foo", enabled(), "unknown permessage-deflate parameter"},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", enabled(),
         "repeated permessage-deflate parameter"},
        {"permessage-deflate; client_no_context_takeover; CLIENT_NO_CONTEXT_TAKEOVER", enabled(),
         "repeated permessage-deflate parameter"},
        {"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", enabled(),
         "repeated permessage-deflate parameter"},
        {"permessage-deflate; client_max_window_bits=10; client_max_window_bits=10", enabled(),
         "repeated permessage-deflate parameter"},
        // §7.1.1.1, §7.1.1.2: flags take no value.
        {"permessage-deflate; server_no_context_takeover=1", enabled(),
         "no_context_takeover parameter with a value"},
        {"permessage-deflate; client_no_context_takeover=\"x\"", enabled(),
         "no_context_takeover parameter with a value"},
        // §7.1.2.1: server_max_window_bits has a valid value, within what we allowed.
        {"permessage-deflate; server_max_window_bits", enabled(), "server_max_window_bits without a value"},
        {"permessage-deflate; server_max_window_bits=16", enabled(), "invalid server_max_window_bits value"},
        {"permessage-deflate; server_max_window_bits=7", enabled(), "invalid server_max_window_bits value"},
        {"permessage-deflate; server_max_window_bits=08", enabled(), "invalid server_max_window_bits value"},
        {"permessage-deflate; server_max_window_bits=abc", enabled(), "invalid server_max_window_bits value"},
        {"permessage-deflate; server_max_window_bits=11", s10, "server_max_window_bits above the offered limit"},
        {"permessage-deflate; server_max_window_bits=15", s10, "server_max_window_bits above the offered limit"},
        {"permessage-deflate", s10, "server_max_window_bits missing from the answer"},
        // §7.1.1.1: asked for, server_no_context_takeover must be answered.
        {"permessage-deflate", snct, "server_no_context_takeover missing from the answer"},
        {"permessage-deflate; client_no_context_takeover", snct, "server_no_context_takeover missing from the answer"},
        // §7.1.2.2: client_max_window_bits in an answer carries a valid value,
        // not above the one offered.
        {"permessage-deflate; client_max_window_bits", enabled(), "client_max_window_bits without a value"},
        {"permessage-deflate; client_max_window_bits=16", enabled(), "invalid client_max_window_bits value"},
        {"permessage-deflate; client_max_window_bits=+9", enabled(), "invalid client_max_window_bits value"},
        {"permessage-deflate; client_max_window_bits=11", c10, "client_max_window_bits above the offered limit"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.answer);
        CHECK(check_answer(r.answer, r.offered) == "fail: " + std::string(r.reason));
    }
}

TEST_CASE("RFC 7692 §7.1: acceptable answers give the parameters in force") {
    deflate_options s10 = enabled();
    s10.server_max_window_bits = 10;
    deflate_options c10 = enabled();
    c10.client_max_window_bits = 10;
    struct row {
        std::string_view answer;
        deflate_options offered;
        std::string_view want;
    };
    const row rows[] = {
        {"permessage-deflate", enabled(), "s15 c15"},
        {"PerMessage-Deflate", enabled(), "s15 c15"},
        // §7.1.1.1: the server may announce resets we did not ask for.
        {"permessage-deflate; server_no_context_takeover", enabled(), "snct s15 c15"},
        // §7.1.1.2: the server obliges us to reset.
        {"permessage-deflate; client_no_context_takeover", enabled(), "cnct s15 c15"},
        // §7.1.2.1: the server may limit itself unasked.
        {"permessage-deflate; server_max_window_bits=9", enabled(), "s9 c15"},
        {"permessage-deflate; server_max_window_bits=10", s10, "s10 c15"},
        {"permessage-deflate; server_max_window_bits=8", s10, "s8 c15"},
        // §7.1.2.2: our offer always carries client_max_window_bits.
        {"permessage-deflate; client_max_window_bits=12", enabled(), "s15 c12"},
        {"permessage-deflate; client_max_window_bits=8", enabled(), "s15 c8"},
        {"permessage-deflate", c10, "s15 c10"},
        {"permessage-deflate; client_max_window_bits=10", c10, "s15 c10"},
        {"permessage-deflate; client_max_window_bits=9", c10, "s15 c9"},
        // §7.1: quoted values.
        {"permessage-deflate; client_max_window_bits=\"12\"; server_max_window_bits=\"1\\3\"", enabled(),
         "s13 c12"},
        {"permessage-deflate; Client_Max_Window_Bits=9; SERVER_MAX_WINDOW_BITS=9; server_no_context_takeover; "
         "client_no_context_takeover",
         enabled(), "snct cnct s9 c9"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.answer);
        CHECK(check_answer(r.answer, r.offered) == r.want);
    }
}

TEST_CASE("RFC 7692 §7.1: offer, negotiation and answer check agree for every combination") {
    int agreed = 0;
    for (int client_bits = 0; client_bits < 64; ++client_bits) {
        for (int server_bits = 0; server_bits < 64; ++server_bits) {
            deflate_options c = enabled();
            c.server_no_context_takeover = (client_bits & 1) != 0;
            c.client_no_context_takeover = (client_bits & 2) != 0;
            c.server_max_window_bits = static_cast<std::uint8_t>((client_bits & 4) ? 15 : 9 + (client_bits >> 4));
            c.client_max_window_bits = static_cast<std::uint8_t>((client_bits & 8) ? 15 : 8 + (client_bits >> 4));
            deflate_options s = enabled();
            s.server_no_context_takeover = (server_bits & 1) != 0;
            s.client_no_context_takeover = (server_bits & 2) != 0;
            s.server_max_window_bits = static_cast<std::uint8_t>((server_bits & 4) ? 15 : 8 + (server_bits >> 4));
            s.client_max_window_bits = static_cast<std::uint8_t>((server_bits & 8) ? 15 : 10 + (server_bits >> 4));
            CAPTURE(deflate_offer(c));
            const auto offers = parse_extensions(deflate_offer(c));
            REQUIRE(offers);
            const auto a = negotiate_deflate(*offers, s);
            // Our offer always has client_max_window_bits, so it is never declined.
            REQUIRE(a);
            CAPTURE(a->response);
            const auto answers = parse_extensions(a->response);
            REQUIRE(answers);
            REQUIRE(answers->size() == 1);
            std::string reason;
            const auto p = check_deflate_answer(answers->front(), c, reason);
            REQUIRE(p);
            CHECK(show(*p) == show(a->params));
            CHECK(p->server_max_window_bits <= std::min(c.server_max_window_bits, s.server_max_window_bits));
            CHECK(p->client_max_window_bits <= std::min(c.client_max_window_bits, s.client_max_window_bits));
            CHECK(p->server_no_context_takeover == (c.server_no_context_takeover || s.server_no_context_takeover));
            CHECK(p->client_no_context_takeover == (c.client_no_context_takeover || s.client_no_context_takeover));
            ++agreed;
        }
    }
    CHECK(agreed == 64 * 64);
}
