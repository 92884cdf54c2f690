// Builds the wire buffers once. Payload bytes come from a fixed-seed
// xorshift generator, so every run measures the same bytes.
#include "workloads.hpp"

#include <stdexcept>
#include <variant>

namespace bench {
namespace {

struct xorshift {
    std::uint64_t s = 0x2545F4914F6CDD1Dull;
    std::uint64_t next() noexcept {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

/// UTF-8 encoding of `cp` (RFC 3629 §3) into `out`; returns its length.
std::size_t encode(std::uint32_t cp, std::byte (&out)[4]) noexcept {
    if (cp < 0x80) {
        out[0] = std::byte(cp);
        return 1;
    }
    if (cp < 0x800) {
        out[0] = std::byte(0xC0 | (cp >> 6));
        out[1] = std::byte(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = std::byte(0xE0 | (cp >> 12));
        out[1] = std::byte(0x80 | ((cp >> 6) & 0x3F));
        out[2] = std::byte(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = std::byte(0xF0 | (cp >> 18));
    out[1] = std::byte(0x80 | ((cp >> 12) & 0x3F));
    out[2] = std::byte(0x80 | ((cp >> 6) & 0x3F));
    out[3] = std::byte(0x80 | (cp & 0x3F));
    return 4;
}

/// Exactly `n` bytes of valid text. Mixed text draws each code point from
/// ASCII words, Cyrillic (2 bytes), CJK (3 bytes) or emoji (4 bytes) in
/// equal parts, so no block of it takes the ASCII fast path for long.
void fill_text(std::vector<std::byte>& out, std::size_t n, payload_kind kind, xorshift& rng) {
    const std::size_t end = out.size() + n;
    while (out.size() < end) {
        const std::uint64_t r = rng.next();
        std::uint32_t cp = static_cast<std::uint32_t>('a' + r % 26);
        if (kind == payload_kind::mixed_text) {
            switch ((r >> 8) % 4) {
            case 1: cp = 0x0410 + static_cast<std::uint32_t>((r >> 16) % 0x40); break;   // Cyrillic
            case 2: cp = 0x4E00 + static_cast<std::uint32_t>((r >> 16) % 0x5000); break; // CJK
            case 3: cp = 0x1F600 + static_cast<std::uint32_t>((r >> 16) % 0x50); break;  // emoji
            default: break;
            }
        }
        std::byte enc[4];
        std::size_t len = encode(cp, enc);
        if (out.size() + len > end) enc[0] = std::byte{' '}, len = 1;
        out.insert(out.end(), enc, enc + len);
    }
}

std::vector<std::byte> text_64k(payload_kind kind) {
    xorshift rng;
    std::vector<std::byte> t;
    fill_text(t, 65536, kind, rng);
    if (!sansws::is_valid_utf8(t)) throw std::logic_error("generated text is not UTF-8");
    return t;
}

}  // namespace

wire build_wire(std::size_t frames, std::size_t payload, payload_kind kind) {
    wire w;
    w.frames = frames;
    w.bytes.reserve(frames * (payload + sansws::max_frame_header_size));
    xorshift rng;
    std::vector<std::byte> p;
    for (std::size_t f = 0; f < frames; ++f) {
        p.clear();
        if (kind == payload_kind::binary) {
            for (std::size_t i = 0; i < payload; ++i) p.push_back(std::byte(rng.next()));
        } else {
            fill_text(p, payload, kind, rng);
        }
        w.fingerprint += fingerprint(p);
        sansws::frame_header h;
        h.op = kind == payload_kind::binary ? sansws::opcode::binary : sansws::opcode::text;
        h.masked = true;
        const std::uint64_t key = rng.next();
        std::memcpy(h.key.data(), &key, 4);
        h.payload_length = p.size();
        std::array<std::byte, sansws::max_frame_header_size> hdr;
        const std::size_t hs = sansws::write_frame_header(hdr, h);
        w.bytes.insert(w.bytes.end(), hdr.begin(), hdr.begin() + static_cast<std::ptrdiff_t>(hs));
        for (std::size_t i = 0; i < p.size(); ++i) w.bytes.push_back(p[i] ^ h.key[i % 4]);
    }
    return w;
}

const wire& w1_small_binary() {
    static const wire w = build_wire(1'000'000, 16, payload_kind::binary);
    return w;
}
const wire& w2_1k_binary() {
    static const wire w = build_wire(64 * 1024, 1024, payload_kind::binary);
    return w;
}
const wire& w3_64k_binary() {
    static const wire w = build_wire(4096, 65536, payload_kind::binary);
    return w;
}
const wire& w4_64k_ascii_text() {
    static const wire w = build_wire(1024, 65536, payload_kind::ascii_text);
    return w;
}
const wire& w5_64k_mixed_text() {
    static const wire w = build_wire(1024, 65536, payload_kind::mixed_text);
    return w;
}

const std::vector<std::byte>& ascii_text_64k() {
    static const auto t = text_64k(payload_kind::ascii_text);
    return t;
}
const std::vector<std::byte>& mixed_text_64k() {
    static const auto t = text_64k(payload_kind::mixed_text);
    return t;
}

std::unique_ptr<sansws::connection> open_server() {
    auto c = std::make_unique<sansws::connection>(sansws::config{});
    sansws::client_options opts;
    opts.host = "bench.example";
    const std::string request = sansws::write_client_request(opts, "dGhlIHNhbXBsZSBub25jZQ==");
    std::vector<std::byte> in(sansws::as_bytes(request).begin(), sansws::as_bytes(request).end());
    c->receive(in);
    if (!std::holds_alternative<sansws::handshake_request>(c->next_event()) || c->accept() != sansws::misuse::none ||
        !std::holds_alternative<sansws::need_more>(c->next_event()))
        throw std::logic_error("handshake failed");
    c->consume(c->buffered());
    return c;
}

}  // namespace bench
