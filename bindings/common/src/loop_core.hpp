// Internal to the bindings: the inside of an event_loop. What both loops
// share lives here (ids, the mailbox, the application's timers, shared
// compressors, the shutdown timeout); each binding derives its loop from it
// (epoll: epoll/src/loop.cpp, io_uring: io_uring/src/loop_impl.hpp).
#pragma once

#include <memory>
#include <vector>

#include "loop_parts.hpp"
#include "sansws/event_loop.hpp"

namespace sansws::detail {

class loop_core {
public:
    loop_core(unsigned index, int eventfd_flags) : index(index), mail(std::make_shared<mailbox>(eventfd_flags)) {}
    virtual ~loop_core() { mail->close(); }
    loop_core(const loop_core&) = delete;
    loop_core& operator=(const loop_core&) = delete;

    virtual void run() = 0;
    /// False with `error` set when the loop cannot work (io_uring missing).
    virtual bool ready(std::string& error) = 0;
    /// Take over a checked client connect: resolve if needed, connect,
    /// report failures from the loop (never from inside this call).
    virtual void start(std::unique_ptr<pending_connect> p) = 0;
    /// Serve `fd` (settings complete: role, shared compressor).
    virtual void listen_on(int fd, std::shared_ptr<const handlers> h, const accept_settings& settings) = 0;
    virtual void collect(std::vector<connection_handle>& open) const = 0;
    virtual std::size_t connection_count() const noexcept = 0;

    std::uint64_t next_id() noexcept { return (std::uint64_t{index} << 48) | ++last_id; }
    /// accept_settings::share_compressor: one compressor per loop.
    void share_compressor(accept_settings& s);

    const unsigned index;
    const std::shared_ptr<mailbox> mail;
    timer_queue timers;
    timestamp now{};
    std::uint64_t last_id = 0;
    std::uint64_t shed = 0;
    duration shutdown_timeout = std::chrono::seconds(5);
    std::vector<std::unique_ptr<deflater>> shared_deflaters;
};

}  // namespace sansws::detail
