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
#include <string>

#include "sansws/app.hpp"
#include "sansws/event_loop.hpp"
#include "sansws/options.hpp"
#include "sansws/posix.hpp"
#include "sansws/server.hpp"

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

/// sansws::server_options plus how each loop sets up its ring.
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

/// The calls are event_loop's (event_loop.hpp), plus what io_uring adds.
class loop final : public event_loop {
public:
    /// `index` distinguishes loops of one server in connection ids (their
    /// top 16 bits). Never throws for a missing io_uring: check ok() /
    /// error().
    explicit loop(unsigned index = 0, const ring_options& ring = {});
    /// The loop running on this thread, if any (inside handlers: theirs).
    static loop* current() noexcept;

    /// False when the ring could not be set up; error() says why and names
    /// the alternative (the epoll binding). Such a loop connects nothing
    /// (connect() fails with error()) and run() returns at once.
    bool ok() const noexcept;
    /// Why ok() is false (empty when it is true).
    const std::string& error() const noexcept;
    /// The ring's setup flags that took effect, e.g. "SINGLE_ISSUER
    /// DEFER_TASKRUN": the kernel refuses newer flags on older versions.
    /// The ring takes only one submitting thread: the first that calls
    /// run() or connect() drives the loop from then on.
    std::string setup_flags() const;
    /// Counters since the loop was made (loop_stats).
    loop_stats stats() const noexcept;
};

/// listen(), run(), shutdown(), port(), loop_at(), post(): see server.hpp.
using server = basic_server<loop, server_options>;

}  // namespace sansws::io_uring
