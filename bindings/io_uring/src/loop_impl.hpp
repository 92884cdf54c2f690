// Internal: the io_uring loop's state. loop.cpp drives the ring (waiting,
// completions, timers, accepting, post, shutdown); connection.cpp is what
// happens on one connection (receive, send, close, client connect).
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

#include "ring.hpp"
#include "sansws/io_uring.hpp"

namespace sansws::io_uring {

enum class op : std::uint64_t { recv = 1, send = 2, connect = 3, accept = 4, wake = 5 };
constexpr std::uint64_t op_bits = 7;

inline std::uint64_t tag(const void* owner, op o) noexcept {
    return reinterpret_cast<std::uintptr_t>(owner) | static_cast<std::uint64_t>(o);
}

/// A server connection answering plain HTTP (handlers::on_http): the
/// request head is read before the engine sees it.
struct http_state {
    http_head_parser parser{http_head_parser::kind::request, http_limits{}};
    std::string seen;  // every byte read so far, for the engine if it is an upgrade
    std::string out;   // the answer being written (plain HTTP)
};

/// A client connection while TCP connects: one address after another.
struct connect_state {
    std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
    std::size_t next_addr = 0;
    int last_errno = 0;
    bool give_up = false;  // timed out or stopping: fail when the attempt in flight ends
    std::string url;
    config cfg;
};

/// One connection. What an idle one costs beyond its engine is this object,
/// its handle state and one slot in `conns` (and in the deadline heap while
/// it has a deadline); rarely needed state hangs off `http` and `connecting`.
struct conn final : sansws::detail::handle_target {
    static constexpr std::uint32_t none = ~std::uint32_t{0};

    conn(loop::impl& owner, std::uint64_t id, std::shared_ptr<const handlers> h, std::size_t high_water);
    ~conn();
    conn(const conn&) = delete;
    conn& operator=(const conn&) = delete;

    connection& begin_use() override;
    void end_use() override;
    const connection& engine() const noexcept override { return *ws; }
    /// Output queued and never to be written (abandoned, or a stop that did
    /// not wait): the socket is reset when closed.
    bool unwritten() const noexcept;

    loop::impl& owner;
    std::optional<connection> ws;  // empty while a client connects
    std::shared_ptr<const handlers> h;
    std::shared_ptr<sansws::detail::handle_state> state;
    std::unique_ptr<http_state> http;
    std::unique_ptr<connect_state> connecting;
    std::size_t high_water;
    timestamp deadline = no_deadline;  // its key in the deadline heap
    std::uint32_t heap_index = none;
    std::uint32_t index = none;        // in conns
    int fd = -1;
    int sys_errno = 0;
    std::uint32_t zc_sent = 0;          // bytes a zero-copy send took: consumed at its notification
    bool recv_armed : 1 = false;        // a receive request is in flight
    bool recv_cancelled : 1 = false;    // ... and asked to stop
    bool send_busy : 1 = false;         // a send request (or its zero-copy notification) is in flight
    bool send_zc : 1 = false;           // that send is zero-copy
    bool send_http : 1 = false;         // that send writes http->out, not the engine's output
    bool connect_busy : 1 = false;      // a connect request is in flight
    bool eof : 1 = false;               // the peer closed its side
    bool broken : 1 = false;            // the transport failed: close, write nothing more
    bool http_mode : 1 = false;         // answering plain HTTP: close once written
    bool pumping : 1 = false;           // inside the loop's own processing: no dirty mark needed
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

struct loop::impl {
    impl(loop& self, unsigned index, const ring_options& o);
    ~impl();

    // loop.cpp
    void run();
    void iterate();
    std::int64_t timeout_ns() const;
    void process_completions();
    void complete(std::uint64_t user_data, int res, unsigned flags);
    void arm_wake();
    void run_posted();
    void arm_listeners();
    void on_accept(listener& l, int res, unsigned flags);
    void accepted(listener& l, int fd);
    bool shed_one(int lfd);
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
    std::uint64_t next_id() noexcept { return (std::uint64_t{index} << 48) | ++last_id; }

    // connection.cpp
    conn& add_conn(std::uint64_t id, std::shared_ptr<const handlers> h, std::size_t high_water);
    bool connect(std::string_view url, const connect_options& opts, handlers h, std::string& error);
    void start_connect(conn& c);
    void on_connect(conn& c, int res);
    void connect_failed(conn& c);
    void give_up_connect(conn& c, int err);
    void on_recv(conn& c, int res, unsigned flags);
    void on_send(conn& c, int res, unsigned flags);
    void feed(conn& c, mutable_bytes data);
    void drain(conn& c);
    void on_timer(conn& c);
    void shutdown_conn(conn& c);
    void sync(conn& c);
    bool wants_read(const conn& c) const noexcept;
    void arm_recv(conn& c);
    void start_send(conn& c);
    void transport_lost(conn& c, int err);
    void close_now(conn& c);
    void cancel_requests(conn& c);
    void settle(conn& c);

    loop& self;
    unsigned index;
    ring_options options;
    detail::ring ring;
    std::string error;
    int wake_fd = -1;    // eventfd: post() and stop()
    int spare_fd = -1;   // released on EMFILE/ENFILE to accept-and-close
    std::uint64_t wake_value = 0;  // where the ring reads the eventfd's counter
    bool wake_armed = false;
    bool quiescing = false;       // run() is over: posted work waits for the next one
    timestamp now{};
    std::uint64_t last_id = 0;
    loop_stats stats;
    bool multishot_recv = true;   // cleared if the kernel refuses multishot receives (before 6.0)
    bool report_usage = true;     // cleared if the kernel refuses IORING_SEND_ZC_REPORT_USAGE (before 6.2)
    std::uint64_t in_flight = 0;  // requests whose last completion has not arrived
    std::vector<std::unique_ptr<listener>> listeners;
    std::vector<std::unique_ptr<deflater>> shared_deflaters;  // accept_settings::share_compressor
    timestamp accept_paused_until = no_deadline;
    std::vector<std::unique_ptr<conn>> conns;  // open ones and closed ones with requests in flight
    std::size_t open = 0;                      // of those, not closed
    std::vector<conn*> heap;                   // min-heap on conn::deadline
    std::vector<conn*> dirty;                  // sync() this iteration
    std::vector<conn*> later;                  // sync() next iteration (no submission entry was free)
    std::vector<conn*> dead;                   // closed, nothing in flight: delete in reap()
    std::deque<conn*> starved;                 // receives to arm again, oldest first
    std::mutex post_mutex;
    std::vector<std::function<void()>> posted;
    std::atomic<bool> stop_requested{false};
    bool stopping = false;
    timestamp shutdown_deadline = no_deadline;
    duration shutdown_timeout = std::chrono::seconds(5);
};

void set_nodelay(int fd);

}  // namespace sansws::io_uring
