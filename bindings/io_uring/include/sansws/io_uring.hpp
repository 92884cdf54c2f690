// The io_uring binding: the epoll binding's API (a single-threaded event loop
// with a client, and a server with one loop per thread) on io_uring(7)
// instead of readiness polling.
//
// Per loop: one ring; a multishot accept per listener; a multishot receive
// per connection that takes its buffers from one ring of provided buffers
// shared by all the loop's connections (a buffer goes back to the kernel as
// soon as the engine has parsed it, so an idle connection holds none); the
// engine's gather list written with one sendmsg (optionally zero-copy); one
// min-heap of engine deadlines served through the timeout of the wait for
// completions; an eventfd read by the ring for post() and stop().
//
// io_uring may be missing (old kernel), forbidden (seccomp, sysctl
// kernel.io_uring_disabled) or disabled on purpose with the environment
// variable SANSWS_IO_URING_DISABLE=1: a loop then reports why through
// error(), and server::listen() fails with that message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sansws/app.hpp"
#include "sansws/options.hpp"
#include "sansws/posix.hpp"

namespace sansws::io_uring {

using sansws::accept_settings;
using sansws::connect_options;

/// How one loop sets up its ring.
struct ring_options {
    /// Submission queue entries (a power of two; the completion queue gets
    /// more, since multishot requests complete many times per submission).
    unsigned entries = 256;
    /// Receive buffers shared by all the connections of a loop, and their
    /// size. Memory is reserved for count × size bytes per loop but only
    /// pages that data has landed in are resident. When every buffer is in
    /// use, connections wait (their receive is re-armed as buffers return).
    /// The count is rounded up to a power of two, at most 32768.
    std::uint32_t buffer_count = 256;
    std::uint32_t buffer_size = 16 * 1024;
    /// Write with IORING_OP_SENDMSG_ZC (the kernel sends from the queued
    /// bytes instead of copying them) when at least this many bytes are
    /// queued; 0: never. Off by default: on loopback the kernel copies
    /// anyway and the extra completion makes it slower (bindings/README.md).
    std::size_t zero_copy_threshold = 0;
};

struct server_options : sansws::server_options {
    ring_options ring{};
};

/// Counters for tests and monitoring.
struct loop_stats {
    std::uint64_t shed = 0;            // accepted and closed at once with a 503: no fd left
    std::uint64_t buffers_exhausted = 0;  // receives ended because every provided buffer was in use
    std::uint64_t zero_copy_sends = 0;    // sends made with SENDMSG_ZC
    std::uint64_t zero_copy_copied = 0;   // of those, sends the kernel copied anyway (loopback does)
};

class loop {
public:
    /// `index` distinguishes loops of one server in connection ids. Never
    /// throws for a missing io_uring: check ok() / error().
    explicit loop(unsigned index = 0, const ring_options& ring = {});
    ~loop();
    loop(const loop&) = delete;
    loop& operator=(const loop&) = delete;

    /// False when the ring could not be set up; error() says why and names
    /// the alternative (the epoll binding). Such a loop connects nothing
    /// (connect() fails with error()) and run() returns at once.
    bool ok() const noexcept;
    const std::string& error() const noexcept;
    /// The ring's setup flags that took effect, e.g. "SINGLE_ISSUER
    /// DEFER_TASKRUN": the kernel refuses newer flags on older versions.
    std::string setup_flags() const;

    /// Run on the calling thread. Returns after stop() once every connection
    /// has closed (or the shutdown timeout passed), or when there is nothing
    /// left to do: no listener, no connection, no posted work. The ring
    /// takes only one submitting thread: the first that calls run() or
    /// connect() drives the loop from then on.
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
    /// with `error` set, as does a loop without io_uring; everything later is
    /// reported to the handlers, a refused connection as error_kind::transport.
    /// Loop thread only.
    bool connect(std::string_view url, const connect_options& opts, handlers h, std::string& error);

    /// Serve connections accepted on `fd` (bound, listening, non-blocking);
    /// the loop owns it from now on. Loop thread only, or before run().
    void add_listener(int fd, std::shared_ptr<const handlers> h, accept_settings settings);

    void set_shutdown_timeout(duration d) noexcept;
    timestamp now() const noexcept;
    std::size_t connection_count() const noexcept;
    /// Connections accepted and closed at once because no fd was left.
    std::uint64_t shed_count() const noexcept { return stats().shed; }
    loop_stats stats() const noexcept;

    struct impl;

private:
    std::unique_ptr<impl> p_;
};

class server {
public:
    server(server_options opts, handlers h);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Create the loops and bind their listeners. False with `error` set
    /// when io_uring is unavailable (the message says why), the address
    /// cannot be resolved or bound, or someone else listens on the port:
    /// SO_REUSEPORT joins this server's loops only ("cannot listen on
    /// HOST:PORT: Address already in use").
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

}  // namespace sansws::io_uring
