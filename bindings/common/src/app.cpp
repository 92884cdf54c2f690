// connection_handle forwards to the connection's session (session.hpp); a
// dead handle (target cleared when the connection goes) refuses every action.
#include "sansws/app.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "sansws/session.hpp"

namespace sansws {

request_decision request_decision::accept_with(std::optional<std::string> subprotocol) {
    request_decision d;
    d.options.subprotocol = std::move(subprotocol);
    return d;
}

request_decision request_decision::reject(int status, std::string body) {
    request_decision d;
    d.accept = false;
    d.status = status;
    d.body = std::move(body);
    return d;
}

std::string describe(const error_info& e) {
    std::string s;
    switch (e.kind) {
    case error_kind::rejected:
        s = "handshake refused";
        if (e.rejected) {
            s += ": HTTP " + std::to_string(e.rejected->status);
            if (!e.rejected->reason.empty()) s += " " + e.rejected->reason;
            if (!e.rejected->body.empty()) {
                std::string body = e.rejected->body.substr(0, 200);
                while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
                s += " (" + body + ")";
            }
        }
        return s;
    case error_kind::config:
        return "invalid connection settings: " + std::string(e.message);
    case error_kind::transport:
        s = std::string(e.message);
        if (e.sys_errno != 0) s += std::string(": ") + std::strerror(e.sys_errno);
        return s;
    case error_kind::protocol:
        break;
    }
    s = std::string(to_string(e.what));
    if (!e.message.empty() && e.message != to_string(e.what)) s += ": " + std::string(e.message);
    switch (e.what) {
    case violation::none:
    case violation::bad_handshake:
    case violation::handshake_too_large:
    case violation::handshake_timeout:
    case violation::close_timeout:
    case violation::connection_lost:
        break;  // no Close frame was sent for these
    default:
        s += " (sent close " + std::to_string(static_cast<int>(e.code)) + ")";
    }
    if (e.sys_errno != 0) s += std::string(" [") + std::strerror(e.sys_errno) + "]";
    return s;
}

template <class F>
misuse connection_handle::use(bool data, F&& f) const {
    if (!alive()) return misuse::wrong_state;
    detail::session* t = s_->target;
    misuse m = t->begin_use(data);
    if (m == misuse::none) m = f(t->engine_for_use());
    t->end_use();
    return m;
}

misuse connection_handle::send_text(std::string_view text, bool fin, compression z) const {
    return use(true, [&](connection& c) { return c.send_text(text, fin, z); });
}

misuse connection_handle::send_binary(bytes_view data, bool fin, compression z) const {
    return use(true, [&](connection& c) { return c.send_binary(data, fin, z); });
}

misuse connection_handle::send(const prepared_message& m) const {
    return use(true, [&](connection& c) { return c.send(m); });
}

misuse connection_handle::send(const message& m) const {
    return use(true, [&](connection& c) { return c.send(m); });
}

misuse connection_handle::ping(bytes_view data) const {
    return use(false, [&](connection& c) { return c.ping(data); });
}

misuse connection_handle::pong(bytes_view data) const {
    return use(false, [&](connection& c) { return c.pong(data); });
}

misuse connection_handle::close(std::uint16_t code, std::string_view reason) const {
    return use(false, [&](connection& c) { return c.close(code, reason); });
}

misuse connection_handle::abort() const {
    return use(false, [](connection& c) { return c.abort(); });
}

misuse connection_handle::pause() const {
    if (!alive()) return misuse::wrong_state;
    s_->target->set_paused(true);
    return misuse::none;
}

misuse connection_handle::resume() const {
    if (!alive()) return misuse::wrong_state;
    s_->target->set_paused(false);
    return misuse::none;
}

bool connection_handle::paused() const noexcept { return alive() && s_->target->paused(); }

misuse connection_handle::set_idle_timeout(duration idle, duration keepalive) const {
    if (!alive()) return misuse::wrong_state;
    s_->target->set_idle_timeout(idle, keepalive);
    return misuse::none;
}

std::size_t connection_handle::buffered() const noexcept {
    return alive() ? s_->target->engine().buffered() : 0;
}

std::uint64_t connection_handle::written() const noexcept {
    return alive() ? s_->target->written_total() : 0;
}

connection_state connection_handle::state() const noexcept {
    return alive() ? s_->target->engine().state() : connection_state::closed;
}

std::optional<std::string> connection_handle::subprotocol() const {
    return alive() ? s_->target->engine().subprotocol() : std::nullopt;
}

std::string connection_handle::extensions() const {
    const auto p = compression_params();
    if (!p) return {};
    std::string s = "permessage-deflate";
    if (p->server_no_context_takeover) s += "; server_no_context_takeover";
    if (p->client_no_context_takeover) s += "; client_no_context_takeover";
    s += "; server_max_window_bits=" + std::to_string(p->server_max_window_bits);
    s += "; client_max_window_bits=" + std::to_string(p->client_max_window_bits);
    return s;
}

std::optional<deflate_params> connection_handle::compression_params() const {
    return alive() ? s_->target->engine().compression_params() : std::nullopt;
}

std::optional<endpoint> connection_handle::remote() const {
    if (!s_) return std::nullopt;
    if (!s_->peer && alive()) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        const int fd = s_->target->socket();
        char host[NI_MAXHOST];
        if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 ||
            (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
            getnameinfo(reinterpret_cast<const sockaddr*>(&ss), len, host, sizeof host, nullptr, 0, NI_NUMERICHOST) != 0)
            return std::nullopt;
        const std::uint16_t port = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                                                  : reinterpret_cast<sockaddr_in&>(ss).sin_port);
        s_->peer = std::make_unique<endpoint>(endpoint{host, port});
    }
    if (!s_->peer) return std::nullopt;
    return *s_->peer;
}

std::size_t connection_handle::memory_use() const noexcept {
    return alive() ? s_->target->engine().memory_use() : 0;
}

}  // namespace sansws
