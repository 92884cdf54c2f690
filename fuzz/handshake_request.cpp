// The server's side of the opening handshake: bytes into the request head
// parser, then check_client_request (§4.2.1). Whatever the verdict, the
// answer the server would send must itself be well-formed: a 101 that our own
// client accepts, or a refusal that parses with its status and body.
#include "handshake_target.hpp"
#include "sansws/detail/crypto.hpp"

namespace {

using fuzz::check;
using kind = sansws::http_head_parser::kind;
using status = sansws::http_head_parser::status;

/// Parse a response the server wrote; it must be complete and exact.
fuzz::head_outcome reparse(const std::string& response, std::size_t body) {
    fuzz::head_outcome r = fuzz::parse_head(kind::response, {}, sansws::as_bytes(response), 0, nullptr);
    check(r.status == status::done && r.consumed + body == response.size());
    return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzz::head_outcome parsed = fuzz::parse_head_every_way(kind::request, fuzz::bytes(data, size));
    if (parsed.status != status::done) return 0;

    sansws::http_head head = parsed.head;
    const sansws::request_check verdict = sansws::check_client_request(std::move(head));
    if (verdict.request) {
        const sansws::handshake_request& req = *verdict.request;
        check(parsed.head.method == "GET" && req.target == parsed.head.target && !req.host.empty());
        const auto nonce = sansws::base64_decode(req.key);
        check(nonce && nonce->size() == 16);
        check(req.headers.size() == parsed.head.headers.size());

        // Our 101, choosing the first subprotocol offered, passes our client.
        sansws::accept_options opts;
        sansws::client_options offered;
        offered.subprotocols = req.subprotocols;
        if (!req.subprotocols.empty()) opts.subprotocol = req.subprotocols.front();
        const std::string answer = sansws::write_accept_response(req.key, opts);
        const fuzz::head_outcome r = reparse(answer, 0);
        std::string why;
        const auto accepted = sansws::check_server_response(r.head, req.key, offered, why);
        check(accepted.has_value() && accepted->subprotocol == opts.subprotocol);
        return 0;
    }

    const sansws::handshake_failure& f = verdict.failure;
    check(f.status == 400 || f.status == 426);
    check(!f.reason.empty());
    // §4.4: a version mismatch says which version the server speaks.
    if (f.status == 426) check(sansws::header_value(f.headers, "Sec-WebSocket-Version") == "13");
    const std::string answer = sansws::write_reject_response(f.status, f.headers, f.reason);
    const fuzz::head_outcome r = reparse(answer, f.reason.size());
    check(r.head.status == f.status);
    check(sansws::header_value(r.head.headers, "Content-Length") == std::to_string(f.reason.size()));
    check(answer.compare(r.consumed, std::string::npos, f.reason) == 0);
    return 0;
}
