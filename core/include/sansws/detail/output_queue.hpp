// Outgoing bytes (the nghttp2 mem_send / ngtcp2 write_pkt shape): the engine
// appends, the caller drains through a gather view ready for writev(2) and
// acknowledges what the transport took with consume(n).
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

class output_queue {
public:
    output_queue() = default;
    /// Moving leaves the source empty (the raw tail pointers move along).
    output_queue(output_queue&& other) noexcept;
    output_queue& operator=(output_queue&& other) noexcept;

    /// Copy `data` to the end of the queue.
    void append(bytes_view data);
    /// Room for `n` bytes at the end of the queue, to be filled by the caller
    /// before any other call; returns a writable span of exactly `n` bytes.
    /// The room is not zero-filled.
    mutable_bytes append_space(std::size_t n) {
        // The steady state: the bytes fit the open block. Inline, because a
        // small frame costs little more than this (n == 0 wraps and falls
        // through to the general path, which returns an empty span).
        if (n - 1 < static_cast<std::size_t>(tail_end_ - tail_)) {
            std::byte* at = tail_;
            tail_ += n;
            size_ += n;
            return {at, n};
        }
        return append_space_slow(n);
    }
    /// Take ownership of `data` without copying it (large payloads).
    void append(std::vector<std::byte>&& data);
    /// Reference `data` without copying; `owner` keeps it alive until consumed.
    void append_shared(bytes_view data, std::shared_ptr<const void> owner);

    /// Up to `max_segments` spans covering the front of the queue, in order.
    /// Valid until the next non-const call.
    std::span<const bytes_view> gather(std::size_t max_segments = 64);
    /// Drop the first `n` bytes (n <= size()).
    void consume(std::size_t n) noexcept;
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    /// Bytes of memory held (capacity of owned buffers), for accounting.
    std::size_t memory() const noexcept;
    /// When empty and holding at most block_size: give back the open block
    /// and the spare (an idle connection then holds no output buffer; the
    /// next append allocates). Larger blocks are kept for the next message.
    void release() noexcept;

    /// Small writes are coalesced into blocks of this size.
    static constexpr std::size_t block_size = 16 * 1024;

private:
    struct segment {
        const std::byte* begin = nullptr;     // first byte not yet consumed
        const std::byte* end = nullptr;       // past the last byte (for the open block: tail_)
        std::unique_ptr<std::byte[]> block;   // raw storage for copied bytes
        std::size_t capacity = 0;             // of block
        std::vector<std::byte> owned;         // a moved-in buffer
        std::shared_ptr<const void> owner;    // keeps external bytes alive
    };
    mutable_bytes append_space_slow(std::size_t n);
    /// Stop appending to the open block (its end becomes final).
    void close_block() noexcept;

    std::deque<segment> segs_;
    std::vector<bytes_view> view_;
    // The open block is segs_.back() while tail_ is set: appends go to
    // [tail_, tail_end_) and only these two pointers and size_ change.
    std::byte* tail_ = nullptr;
    std::byte* tail_end_ = nullptr;
    // One recycled block: the steady state allocates nothing.
    std::unique_ptr<std::byte[]> spare_;
    std::size_t spare_capacity_ = 0;
    std::size_t size_ = 0;
};

}  // namespace sansws

#pragma GCC visibility pop
