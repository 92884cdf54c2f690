// permessage-deflate's transform (RFC 7692 §7.2). Inflate half: compressed
// messages fed to an inflater in random pieces with a small output room
// per call, against a one-shot reference; every call keeps the contract of
// inflater::inflate and never writes past its room. Round-trip half: plain
// messages compressed in random parts by a deflater come back unchanged.
//
// Input:
//   byte 0  bit 3 clear: inflate half, window 8 + (b & 7) bits;
//           bit 3 set: round-trip half, window 9 + (b >> 4) % 7 bits
//   byte 1  output room per call: (1 + (b & 63)) << 3 * (b >> 6) bytes
//   byte 2  bit 0: no context takeover (§7.1.1: both sides reset after
//           every message); round trip: level (b >> 1) % 11 - 1 and
//           mem_level 1 + (b >> 1) / 11 % 9
//   byte 3  1 + b % 4 messages, then a big-endian u16 length for each
//           message but the last
//   rest    the messages back to back: compressed, or plain (round trip)
// Split points come from a hash of the whole input. Every call also keeps
// the per-byte cost bound of inflater::work().
#include "fuzz.hpp"
#include "sansws/deflate.hpp"

namespace {

using fuzz::check;
using sansws::bytes_view;
using sansws::inflater;
using st = inflater::status;

// The reference gets this much room per message; a pathological room of
// one byte stops at room * 4096 bytes so that a run stays fast.
constexpr std::size_t cap = std::size_t{1} << 20;
constexpr std::size_t room_calls = 4096;

// Reused across runs: a MiB allocated and cleared per run would dominate.
std::byte* reference_out() {
    static std::vector<std::byte> v(cap);
    return v.data();
}
std::byte* pieces_out() {
    static std::vector<std::byte> v(cap + 1);  // + a canary after the room
    return v.data();
}

struct outcome {
    st status;
    std::size_t size;
    bool capped;  // stopped at the cap: the rest of the message is unknown
};

constexpr std::byte canary{0xA5};
const std::byte hello[] = {std::byte{0xf2}, std::byte{0x48}, std::byte{0xcd}, std::byte{0xc9},
                           std::byte{0xc9}, std::byte{0x07}, std::byte{0x00}};

/// One message in pieces chosen by `split`, `room` bytes of output per call
/// and `limit` in all, written to `out`, as a caller following the
/// contract does (output_full: the rest again with fresh room; need_input:
/// the next piece).
outcome inflate_pieces(inflater& inf, bytes_view msg, std::size_t room, std::size_t limit, fuzz::rng& split,
                       std::byte* out) {
    std::size_t total = 0, pos = 0;
    for (;;) {
        const std::size_t n = split.chunk(msg.size() - pos);
        const bool end = pos + n == msg.size();
        bytes_view in = msg.subspan(pos, n);
        pos += n;
        for (;;) {
            const std::size_t give = std::min(room, limit - total);
            if (give == 0) return {st::output_full, total, true};
            out[total + give] = canary;
            const std::uint64_t work = inf.work();
            const auto r = inf.inflate(in, {out + total, give}, end);
            check(r.consumed <= in.size() && r.produced <= give && out[total + give] == canary);
            // The cost bound (RFC 6455 §10.4): whatever the bytes (empty,
            // final or stored blocks, flush markers), one call makes at
            // most 4 + consumed / 2 zlib calls and copies no window.
            check(inf.work() - work <= 4 + r.consumed / 2);
            total += r.produced;
            in = in.subspan(r.consumed);
            // output_full fills the room, so every call of this loop moves.
            if (r.st == st::output_full) {
                check(r.produced == give);
                continue;
            }
            if (r.st == st::need_input) {
                check(!end && in.empty());
                break;
            }
            if (r.st == st::message_done) check(end && in.empty());
            return {r.st, total, false};
        }
    }
}

/// After an error every call fails, taking and giving nothing, until
/// reset(); then the inflater works again.
void check_sticky(inflater& inf) {
    std::byte out[16];
    for (const bool end : {false, true}) {
        const auto r = inf.inflate(hello, out, end);
        check(r.st == st::error && r.consumed == 0 && r.produced == 0);
    }
    inf.reset();
    const auto r = inf.inflate(hello, out, true);
    check(r.st == st::message_done && r.consumed == sizeof hello && r.produced == 5 &&
          fuzz::same({out, 5}, sansws::as_bytes("Hello")));
}

void inflate_half(int window_bits, std::size_t room, bool no_takeover, const std::vector<bytes_view>& messages,
                  fuzz::rng& split) {
    inflater pieces(window_bits);
    // DEFLATE's distances reach 32768 at most, so zlib's check of them
    // against its window plus this call's output is exact with a 15-bit
    // window: the reference is split-independent by construction.
    inflater reference(15);
    const std::size_t limit = std::min(cap, room * room_calls);
    for (const bytes_view msg : messages) {
        const auto r = reference.inflate(msg, {reference_out(), cap}, true);
        check(r.st != st::need_input && r.consumed <= msg.size());
        const outcome want{r.st, r.produced, r.st == st::output_full};
        const outcome got = inflate_pieces(pieces, msg, room, limit, split, pieces_out());

        // The same bytes as far as both went, whatever the split.
        const std::size_t common = std::min(got.size, want.size);
        check(fuzz::same({pieces_out(), common}, {reference_out(), common}));
        if (got.capped || want.capped) return;  // the rest of this message is not known
        if (want.status == st::message_done) check(got.size <= want.size);
        // A narrower window accepts less, never more: done implies done.
        if (got.status == st::message_done) check(want.status == st::message_done && got.size == want.size);
        if (want.status == st::error) check(got.status == st::error);
        // With the same window, exactly the reference's outcome. (A
        // narrower one may fail where the reference does not: zlib checks
        // a distance against the window plus what the same call wrote, so
        // a peer exceeding its window can pass with a large room and fail
        // with a small one.)
        if (window_bits == 15) check(got.status == want.status);
        if (got.status == st::error) {
            check_sticky(pieces);
            return;
        }
        if (want.status == st::error) return;
        if (no_takeover) {
            pieces.reset();
            reference.reset();
        }
    }
}

void round_trip_half(int window_bits, std::size_t room, std::uint8_t opts, const std::vector<bytes_view>& messages,
                     fuzz::rng& split) {
    const int choice = opts >> 1;
    sansws::deflater d({window_bits, 1 + choice / 11 % 9, choice % 11 - 1});
    inflater inf(window_bits);
    std::vector<std::byte> compressed;
    for (const bytes_view msg : messages) {
        // The message in random parts, each flushed as a frame would be.
        compressed.clear();
        std::size_t pos = 0;
        do {
            const std::size_t n = split.chunk(msg.size() - pos);
            check(d.compress(msg.subspan(pos, n), pos + n == msg.size(), compressed));
            pos += n;
        } while (pos < msg.size());
        check(d.memory() > 0);
        const outcome got = inflate_pieces(inf, compressed, room, cap, split, pieces_out());
        check(got.status == st::message_done && fuzz::same({pieces_out(), got.size}, msg));
        if (opts & 1) {
            d.reset();
            inf.reset();
        }
    }
    d.release();
    inf.release();
    check(d.memory() == 0 && inf.memory() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    fuzz::reader in(fuzz::bytes(data, size));
    fuzz::rng split(fuzz::hash(fuzz::bytes(data, size)));
    const std::uint8_t mode = in.u8();
    const std::uint8_t room_byte = in.u8();
    const std::size_t room = std::size_t{1u + (room_byte & 63u)} << (3 * (room_byte >> 6));
    const std::uint8_t opts = in.u8();
    const std::size_t count = 1 + in.u8() % 4;
    std::size_t lengths[4] = {};
    for (std::size_t i = 0; i + 1 < count; ++i) lengths[i] = in.u16();
    std::vector<bytes_view> messages;
    for (std::size_t i = 0; i + 1 < count; ++i) messages.push_back(in.take(lengths[i]));
    messages.push_back(in.rest());

    if (mode & 8)
        round_trip_half(9 + (mode >> 4) % 7, room, opts, messages, split);
    else
        inflate_half(8 + (mode & 7), room, (opts & 1) != 0, messages, split);
    return 0;
}
