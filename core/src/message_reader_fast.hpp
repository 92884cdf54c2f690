// The reader's first branch, for connection.cpp's next_event() only: inline
// there so the steady state stays a leaf with no call on its path.
#pragma once

#include "frame_internal.hpp"
#include "kernels/dispatch.hpp"
#include "sansws/detail/message_reader.hpp"

namespace sansws::detail {

inline message_reader::whole message_reader::read_whole(mutable_bytes& src, bytes_view& payload_out) noexcept {
    // Only frames for which read() would deliver exactly this message, with
    // the same state afterwards, are taken here (whole_data_frame): the
    // parser stays at its frame boundary, nothing is copied.
    if (in_message_ || !parser_.at_frame_boundary()) return whole::none;
    const bool masked = parser_.expects_masked();  // §5.1: clients mask, servers do not
    std::uint64_t len = 0;
    std::uint32_t key = 0;
    const std::size_t hs = whole_data_frame(src.data(), src.size(), masked, len, key);
    if (hs == 0 || (!limits_.streaming && len > limits_.max_message_size)) return whole::none;
    type_ = (static_cast<std::uint8_t>(src[0]) & opcode_bits) == 0x1 ? message_type::text : message_type::binary;
    const mutable_bytes payload(src.data() + hs, static_cast<std::size_t>(len));
    src = src.subspan(hs + payload.size());
    if (masked) kernels().mask(payload.data(), payload.size(), key);  // §5.3, phase 0
    if (type_ == message_type::text) {
        // §8.1: the whole message is here, so it must also be complete.
        utf8_.reset();
        if (!utf8_.feed(payload) || !utf8_.complete()) {
            in_message_ = true;
            return whole::bad_utf8;
        }
    }
    payload_out = payload;
    return whole::message;
}

}  // namespace sansws::detail
