// The caller-owned-loop binding: one engine on one connected, non-blocking
// socket, driven by someone else's readiness loop (libuv, libevent, asio, a
// hand-written poll()). The owner reports readiness and timer expiry; the
// adapter does recv / sendmsg / close on the fd, runs the handlers, and says
// what it wants next. It has no loop, thread or timer of its own.
//
//   on readable      -> on_readable(now)
//   on writable      -> on_writable(now)
//   at next_deadline -> on_timer(now)
//   after each call  -> watch for wants_read() / wants_write(), re-arm the
//                       timer at next_deadline(), destroy the adapter once done()
//
// Memory stays bounded for slow readers: above options.high_water bytes of
// queued output, wants_read() turns false until the peer has taken enough.
// Time is bounded too: once the connection is closed or failed, what is
// still queued must be written within config::close_timeout (a deadline in
// next_deadline()); after that, or after connection_handle::abort(), the
// output is dropped and the socket reset (SO_LINGER 0).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sansws/app.hpp"
#include "sansws/options.hpp"
#include "sansws/posix.hpp"
#include "sansws/session.hpp"

namespace sansws {

/// The adapter's settings: connection_options (high_water, low_water,
/// max_backpressure, idle_timeout, keepalive, ...) plus the I/O knobs.
struct adapter_options : connection_options {
    /// Scratch space for recv(). May be shared by every adapter of one
    /// thread (input is fully parsed before any call returns); empty: the
    /// adapter allocates 64 KiB of its own.
    mutable_bytes read_buffer{};
    /// recv() calls per on_readable(), for fairness between connections.
    unsigned max_reads = 8;
    /// connection_handle::id() of this connection.
    std::uint64_t id = 0;
    /// The clock for actions through a handle outside an on_*() call; must
    /// be the one the owner's `now` values come from.
    std::function<timestamp()> clock = monotonic_now;
    /// A handle changed what the adapter wants (queued output, a close, an
    /// abort, pause/resume, a new idle timeout) outside any on_*() call,
    /// e.g. a broadcast from another connection's handler. The owner should
    /// call on_writable() soon, but not from inside this callback.
    std::function<void()> on_change;
    /// Called just before the adapter closes the fd, e.g. to stop polling it.
    std::function<void(int fd)> before_close;
};

/// One connection on one socket: a detail::session plus recv/sendmsg/close.
class loop_adapter final : private detail::session_host {
public:
    /// Takes ownership of `fd`, a connected non-blocking stream socket.
    /// Client role: cfg.client says what to ask for and the request is
    /// queued at once (wants_write() is true).
    loop_adapter(int fd, config cfg, std::shared_ptr<const handlers> h, timestamp now,
                 adapter_options opts = {});
    ~loop_adapter();  // closes the fd if still open, without callbacks
    loop_adapter(const loop_adapter&) = delete;
    loop_adapter& operator=(const loop_adapter&) = delete;

    /// The socket is readable: read (up to max_reads times), deliver, write.
    void on_readable(timestamp now);
    /// The socket is writable, or on_change asked: write what is queued.
    void on_writable(timestamp now);
    /// next_deadline() passed: the engine's and the session's deadlines.
    void on_timer(timestamp now);
    /// The socket reported an error or hang-up (EPOLLERR/EPOLLHUP, poll
    /// status < 0): read what is left, then give up on the transport.
    void on_hangup(timestamp now);

    /// Watch for readability: false above high_water, while paused, and
    /// once reading is over.
    bool wants_read() const noexcept { return fd_ >= 0 && s_.wants_read(); }
    /// Watch for writability: output is queued.
    bool wants_write() const noexcept { return fd_ >= 0 && s_.wants_write(); }
    /// When on_timer() must run next; no_deadline when never.
    timestamp next_deadline() const noexcept { return fd_ >= 0 ? s_.next_deadline() : no_deadline; }
    /// The fd is closed and on_disconnect has run: destroy the adapter.
    bool done() const noexcept { return fd_ < 0; }

    /// Graceful end: start the close handshake with `code` if open (and
    /// wait for it as usual); drop a connection still in its handshake.
    void shutdown(timestamp now, std::uint16_t code = 1001, std::string_view reason = "going away");
    /// Drop the connection now: queued output is discarded and the socket
    /// reset (SO_LINGER 0); on_disconnect runs. From a handler, use
    /// connection_handle::abort() instead.
    void abort();

    /// The connection's handle (the one its handlers get).
    connection_handle handle() const { return s_.handle(); }
    /// The socket; -1 once done().
    int fd() const noexcept { return fd_; }
    /// The engine, for inspection (state, buffered output, memory).
    const connection& engine() const noexcept { return s_.engine(); }

private:
    void wake() noexcept override;
    timestamp clock() noexcept override;
    int socket() const noexcept override { return fd_; }

    void pump(timestamp now, bool readable);
    void read_some();
    void write_some();
    void close_now();

    int fd_;
    adapter_options opts_;
    std::vector<std::byte> own_buffer_;
    detail::session s_;
};

}  // namespace sansws
