// The application API shared by every socket binding (bindings/loop,
// bindings/epoll, bindings/io_uring): what happens on a connection is reported
// to a `handlers` struct of callbacks, and the application acts on a
// connection through a `connection_handle`. A binding owns the socket and the
// engine; the application never sees either.
//
// Threading: handlers run on the thread of the loop that owns the connection,
// and handles may only be used there (copying or destroying a handle is safe
// anywhere). To reach a connection from another thread, post to its loop:
// server::post(id, fn) or loop::post(fn).
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

/// The server application's answer to an upgrade request (handlers::on_request).
struct request_decision {
    bool accept = true;        // false: refuse with `status`
    accept_options options{};  // when accepting: subprotocol, extra headers
    int status = 403;          // when refusing: HTTP status, headers, body
    http_headers headers{};
    std::string body{};

    /// Accept, agreeing to `subprotocol` (one the client offered).
    static request_decision accept_with(std::optional<std::string> subprotocol = std::nullopt);
    /// Refuse with this HTTP status and body (the engine's connection::reject).
    static request_decision reject(int status, std::string body = {});
};

/// A plain HTTP answer to a request that is not a WebSocket upgrade (see
/// handlers::on_http). Sent with Content-Length and Connection: close.
struct http_response {
    int status = 200;         // with its standard reason phrase
    http_headers headers{};   // extra fields (Content-Type, ...)
    std::string body{};
};

/// What kind of failure an error_info describes.
enum class error_kind : std::uint8_t {
    protocol,   // the peer broke RFC 6455, a deadline passed or the transport was lost: see `what`
    rejected,   // client: the server refused the upgrade: see `rejected`
    transport,  // client: resolving or connecting failed: see `sys_errno` and `message`
    config,     // the engine refused its configuration (connection::setup_error())
};

/// Everything that ends a connection abnormally. Views and pointers are
/// valid during the callback only.
struct error_info {
    error_kind kind = error_kind::protocol;    // which of the fields below apply
    violation what = violation::none;          // protocol
    close_code code = close_code::abnormal;    // protocol: the code for `what`, sent when a Close still could be
    int sys_errno = 0;                         // the socket error behind it, if any
    /// rejected: the server's whole HTTP response (status, reason, headers,
    /// body up to config::max_reject_body), as Node ws' unexpected-response.
    const handshake_rejected* rejected = nullptr;
    std::string_view message;                  // short human-readable detail
};
/// One line for people, e.g. "handshake refused: HTTP 404 Not Found".
std::string describe(const error_info& e);

/// Callbacks; every one is optional. Each gets the handle of its connection
/// and runs on the thread of the loop that owns it. For one connection the
/// order is: on_request (server), on_open, then on_message / on_ping /
/// on_pong / on_drain as things happen, then on_close and/or on_error, and
/// on_disconnect last, exactly once.
struct handlers {
    /// Server: an upgrade request arrived. Default: accept without a
    /// subprotocol. An unusable answer (a subprotocol the client did not
    /// offer) is turned into a 500.
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
    /// A Ping arrived. It is answered automatically (config::auto_pong);
    /// this only reports. `data` is valid during the call.
    std::function<void(const connection_handle&, bytes_view data)> on_ping;
    /// A Pong arrived (the answer to ping(), or the peer's heartbeat).
    std::function<void(const connection_handle&, bytes_view data)> on_pong;
    /// The queued output fell to connection_options::low_water or below after
    /// it had reached high_water: send more now (Node's 'drain'). Not called
    /// again until the output reaches high_water once more.
    std::function<void(const connection_handle&)> on_drain;
    /// The peer's Close arrived (the answer is already queued when needed).
    std::function<void(const connection_handle&, std::uint16_t code, std::string_view reason)> on_close;
    /// The connection failed: see error_info. on_disconnect follows.
    std::function<void(const connection_handle&, const error_info&)> on_error;
    /// The socket is closed. Called exactly once for every connection that
    /// got a handle, last; the handle is dead from here on (user_data() and
    /// id() still work).
    std::function<void(const connection_handle&)> on_disconnect;
};

/// A peer's address (connection_handle::remote()).
struct endpoint {
    std::string address;  // numeric: "127.0.0.1", "::1" (no brackets)
    std::uint16_t port = 0;  // host byte order
};

namespace detail {

class session;

/// Shared by all copies of a handle; the binding clears `target` when the
/// connection goes, so stale handles fail safely instead of dangling.
struct handle_state {
    session* target = nullptr;  // null once the connection is gone
    std::uint64_t id = 0;       // connection_handle::id()
    std::any user_data;         // connection_handle::user_data()
    std::unique_ptr<endpoint> peer;  // looked up on first use, kept after the connection
};

}  // namespace detail

