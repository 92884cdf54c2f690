// The epoll binding: a complete single-threaded event loop (sansws::epoll::loop)
// running loop_adapter connections, a WebSocket client on it, and a server
// with one loop per thread (sansws::epoll::server).
//
// Per loop: one epoll instance (level-triggered), one read buffer shared by
// its connections, one min-heap of engine deadlines served through the
// epoll_wait timeout (CLOCK_MONOTONIC), one eventfd for post() and stop().
// Nothing is shared between loops, so the hot path takes no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "sansws/app.hpp"
#include "sansws/loop_adapter.hpp"
#include "sansws/options.hpp"
#include "sansws/posix.hpp"

namespace sansws::epoll {

// The option structs are shared with the io_uring binding (options.hpp).
using sansws::accept_settings;
using sansws::connect_options;
using sansws::server_options;

class loop {
public:
    /// `index` distinguishes loops of one server in connection ids.
    explicit loop(unsigned index = 0);
    ~loop();
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    /// Run on the calling thread. Returns after stop() once every connection
    /// has closed (or the shutdown timeout passed), or when there is nothing
    /// left to do: no listener, no connection, no posted work.
    void run();
    /// Graceful stop, from any thread or a signal handler (async-signal-safe):
    /// stop accepting, close every open connection with 1001, wait up to
    /// the shutdown timeout for the close handshakes, then return from run().
    void stop() noexcept;
    /// Run `fn` on the loop's thread soon. Thread-safe.
    void post(std::function<void()> fn);
    /// The loop running on this thread, if any (inside handlers: theirs).
    static loop* current() noexcept;

    /// Start a client connection to a ws:// URL. URL, request-settings and
    /// name-resolution errors (getaddrinfo runs here, blocking) return false
    /// with `error` set; everything later is reported to the handlers, a refused
    /// connection as error_kind::transport. Loop thread only.
    bool connect(std::string_view url, const connect_options& opts, handlers h, std::string& error);

    /// Serve connections accepted on `fd` (bound, listening, non-blocking);
    /// the loop owns it from now on. Loop thread only, or before run().
    void add_listener(int fd, std::shared_ptr<const handlers> h, accept_settings settings);

    void set_shutdown_timeout(duration d) noexcept { shutdown_timeout_ = d; }
    timestamp now() const noexcept { return now_; }
    std::size_t connection_count() const noexcept { return conns_.size(); }
    /// Connections accepted and closed at once because no fd was left.
    std::uint64_t shed_count() const noexcept { return shed_; }

private:
    struct conn;
    struct listener;
    struct timer_entry {
        timestamp at;
        std::uint64_t id;
        bool operator>(const timer_entry& o) const noexcept { return at > o.at; }
    };

    void iterate(int timeout_ms);
    int timeout_ms() const;
    void on_listener(listener& l);
    bool shed_one(int lfd);  // false when nothing was waiting
    void pause_accepting();
    void on_conn_event(std::uint64_t id, std::uint32_t events);
    void start_connect(conn& c);
    void connected(conn& c);
    void connect_failed(conn& c);
    void sync(std::uint64_t id);
    void watch(conn& c, std::uint32_t events);
    void mark_dirty(std::uint64_t id);
    void flush_dirty();
    void run_timers();
    void run_posted();
    void begin_shutdown();
    bool finished();
    std::uint64_t next_id() noexcept { return (std::uint64_t{index_} << 48) | ++last_id_; }
    adapter_options adapter_opts(std::uint64_t id, std::size_t high_water);

    unsigned index_;
    int ep_ = -1;
    int wake_fd_ = -1;   // eventfd: post() and stop()
    int spare_fd_ = -1;  // released on EMFILE/ENFILE to accept-and-close
    timestamp now_{};
    std::uint64_t last_id_ = 0;
    std::uint64_t shed_ = 0;
    std::vector<std::byte> read_buffer_;
    std::vector<std::unique_ptr<listener>> listeners_;
    std::vector<std::unique_ptr<deflater>> shared_deflaters_;  // accept_settings::share_compressor
    timestamp accept_paused_until_ = no_deadline;
    std::unordered_map<std::uint64_t, std::unique_ptr<conn>> conns_;
    std::priority_queue<timer_entry, std::vector<timer_entry>, std::greater<>> timers_;
    std::vector<std::uint64_t> dirty_;
    std::mutex post_mutex_;
    std::vector<std::function<void()>> posted_;
    std::atomic<bool> stop_requested_{false};
    bool stopping_ = false;
    timestamp shutdown_deadline_ = no_deadline;
    duration shutdown_timeout_ = std::chrono::seconds(5);
};

class server {
public:
    server(server_options opts, handlers h);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Create the loops and bind their listeners. False with `error` set
    /// when the address cannot be resolved or bound, or when someone else
    /// listens on the port: SO_REUSEPORT joins this server's loops only
    /// ("cannot listen on HOST:PORT: Address already in use").
    bool listen(std::string& error);
    /// The bound port (the real one when the options said 0).
    std::uint16_t port() const noexcept { return port_; }
    /// Run every loop (threads-1 new threads plus the caller's) until
    /// shutdown() has finished on all of them.
    void run();
    /// Graceful shutdown of every loop; async-signal-safe, any thread.
    void shutdown() noexcept;
    std::size_t loop_count() const noexcept { return loops_.size(); }
    loop& loop_at(std::size_t i) { return *loops_.at(i); }

private:
    server_options opts_;
    std::shared_ptr<const handlers> h_;
    std::vector<std::unique_ptr<loop>> loops_;
    std::uint16_t port_ = 0;
};

}  // namespace sansws::epoll
