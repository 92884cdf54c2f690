// The output queue: a deque of segments. Small writes are coalesced into
// 16 KiB blocks (one block is recycled, so the steady state allocates
// nothing); large payloads are moved in or referenced, not copied.
#include "sansws/output_queue.hpp"

#include <cstring>

namespace sansws {

mutable_bytes output_queue::append_space(std::size_t n) {
    if (n == 0) return {};
    if (segs_.empty() || !segs_.back().coalescing ||
        segs_.back().owned.capacity() - segs_.back().owned.size() < n) {
        segment s;
        s.coalescing = true;
        if (n <= block_size) {
            s.owned = std::move(spare_);
            s.owned.clear();
            s.owned.reserve(block_size);
        } else {
            s.owned.reserve(n);
        }
        segs_.push_back(std::move(s));
    }
    auto& v = segs_.back().owned;
    const std::size_t at = v.size();
    v.resize(at + n);
    size_ += n;
    return {v.data() + at, n};
}

void output_queue::append(bytes_view data) {
    if (data.empty()) return;
    auto space = append_space(data.size());
    std::memcpy(space.data(), data.data(), data.size());
}

void output_queue::append(std::vector<std::byte>&& data) {
    if (data.empty()) return;
    const std::size_t n = data.size();
    segment s;
    s.owned = std::move(data);
    segs_.push_back(std::move(s));
    size_ += n;
}

void output_queue::append_shared(bytes_view data, std::shared_ptr<const void> owner) {
    if (data.empty()) return;
    segment s;
    s.owner = owner ? std::move(owner) : std::make_shared<int>(0);
    s.shared = data;
    segs_.push_back(std::move(s));
    size_ += data.size();
}

std::span<const bytes_view> output_queue::gather(std::size_t max_segments) {
    view_.clear();
    for (const auto& s : segs_) {
        if (view_.size() == max_segments) break;
        view_.push_back(s.bytes());
    }
    return view_;
}

void output_queue::consume(std::size_t n) noexcept {
    if (n > size_) n = size_;
    size_ -= n;
    while (n > 0) {
        segment& s = segs_.front();
        const std::size_t len = s.bytes().size();
        if (n < len) {
            s.begin += n;
            return;
        }
        n -= len;
        if (s.coalescing && s.owned.capacity() == block_size && spare_.capacity() == 0)
            spare_ = std::move(s.owned);
        segs_.pop_front();
    }
}

std::size_t output_queue::memory() const noexcept {
    std::size_t m = spare_.capacity();
    for (const auto& s : segs_) m += s.owned.capacity();
    return m;
}

}  // namespace sansws
