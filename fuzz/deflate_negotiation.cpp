// The Sec-WebSocket-Extensions parser (RFC 6455 §9.1) and the
// permessage-deflate negotiation of both roles (RFC 7692 §7.1).
//
// Input: one selector byte, then a header value. The selector picks the
// server policies and client options below; the value goes through
// parse_extensions, negotiate_deflate and check_deflate_answer, each checked
// against what the RFC allows, and the parser against a re-serialisation of
// its own output.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz.hpp"
#include "sansws/extensions.hpp"
#include "sansws/handshake.hpp"

namespace {

using fuzz::check;
using sansws::deflate_options;
using sansws::deflate_params;
using sansws::extension_offer;

// RFC 7230 §3.2.6, written as a set rather than as the library's switch.
bool is_token(std::string_view s) {
    constexpr std::string_view punct = "!#$%&'*+-.^_`|~";
    if (s.empty()) return false;
    for (const char c : s) {
        const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && punct.find(c) == std::string_view::npos) return false;
    }
    return true;
}

bool same_list(const std::vector<extension_offer>& a, const std::vector<extension_offer>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].name != b[i].name || a[i].params.size() != b[i].params.size()) return false;
        for (std::size_t j = 0; j < a[i].params.size(); ++j) {
            if (a[i].params[j].name != b[i].params[j].name || a[i].params[j].value != b[i].params[j].value) {
                return false;
            }
        }
    }
    return true;
}

bool same_params(const deflate_params& a, const deflate_params& b) {
    return a.server_no_context_takeover == b.server_no_context_takeover &&
           a.client_no_context_takeover == b.client_no_context_takeover &&
           a.server_max_window_bits == b.server_max_window_bits &&
           a.client_max_window_bits == b.client_max_window_bits;
}

// A canonical writer for a parsed list. Tight: "a;b=c, d". Loose: OWS
// everywhere the grammar allows it, empty list elements (RFC 7230 §7), and
// every value as a quoted-string with every other character escaped, so
// that re-parsing exercises the unescaping. Either must parse back to the
// same list.
std::string serialise(const std::vector<extension_offer>& list, bool loose) {
    std::string out;
    for (const auto& e : list) {
        if (!out.empty()) out += loose ? " ,\t, " : ", ";
        out += e.name;
        for (const auto& p : e.params) {
            out += loose ? " \t; " : ";";
            out += p.name;
            if (!p.value) continue;
            out += loose ? " = " : "=";
            const bool quote = loose || !is_token(*p.value);
            if (quote) out += '"';
            for (std::size_t i = 0; i < p.value->size(); ++i) {
                const char c = (*p.value)[i];
                if (quote && (i % 2 == 1 || c == '"' || c == '\\')) out += '\\';
                out += c;
            }
            if (quote) out += '"';
        }
    }
    return loose ? ", " + out + " ,\t" : out;
}

// Server policies and client options from the selector byte: one built from
// its bits, the defaults, and a mirror image of the first.
deflate_options options(std::uint8_t b, int variant) {
    deflate_options o;
    o.enabled = true;
    if (variant == 0) {
        o.server_max_window_bits = static_cast<std::uint8_t>(8 + (b & 7));
        o.client_max_window_bits = static_cast<std::uint8_t>(8 + ((b >> 3) & 7));
        o.server_no_context_takeover = (b & 0x40) != 0;
        o.client_no_context_takeover = (b & 0x80) != 0;
    } else if (variant == 2) {
        o.server_max_window_bits = static_cast<std::uint8_t>(15 - ((b >> 3) & 7));
        o.client_max_window_bits = static_cast<std::uint8_t>(15 - (b & 7));
        o.server_no_context_takeover = (b & 0x40) == 0;
        o.client_no_context_takeover = (b & 0x80) == 0;
    }
    return o;
}

bool window_ok(std::uint8_t bits, std::uint8_t limit) { return bits >= 8 && bits <= 15 && bits <= limit; }

bool has_param(const extension_offer& e, std::string_view name) {
    for (const auto& p : e.params) {
        if (sansws::iequals(p.name, name)) return true;
    }
    return false;
}

// The window an accepted offer gave for `name`: its value, or 15 when the
// parameter is absent or has no value.
std::uint8_t offered_window(const extension_offer& e, std::string_view name) {
    constexpr std::string_view values[] = {"8", "9", "10", "11", "12", "13", "14", "15"};
    for (const auto& p : e.params) {
        if (!sansws::iequals(p.name, name) || !p.value) continue;
        for (std::size_t i = 0; i < std::size(values); ++i) {
            if (*p.value == values[i]) return static_cast<std::uint8_t>(8 + i);
        }
        check(false);  // an accepted offer has only valid values
    }
    return 15;
}

std::vector<extension_offer> parse_ok(std::string_view value) {
    auto list = sansws::parse_extensions(value);
    check(list.has_value());
    return std::move(*list);
}

// The client's verdict on the server's answer must reproduce the agreement.
void client_agrees(const sansws::deflate_agreement& a, const deflate_options& offered) {
    const auto answer = parse_ok(a.response);
    check(answer.size() == 1 && answer.front().name == "permessage-deflate");
    std::string reason;
    const auto p = sansws::check_deflate_answer(answer.front(), offered, reason);
    check(p.has_value() && same_params(*p, a.params));
}

