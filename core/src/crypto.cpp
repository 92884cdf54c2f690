// SHA-1 (FIPS 180-4 §6.1), base64 (RFC 4648 §4), the Sec-WebSocket-Accept
// derivation (RFC 6455 §4.2.2) and a ChaCha20 keystream (RFC 8439 §2.3).
// Everything is written against the specifications directly; nothing here
// touches the OS, so the engine stays sans-I/O.
#include "sansws/detail/crypto.hpp"
#include "sansws/handshake.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace sansws {

namespace {

// Big-endian load/store: SHA-1 treats message words and the digest as
// big-endian (FIPS 180-4 §3.1, §5.2.1).
std::uint32_t load_be32(const std::byte* p) noexcept {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
           (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}

void store_be32(std::byte* p, std::uint32_t v) noexcept {
    p[0] = std::byte(v >> 24);
    p[1] = std::byte(v >> 16);
    p[2] = std::byte(v >> 8);
    p[3] = std::byte(v);
}

// Little-endian load/store: ChaCha20 reads key/nonce words and serializes
// the state little-endian (RFC 8439 §2.3, §2.3.2).
std::uint32_t load_le32(const std::byte* p) noexcept {
    return std::uint32_t(p[0]) | (std::uint32_t(p[1]) << 8) |
           (std::uint32_t(p[2]) << 16) | (std::uint32_t(p[3]) << 24);
}

void store_le32(std::byte* p, std::uint32_t v) noexcept {
    p[0] = std::byte(v);
    p[1] = std::byte(v >> 8);
    p[2] = std::byte(v >> 16);
    p[3] = std::byte(v >> 24);
}

}  // namespace

// ---------------------------------------------------------------------------
// SHA-1

sha1::sha1() noexcept
    // Initial hash value H(0) (FIPS 180-4 §5.3.1).
    : h_{0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u} {}

void sha1::block(const std::byte* p) noexcept {
    // Message schedule and 80 rounds (FIPS 180-4 §6.1.2). A rolling 16-word
    // window is enough because W[t] only looks back 16 words.
    std::array<std::uint32_t, 16> w{};
    for (std::size_t t = 0; t < 16; ++t) w[t] = load_be32(p + 4 * t);

    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
    for (std::size_t t = 0; t < 80; ++t) {
        if (t >= 16) {
            const std::uint32_t x = w[(t + 13) & 15] ^ w[(t + 8) & 15] ^
                                    w[(t + 2) & 15] ^ w[t & 15];
            w[t & 15] = std::rotl(x, 1);
        }
        // f_t and K_t per FIPS 180-4 §4.1.1 and §4.2.1.
        std::uint32_t f = 0;
        std::uint32_t k = 0;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        const std::uint32_t tmp = std::rotl(a, 5) + f + e + k + w[t & 15];
        e = d;
        d = c;
        c = std::rotl(b, 30);
        b = a;
        a = tmp;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
}

void sha1::update(bytes_view data) noexcept {
    // An empty view may carry a null pointer, which memcpy must not see.
    if (data.empty()) return;
    std::size_t have = static_cast<std::size_t>(total_ % 64);
    total_ += data.size();
    std::size_t pos = 0;
    // Top up a partially filled buffer first so blocks stay contiguous.
    if (have != 0) {
        const std::size_t take = std::min(data.size(), 64 - have);
        std::memcpy(buf_.data() + have, data.data(), take);
        have += take;
        pos = take;
        if (have < 64) return;
        block(buf_.data());
    }
    // Whole blocks straight from the input, no copy.
    for (; data.size() - pos >= 64; pos += 64) block(data.data() + pos);
    if (pos < data.size()) std::memcpy(buf_.data(), data.data() + pos, data.size() - pos);
}

sha1_digest sha1::finish() noexcept {
    // Padding (FIPS 180-4 §5.1.1): a single 1 bit, zeros up to 56 mod 64,
    // then the message length in bits as a 64-bit big-endian integer.
    const std::uint64_t bit_len = total_ * 8;
    std::size_t have = static_cast<std::size_t>(total_ % 64);
    buf_[have++] = std::byte{0x80};
    if (have > 56) {
        std::fill(buf_.begin() + static_cast<std::ptrdiff_t>(have), buf_.end(), std::byte{0});
        block(buf_.data());
        have = 0;
    }
    std::fill(buf_.begin() + static_cast<std::ptrdiff_t>(have), buf_.begin() + 56, std::byte{0});
    store_be32(buf_.data() + 56, static_cast<std::uint32_t>(bit_len >> 32));
    store_be32(buf_.data() + 60, static_cast<std::uint32_t>(bit_len));
    block(buf_.data());

    sha1_digest out{};
    for (std::size_t i = 0; i < 5; ++i) store_be32(out.data() + 4 * i, h_[i]);
    return out;
}

sha1_digest sha1::hash(bytes_view data) noexcept {
    sha1 s;
    s.update(data);
    return s.finish();
}

// ---------------------------------------------------------------------------
// base64 (RFC 4648 §4)

namespace {

constexpr char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// Reverse of the §4 alphabet; 0xFF marks every byte outside it, so '=',
// whitespace, the URL-safe '-'/'_' (§5) and non-ASCII bytes are all rejected.
constexpr std::array<std::uint8_t, 256> make_b64_reverse() noexcept {
    std::array<std::uint8_t, 256> t{};
    for (auto& v : t) v = 0xFF;
    for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64_alphabet[i])] = i;
    return t;
}
constexpr auto b64_reverse = make_b64_reverse();

}  // namespace

