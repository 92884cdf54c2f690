// wsload's building blocks that do no I/O: the latency histogram, the
// payload templates every echo is checked against, and the client frame
// header. Kept apart from the event loop so wsload.cpp stays readable.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wsload {

using u64 = std::uint64_t;

/// Log-linear latency histogram in nanoseconds: exact below 128 ns, then 64
/// buckets per power of two (1.6 % resolution) up to 2^64. Constant memory
/// and constant time per sample, however many millions of echoes a run sees.
class histogram {
public:
    void add(u64 ns) noexcept {
        ++counts_[index(ns)];
        ++n_;
        max_ = std::max(max_, ns);
    }
    u64 count() const noexcept { return n_; }
    u64 max() const noexcept { return max_; }
    /// The latency that a fraction q of the samples do not exceed, as the
    /// middle of its bucket (never above the largest sample seen).
    u64 percentile(double q) const noexcept {
        if (n_ == 0) return 0;
        const u64 rank = std::max<u64>(1, static_cast<u64>(q * static_cast<double>(n_) + 0.999999));
        u64 seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::min(max_, lower(i) + width(i) / 2);
        }
        return max_;
    }

private:
    static constexpr std::size_t exact = 128;
    static std::size_t index(u64 v) noexcept {
        if (v < exact) return static_cast<std::size_t>(v);
        const int shift = static_cast<int>(std::bit_width(v)) - 7;  // v >> shift is in [64, 128)
        return exact + static_cast<std::size_t>(shift - 1) * 64 + static_cast<std::size_t>((v >> shift) - 64);
    }
    static u64 lower(std::size_t i) noexcept {
        if (i < exact) return i;
        const std::size_t j = i - exact;
        return (64 + j % 64) << (j / 64 + 1);
    }
    static u64 width(std::size_t i) noexcept { return i < exact ? 1 : u64{1} << ((i - exact) / 64 + 1); }

    std::array<u64, exact + 57 * 64> counts_{};
    u64 n_ = 0;
    u64 max_ = 0;
};

/// Each payload starts with an 8-byte sequence field and, from 16 bytes on,
/// ends with a copy of it, so truncated, reordered, duplicated or misrouted
/// echoes are caught, not only corrupted bytes.
inline constexpr std::size_t seq_len = 8;

/// The sequence field: 48 bits as 8 letters of a 64-letter ASCII alphabet,
/// so text payloads stay valid UTF-8 whatever the number.
inline void encode_seq(u64 v, std::byte* out) noexcept {
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (std::size_t i = 0; i < seq_len; ++i) out[i] = std::byte(alphabet[(v >> (6 * (seq_len - 1 - i))) & 63]);
}

/// One message body pattern and the mask key it is sent with. The masked
/// copy is built once, so sending a message costs no masking and no copy of
/// its body: the socket write gathers it straight from here (RFC 6455 §5.3
/// wants a fresh key per frame; the server cannot tell, and unmasks the same).
struct variant {
    std::array<std::byte, 4> key{};
    std::vector<std::byte> plain;   // what the echo must hold (sequence fields aside)
    std::vector<std::byte> masked;  // plain XOR key, as written to the socket
};

/// The message layout for one --size: sequence field at [0, 8), pattern at
/// [8, tail_at), second sequence field at [tail_at, size) when size >= 16.
/// Consecutive messages cycle through several variants with different
/// patterns and keys so that an echo of the wrong message differs in its body
/// too.
struct payloads {
    std::size_t size = 0;
    std::size_t tail_at = 0;
    bool text = false;
    std::vector<variant> variants;

    payloads(std::size_t size_, bool text_, const std::array<std::byte, 32>& random) : size(size_), text(text_) {
        tail_at = size >= 2 * seq_len ? size - seq_len : size;
        // Several variants make misdelivery visible; capping their memory at
        // about 16 MiB keeps huge messages affordable.
        const std::size_t count = std::clamp<std::size_t>((8u << 20) / std::max<std::size_t>(size, 1), 1, 8);
        variants.resize(count);
        for (std::size_t v = 0; v < count; ++v) {
            variant& var = variants[v];
            std::memcpy(var.key.data(), random.data() + 4 * v, 4);
            var.plain.resize(size);
            var.masked.resize(size);
            u64 x = 0x9E3779B97F4A7C15ull * (v + 1);
            for (std::size_t i = 0; i < size; ++i) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                // Text: printable ASCII (valid UTF-8), as most JSON and chat
                // traffic is.
                var.plain[i] = text ? std::byte(0x20 + (x >> 32) % 95) : std::byte(x >> 32);
                var.masked[i] = var.plain[i] ^ var.key[i % 4];
            }
        }
    }
    const variant& of(u64 seq) const noexcept { return variants[seq % variants.size()]; }
};

/// A masked client frame header (§5.2) for a whole message of `len` bytes;
/// returns its size (6, 8 or 14 bytes).
inline std::size_t client_header(std::byte* h, std::uint8_t opcode, u64 len, const std::array<std::byte, 4>& key) noexcept {
    std::size_t n = 2;
    h[0] = std::byte(0x80 | opcode);  // FIN
    if (len < 126) {
        h[1] = std::byte(0x80 | len);
    } else if (len <= 0xFFFF) {
        h[1] = std::byte(0x80 | 126);
        h[2] = std::byte(len >> 8);
        h[3] = std::byte(len);
        n = 4;
    } else {
        h[1] = std::byte(0x80 | 127);
        for (int i = 0; i < 8; ++i) h[2 + i] = std::byte(len >> (8 * (7 - i)));
        n = 10;
    }
    std::memcpy(h + n, key.data(), 4);
    return n + 4;
}

}  // namespace wsload
