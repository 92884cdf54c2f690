// connection_handle forwards to the binding's engine through handle_target;
// a dead handle (target cleared by the binding) refuses every action.
#include "sansws/app.hpp"

#include <cstring>

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
misuse connection_handle::use(F&& f) const {
    if (!alive()) return misuse::wrong_state;
    detail::handle_target* t = s_->target;
    const misuse m = f(t->begin_use());
    t->end_use();
    return m;
}

misuse connection_handle::send_text(std::string_view text, bool fin, compression z) const {
    return use([&](connection& c) { return c.send_text(text, fin, z); });
}

misuse connection_handle::send_binary(bytes_view data, bool fin, compression z) const {
    return use([&](connection& c) { return c.send_binary(data, fin, z); });
}

misuse connection_handle::send(const prepared_message& m) const {
    return use([&](connection& c) { return c.send(m); });
}

misuse connection_handle::send(const message& m) const {
    return use([&](connection& c) { return c.send(m); });
}

misuse connection_handle::ping(bytes_view data) const {
    return use([&](connection& c) { return c.ping(data); });
}

misuse connection_handle::close(std::uint16_t code, std::string_view reason) const {
    return use([&](connection& c) { return c.close(code, reason); });
}

misuse connection_handle::abort() const {
    return use([](connection& c) { return c.abort(); });
}

std::size_t connection_handle::buffered() const noexcept {
    return alive() ? s_->target->engine().buffered() : 0;
}

connection_state connection_handle::state() const noexcept {
    return alive() ? s_->target->engine().state() : connection_state::closed;
}

std::optional<std::string> connection_handle::subprotocol() const {
    return alive() ? s_->target->engine().subprotocol() : std::nullopt;
}

std::optional<deflate_params> connection_handle::compression_params() const {
    return alive() ? s_->target->engine().compression_params() : std::nullopt;
}

std::size_t connection_handle::memory_use() const noexcept {
    return alive() ? s_->target->engine().memory_use() : 0;
}

}  // namespace sansws
