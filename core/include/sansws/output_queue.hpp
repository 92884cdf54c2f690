// Outgoing bytes (the nghttp2 mem_send / ngtcp2 write_pkt shape): the engine
// appends, the caller drains through a gather view ready for writev(2) and
// acknowledges what the transport took with consume(n).
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <vector>

#include "sansws/types.hpp"

namespace sansws {

class output_queue {
public:
    /// Copy `data` to the end of the queue.
    void append(bytes_view data);
    /// Room for `n` bytes at the end of the queue, to be filled by the caller
    /// before any other call; returns a writable span of exactly `n` bytes.
    mutable_bytes append_space(std::size_t n);
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

    /// Small writes are coalesced into blocks of this size.
    static constexpr std::size_t block_size = 16 * 1024;

private:
    struct segment {
        std::vector<std::byte> owned;          // used when owner is empty
        std::shared_ptr<const void> owner;     // external bytes kept alive
        bytes_view shared;                     // the external bytes
        std::size_t begin = 0;                 // consumed prefix
        bool coalescing = false;               // owned block that accepts appends
        bytes_view bytes() const noexcept {
            return owner ? shared.subspan(begin)
                         : bytes_view(owned.data() + begin, owned.size() - begin);
        }
    };
    std::deque<segment> segs_;
    std::vector<bytes_view> view_;
    std::vector<std::byte> spare_;  // one recycled block: no allocation in steady state
    std::size_t size_ = 0;
};

}  // namespace sansws