std::string base64_encode(bytes_view data) {
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; data.size() - i >= 3; i += 3) {
        const std::uint32_t v = (std::uint32_t(data[i]) << 16) |
                                (std::uint32_t(data[i + 1]) << 8) | std::uint32_t(data[i + 2]);
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += b64_alphabet[(v >> 6) & 63];
        out += b64_alphabet[v & 63];
    }
    // Final quantum of 8 or 16 bits gets "==" or "=" (§4 cases 2 and 3).
    const std::size_t rest = data.size() - i;
    if (rest == 1) {
        const std::uint32_t v = std::uint32_t(data[i]) << 16;
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += "==";
    } else if (rest == 2) {
        const std::uint32_t v = (std::uint32_t(data[i]) << 16) | (std::uint32_t(data[i + 1]) << 8);
        out += b64_alphabet[(v >> 18) & 63];
        out += b64_alphabet[(v >> 12) & 63];
        out += b64_alphabet[(v >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    // Padding is mandatory (§3.2) so the length is a multiple of four.
    if (text.size() % 4 != 0) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::size_t pad = 0;
        // '=' may only end the final quantum, as "x=" or "==" (§3.3 forbids
        // anything else; §4 defines only these two forms).
        if (last && text[i + 3] == '=') pad = text[i + 2] == '=' ? 2 : 1;
        std::uint32_t v = 0;
        for (std::size_t j = 0; j < 4 - pad; ++j) {
            const std::uint8_t d = b64_reverse[static_cast<unsigned char>(text[i + j])];
            if (d == 0xFF) return std::nullopt;
            v |= std::uint32_t(d) << (18 - 6 * j);
        }
        // The discarded low bits of a padded quantum must be zero (§3.5);
        // otherwise two encodings would decode to the same bytes.
        if (pad == 1 && (v & 0xFF) != 0) return std::nullopt;
        if (pad == 2 && (v & 0xFFFF) != 0) return std::nullopt;
        out += static_cast<char>((v >> 16) & 0xFF);
        if (pad < 2) out += static_cast<char>((v >> 8) & 0xFF);
        if (pad < 1) out += static_cast<char>(v & 0xFF);
    }
    return out;
}

// ---------------------------------------------------------------------------
// Sec-WebSocket-Accept (RFC 6455 §4.2.2 step 5.4, §1.3)

std::string websocket_accept_key(std::string_view key) {
    // The GUID from §1.3; the key is used as sent, without decoding it.
    constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    sha1 s;
    s.update(as_bytes(key));
    s.update(as_bytes(guid));
    const sha1_digest d = s.finish();
    return base64_encode(d);
}

// ---------------------------------------------------------------------------
// ChaCha20 (RFC 8439 §2.1-§2.3)

namespace {

// The quarter round of RFC 8439 §2.1, applied to state words by index
// (§2.2).
void quarter_round(std::array<std::uint32_t, 16>& x, std::size_t a, std::size_t b,
                   std::size_t c, std::size_t d) noexcept {
    x[a] += x[b];
    x[d] = std::rotl(x[d] ^ x[a], 16);
    x[c] += x[d];
    x[b] = std::rotl(x[b] ^ x[c], 12);
    x[a] += x[b];
    x[d] = std::rotl(x[d] ^ x[a], 8);
    x[c] += x[d];
    x[b] = std::rotl(x[b] ^ x[c], 7);
}

}  // namespace

void chacha20_rng::seed(std::span<const std::byte, 32> key, std::span<const std::byte, 12> nonce,
                        std::uint32_t counter) noexcept {
    // State layout (RFC 8439 §2.3): four constants ("expand 32-byte k"),
    // eight key words, the block counter, three nonce words.
    state_[0] = 0x61707865u;
    state_[1] = 0x3320646Eu;
    state_[2] = 0x79622D32u;
    state_[3] = 0x6B206574u;
    for (std::size_t i = 0; i < 8; ++i) state_[4 + i] = load_le32(key.data() + 4 * i);
    state_[12] = counter;
    for (std::size_t i = 0; i < 3; ++i) state_[13 + i] = load_le32(nonce.data() + 4 * i);
    // Buffered bytes from an earlier seed must never leak into the new stream.
    used_ = block_.size();
}

std::array<std::byte, 64> chacha20_rng::next_block() noexcept {
    // 20 rounds = 10 double rounds of column then diagonal quarter rounds,
    // then the original state is added back (RFC 8439 §2.3).
    std::array<std::uint32_t, 16> x = state_;
    for (int i = 0; i < 10; ++i) {
        quarter_round(x, 0, 4, 8, 12);
        quarter_round(x, 1, 5, 9, 13);
        quarter_round(x, 2, 6, 10, 14);
        quarter_round(x, 3, 7, 11, 15);
        quarter_round(x, 0, 5, 10, 15);
        quarter_round(x, 1, 6, 11, 12);
        quarter_round(x, 2, 7, 8, 13);
        quarter_round(x, 3, 4, 9, 14);
    }
    std::array<std::byte, 64> out{};
    for (std::size_t i = 0; i < 16; ++i) store_le32(out.data() + 4 * i, x[i] + state_[i]);

    // RFC 8439 §2.3 limits the counter to 32 bits. Used as a generator we
    // carry into the first nonce word instead of wrapping, so the keystream
    // never repeats (the original 64-bit-counter ChaCha layout does the same).
    if (++state_[12] == 0) ++state_[13];
    // A raw block skips whatever fill() still had buffered, so fill() always
    // continues at the current counter.
    used_ = block_.size();
    return out;
}

void chacha20_rng::fill(mutable_bytes out) noexcept {
    std::size_t pos = 0;
    while (pos < out.size()) {
        if (used_ == block_.size()) {
            block_ = next_block();
            used_ = 0;
        }
        const std::size_t take = std::min(out.size() - pos, block_.size() - used_);
        std::memcpy(out.data() + pos, block_.data() + used_, take);
        used_ += take;
        pos += take;
    }
}

}  // namespace sansws
