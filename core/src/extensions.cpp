// Sec-WebSocket-Extensions (RFC 6455 §9.1) and permessage-deflate
// negotiation (RFC 7692 §5, §7.1), both roles.
//
// The parser is one left-to-right pass over the value: every byte is looked
// at a bounded number of times and the element and parameter limits are
// checked as soon as they are crossed, so a hostile header costs time linear
// in its length and memory bounded by the limits.
#include "sansws/extensions.hpp"

#include <algorithm>

#include "http_chars.hpp"
#include "sansws/handshake.hpp"

namespace sansws {
namespace {

using detail::is_ows, detail::is_tchar, detail::is_token;

// RFC 7230 §3.2.6: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
constexpr bool is_qdtext(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) ||
           c >= 0x80;
}

// RFC 7230 §3.2.6: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ).
constexpr bool is_escapable(char ch) noexcept {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}

class list_parser {
public:
    list_parser(std::string_view in, std::string* error, const extension_limits& limits) noexcept
        : in_(in), error_(error), limits_(limits) {}

    std::optional<std::vector<extension_offer>> run() {
        std::vector<extension_offer> out;
        while (true) {
            skip_ows();
            if (at_end()) break;
            // RFC 7230 §7: empty list elements ("a, , b", a leading or a
            // trailing comma) are accepted and ignored.
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            const std::string_view name = token();
            if (name.empty()) return fail("expected extension token");
            if (out.size() >= limits_.max_elements) return fail("too many extension elements");
            extension_offer& element = out.emplace_back();
            element.name = name;
            if (!params(element)) return std::nullopt;
            if (at_end()) break;
            if (peek() != ',') return fail("expected ',' or ';'");
            ++pos_;
        }
        // §9.1: extension-list = 1#extension, at least one element.
        if (out.empty()) return fail("empty extension list");
        return out;
    }

private:
    bool at_end() const noexcept { return pos_ == in_.size(); }
    char peek() const noexcept { return in_[pos_]; }

    void skip_ows() noexcept {
        while (!at_end() && is_ows(peek())) ++pos_;
    }

    std::string_view token() noexcept {
        const std::size_t start = pos_;
        while (!at_end() && is_tchar(peek())) ++pos_;
        return in_.substr(start, pos_ - start);
    }

    // Records the reason; false, for the helpers that return bool.
    bool error(const char* why) {
        if (error_) *error_ = why;
        return false;
    }

    std::nullopt_t fail(const char* why) {
        error(why);
        return std::nullopt;
    }

    // *( OWS ";" OWS token [ OWS "=" OWS ( token / quoted-string ) ] ) OWS:
    // the "implied *LWS" of §9.1 allows whitespace around ";" and "=".
    bool params(extension_offer& element) {
        while (true) {
            skip_ows();
            if (at_end() || peek() != ';') return true;
            ++pos_;
            skip_ows();
            const std::string_view name = token();
            if (name.empty()) return error("expected token after ';'");
            if (element.params.size() >= limits_.max_params) return error("too many extension parameters");
            extension_param& param = element.params.emplace_back();
            param.name = name;
            skip_ows();
            if (at_end() || peek() != '=') continue;
            ++pos_;
            skip_ows();
            if (!at_end() && peek() == '"') {
                std::string value;
                if (!quoted_string(value)) return false;
                // §9.1: a quoted value, once unescaped, must still be a token.
                if (!is_token(value)) return error("quoted value is not a token");
                param.value = std::move(value);
            } else {
                const std::string_view value = token();
                if (value.empty()) return error("expected value after '='");
                param.value = std::string(value);
            }
        }
    }

