// Internal to the bindings (public only because loop_adapter holds one): the
// per-connection policy every binding shares, as a sans-I/O object. It holds
// the engine, the handlers and the handle state, and decides what the
// connection needs next; it makes no system call and reads no clock. A
// binding is this plus its I/O: loop_adapter does recv/sendmsg/close on it,
// the io_uring loop submits requests for it.
//
// A driver's calls, in order:
//   enter(now)               before acting on the connection (clock, deadlines)
//   received(bytes) | received_eof() | lost(errno)   what the socket said
//   leave()                  events delivered
//   output() / written(n)    write what is queued, say how much went
//   after_io()               buffers given back once everything is written
//   then: should_close() -> close the socket (reset_on_close(): SO_LINGER 0)
//         and call closed(); otherwise watch wants_read() / wants_write()
//         and arm a timer at next_deadline().
// Handle actions from outside enter()..leave() (another connection's
// handler, a post(), a timer) call session_host::wake(): the driver then
// writes and re-arms in its next iteration.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "sansws/app.hpp"
#include "sansws/options.hpp"

namespace sansws::detail {

/// What a session needs from its driver.
class session_host {
public:
    /// A handle acted outside enter()..leave(): re-check the session soon
    /// (write, re-arm reading and the timer), but not from inside this call.
    virtual void wake() noexcept = 0;
    /// The current time, for handle actions outside enter()..leave().
    virtual timestamp clock() noexcept = 0;
    /// The connection's socket (for the peer's address), or -1.
    virtual int socket() const noexcept = 0;

protected:
    ~session_host() = default;
};

class session {
public:
    /// `id` is connection_handle::id(). A client engine queues its request
    /// at once (wants_write()).
    session(config cfg, std::shared_ptr<const handlers> h, const connection_options& o, std::uint64_t id,
            timestamp now, session_host& host);
    ~session();  // handles go dead; no callback
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    // ---- driver calls ---------------------------------------------------
    void enter(timestamp now);
    /// Bytes read: parsed in place and every event delivered before this
    /// returns, so `data` may be reused afterwards.
    void received(mutable_bytes data);
    /// The peer closed its side (read returned 0).
    void received_eof();
    /// The transport failed (`err`: errno): reported as connection_lost
    /// unless the connection already ended; should_close() turns true.
    /// Also allowed outside enter()..leave() (a write that failed).
    void lost(int err);
    /// The driver call is over: pending events delivered (deadline failures).
    void leave();

    /// What to write: the plain-HTTP answer, or the engine's gather list.
    /// Valid until the next call other than a const one.
    std::span<const bytes_view> output(std::size_t max_segments);
    /// `n` bytes of output() went out. May call on_drain.
    void written(std::size_t n);
    /// Nothing queued: give buffers back (connection::release_memory).
    void after_io() noexcept;

    /// Read from the socket now (false above high_water, paused, or after EOF).
    bool wants_read() const noexcept;
    /// Something is queued to write.
    bool wants_write() const noexcept;
    /// Close the socket now (then closed()).
    bool should_close() const noexcept;
    /// Output is left unwritten: reset the socket rather than close it.
    bool reset_on_close() const noexcept;
    /// When to call enter()/leave() again if nothing happens before.
    timestamp next_deadline() const noexcept;
    /// The driver closed the socket: on_disconnect, once; handles go dead.
    void closed();

    /// The owner stops: an open connection starts its close handshake
    /// (within enter()..leave()); true when it must be dropped at once
    /// instead (still in its handshake, or failed), after abort().
    bool shutdown(timestamp now, std::uint16_t code, std::string_view reason);
    /// Drop now: output discarded, should_close() true.
    void abort() noexcept { engine_.abort(); }

    const connection& engine() const noexcept { return engine_; }
    const connection_handle& handle() const noexcept { return self_; }
    /// Answering plain HTTP (handlers::on_http): no WebSocket handler runs.
    bool plain_http() const noexcept { return http_mode_; }

    // ---- for connection_handle -------------------------------------------
    /// Before a handle's call: brings the clock up to date outside a
    /// driver call; for data sends (`data`) applies max_backpressure
    /// (misuse::too_large, aborting with close_on_backpressure_limit).
    misuse begin_use(bool data);
    connection& engine_for_use() noexcept { return engine_; }
    void end_use() noexcept;
    void set_paused(bool p) noexcept;
    bool paused() const noexcept { return paused_; }
    void set_idle_timeout(duration idle, duration keepalive) noexcept;
    int socket() const noexcept { return host_.socket(); }
    std::uint64_t written_total() const noexcept { return written_total_; }

private:
    struct http_state;
    void drain();
    void note_output() noexcept;
    timestamp idle_deadline() const noexcept;
    timestamp ping_deadline() const noexcept;

    connection engine_;
    std::shared_ptr<const handlers> h_;
    session_host& host_;
    connection_handle self_;
    handle_state* state_;
    connection_options opts_;
    duration close_timeout_;
    std::unique_ptr<http_state> http_;  // server with on_http: sniffing, then the plain answer
    timestamp now_;
    timestamp last_input_;
    timestamp last_ping_ = timestamp::min();
    timestamp give_up_at_ = no_deadline;  // idle timeout: drop if not ended by then
    std::uint64_t written_total_ = 0;     // WebSocket bytes written (connection_handle::written())
    bytes_view http_segment_{};
    int sys_errno_ = 0;
    bool busy_ = false;       // inside enter()..leave() or a handler called from written()
    bool eof_ = false;
    bool broken_ = false;
    bool http_mode_ = false;
    bool paused_ = false;
    bool above_high_ = false;  // output reached high_water since the last on_drain
};

}  // namespace sansws::detail
