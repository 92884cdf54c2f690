// Shared by handshake_request and handshake_response: the HTTP head parser
// fed whole, byte by byte and in random chunks, with the per-call contract
// checked each time and the three outcomes compared.
#pragma once

#include "fuzz.hpp"
#include "sansws/handshake.hpp"

namespace fuzz {

struct head_outcome {
    sansws::http_head_parser::status status = sansws::http_head_parser::status::need_more;
    std::size_t consumed = 0;
    sansws::http_head head;
    std::string error;
};

inline bool same_head(const sansws::http_head& a, const sansws::http_head& b) {
    if (a.method != b.method || a.target != b.target || a.status != b.status || a.reason != b.reason ||
        a.version != b.version || a.headers.size() != b.headers.size())
        return false;
    for (std::size_t i = 0; i < a.headers.size(); ++i) {
        if (a.headers[i].name != b.headers[i].name || a.headers[i].value != b.headers[i].value) return false;
    }
    return true;
}

/// Feed `in` in pieces of `step` bytes (0: whole; otherwise drawn from
/// `split` when given).
inline head_outcome parse_head(sansws::http_head_parser::kind k, const sansws::http_limits& limits,
                               sansws::bytes_view in, std::size_t step, rng* split) {
    using status = sansws::http_head_parser::status;
    sansws::http_head_parser p(k, limits);
    head_outcome out;
    std::size_t pos = 0;
    do {
        std::size_t n = in.size() - pos;
        if (split) n = split->chunk(n);
        else if (step) n = std::min(step, n);
        const auto piece = in.subspan(pos, n);
        std::size_t used = 0;
        const status s = p.feed(piece, used);
        check(used <= piece.size());
        if (s == status::need_more) check(used == piece.size());
        out.consumed += used;
        pos += n;
        if (s != status::need_more) {
            out.status = s;
            // The verdict is given once: later calls repeat it and take nothing.
            for (auto again : {in.subspan(out.consumed), sansws::as_bytes("\r\n\r\n")}) {
                check(p.feed(again, used) == s && used == 0);
            }
            break;
        }
    } while (pos < in.size());
    check(out.consumed <= limits.max_size);
    if (out.status == status::done) {
        // The head ends with its empty line, and nothing of what follows it
        // was taken.
        check(out.consumed >= 2 && in[out.consumed - 1] == std::byte{'\n'});
        out.head = p.head();
        check(out.head.headers.size() <= limits.max_headers);
        for (const auto& h : out.head.headers) {
            check(!h.name.empty());
            check(h.name.find_first_of(" \t\r\n:") == std::string::npos);
            check(h.value.find_first_of("\r\n") == std::string::npos);
            check(h.value.empty() || (h.value.front() != ' ' && h.value.front() != '\t' &&
                                      h.value.back() != ' ' && h.value.back() != '\t'));
        }
        if (k == sansws::http_head_parser::kind::response) {
            check(out.head.status >= 0 && out.head.status <= 999);
        } else {
            check(!out.head.method.empty() && !out.head.target.empty());
        }
    }
    if (out.status == status::malformed) {
        out.error = p.error();
        check(!out.error.empty());
    }
    return out;
}

/// Whole, byte by byte and in random chunks must agree on everything.
inline head_outcome parse_head_every_way(sansws::http_head_parser::kind k, sansws::bytes_view in) {
    rng split(hash(in));
    // Small limits now and then, so that the limits are hit by short inputs.
    sansws::http_limits limits;
    if (split.below(4) == 0) {
        limits.max_size = 1 + split.below(in.size() + 8);
        limits.max_headers = split.below(8);
    }
    head_outcome whole = parse_head(k, limits, in, 0, nullptr);
    for (const head_outcome& other :
         {parse_head(k, limits, in, 1, nullptr), parse_head(k, limits, in, 0, &split)}) {
        check(other.status == whole.status && other.consumed == whole.consumed && other.error == whole.error);
        check(same_head(other.head, whole.head));
    }
    return whole;
}

}  // namespace fuzz
