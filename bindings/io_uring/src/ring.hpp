// Internal: one loop's io_uring instance and its provided-buffer ring, with
// the setup fallbacks and the "io_uring is unavailable" diagnosis.
#pragma once

#include <liburing.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "sansws/io_uring.hpp"

namespace sansws::io_uring::detail {

/// The gather list of one sendmsg. The kernel copies it when the request
/// is submitted (IORING_FEAT_SUBMIT_STABLE), so it lives only until then.
struct send_slot {
    static constexpr std::size_t max_iov = 64;
    msghdr msg{};
    iovec iov[max_iov]{};
};

class ring {
public:
    ring() = default;
    ~ring();
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;

    /// Create the ring (disabled until start()) and register the provided
    /// buffers. False with `error` saying why io_uring cannot be used.
    bool open(const ring_options& o, std::string& error);
    /// Enable the ring on the calling thread, which becomes the only one
    /// allowed to submit (IORING_SETUP_SINGLE_ISSUER). Idempotent.
    bool start(std::string& error);
    bool started() const noexcept { return started_; }

    /// A submission entry, submitting queued ones first if the queue is
    /// full; nullptr only when the kernel takes no more submissions now.
    io_uring_sqe* sqe();
    /// A submission entry and storage for its sendmsg's gather list, valid
    /// until the entry is submitted; {nullptr, nullptr} as for sqe().
    std::pair<io_uring_sqe*, send_slot*> send_entry();
    /// Submit what is queued and wait for a completion, at most until
    /// `timeout` (nanoseconds; negative: no limit).
    void submit_and_wait(std::int64_t timeout_ns);
    void submit();
    ::io_uring* get() noexcept { return &ring_; }

    /// The bytes a receive completion put in provided buffer `bid`.
    std::byte* buffer(unsigned bid) const noexcept { return buffers_ + std::size_t{bid} * buffer_size_; }
    /// Give buffer `bid` back to the kernel.
    void recycle(unsigned bid) noexcept;
    static constexpr std::uint16_t buffer_group = 0;
    std::uint32_t buffer_count() const noexcept { return buffer_count_; }

    /// Keep the receive buffers mapped past the ring's end: requests still
    /// in flight when the loop is destroyed could otherwise write into
    /// whatever reuses the addresses.
    void keep_buffers() noexcept { keep_buffers_ = true; }

    std::string flags_text() const;
    bool zero_copy_supported() const noexcept { return zero_copy_; }

private:
    void reset_slots() noexcept;

    ::io_uring ring_{};
    bool open_ = false;
    bool started_ = false;
    unsigned flags_ = 0;
    bool zero_copy_ = false;
    bool keep_buffers_ = false;
    io_uring_buf_ring* buf_ring_ = nullptr;
    std::size_t buf_ring_bytes_ = 0;
    std::byte* buffers_ = nullptr;
    std::size_t buffers_bytes_ = 0;
    std::uint32_t buffer_count_ = 0;
    std::uint32_t buffer_size_ = 0;
    std::deque<send_slot> slots_;  // a deque: taking one never moves the others
    std::size_t slots_used_ = 0;
};

}  // namespace sansws::io_uring::detail
