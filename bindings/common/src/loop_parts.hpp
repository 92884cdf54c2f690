// Internal to the bindings: what the epoll and io_uring loops have in common
// besides their connections' session: the mailbox behind post() and stop(),
// the application's timers (add_timer), and client connects up to the TCP
// connect (URL, request, name resolution on a thread, the addresses to try,
// the failure report).
#pragma once

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sansws/app.hpp"
#include "sansws/options.hpp"

namespace sansws::detail {

/// post() and stop() for one loop: work queued under a lock, and an eventfd
/// that wakes the loop. Shared (shared_ptr) with resolver threads, which
/// may finish after the loop is gone: close() makes later posts no-ops, and
/// the eventfd lives as long as the mailbox.
class mailbox {
public:
    /// `eventfd_flags`: EFD_NONBLOCK for a poll loop; 0 for a ring that
    /// reads it. Throws std::system_error when no eventfd can be had.
    explicit mailbox(int eventfd_flags);
    ~mailbox();
    mailbox(const mailbox&) = delete;
    mailbox& operator=(const mailbox&) = delete;

    int fd() const noexcept { return fd_; }
    /// Queue `fn` for the loop's thread and wake it. Any thread.
    void post(std::function<void()> fn);
    /// Ask the loop to stop. Async-signal-safe.
    void stop() noexcept;
    bool stop_requested() const noexcept { return stop_.load(); }
    /// Run what was posted (the loop's thread).
    void run();
    bool empty();
    /// Work is waiting that an earlier wake-up may have been spent on: wake again.
    void rewake();
    /// The loop is being destroyed: drop what is queued and every later post.
    void close();

private:
    void wake() noexcept;
    int fd_ = -1;
    std::mutex mutex_;
    std::vector<std::function<void()>> posted_;
    bool closed_ = false;
    std::atomic<bool> stop_{false};
};

/// The application's timers on one loop (loop::add_timer).
class timer_queue {
public:
    /// Run `fn` at `at`, then every `repeat` if not zero. Ids start at 1.
    std::uint64_t add(timestamp at, duration repeat, std::function<void()> fn);
    /// False when no such timer is pending (already run, or cancelled).
    bool cancel(std::uint64_t id);
    /// The earliest pending timer; no_deadline when none.
    timestamp next() const noexcept { return heap_.empty() ? no_deadline : heap_.top().at; }
    /// Run every timer due at `now` (one pass: a repeating timer runs once).
    void run(timestamp now);
    bool empty() const noexcept { return entries_.empty(); }

private:
    struct entry {
        timestamp at;
        duration repeat;
        std::function<void()> fn;
    };
    struct slot {
        timestamp at;
        std::uint64_t id;
        bool operator>(const slot& o) const noexcept { return at > o.at; }
    };
    std::priority_queue<slot, std::vector<slot>, std::greater<>> heap_;  // stale slots are skipped
    std::unordered_map<std::uint64_t, entry> entries_;
    std::uint64_t last_id_ = 0;
};

/// A client connection until its TCP connection is up.
struct pending_connect {
    std::uint64_t id = 0;
    std::string url;
    std::string host;  // to resolve
    std::string port;
    config cfg;
    std::shared_ptr<const handlers> h;
    connection_options opts;
    duration connect_timeout{};
    resolver_fn resolver;
    std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
    std::size_t next_addr = 0;
    int last_errno = 0;
    std::string failure;   // why resolution failed
    bool resolving = false;  // a resolver thread is at work

    /// A socket (TCP_NODELAY, close-on-exec) for the next address to try,
    /// or -1 with last_errno set once none is left. The address is
    /// addrs[next_addr].
    int open_next(bool nonblocking);
    /// Tell the application the connect failed: on_error
    /// (error_kind::transport) then on_disconnect, with a handle of `id`.
    void report_failure() const;
    /// Resolve on a thread of its own; `done` then runs on the loop's thread
    /// (through `mail`) unless the loop is gone. Sets `resolving`.
    void resolve(const std::shared_ptr<mailbox>& mail, std::function<void(resolved_addresses)> done);
};

/// Check the URL and the request settings and fill in the client config.
/// Literal addresses are taken as they are; names need resolve(). nullptr
/// with `error` set on a bad URL or bad request settings.
std::unique_ptr<pending_connect> prepare_connect(std::string_view url, const connect_options& opts, handlers h,
                                                 std::uint64_t id, std::string& error);

}  // namespace sansws::detail
