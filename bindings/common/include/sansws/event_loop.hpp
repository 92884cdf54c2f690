// What the event-loop bindings have in common: sansws::epoll::loop and
// sansws::io_uring::loop are event_loops (with a few extras each). A loop is
// single-threaded: it runs on the thread that calls run(), its handlers run
// there, and its calls are for that thread only, except post() and stop()
// (any thread) and, before run(), connect(), add_listener(), add_timer().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sansws/app.hpp"
#include "sansws/options.hpp"

namespace sansws {
namespace detail {
class loop_core;
}

/// The calls every event loop has; epoll::loop and io_uring::loop are the
/// two kinds (construct those).
class event_loop {
public:
    /// Closes every socket without callbacks. After run() has returned,
    /// also on another thread.
    virtual ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    /// Run on the calling thread. Returns after stop() once every connection
    /// has closed (or the shutdown timeout passed), or when there is nothing
    /// left to do: no listener, no connection, no timer, no posted work.
    void run();
    /// Graceful stop, from any thread or a signal handler (async-signal-safe):
    /// stop accepting, close every open connection with 1001, wait up to
    /// the shutdown timeout for the close handshakes (then reset the ones
    /// left), then return from run(). Timers do not hold it up.
    void stop() noexcept;
    /// Run `fn` on the loop's thread soon, in the order posted. Thread-safe:
    /// the way for other threads to reach the loop's connections (keep
    /// their handles, or their ids with server::post()).
    void post(std::function<void()> fn);

    /// Start a client connection to a ws:// URL. URL and request-settings
    /// errors return false with `error` set; everything later, name
    /// resolution included (on a thread of its own, never blocking the
    /// loop; connect_options::resolver), is reported to the handlers: a
    /// name that does not resolve, a refused connection or
    /// connect_timeout as error_kind::transport, a refused upgrade as
    /// error_kind::rejected with the whole HTTP response. Loop thread only.
    bool connect(std::string_view url, const connect_options& opts, handlers h, std::string& error);

    /// Serve connections accepted on `fd` (bound, listening, non-blocking);
    /// the loop owns it from now on. Loop thread only, or before run().
    void add_listener(int fd, std::shared_ptr<const handlers> h, accept_settings settings);

    /// Names a timer for cancel_timer().
    using timer_id = std::uint64_t;
    /// Run `fn` on the loop's thread once `delay` has passed, then every
    /// `repeat` if that is not zero, until cancel_timer(). Pending timers
    /// keep run() from returning (but not a stop()). Loop thread only (from
    /// elsewhere: post() a call to it). Ids are never 0.
    timer_id add_timer(duration delay, std::function<void()> fn, duration repeat = duration::zero());
    /// Cancel a pending timer (also from its own function); false when it
    /// is not pending (already run, or cancelled). Loop thread only.
    bool cancel_timer(timer_id id);

    /// Call `fn` with the handle of every open connection of this loop
    /// (accepted ones and clients past their TCP connect), e.g. to
    /// broadcast. Connections may be closed or aborted from `fn`; ones
    /// opened meanwhile are not visited. Loop thread only.
    void for_each_connection(const std::function<void(const connection_handle&)>& fn);

    /// How long stop() waits for close handshakes (default 5 s).
    void set_shutdown_timeout(duration d) noexcept;
    /// The loop's clock (CLOCK_MONOTONIC) at the start of this iteration.
    timestamp now() const noexcept;
    /// Connections open (connecting clients included).
    std::size_t connection_count() const noexcept;
    /// Connections accepted and closed at once with a 503 because no
    /// descriptor was left (EMFILE/ENFILE).
    std::uint64_t shed_count() const noexcept;

protected:
    explicit event_loop(std::unique_ptr<detail::loop_core> core) noexcept;
    std::unique_ptr<detail::loop_core> core_;
};

}  // namespace sansws