void parser_invariants(std::string_view value, const std::vector<extension_offer>& list) {
    const sansws::extension_limits defaults;
    check(!list.empty() && list.size() <= defaults.max_elements);
    std::size_t most_params = 0;
    for (const auto& e : list) {
        check(is_token(e.name));
        check(e.params.size() <= defaults.max_params);
        most_params = std::max(most_params, e.params.size());
        for (const auto& p : e.params) {
            check(is_token(p.name));
            // §9.1: values are tokens, quoted or not.
            check(!p.value || is_token(*p.value));
        }
    }
    for (const bool loose : {false, true}) {
        const auto again = sansws::parse_extensions(serialise(list, loose));
        check(again.has_value() && same_list(*again, list));
    }
    // The limits are exact: the counts found pass, one less fails with the
    // reason for that limit.
    std::string error;
    const auto exact = sansws::parse_extensions(value, &error, {list.size(), most_params});
    check(exact.has_value() && same_list(*exact, list));
    check(!sansws::parse_extensions(value, &error, {list.size() - 1, most_params}));
    check(error == "too many extension elements");
    if (most_params > 0) {
        check(!sansws::parse_extensions(value, &error, {list.size(), most_params - 1}));
        check(error == "too many extension parameters");
    }
}

void server_invariants(const std::vector<extension_offer>& list, const deflate_options& policy,
                       const deflate_options& client) {
    deflate_options off = policy;
    off.enabled = false;
    check(!sansws::negotiate_deflate(list, off));

    const auto a = sansws::negotiate_deflate(list, policy);
    // A well-formed offer of ours, appended, is always acceptable, and does
    // not change an agreement reached earlier in the list (§5.1 order).
    auto extended = list;
    const auto ours = parse_ok(sansws::deflate_offer(client));
    check(ours.size() == 1);
    extended.push_back(ours.front());
    const auto b = sansws::negotiate_deflate(extended, policy);
    check(b.has_value());
    if (!a) {
        // The agreement is for our offer: our client accepts the answer.
        client_agrees(*b, client);
        return;
    }
    check(same_params(a->params, b->params) && a->response == b->response);

    const deflate_params& p = a->params;
    check(window_ok(p.server_max_window_bits, policy.server_max_window_bits));
    check(window_ok(p.client_max_window_bits, policy.client_max_window_bits));
    if (policy.server_no_context_takeover) check(p.server_no_context_takeover);
    if (policy.client_no_context_takeover) check(p.client_no_context_takeover);

    // Offers are judged one by one: the first one agreed on alone is the one
    // agreed on in the list.
    const extension_offer* accepted = nullptr;
    for (const auto& offer : list) {
        const auto alone = sansws::negotiate_deflate({offer}, policy);
        if (!alone) continue;
        check(same_params(alone->params, p) && alone->response == a->response);
        accepted = &offer;
        break;
    }
    check(accepted != nullptr);
    const extension_offer response = parse_ok(a->response).front();
    // §7.1.1.1 and §7.1.2.1: what the offer asked of the server is answered;
    // §7.1.2.2: client_max_window_bits only when the offer had it.
    if (has_param(*accepted, "server_no_context_takeover")) check(p.server_no_context_takeover);
    if (has_param(*accepted, "server_max_window_bits")) check(has_param(response, "server_max_window_bits"));
    if (has_param(response, "client_max_window_bits")) check(has_param(*accepted, "client_max_window_bits"));
    // The client that sent exactly this offer accepts the answer.
    deflate_options sender;
    sender.enabled = true;
    sender.server_max_window_bits = offered_window(*accepted, "server_max_window_bits");
    sender.client_max_window_bits = offered_window(*accepted, "client_max_window_bits");
    client_agrees(*a, sender);

    // A client that offered no limits accepts the answer, and so does one
    // that offered exactly the windows agreed.
    deflate_options open;
    open.enabled = true;
    client_agrees(*a, open);
    deflate_options exact = open;
    exact.server_max_window_bits = p.server_max_window_bits;
    exact.client_max_window_bits = p.client_max_window_bits;
    client_agrees(*a, exact);
}

void client_invariants(const extension_offer& answer, const deflate_options& offered) {
    std::string reason;
    const auto p = sansws::check_deflate_answer(answer, offered, reason);
    if (!p) {
        check(!reason.empty());
        return;
    }
    check(sansws::iequals(answer.name, "permessage-deflate"));
    check(answer.params.size() <= 4);
    check(window_ok(p->server_max_window_bits, offered.server_max_window_bits));
    check(window_ok(p->client_max_window_bits, offered.client_max_window_bits));
    check(p->server_no_context_takeover == has_param(answer, "server_no_context_takeover"));
    check(p->client_no_context_takeover == has_param(answer, "client_no_context_takeover"));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::reader in(fuzz::bytes(data, size));
    const std::uint8_t selector = in.u8();
    const std::string_view value = sansws::as_text(in.rest());

    std::string error = "unset";
    const auto list = sansws::parse_extensions(value, &error);
    check(list.has_value() == sansws::parse_extensions(value).has_value());
    if (!list) {
        check(!error.empty() && error != "unset");
        return 0;
    }
    parser_invariants(value, *list);

    for (int v = 0; v < 3; ++v) {
        const deflate_options policy = options(selector, v);
        server_invariants(*list, policy, options(selector, (v + 1) % 3));
        client_invariants(list->front(), policy);
    }
    return 0;
}
