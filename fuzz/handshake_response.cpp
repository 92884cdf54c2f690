// The client's side of the opening handshake: bytes into the response head
// parser, then check_server_response (§4.1) for the RFC's sample key, so the
// seed built from §1.3 reaches acceptance.
#include "handshake_target.hpp"
#include "sansws/detail/crypto.hpp"

namespace {

using fuzz::check;
using kind = sansws::http_head_parser::kind;

constexpr std::string_view sample_key = "dGhlIHNhbXBsZSBub25jZQ==";  // §1.3

bool offered(const std::vector<std::string>& list, std::string_view element) {
    // §9.1: an extension is named by what precedes its first ';'.
    const auto name = [](std::string_view e) {
        e = e.substr(0, e.find(';'));
        while (!e.empty() && (e.back() == ' ' || e.back() == '\t')) e.remove_suffix(1);
        while (!e.empty() && (e.front() == ' ' || e.front() == '\t')) e.remove_prefix(1);
        return e;
    };
    for (const auto& mine : list) {
        if (name(mine) == name(element)) return true;
    }
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const fuzz::head_outcome parsed = fuzz::parse_head_every_way(kind::response, fuzz::bytes(data, size));
    if (parsed.status != sansws::http_head_parser::status::done) return 0;
    const sansws::http_head& head = parsed.head;

    sansws::client_options opts;
    opts.host = "server.example.com";
    opts.subprotocols = {"chat", "superchat"};
    opts.extensions = {"permessage-deflate; client_max_window_bits"};
    std::string reason;
    const auto accepted = sansws::check_server_response(head, sample_key, opts, reason);
    if (!accepted) {
        check(!reason.empty());
        return 0;
    }
    // Acceptance needs everything §4.1 lists, whatever else the head holds.
    check(head.status == 101);
    check(head.version.starts_with("HTTP/1."));
    check(sansws::header_value(head.headers, "Sec-WebSocket-Accept") ==
          sansws::websocket_accept_key(sample_key));
    check(sansws::header_has_token(head.headers, "Connection", "upgrade"));
    check(sansws::header_list(head.headers, "Upgrade").size() == 1);
    if (accepted->subprotocol) {
        check(*accepted->subprotocol == "chat" || *accepted->subprotocol == "superchat");
    } else {
        check(!sansws::header_value(head.headers, "Sec-WebSocket-Protocol").has_value());
    }
    for (const auto& e : accepted->extensions) check(offered(opts.extensions, e));
    check(accepted->headers.size() == head.headers.size());
    return 0;
}
