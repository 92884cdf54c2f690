// Engine events to handler calls, shared by every binding.
#include "dispatch.hpp"

#include <sys/socket.h>
#include <unistd.h>

namespace sansws::detail {
namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

}  // namespace

void dispatch_event(connection& engine, const handlers& h, const connection_handle& self, event& ev,
                    int sys_errno) {
    std::visit(overloaded{
                   [](need_more&) {},
                   [&](handshake_request& req) {
                       request_decision d = h.on_request ? h.on_request(self, req) : request_decision{};
                       if (d.accept && engine.accept(d.options) == misuse::none) {
                           if (h.on_open) h.on_open(self);
                       } else if (d.accept || engine.reject(d.status, d.headers, d.body) != misuse::none) {
                           // The application's answer was unusable (e.g. a
                           // subprotocol the client did not offer).
                           engine.reject(500, {}, "invalid handshake answer");
                       }
                   },
                   [&](handshake_response&) {
                       if (h.on_open) h.on_open(self);
                   },
                   [&](handshake_rejected& r) {
                       if (!h.on_error) return;
                       error_info e;
                       e.kind = error_kind::rejected;
                       e.what = violation::bad_handshake;
                       e.rejected = &r;
                       e.message = r.reason;
                       h.on_error(self, e);
                   },
                   [&](message& m) {
                       if (h.on_message) h.on_message(self, m);
                   },
                   [&](ping& p) {
                       if (h.on_ping) h.on_ping(self, p.data);
                   },
                   [&](pong& p) {
                       if (h.on_pong) h.on_pong(self, p.data);
                   },
                   [&](close_frame& c) {
                       if (h.on_close) h.on_close(self, c.code, c.reason);
                   },
                   [&](failure& f) {
                       if (!h.on_error) return;
                       error_info e;
                       e.what = f.what;
                       e.code = f.code;
                       e.message = f.reason;
                       e.sys_errno = sys_errno;
                       h.on_error(self, e);
                   },
               },
               ev);
}

void report_setup_error(const connection& engine, const handlers& h, const connection_handle& self) {
    if (engine.setup_error() == misuse::none || !h.on_error) return;
    error_info e;
    e.kind = error_kind::config;
    e.message = to_string(engine.setup_error());
    h.on_error(self, e);
}

void close_socket(int fd, bool unwritten) noexcept {
    if (unwritten) {
        const linger reset{1, 0};
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    }
    ::close(fd);
}

sniff_result sniff_request(http_head_parser& parser, std::string& seen, bytes_view data, const handlers& h,
                           std::string& response) {
    std::size_t used = 0;
    const auto status = parser.feed(data, used);
    seen.append(as_text(data));
    if (status == http_head_parser::status::need_more) return sniff_result::need_more;
    if (status == http_head_parser::status::done &&
        !header_has_token(parser.head().headers, "Upgrade", "websocket")) {
        const http_response r = h.on_http(parser.head());
        response = write_reject_response(r.status, r.headers, r.body);
        return sniff_result::plain_http;
    }
    // An upgrade, or a malformed or oversized head the engine will refuse
    // with the right status.
    return sniff_result::upgrade;
}

}  // namespace sansws::detail
