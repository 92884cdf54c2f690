// The epoll binding: a complete single-threaded event loop
// (sansws::epoll::loop, an event_loop) running loop_adapter connections,
// a WebSocket client on it, and a server with one loop per thread
// (sansws::epoll::server, basic_server over this loop).
//
// Per loop: one epoll instance (level-triggered), one read buffer shared by
// its connections, one min-heap of deadlines (engine, session, timers)
// served through the epoll_wait timeout (CLOCK_MONOTONIC), one eventfd for
// post() and stop(). Nothing is shared between loops, so the hot path takes
// no lock.
#pragma once

#include "sansws/app.hpp"
#include "sansws/event_loop.hpp"
#include "sansws/options.hpp"
#include "sansws/posix.hpp"
#include "sansws/server.hpp"

namespace sansws::epoll {

// The option structs are shared with the io_uring binding (options.hpp).
using sansws::accept_settings;
using sansws::connect_options;
using sansws::server_options;

/// The calls are event_loop's (event_loop.hpp).
class loop final : public event_loop {
public:
    /// `index` distinguishes loops of one server in connection ids (their
    /// top 16 bits). Throws std::system_error when epoll or an eventfd
    /// cannot be had.
    explicit loop(unsigned index = 0);
    /// The loop running on this thread, if any (inside handlers: theirs).
    static loop* current() noexcept;
};

/// listen(), run(), shutdown(), port(), loop_at(), post(): see server.hpp.
using server = basic_server<loop, server_options>;

}  // namespace sansws::epoll