/// A reference to one connection, cheap to copy and safe to keep: once the
/// connection is gone every action returns misuse::wrong_state and every
/// query its "nothing" value. Calls behave as the engine's (see
/// connection.hpp); output is written by the binding afterwards, after the
/// running handler returns or, from outside a handler, in the loop's next
/// iteration. Use on the owning loop's thread only.
class connection_handle {
public:
    /// An empty handle: alive() is false, every action misuse::wrong_state.
    connection_handle() = default;
    /// Bindings make handles; applications get them in handlers and copy them.
    explicit connection_handle(std::shared_ptr<detail::handle_state> s) noexcept : s_(std::move(s)) {}

    // ---- sending ------------------------------------------------------
    /// A text message, or a fragment of one (fin = false; the next calls
    /// continue it, the one with fin = true ends it). `z` chooses
    /// compression when permessage-deflate was agreed. misuse::too_large
    /// when max_backpressure drops it (connection_options).
    misuse send_text(std::string_view text, bool fin = true, compression z = compression::automatic) const;
    /// The same for binary data.
    misuse send_binary(bytes_view data, bool fin = true, compression z = compression::automatic) const;
    /// Broadcast: the same prepared frame to many connections.
    misuse send(const prepared_message& m) const;
    /// Send a received message (or streamed piece) back as it came: echo.
    misuse send(const message& m) const;
    /// A Ping (at most 125 bytes); the peer's Pong comes to on_pong.
    misuse ping(bytes_view data = {}) const;
    /// An unsolicited Pong (at most 125 bytes): a one-way heartbeat (§5.5.3).
    misuse pong(bytes_view data = {}) const;
    /// Start the close handshake (§7.1.2): our Close is queued, the peer's
    /// answer comes to on_close, then on_disconnect. Reason: UTF-8, at most
    /// 123 bytes. misuse::wrong_state unless open.
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

    // ---- flow ---------------------------------------------------------
    /// Stop reading from the socket (Node ws' pause()): no more input is
    /// taken, so the peer's sends eventually block in TCP. Events from
    /// input already read are still delivered. Deadlines (close, idle,
    /// handshake) keep running. misuse::wrong_state on a dead handle.
    misuse pause() const;
    /// Read again after pause().
    misuse resume() const;
    /// True between pause() and resume().
    bool paused() const noexcept;
    /// Change this connection's idle timeout and keep-alive
    /// (connection_options::idle_timeout / keepalive; zero turns each off),
    /// counted from the last input received.
    misuse set_idle_timeout(duration idle, duration keepalive = duration::zero()) const;

    // ---- what the connection is -----------------------------------------
    /// True while the connection exists (until on_disconnect).
    bool alive() const noexcept { return s_ && s_->target; }
    /// Unique within the process; 0 for an empty handle. The top 16 bits
    /// are the index of the server loop that owns the connection
    /// (server::post(id, fn) uses them).
    std::uint64_t id() const noexcept { return s_ ? s_->id : 0; }
    /// Bytes queued for the peer and not yet written (0 when dead): an
    /// application that sends to slow peers checks this to bound memory,
    /// or uses on_drain.
    std::size_t buffered() const noexcept;
    /// Bytes of WebSocket output written to the socket so far (0 when
    /// dead): a sequence number for sends. Right after a send,
    /// `written() + buffered()` is where it ends; it has gone to the kernel
    /// once written() reaches that mark (check in on_drain, a timer, ...).
    std::uint64_t written() const noexcept;
    /// The engine's state; `closed` once the connection is gone.
    connection_state state() const noexcept;
    /// The subprotocol agreed in the handshake.
    std::optional<std::string> subprotocol() const;
    /// The extensions agreed, as the Sec-WebSocket-Extensions value, e.g.
    /// "permessage-deflate; server_max_window_bits=12; client_max_window_bits=15"
    /// (every parameter in force); empty when none.
    std::string extensions() const;
    /// The permessage-deflate parameters agreed, if any.
    std::optional<deflate_params> compression_params() const;
    /// The peer's numeric address and port (getpeername), looked up on the
    /// first call while the connection exists and kept for later calls,
    /// on_disconnect included. nullopt when never looked up before the
    /// connection went, or for a socket without an IP address.
    std::optional<endpoint> remote() const;
    /// Bytes the engine holds for this connection (connection::memory_use).
    std::size_t memory_use() const noexcept;
    /// A slot for the application's per-connection data (uWebSockets'
    /// PerSocketData): it lives as long as any copy of the handle, so it
    /// can still be read in on_disconnect. Must not be called on an empty
    /// handle.
    std::any& user_data() const noexcept { return s_->user_data; }
    /// The slot as a T, constructed from `args` when the slot is empty;
    /// std::bad_any_cast when it holds another type.
    template <class T, class... Args>
    T& data(Args&&... args) const {
        if (!s_->user_data.has_value()) return s_->user_data.emplace<T>(std::forward<Args>(args)...);
        return std::any_cast<T&>(s_->user_data);
    }

    friend bool operator==(const connection_handle& a, const connection_handle& b) noexcept {
        return a.s_ == b.s_;
    }

private:
    friend class detail::session;  // keeps a pointer to the state of its own handle
    template <class F>
    misuse use(bool data, F&& f) const;
    std::shared_ptr<detail::handle_state> s_;
};

}  // namespace sansws
