// Internal: the io_uring loop's state. loop.cpp drives the ring (waiting,
// completions, timers, accepting, post, shutdown); connection.cpp is what
// happens on one connection (receive, send, close, client connect): its
// session (session.hpp) plus the requests that do its I/O.
//
// Every request carries its owner's address in user_data, with the kind of
// request in the low three bits. An owner is never freed while one of its
// requests is in flight: a closed connection waits (still in conns, flagged
// closed) until its last completion, and is deleted by reap() only, at one
// point of each iteration after every list that could name it is processed.
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "loop_core.hpp"
#include "ring.hpp"
#include "sansws/io_uring.hpp"
#include "sansws/session.hpp"

namespace sansws::io_uring {

enum class op : std::uint64_t { recv = 1, send = 2, connect = 3, accept = 4, wake = 5 };
constexpr std::uint64_t op_bits = 7;

inline std::uint64_t tag(const void* owner, op o) noexcept {
    return reinterpret_cast<std::uintptr_t>(owner) | static_cast<std::uint64_t>(o);
}

class uring_core;

/// One connection: a session plus its requests. What an idle one costs
/// beyond its engine is this object, its handle state and one slot in
/// `conns` (and in the deadline heap while it has a deadline); a connecting
/// client's state hangs off `connecting`.
struct conn final : sansws::detail::session_host {
    static constexpr std::uint32_t none = ~std::uint32_t{0};

    conn(uring_core& owner, std::uint64_t id);
    ~conn();
    conn(const conn&) = delete;
    conn& operator=(const conn&) = delete;

    void wake() noexcept override;
    timestamp clock() noexcept override { return monotonic_now(); }
    int socket() const noexcept override { return fd; }
    /// Output queued and never to be written (abandoned, or a stop that did
    /// not wait): the socket is reset when closed.
    bool unwritten() const noexcept { return s && s->reset_on_close(); }

    uring_core& owner;
    std::uint64_t id;
    std::optional<sansws::detail::session> s;  // empty while a client connects
    std::unique_ptr<sansws::detail::pending_connect> connecting;
    timestamp deadline = no_deadline;  // its key in the deadline heap
    std::uint32_t heap_index = none;
    std::uint32_t index = none;        // in conns
    int fd = -1;
    std::uint32_t zc_sent = 0;          // bytes a zero-copy send took: consumed at its notification
    bool recv_armed : 1 = false;        // a receive request is in flight
    bool recv_cancelled : 1 = false;    // ... and asked to stop
    bool send_busy : 1 = false;         // a send request (or its zero-copy notification) is in flight
    bool send_zc : 1 = false;           // that send is zero-copy
    bool connect_busy : 1 = false;      // a connect request is in flight
    bool give_up : 1 = false;           // connecting: timed out or stopping, fail when the attempt ends
    bool dirty : 1 = false;             // listed in dirty
    bool deferred : 1 = false;          // listed in later
    bool starved : 1 = false;           // listed in starved: its receive ran out of buffers
    bool closed : 1 = false;            // on_disconnect has run; waiting for requests in flight
    bool dead : 1 = false;              // listed in dead
};

struct listener {
    int fd;
    std::shared_ptr<const handlers> h;
    accept_settings settings;
    bool armed = false;  // the multishot accept is in flight
};

class uring_core final : public sansws::detail::loop_core {
public:
    uring_core(loop& self, unsigned index, const ring_options& o);
    ~uring_core() override;

    void run() override;
    bool ready(std::string& err) override;
    void start(std::unique_ptr<sansws::detail::pending_connect> p) override;
    void listen_on(int fd, std::shared_ptr<const handlers> h, const accept_settings& settings) override;
    void collect(std::vector<connection_handle>& open) const override;
    std::size_t connection_count() const noexcept override { return open; }

    // loop.cpp
    void iterate();
    std::int64_t timeout_ns() const;
    void process_completions();
    void complete(std::uint64_t user_data, int res, unsigned flags);
    void arm_wake();
    void arm_listeners();
    void on_accept(listener& l, int res, unsigned flags);
    void accepted(listener& l, int fd);
    void run_timers();
    void begin_shutdown();
    bool finished();
    void quiesce();
    void mark_dirty(conn& c);
    void defer(conn& c);
    void flush_dirty();
    void rearm_starved();
    void reap();
    void heap_set(conn& c, timestamp at);
    void heap_swap(std::size_t a, std::size_t b);
    void heap_fix(std::size_t i);
    bool cancel(std::uint64_t user_data);

    // connection.cpp
    conn& add_conn(std::uint64_t id);
    void resolved(conn& c, resolved_addresses r);
    void start_connect(conn& c);
    void on_connect(conn& c, int res);
    void connect_failed(conn& c);
    void give_up_connect(conn& c, int err);
    void on_recv(conn& c, int res, unsigned flags);
    void on_send(conn& c, int res, unsigned flags);
    void on_timer(conn& c);
    void shutdown_conn(conn& c);
    void sync(conn& c);
    void arm_recv(conn& c);
    void start_send(conn& c);
    void transport_lost(conn& c, int err);
    void drop(conn& c);
    void close_now(conn& c);
    void cancel_requests(conn& c);
    void settle(conn& c);

    loop& self;
    ring_options options;
    detail::ring ring;
    std::string error;
    int spare_fd = -1;   // released on EMFILE/ENFILE to accept-and-close
    std::uint64_t wake_value = 0;  // where the ring reads the eventfd's counter
    bool wake_armed = false;
    bool quiescing = false;       // run() is over: posted work waits for the next one
    loop_stats stats;
    bool multishot_recv = true;   // cleared if the kernel refuses multishot receives (before 6.0)
    bool report_usage = true;     // cleared if the kernel refuses IORING_SEND_ZC_REPORT_USAGE (before 6.2)
    std::uint64_t in_flight = 0;  // requests whose last completion has not arrived
    std::vector<std::unique_ptr<listener>> listeners;
    timestamp accept_paused_until = no_deadline;
    std::vector<std::unique_ptr<conn>> conns;  // open ones and closed ones with requests in flight
    std::size_t open = 0;                      // of those, not closed
    std::vector<conn*> heap;                   // min-heap on conn::deadline
    std::vector<conn*> dirty;                  // sync() this iteration
    std::vector<conn*> later;                  // sync() next iteration (no submission entry was free)
    std::vector<conn*> dead;                   // closed, nothing in flight: delete in reap()
    std::deque<conn*> starved;                 // receives to arm again, oldest first
    bool stopping = false;
    timestamp shutdown_deadline = no_deadline;
};

}  // namespace sansws::io_uring