    // RFC 7230 §3.2.6: DQUOTE *( qdtext / quoted-pair ) DQUOTE, unescaped
    // into `out`. The opening quote is at pos_.
    bool quoted_string(std::string& out) {
        ++pos_;
        while (!at_end()) {
            const char c = in_[pos_++];
            if (c == '"') return true;
            if (c == '\\') {
                if (at_end()) break;
                const char escaped = in_[pos_++];
                if (!is_escapable(escaped)) return error("invalid quoted-pair in quoted-string");
                out += escaped;
            } else if (is_qdtext(c)) {
                out += c;
            } else {
                return error("invalid character in quoted-string");
            }
        }
        return error("unterminated quoted-string");
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    std::string* error_;
    const extension_limits& limits_;
};

constexpr std::string_view deflate_name = "permessage-deflate";
constexpr std::uint8_t max_window = 15;
constexpr std::uint8_t min_window = 8;

// Options outside 8..15 are a caller's mistake; they are brought into range
// rather than written into a header or compared against.
std::uint8_t clamp_window(std::uint8_t bits) noexcept { return std::clamp(bits, min_window, max_window); }

// RFC 7692 §7.1.2.1, §7.1.2.2: a window value is 1*DIGIT in 8..15 with no
// leading zero, sign or whitespace (checked after quoted-string unescaping,
// §7.1). 0 when invalid.
std::uint8_t window_value(std::string_view v) noexcept {
    if (v.size() == 1 && (v[0] == '8' || v[0] == '9')) return static_cast<std::uint8_t>(v[0] - '0');
    if (v.size() == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5') return static_cast<std::uint8_t>(10 + v[1] - '0');
    return 0;
}

// The permessage-deflate parameters of one element (offer or answer), each
// at most once.
struct deflate_fields {
    bool server_no_context_takeover = false;
    bool client_no_context_takeover = false;
    bool has_server_max_window_bits = false;
    std::uint8_t server_max_window_bits = 0;
    bool has_client_max_window_bits = false;
    std::uint8_t client_max_window_bits = 0;  // 0: the parameter had no value
};

// The rules shared by both roles (RFC 7692 §7.1): known parameters only, each
// once, flags without a value, server_max_window_bits with one, every window
// value valid. nullptr on success, otherwise the reason.
const char* read_fields(const extension_offer& element, deflate_fields& f) {
    for (const auto& p : element.params) {
        const bool server_flag = iequals(p.name, "server_no_context_takeover");
        if (server_flag || iequals(p.name, "client_no_context_takeover")) {
            bool& flag = server_flag ? f.server_no_context_takeover : f.client_no_context_takeover;
            if (flag) return "repeated permessage-deflate parameter";
            // §7.1.1.1, §7.1.1.2: these parameters have no value.
            if (p.value) return "no_context_takeover parameter with a value";
            flag = true;
        } else if (iequals(p.name, "server_max_window_bits")) {
            if (f.has_server_max_window_bits) return "repeated permessage-deflate parameter";
            // §7.1.2.1: server_max_window_bits always carries a value.
            if (!p.value) return "server_max_window_bits without a value";
            f.server_max_window_bits = window_value(*p.value);
            if (f.server_max_window_bits == 0) return "invalid server_max_window_bits value";
            f.has_server_max_window_bits = true;
        } else if (iequals(p.name, "client_max_window_bits")) {
            if (f.has_client_max_window_bits) return "repeated permessage-deflate parameter";
            if (p.value) {
                f.client_max_window_bits = window_value(*p.value);
                if (f.client_max_window_bits == 0) return "invalid client_max_window_bits value";
            }
            f.has_client_max_window_bits = true;
        } else {
            return "unknown permessage-deflate parameter";
        }
    }
    return nullptr;
}

// Fixed order in every element we write (offer and answer alike): the two
// flags, then server_max_window_bits, then client_max_window_bits.
void append_flag(std::string& out, std::string_view name) {
    out += "; ";
    out += name;
}

void append_window(std::string& out, std::string_view name, std::uint8_t bits) {
    out += "; ";
    out += name;
    out += '=';
    out += std::to_string(bits);
}

}  // namespace

std::optional<std::vector<extension_offer>> parse_extensions(std::string_view value, std::string* error,
                                                             const extension_limits& limits) {
    return list_parser(value, error, limits).run();
}

std::optional<deflate_agreement> negotiate_deflate(const std::vector<extension_offer>& offers,
                                                   const deflate_options& policy) {
    if (!policy.enabled) return std::nullopt;
    const std::uint8_t policy_server = clamp_window(policy.server_max_window_bits);
    const std::uint8_t policy_client = clamp_window(policy.client_max_window_bits);

    // §5.1: offers are in the client's order of preference; a declined offer
    // makes us try the next one.
    for (const auto& offer : offers) {
        if (!iequals(offer.name, deflate_name)) continue;
        deflate_fields f;
        if (read_fields(offer, f) != nullptr) continue;
        // §7.1.2.2: without client_max_window_bits in the offer we may not
        // limit the client's window, so a policy that needs a limit declines.
        if (!f.has_client_max_window_bits && policy_client < max_window) continue;

        deflate_params p;
        // §7.1.2.1: the same or a smaller value than offered. A window of 8 is
        // accepted like any other; the connection then sends uncompressed
        // messages (zlib cannot compress with 8, §6 allows not compressing).
        p.server_max_window_bits =
            std::min(f.has_server_max_window_bits ? f.server_max_window_bits : max_window, policy_server);
        if (f.has_client_max_window_bits) {
            const std::uint8_t offered =
                f.client_max_window_bits != 0 ? f.client_max_window_bits : max_window;
            p.client_max_window_bits = std::min(offered, policy_client);
        }
        // §7.1.1.1: an accepted server_no_context_takeover must be answered.
        p.server_no_context_takeover = f.server_no_context_takeover || policy.server_no_context_takeover;
        // §7.1.1.2: an offered client_no_context_takeover is only a hint; we
        // echo it so that both sides know the client resets and the server's
        // decompressor may reset (and free its window) too.
        p.client_no_context_takeover = f.client_no_context_takeover || policy.client_no_context_takeover;

        deflate_agreement a;
        a.params = p;
        a.response = std::string(deflate_name);
        if (p.server_no_context_takeover) append_flag(a.response, "server_no_context_takeover");
        if (p.client_no_context_takeover) append_flag(a.response, "client_no_context_takeover");
        // §7.1.2.1: answered when it was offered (mandatory then) or when it
        // limits us below the default.
        if (f.has_server_max_window_bits || p.server_max_window_bits < max_window) {
            append_window(a.response, "server_max_window_bits", p.server_max_window_bits);
        }
        // §7.1.2.2: only when offered, and always with a value; a value of
        // 15 says nothing, so it is left out.
        if (p.client_max_window_bits < max_window) {
            append_window(a.response, "client_max_window_bits", p.client_max_window_bits);
        }
        return a;
    }
    return std::nullopt;
}

std::string deflate_offer(const deflate_options& opts) {
    std::string out(deflate_name);
    if (opts.server_no_context_takeover) append_flag(out, "server_no_context_takeover");
    if (opts.client_no_context_takeover) append_flag(out, "client_no_context_takeover");
    const std::uint8_t server = clamp_window(opts.server_max_window_bits);
    if (server < max_window) append_window(out, "server_max_window_bits", server);
    // §7.1.2.2: always offered, so that the server may limit our window; a
    // value only when we limit it ourselves.
    const std::uint8_t client = clamp_window(opts.client_max_window_bits);
    if (client < max_window) {
        append_window(out, "client_max_window_bits", client);
    } else {
        append_flag(out, "client_max_window_bits");
    }
    return out;
}

std::optional<deflate_params> check_deflate_answer(const extension_offer& answer, const deflate_options& offered,
                                                   std::string& reason) {
    if (!iequals(answer.name, deflate_name)) {
        reason = "extension answered is not permessage-deflate";
        return std::nullopt;
    }
    deflate_fields f;
    if (const char* why = read_fields(answer, f)) {
        reason = why;
        return std::nullopt;
    }
    const std::uint8_t offered_server = clamp_window(offered.server_max_window_bits);
    const std::uint8_t offered_client = clamp_window(offered.client_max_window_bits);

    // §7.1.1.1: a server accepts an offer with server_no_context_takeover by
    // answering it; an answer without it accepted no offer we made.
    if (offered.server_no_context_takeover && !f.server_no_context_takeover) {
        reason = "server_no_context_takeover missing from the answer";
        return std::nullopt;
    }
    deflate_params p;
    p.server_no_context_takeover = f.server_no_context_takeover;
    p.client_no_context_takeover = f.client_no_context_takeover;
    // §7.1.2.1: a server accepting our server_max_window_bits answers it with
    // the same or a smaller value; without it the server would use 15.
    if (f.has_server_max_window_bits) {
        if (f.server_max_window_bits > offered_server) {
            reason = "server_max_window_bits above the offered limit";
            return std::nullopt;
        }
        p.server_max_window_bits = f.server_max_window_bits;
    } else if (offered_server < max_window) {
        reason = "server_max_window_bits missing from the answer";
        return std::nullopt;
    }
    // §7.1.2.2: our offer always has client_max_window_bits, so the server
    // may answer it, with a value and never above a value we offered.
    if (f.has_client_max_window_bits) {
        if (f.client_max_window_bits == 0) {
            reason = "client_max_window_bits without a value";
            return std::nullopt;
        }
        if (f.client_max_window_bits > offered_client) {
            reason = "client_max_window_bits above the offered limit";
            return std::nullopt;
        }
        p.client_max_window_bits = f.client_max_window_bits;
    } else {
        p.client_max_window_bits = offered_client;
    }
    return p;
}

}  // namespace sansws
