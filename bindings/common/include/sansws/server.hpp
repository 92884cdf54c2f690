// The multi-threaded server of the event-loop bindings, one template for
// both: sansws::epoll::server and sansws::io_uring::server are
// basic_server<their loop, their options>. One loop per thread, each with
// its own listening socket on the same address (SO_REUSEPORT lets the kernel
// spread new connections between them), so loops share nothing and the hot
// path takes no lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "sansws/app.hpp"
#include "sansws/options.hpp"

namespace sansws {
namespace detail {

/// Resolve `host` and bind `loops` sets of listening sockets (bound,
/// listening, non-blocking, close-on-exec), one socket per address in each
/// set: `fds[i]` is loop i's. With several loops every socket has
/// SO_REUSEPORT, so the kernel spreads new connections between them; a port
/// someone else listens on is refused all the same ("cannot listen on
/// HOST:PORT: Address already in use"), never shared. Port 0
/// picks a free port, which every socket then shares; `bound` receives the
/// port bound. False with `error` set (and nothing left open) when the
/// address cannot be resolved or bound.
bool open_listeners(const std::string& host, std::uint16_t port, unsigned loops, int backlog,
                    std::vector<std::vector<int>>& fds, std::uint16_t& bound, std::string& error);

}  // namespace detail

/// `Loop` is epoll::loop or io_uring::loop; `Options` derives from
/// server_options (io_uring's adds the ring's settings).
template <class Loop, class Options>
class basic_server {
public:
    basic_server(Options opts, handlers h)
        : opts_(std::move(opts)), h_(std::make_shared<const handlers>(std::move(h))) {}
    basic_server(const basic_server&) = delete;
    basic_server& operator=(const basic_server&) = delete;

    /// Create the loops and bind their listeners. False with `error` set
    /// when the loops cannot run (io_uring unavailable: the message says
    /// why), the address cannot be resolved or bound, or someone else
    /// listens on the port: SO_REUSEPORT joins this server's loops only
    /// ("cannot listen on HOST:PORT: Address already in use").
    bool listen(std::string& error) {
        const unsigned threads = std::max(1u, opts_.threads);
        loops_.clear();
        std::vector<std::unique_ptr<Loop>> loops;
        for (unsigned t = 0; t < threads; ++t) {
            if constexpr (requires { opts_.ring; }) loops.push_back(std::make_unique<Loop>(t, opts_.ring));
            else loops.push_back(std::make_unique<Loop>(t));
            if constexpr (requires { loops.back()->ok(); }) {
                if (!loops.back()->ok()) {
                    error = loops.back()->error();
                    return false;
                }
            }
            loops.back()->set_shutdown_timeout(opts_.shutdown_timeout);
        }
        std::vector<std::vector<int>> fds;
        std::uint16_t port = 0;
        if (!detail::open_listeners(opts_.host, opts_.port, threads, opts_.backlog, fds, port, error)) return false;
        for (unsigned t = 0; t < threads; ++t)
            for (const int fd : fds[t]) loops[t]->add_listener(fd, h_, opts_.accept);
        loops_ = std::move(loops);
        port_ = port;
        return true;
    }
    /// The bound port (the real one when the options said 0).
    std::uint16_t port() const noexcept { return port_; }
    /// Run every loop (threads-1 new threads plus the caller's) until
    /// shutdown() has finished on all of them. Each loop runs on the thread
    /// that started it (io_uring: the ring's only submitter).
    void run() {
        std::vector<std::thread> threads;
        for (std::size_t i = 1; i < loops_.size(); ++i) threads.emplace_back([l = loops_[i].get()] { l->run(); });
        if (!loops_.empty()) loops_[0]->run();
        for (auto& t : threads) t.join();
    }
    /// Graceful shutdown of every loop: stop accepting, Close 1001 to every
    /// open connection, wait up to shutdown_timeout for the close
    /// handshakes, then run() returns. Async-signal-safe, any thread.
    void shutdown() noexcept {
        for (auto& l : loops_) l->stop();
    }
    /// The loops, one per thread (after listen()). A loop's own calls are
    /// for its thread only, except post() and stop(): e.g.
    /// `server.loop_at(i).post(fn)` runs fn on loop i's thread, where
    /// loop_at(i).for_each_connection() and add_timer() may be used.
    std::size_t loop_count() const noexcept { return loops_.size(); }
    Loop& loop_at(std::size_t i) { return *loops_.at(i); }
    /// Run `fn` on the thread of the loop that owns connection `id`
    /// (connection_handle::id(), whose top 16 bits name the loop), from any
    /// thread: there `fn` may use the connection's handle. False when no
    /// loop has that index.
    bool post(std::uint64_t connection_id, std::function<void()> fn) {
        const std::uint64_t index = connection_id >> 48;
        if (index >= loops_.size()) return false;
        loops_[index]->post(std::move(fn));
        return true;
    }

private:
    Options opts_;
    std::shared_ptr<const handlers> h_;
    std::vector<std::unique_ptr<Loop>> loops_;
    std::uint16_t port_ = 0;
};

}  // namespace sansws
