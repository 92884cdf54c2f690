// The application API shared by every socket binding (bindings/loop,
// bindings/epoll, bindings/io_uring): what happens on a connection is reported
// to a `handlers` struct of callbacks, and the application acts on a
// connection through a `connection_handle`. A binding owns the socket and the
// engine; the application never sees either.
//
// Threading: handlers run on the thread of the loop that owns the connection,
// and handles may only be used there. To reach a connection from another
// thread, post to its loop (see the binding's post()).
#pragma once

#include <any>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sansws/connection.hpp"

namespace sansws {

class connection_handle;

/// The server application's answer to an upgrade request.
struct request_decision {
    bool accept = true;
    accept_options options{};  // when accepting: subprotocol, extra headers
    int status = 403;          // when refusing: HTTP status, headers, body
    http_headers headers{};
    std::string body{};

    static request_decision accept_with(std::optional<std::string> subprotocol = std::nullopt);
    static request_decision reject(int status, std::string body = {});
};

/// A plain HTTP answer to a request that is not a WebSocket upgrade (see
/// handlers::on_http). Sent with Content-Length and Connection: close.
struct http_response {
    int status = 200;
    http_headers headers{};
    std::string body{};
};

enum class error_kind : std::uint8_t {
    protocol,   // the peer broke RFC 6455, a deadline passed or the transport was lost: see `what`
    rejected,   // client: the server refused the upgrade: see `rejected`
    transport,  // client: resolving or connecting failed: see `sys_errno`
    config,     // the engine refused its configuration (connection::setup_error())
};

/// Everything that ends a connection abnormally. Views and pointers are
/// valid during the callback only.
struct error_info {
    error_kind kind = error_kind::protocol;
    violation what = violation::none;          // protocol
    close_code code = close_code::abnormal;    // protocol: the code for `what`, sent when a Close still could be
    int sys_errno = 0;                         // the socket error behind it, if any
    const handshake_rejected* rejected = nullptr;  // rejected
    std::string_view message;                  // short human-readable detail
};
/// One line for people, e.g. "handshake refused: HTTP 404 Not Found".
std::string describe(const error_info& e);

/// Callbacks; every one is optional. Each gets the handle of its connection.
struct handlers {
    /// Server: an upgrade request arrived. Default: accept without a subprotocol.
    std::function<request_decision(const connection_handle&, const handshake_request&)> on_request;
    /// Server: when set, a request without `Upgrade: websocket` is answered
    /// with what this returns (then the socket is closed) instead of the
    /// engine's 400. No other handler runs for such a request.
    std::function<http_response(const http_head&)> on_http;
    /// The handshake completed; sending is possible from now on.
    std::function<void(const connection_handle&)> on_open;
    /// A whole message (config::delivery == whole_message), or a piece of one
    /// flagged first/last (streaming). `m.data` is valid during the call.
    std::function<void(const connection_handle&, const message& m)> on_message;
    /// Pings are answered automatically (config::auto_pong); this only reports.
    std::function<void(const connection_handle&, bytes_view data)> on_ping;
    std::function<void(const connection_handle&, bytes_view data)> on_pong;
    /// The peer's Close arrived (the answer is already queued when needed).
    std::function<void(const connection_handle&, std::uint16_t code, std::string_view reason)> on_close;
    /// The connection failed: see error_info. on_disconnect follows.
    std::function<void(const connection_handle&, const error_info&)> on_error;
    /// The socket is closed. Called exactly once for every connection that
    /// got a handle, last; the handle is dead from here on.
    std::function<void(const connection_handle&)> on_disconnect;
};

namespace detail {

/// What a binding implements for the handles of its connections.
class handle_target {
public:
    /// The engine, with its clock brought up to date, ready for a call.
    virtual connection& begin_use() = 0;
    /// A call changed the engine's output or deadlines: schedule a flush.
    virtual void end_use() = 0;
    virtual const connection& engine() const noexcept = 0;

protected:
    ~handle_target() = default;
};

/// Shared by all copies of a handle; the binding clears `target` when the
/// connection goes, so stale handles fail safely instead of dangling.
struct handle_state {
    handle_target* target = nullptr;
    std::uint64_t id = 0;
    std::any user_data;
};

}  // namespace detail

/// A reference to one connection, cheap to copy and safe to keep: once the
/// connection is gone every action returns misuse::wrong_state. Calls
/// behave as the engine's (see connection.hpp); output is written by the
/// binding afterwards. Use on the owning loop's thread only.
class connection_handle {
public:
    connection_handle() = default;
    explicit connection_handle(std::shared_ptr<detail::handle_state> s) noexcept : s_(std::move(s)) {}

    misuse send_text(std::string_view text, bool fin = true, compression z = compression::automatic) const;
    misuse send_binary(bytes_view data, bool fin = true, compression z = compression::automatic) const;
    /// Broadcast: the same prepared frame to many connections.
    misuse send(const prepared_message& m) const;
    /// Send a received message (or streamed piece) back as it came: echo.
    misuse send(const message& m) const;
    misuse ping(bytes_view data = {}) const;
    misuse close(std::uint16_t code = 1000, std::string_view reason = {}) const;
    /// End the connection now, without a close handshake: for a peer that
    /// must go at once (one that does not read what it is sent, one that
    /// misbehaves). Output still queued is dropped, not written; the binding
    /// resets the socket (SO_LINGER 0, the peer sees ECONNRESET) once the
    /// running handler returns, or in the loop's next iteration when called
    /// from elsewhere (another connection's handler, a post()), never from
    /// inside abort(). on_disconnect follows, once; on_error is not called.
    /// Allowed in every state; misuse::wrong_state on a dead handle or a
    /// connection already aborted.
    misuse abort() const;

    /// True while the connection exists (until on_disconnect).
    bool alive() const noexcept { return s_ && s_->target; }
    /// Unique within the process; 0 for an empty handle.
    std::uint64_t id() const noexcept { return s_ ? s_->id : 0; }
    /// Bytes queued for the peer and not yet written (0 when dead): an
    /// application that sends to slow peers checks this to bound memory.
    std::size_t buffered() const noexcept;
    /// The engine's state; `closed` once the connection is gone.
    connection_state state() const noexcept;
    /// The subprotocol agreed in the handshake.
    std::optional<std::string> subprotocol() const;
    /// The permessage-deflate parameters agreed, if any.
    std::optional<deflate_params> compression_params() const;
    /// Bytes the engine holds for this connection (connection::memory_use).
    std::size_t memory_use() const noexcept;
    /// A slot for the application's per-connection data; it lives as long as
    /// any copy of the handle. Must not be called on an empty handle.
    std::any& user_data() const noexcept { return s_->user_data; }

    friend bool operator==(const connection_handle& a, const connection_handle& b) noexcept {
        return a.s_ == b.s_;
    }

private:
    template <class F>
    misuse use(F&& f) const;
    std::shared_ptr<detail::handle_state> s_;
};

}  // namespace sansws
