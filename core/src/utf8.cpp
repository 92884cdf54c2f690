// Incremental UTF-8 validation (RFC 3629, RFC 6455 §8.1): utf8_validator
// feeds each piece to the kernel chosen at run time (kernels/dispatch.hpp),
// carrying the DFA state of kernels/scalar.cpp across pieces, so a code point
// may be cut anywhere.
#include "sansws/detail/utf8.hpp"

#include "kernels/dispatch.hpp"

namespace sansws {

bool utf8_validator::feed(bytes_view piece) noexcept {
    if (state_ == reject_state) return false;
    const std::size_t n = piece.size();
    const std::size_t at = detail::kernels().utf8(state_, piece.data(), n);
    if (state_ == reject_state) error_offset_ = fed_ + at;
    fed_ += n;
    return state_ != reject_state;
}

bool utf8_validator::feed_unmasked(std::span<std::byte> dst, bytes_view src, std::span<const std::byte, 4> key,
                                   std::size_t phase) noexcept {
    const detail::kernel_set& ks = detail::kernels();
    const std::size_t n = dst.size() < src.size() ? dst.size() : src.size();
    const std::uint32_t k = detail::rotated_key(key.data(), phase);
    if (state_ == reject_state) {
        ks.mask_copy(dst.data(), src.data(), n, k);
        return false;
    }
    std::size_t at;
    if (ks.utf8_copy != nullptr) {
        at = ks.utf8_copy(state_, dst.data(), src.data(), n, k);
    } else {
        ks.mask_copy(dst.data(), src.data(), n, k);
        at = ks.utf8(state_, dst.data(), n);
    }
    if (state_ == reject_state) error_offset_ = fed_ + at;
    fed_ += n;
    return state_ != reject_state;
}

bool is_valid_utf8(bytes_view text) noexcept {
    utf8_validator v;
    return v.feed(text) && v.complete();
}

}  // namespace sansws
