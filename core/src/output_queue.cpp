// The output queue: a deque of segments. Small writes are coalesced into
// 16 KiB raw blocks (never zero-filled; one block is recycled, so the steady
// state allocates nothing); large payloads are moved in or referenced, not
// copied. Appends to the open block touch only three members (header).
#include "sansws/detail/output_queue.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace sansws {

output_queue::output_queue(output_queue&& other) noexcept
    : segs_(std::move(other.segs_)),
      view_(std::move(other.view_)),
      tail_(std::exchange(other.tail_, nullptr)),
      tail_end_(std::exchange(other.tail_end_, nullptr)),
      spare_(std::move(other.spare_)),
      spare_capacity_(std::exchange(other.spare_capacity_, 0)),
      size_(std::exchange(other.size_, 0)) {
    other.segs_.clear();
}

output_queue& output_queue::operator=(output_queue&& other) noexcept {
    if (this != &other) {
        segs_ = std::move(other.segs_);
        other.segs_.clear();
        view_ = std::move(other.view_);
        tail_ = std::exchange(other.tail_, nullptr);
        tail_end_ = std::exchange(other.tail_end_, nullptr);
        spare_ = std::move(other.spare_);
        spare_capacity_ = std::exchange(other.spare_capacity_, 0);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void output_queue::close_block() noexcept {
    if (tail_ == nullptr) return;
    segs_.back().end = tail_;
    tail_ = tail_end_ = nullptr;
}

mutable_bytes output_queue::append_space_slow(std::size_t n) {
    if (n == 0) return {};
    close_block();
    // A new block: the spare when it is big enough, else fresh memory that
    // is not value-initialised (the caller overwrites it).
    segment s;
    if (spare_ && spare_capacity_ >= n) {
        s.block = std::move(spare_);
        s.capacity = std::exchange(spare_capacity_, 0);
    } else {
        s.capacity = std::max(n, block_size);
        s.block = std::make_unique_for_overwrite<std::byte[]>(s.capacity);
    }
    std::byte* at = s.block.get();
    s.begin = s.end = at;
    segs_.push_back(std::move(s));
    tail_ = at + n;
    tail_end_ = at + segs_.back().capacity;
    size_ += n;
    return {at, n};
}

void output_queue::append(bytes_view data) {
    if (data.empty()) return;
    auto space = append_space(data.size());
    std::memcpy(space.data(), data.data(), data.size());
}

void output_queue::append(std::vector<std::byte>&& data) {
    if (data.empty()) return;
    close_block();
    const std::size_t n = data.size();
    segment s;
    s.owned = std::move(data);
    s.begin = s.owned.data();
    s.end = s.begin + n;
    segs_.push_back(std::move(s));
    size_ += n;
}

void output_queue::append_shared(bytes_view data, std::shared_ptr<const void> owner) {
    if (data.empty()) return;
    close_block();
    segment s;
    s.owner = owner ? std::move(owner) : std::make_shared<int>(0);
    s.begin = data.data();
    s.end = data.data() + data.size();
    segs_.push_back(std::move(s));
    size_ += data.size();
}

std::span<const bytes_view> output_queue::gather(std::size_t max_segments) {
    view_.clear();
    for (const auto& s : segs_) {
        if (view_.size() == max_segments) break;
        const std::byte* end = (tail_ != nullptr && &s == &segs_.back()) ? tail_ : s.end;
        if (end != s.begin) view_.emplace_back(s.begin, end);  // a drained open block stays, empty
    }
    return view_;
}

void output_queue::release() noexcept {
    // Larger blocks stay: a connection moving large messages would otherwise
    // get them back from the OS, page by page, for every message.
    if (size_ != 0 || memory() > block_size) return;
    close_block();
    segs_.clear();
    spare_.reset();
    spare_capacity_ = 0;
}

void output_queue::consume(std::size_t n) noexcept {
    if (n > size_) n = size_;
    size_ -= n;
    while (n > 0) {
        segment& s = segs_.front();
        const bool open = tail_ != nullptr && segs_.size() == 1;
        const std::byte* end = open ? tail_ : s.end;
        const auto len = static_cast<std::size_t>(end - s.begin);
        if (n < len) {
            s.begin += n;
            return;
        }
        n -= len;
        if (open) {
            // The open block is drained: write from its start again rather
            // than trading it for the spare.
            tail_ = s.block.get();
            s.begin = s.end = tail_;
            return;
        }
        // Keep one block for reuse; a larger one than block_size too (a big
        // frame tends to be followed by another), but not without bound.
        if (s.block && (!spare_ || s.capacity > spare_capacity_) && s.capacity <= 64 * block_size) {
            spare_ = std::move(s.block);
            spare_capacity_ = s.capacity;
        }
        segs_.pop_front();
    }
}

std::size_t output_queue::memory() const noexcept {
    std::size_t m = spare_capacity_;
    for (const auto& s : segs_) m += s.capacity + s.owned.capacity();
    return m;
}

}  // namespace sansws
