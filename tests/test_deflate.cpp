// The permessage-deflate transform on its own (RFC 7692 §7.2): the byte
// vectors of §7.2.3 in both directions, round trips at every setting,
// bounded and resumable inflation, context takeover and its absence, and
// zlib's memory as counted.
#include <doctest/doctest.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <sansws/deflate.hpp>
#include <string>
#include <string_view>
#include <vector>

using namespace sansws;

namespace {

using byte_vec = std::vector<std::byte>;
using st = inflater::status;

byte_vec bytes(std::initializer_list<int> v) {
    byte_vec out;
    for (int b : v) out.push_back(std::byte(b));
    return out;
}

byte_vec text(std::string_view s) { return byte_vec(as_bytes(s).begin(), as_bytes(s).end()); }

// The payloads of /work/shared/spec/rfc7692-notes.md (§7.2.3): all "Hello".
const byte_vec hello = bytes({0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00});
const byte_vec hello_again = bytes({0xf2, 0x00, 0x11, 0x00, 0x00});  // after `hello`, same window
const byte_vec hello_stored = bytes({0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00});
const byte_vec hello_bfinal = bytes({0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00});
const byte_vec hello_two_blocks =
    bytes({0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00});
const byte_vec empty_message = bytes({0x00});

/// What inflating one message gave, and whether the calls kept the
/// contract of inflate() (checked once per message: doctest assertions
/// inside the loops would dominate the run time).
struct outcome {
    st status = st::need_input;
    byte_vec data;
    std::size_t calls = 0;
    std::size_t most_per_call = 0;
    bool contract_kept = true;
};

/// Inflate the message made of `parts` (message_end with the last) with
/// `room` bytes of output per call, as a caller following the contract
/// does: output_full -> the rest of the part again with fresh room,
/// need_input -> the next part.
outcome inflate_parts(inflater& inf, const std::vector<byte_vec>& parts, std::size_t room) {
    outcome o;
    byte_vec buf(room);
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const bool end = i + 1 == parts.size();
        bytes_view in = parts[i];
        for (;;) {
            if (++o.calls > 4'000'000) {
                o.contract_kept = false;  // it would never end
                return o;
            }
            const auto r = inf.inflate(in, buf, end);
            if (r.consumed > in.size() || r.produced > buf.size()) {
                o.contract_kept = false;
                return o;
            }
            o.data.insert(o.data.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.produced));
            o.most_per_call = std::max(o.most_per_call, r.produced);
            in = in.subspan(r.consumed);
            o.status = r.st;
            if (r.st == st::output_full) {
                o.contract_kept &= r.produced == buf.size();
                continue;
            }
            if (r.st == st::need_input) {
                o.contract_kept &= !end && in.empty();
                break;
            }
            if (r.st == st::message_done) o.contract_kept &= end && in.empty();
            return o;
        }
    }
    return o;
}

outcome inflate_message(inflater& inf, const byte_vec& payload, std::size_t room = 4096) {
    return inflate_parts(inf, {payload}, room);
}

/// Compress one message given in `parts` (fin with the last), as the frames
/// of a fragmented message; returns each frame's payload.
std::vector<byte_vec> compress_parts(deflater& d, const std::vector<byte_vec>& parts) {
    std::vector<byte_vec> frames;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        byte_vec out;
        REQUIRE(d.compress(parts[i], i + 1 == parts.size(), out));
        frames.push_back(std::move(out));
    }
    return frames;
}

byte_vec compress_message(deflater& d, const byte_vec& message) { return compress_parts(d, {message}).front(); }

/// `v` cut into pieces of `n` bytes (the last may be shorter; at least one).
std::vector<byte_vec> pieces(const byte_vec& v, std::size_t n) {
    std::vector<byte_vec> out;
    for (std::size_t i = 0; i < v.size(); i += n)
        out.emplace_back(v.begin() + static_cast<std::ptrdiff_t>(i),
                         v.begin() + static_cast<std::ptrdiff_t>(std::min(v.size(), i + n)));
    if (out.empty()) out.emplace_back();
    return out;
}

/// Raw DEFLATE by zlib directly, optionally seeded with a dictionary (the
/// window a previous message left), ending with `flush`.
byte_vec zlib_raw(const byte_vec& data, const byte_vec& dictionary, int flush, int window_bits = 15, int level = 6) {
    z_stream z{};
    REQUIRE(deflateInit2(&z, level, Z_DEFLATED, -window_bits, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    if (!dictionary.empty())
        REQUIRE(deflateSetDictionary(&z, reinterpret_cast<const Bytef*>(dictionary.data()),
                                     static_cast<uInt>(dictionary.size())) == Z_OK);
    byte_vec out(deflateBound(&z, data.size()) + 64);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(data.data()));
    z.avail_in = static_cast<uInt>(data.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    const int rc = deflate(&z, flush);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    REQUIRE(z.avail_in == 0);
    out.resize(out.size() - z.avail_out);
    deflateEnd(&z);
    return out;
}

byte_vec strip_tail(byte_vec v) {
    REQUIRE(v.size() >= 4);
    REQUIRE(byte_vec(v.end() - 4, v.end()) == bytes({0x00, 0x00, 0xff, 0xff}));
    v.resize(v.size() - 4);
    return v;
}

struct xorshift {
    std::uint64_t s;
    std::uint64_t next() noexcept {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    }
};

/// JSON-like text: objects with recurring keys, numbers and short strings.
byte_vec json_like(std::size_t n, std::uint64_t seed) {
    static constexpr const char* words[] = {"alpha", "beta", "gamma", "delta", "user", "admin", "ok", "pending"};
    xorshift r{seed | 1};
    std::string s;
    while (s.size() < n) {
        s += "{\"id\":" + std::to_string(r.next() % 100000) + ",\"name\":\"" + words[r.next() % 8] +
             std::to_string(r.next() % 100) + "\",\"score\":" + std::to_string(r.next() % 1000) + "." +
             std::to_string(r.next() % 100) + ",\"tags\":[\"" + words[r.next() % 8] + "\",\"" + words[r.next() % 8] +
             "\"],\"active\":" + (r.next() % 2 ? "true" : "false") + "}\n";
    }
    s.resize(n);
    return text(s);
}

byte_vec random_bytes(std::size_t n, std::uint64_t seed) {
    xorshift r{seed | 1};
    byte_vec v(n);
    for (auto& b : v) b = std::byte(r.next() >> 56);
    return v;
}

/// A DEFLATE writer for fixed-Huffman blocks (RFC 1951 §3.2.5-§3.2.6),
/// to build streams zlib's compressor cannot: a window of 8 bits, chosen
/// distances.
class fixed_writer {
public:
    fixed_writer() {
        bits(0, 1);  // BFINAL = 0
        bits(1, 2);  // BTYPE = 01, fixed codes
    }
    void literal(int v) {
        if (v < 144) code(0x30 + v, 8);
        else if (v < 256) code(0x190 + v - 144, 9);
        else if (v < 280) code(v - 256, 7);
        else code(0xc0 + v - 280, 8);
    }
    void match(int length, int distance) {
        static constexpr int len_base[] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                           31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
        static constexpr int len_extra[] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                            2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
        static constexpr int dist_base[] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                            33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                            1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
        int i = 28;
        while (len_base[i] > length) --i;
        literal(257 + i);
        bits(static_cast<unsigned>(length - len_base[i]), len_extra[i]);
        int d = 29;
        while (dist_base[d] > distance) --d;
        code(d, 5);
        bits(static_cast<unsigned>(distance - dist_base[d]), d < 4 ? 0 : d / 2 - 1);
    }
    /// End the block, then the header bits of an empty stored block, padded:
    /// a message payload as §7.2.1 leaves it. Call once.
    byte_vec message() {
        literal(256);
        bits(0, 3);
        while (used_ != 0) bit(0);
        return out_;
    }

private:
    void bit(unsigned b) {
        if (used_ == 0) out_.push_back(std::byte{0});
        out_.back() |= std::byte(b << used_);
        used_ = (used_ + 1) % 8;
    }
    void bits(unsigned v, int n) {
        for (int i = 0; i < n; ++i) bit((v >> i) & 1);
    }
    // Huffman codes go most significant bit first (RFC 1951 §3.1.1).
    void code(int c, int n) {
        for (int i = n - 1; i >= 0; --i) bit((static_cast<unsigned>(c) >> i) & 1);
    }
    byte_vec out_;
    int used_ = 0;
};

}  // namespace

TEST_CASE("RFC 7692 §7.2.3.1/§7.2.3.2: Hello compresses to the vectors, the second time with context takeover") {
    deflater d;
    CHECK(compress_message(d, text("Hello")) == hello);
    CHECK(compress_message(d, text("Hello")) == hello_again);
}

TEST_CASE("RFC 7692 §7.2.1: a fragmented message flushes each part; only the last loses 00 00 ff ff") {
    deflater d;
    const auto frames = compress_parts(d, {text("Hel"), text("lo")});
    REQUIRE(frames.size() == 2);
    CHECK(byte_vec(frames[0].end() - 4, frames[0].end()) == bytes({0x00, 0x00, 0xff, 0xff}));
    CHECK(frames[1].back() == std::byte{0x00});
    inflater inf;
    const auto o = inflate_parts(inf, frames, 1);
    CHECK(o.contract_kept);
    CHECK(o.status == st::message_done);
    CHECK(o.data == text("Hello"));
}

TEST_CASE("RFC 7692 §7.2.3.6: an empty message compresses to the single byte 00, first or later") {
    deflater d;
    CHECK(compress_message(d, {}) == empty_message);
    compress_message(d, text("Hello"));
    CHECK(compress_message(d, {}) == empty_message);
    // A last part with no data after flushed parts.
    deflater fresh;
    const auto frames = compress_parts(fresh, {text("Hello"), {}});
    CHECK(frames[1] == empty_message);
    inflater inf;
    const auto o = inflate_parts(inf, frames, 64);
    CHECK(o.status == st::message_done);
    CHECK(o.data == text("Hello"));
}

TEST_CASE("RFC 7692 §7.2.3: every vector inflates, split at every byte and at every output room") {
    struct vec {
        const char* name;
        byte_vec before;  // a message inflated first (context takeover)
        byte_vec payload;
        std::string want;
    };
    const vec vectors[] = {
        {"one frame (§7.2.3.1)", {}, hello, "Hello"},
        {"second message, same window (§7.2.3.2)", hello, hello_again, "Hello"},
        {"stored block (§7.2.3.3)", {}, hello_stored, "Hello"},
        {"BFINAL = 1 (§7.2.3.4)", {}, hello_bfinal, "Hello"},
        {"two blocks (§7.2.3.5)", {}, hello_two_blocks, "Hello"},
        {"empty message (§7.2.3.6)", {}, empty_message, ""},
    };
    for (const auto& v : vectors) {
        CAPTURE(v.name);
        for (std::size_t room = 1; room <= 9; room += (room < 6 ? 1 : 3)) {
            CAPTURE(room);
            // Two parts cut at every byte (the fragmented vector is the cut at 3).
            for (std::size_t cut = 0; cut <= v.payload.size(); ++cut) {
                CAPTURE(cut);
                inflater inf;
                if (!v.before.empty()) REQUIRE(inflate_message(inf, v.before).status == st::message_done);
                const auto o = inflate_parts(
                    inf, {byte_vec(v.payload.begin(), v.payload.begin() + static_cast<std::ptrdiff_t>(cut)),
                          byte_vec(v.payload.begin() + static_cast<std::ptrdiff_t>(cut), v.payload.end())},
                    room);
                CHECK(o.contract_kept);
                CHECK(o.status == st::message_done);
                CHECK(o.data == text(v.want));
            }
            // One byte per part.
            inflater inf;
            if (!v.before.empty()) REQUIRE(inflate_message(inf, v.before).status == st::message_done);
            const auto o = inflate_parts(inf, pieces(v.payload, 1), room);
            CHECK(o.contract_kept);
            CHECK(o.status == st::message_done);
            CHECK(o.data == text(v.want));
        }
    }
}

TEST_CASE("RFC 7692 §7.2.2: the stored-block vector compresses back at level 0") {
    deflater d({15, 8, 0});
    CHECK(compress_message(d, text("Hello")) == hello_stored);
}

TEST_CASE("RFC 7692 §7.2.3.4: after a block with BFINAL = 1 the next message still uses the window") {
    // zlib's Z_FINISH ends "Hello" with a BFINAL block: the vector without
    // its extra 00 (nothing but the block: the appended tail is skipped).
    const byte_vec first = zlib_raw(text("Hello"), {}, Z_FINISH);
    REQUIRE(first == byte_vec(hello_bfinal.begin(), hello_bfinal.end() - 1));
    // The next message, made against the window "Hello": it refers back.
    const byte_vec second = zlib_raw(text("Hello, Hello!"), text("Hello"), Z_FINISH);
    // And a third, ended by a sync flush this time, against both.
    const byte_vec third = strip_tail(zlib_raw(text("Hello!"), text("HelloHello, Hello!"), Z_SYNC_FLUSH));
    for (std::size_t room : {1, 3, 100}) {
        inflater inf;
        for (const auto& [payload, want] : {std::pair{first, "Hello"}, {second, "Hello, Hello!"}, {third, "Hello!"},
                                            {hello_bfinal, "Hello"}, {empty_message, ""}}) {
            const auto o = inflate_message(inf, payload, room);
            CHECK(o.contract_kept);
            CHECK(o.status == st::message_done);
            CHECK(o.data == text(want));
        }
    }
    // Without the window the second message refers to nothing: invalid.
    inflater fresh;
    CHECK(inflate_message(fresh, second).status == st::error);
}

TEST_CASE("RFC 7692 §7.2.3.4: bytes after a BFINAL block in the same message start a new stream, same window") {
    const byte_vec first = zlib_raw(text("Hello"), {}, Z_FINISH);
    const byte_vec then = strip_tail(zlib_raw(text(" Hello"), text("Hello"), Z_SYNC_FLUSH));
    byte_vec message = first;
    message.insert(message.end(), then.begin(), then.end());
    for (std::size_t n : {1, 2, 100}) {
        inflater inf;
        const auto o = inflate_parts(inf, pieces(message, n), 2);
        CHECK(o.contract_kept);
        CHECK(o.status == st::message_done);
        CHECK(o.data == text("Hello Hello"));
        // The window carries on into the next message.
        const auto next = inflate_message(inf, strip_tail(zlib_raw(text("Hello"), text("Hello Hello"), Z_SYNC_FLUSH)));
        CHECK(next.status == st::message_done);
        CHECK(next.data == text("Hello"));
    }
}

TEST_CASE("RFC 7692 §7.2.3.4, RFC 6455 §10.4: streams ended over and over cost a bounded number of zlib calls") {
    // 32 KiB of ordinary data fills the window, then 03 00 pairs: each an
    // empty fixed-Huffman block with BFINAL = 1, ending the stream. A new
    // stream starts after each one. Once this copied the whole window out and
    // back per 2 bytes received; now the cost is at most one zlib call per
    // 2 input bytes plus a few per inflate() call, and the window survives.
    const byte_vec filler = json_like(32 * 1024, 7);
    deflater d;
    byte_vec message = compress_message(d, filler);
    // Put back the 00 00 ff ff compress_message() stripped (§7.2.1): the
    // sync flush ends between blocks, so a new block may follow at once.
    for (int b : {0x00, 0x00, 0xff, 0xff}) message.push_back(std::byte(b));
    constexpr std::size_t pairs = 128 * 1024;
    for (std::size_t i = 0; i < pairs; ++i) {
        message.push_back(std::byte{0x03});
        message.push_back(std::byte{0x00});
    }
    for (std::size_t part : {std::size_t{16 * 1024}, message.size()}) {
        inflater inf;
        std::vector<byte_vec> parts;
        for (std::size_t at = 0; at < message.size(); at += part)
            parts.emplace_back(message.begin() + static_cast<std::ptrdiff_t>(at),
                               message.begin() + static_cast<std::ptrdiff_t>(std::min(message.size(), at + part)));
        const auto o = inflate_parts(inf, parts, 64 * 1024);
        CHECK(o.contract_kept);
        CHECK(o.status == st::message_done);
        CHECK(o.data == filler);
        CHECK(inf.work() <= 4 * o.calls + message.size() / 2);
        // Context takeover still holds after 128 Ki stream restarts: the
        // next message, compressed against the same window, refers back.
        const std::uint64_t before = inf.work();
        const byte_vec next = compress_message(d, filler);
        const auto o2 = inflate_message(inf, next, 64 * 1024);
        CHECK(o2.status == st::message_done);
        CHECK(o2.data == filler);
        CHECK(inf.work() - before <= 4 * o2.calls + next.size() / 2);
    }
}

TEST_CASE("RFC 7692 §7.2.2: a payload already ending between blocks needs no tail (empty, or a bare sync flush)") {
    inflater inf;
    // An empty compressed payload, as some senders produce for an empty message.
    auto o = inflate_message(inf, {});
    CHECK(o.status == st::message_done);
    CHECK(o.data.empty());
    // A message whose frames all end with 00 00 ff ff, the last one empty.
    o = inflate_parts(inf, {strip_tail(zlib_raw(text("Hello"), {}, Z_SYNC_FLUSH)), bytes({0x00, 0x00, 0xff, 0xff}), {}},
                      1);
    CHECK(o.status == st::message_done);
    CHECK(o.data == text("Hello"));
}

TEST_CASE("RFC 7692 §7.2.2: invalid and truncated data are errors, sticky until reset()") {
    for (const auto& bad : {bytes({0xff}), bytes({0x07, 0x00}), bytes({0x01, 0x05, 0x00, 0x05, 0x00, 0x41}),
                            bytes({0xf2, 0x48}), bytes({0xf2, 0x00, 0x11, 0x00, 0x00})}) {
        inflater inf;
        const auto o = inflate_parts(inf, pieces(bad, 1), 8);
        CHECK(o.contract_kept);
        CHECK(o.status == st::error);
        std::byte room[16];
        const auto again = inf.inflate(hello, room, true);
        CHECK(again.st == st::error);
        CHECK(again.consumed == 0);
        CHECK(again.produced == 0);
        inf.reset();
        const auto after = inflate_message(inf, hello);
        CHECK(after.status == st::message_done);
        CHECK(after.data == text("Hello"));
    }
    // Garbage, in any amount.
    std::size_t errors = 0;
    for (std::uint64_t seed = 1; seed <= 200; ++seed) {
        inflater inf;
        const auto o = inflate_message(inf, random_bytes(64 + seed, seed), 100);
        CHECK(o.contract_kept);
        errors += o.status == st::error;
    }
    CHECK(errors == 200);
}

TEST_CASE("RFC 7692 §7.2.1/§7.2.2: round trips at every window, memory level and a range of levels") {
    const byte_vec messages[] = {json_like(6000, 1), random_bytes(1500, 2), json_like(12000, 3), {}, text("x")};
    for (int w = 9; w <= 15; ++w) {
        for (int m = 1; m <= 9; ++m) {
            for (int level : {-1, 0, 1, 9}) {
                CAPTURE(w);
                CAPTURE(m);
                CAPTURE(level);
                // Both with context takeover and without it (§7.1.1.1-2).
                for (bool takeover : {true, false}) {
                    deflater d({w, m, level});
                    inflater inf(w);
                    bool all = true;
                    std::size_t i = 0;
                    for (const auto& msg : messages) {
                        const auto frames = compress_parts(d, pieces(msg, 1000 + 700 * i++));
                        const auto o = inflate_parts(inf, frames, 777);
                        all &= o.contract_kept && o.status == st::message_done && o.data == msg;
                        if (!takeover) {
                            d.reset();
                            inf.reset();
                        }
                    }
                    CHECK(all);
                }
            }
        }
    }
}

TEST_CASE("RFC 7692 §7.1.2: an inflater with a larger window reads a smaller window's output") {
    const byte_vec msg = json_like(40000, 9);
    for (int w = 9; w <= 15; ++w) {
        deflater d({w, 8, 6});
        const byte_vec c = compress_message(d, msg);
        for (int wi = w; wi <= 15; ++wi) {
            inflater inf(wi);
            const auto o = inflate_message(inf, c, 5000);
            CHECK(o.status == st::message_done);
            CHECK(o.data == msg);
        }
    }
}

TEST_CASE("RFC 7692 §7.1.2.1: an inflater with a window of 8 bits (which zlib cannot compress for)") {
    // Distances up to 256 are within the window: 256 distinct bytes, then a
    // copy from exactly 256 back, then runs from 1 back.
    fixed_writer w;
    std::string want;
    for (int i = 0; i < 256; ++i) {
        w.literal(i);
        want += static_cast<char>(i);
    }
    w.match(20, 256);
    want += want.substr(0, 20);
    w.literal('a');
    w.match(258, 1);
    want += std::string(259, 'a');
    const byte_vec msg = w.message();
    for (std::size_t room : {1, 7, 256, 4096}) {
        inflater inf(8);
        const auto o = inflate_message(inf, msg, room);
        CHECK(o.contract_kept);
        CHECK(o.status == st::message_done);
        CHECK(o.data == text(want));
        // The window carries over: a second message copies from 256 back.
        fixed_writer w2;
        w2.match(10, 256);
        const auto o2 = inflate_message(inf, w2.message(), room);
        CHECK(o2.status == st::message_done);
        CHECK(o2.data == text(std::string(want.end() - 256, want.end() - 246)));
    }
    // zlib's smallest window (9 bits) on data of period 100 copies from 100
    // back only: an 8-bit inflater reads it.
    const byte_vec base = random_bytes(100, 5);
    byte_vec periodic;
    for (int i = 0; i < 80; ++i) periodic.insert(periodic.end(), base.begin(), base.end());
    deflater d({9, 8, 9});
    inflater inf8(8);
    const auto o = inflate_message(inf8, compress_message(d, periodic), 1);
    CHECK(o.status == st::message_done);
    CHECK(o.data == periodic);
}

TEST_CASE("RFC 7692 §7.1.2: a distance beyond the window is an error when the window is all zlib has") {
    // zlib checks a distance against its window plus what the same call has
    // already written, so the check is exact with one byte of room.
    for (int bits : {8, 9}) {
        fixed_writer w;
        const int n = (1 << bits) + 1;
        for (int i = 0; i < n; ++i) w.literal(i & 0xff);
        w.match(3, n);
        const byte_vec msg = w.message();
        inflater inf(bits);
        CHECK(inflate_message(inf, msg, 1).status == st::error);
        inflater wide(bits + 1);
        CHECK(inflate_message(wide, msg, 1).status == st::message_done);
    }
}

TEST_CASE("RFC 7692 §7.1.1: without context takeover, reset() forgets the window") {
    const byte_vec msg = json_like(3000, 4);
    deflater d;
    const byte_vec first = compress_message(d, msg);
    const byte_vec with_window = compress_message(d, msg);
    CHECK(with_window.size() < first.size() / 10);  // it refers to the first copy
    d.reset();
    CHECK(compress_message(d, msg) == first);  // nothing to refer to any more

    inflater inf;
    REQUIRE(inflate_message(inf, hello).status == st::message_done);
    inf.reset();
    // The second "Hello" of §7.2.3.2 copies from the forgotten window.
    CHECK(inflate_message(inf, hello_again).status == st::error);
}

TEST_CASE("RFC 6455 §10.4: a small bomb inflates in bounded steps") {
    const byte_vec zeros(1 << 20, std::byte{0});
    deflater d({15, 9, 9});
    const byte_vec bomb = compress_message(d, zeros);
    CHECK(bomb.size() <= 1100);
    for (std::size_t part : {std::size_t{1}, std::size_t{64}, bomb.size()}) {
        inflater inf;
        const auto o = inflate_parts(inf, pieces(bomb, part), 4096);
        CHECK(o.contract_kept);
        CHECK(o.status == st::message_done);
        CHECK(o.most_per_call <= 4096);
        CHECK(o.data.size() == zeros.size());
        CHECK(o.data == zeros);
        CHECK(o.calls <= zeros.size() / 4096 + bomb.size() / part + 2);
    }
}

TEST_CASE("RFC 7692 §7.2.2: resumable at every output room, input given whole or byte by byte") {
    deflater d;
    const byte_vec msg = json_like(300, 6);
    const byte_vec c = compress_message(d, msg);
    for (std::size_t room = 1; room <= msg.size() + 4; ++room) {
        CAPTURE(room);
        inflater whole;
        auto o = inflate_message(whole, c, room);
        CHECK((o.contract_kept && o.status == st::message_done && o.data == msg));
        inflater bytewise;
        o = inflate_parts(bytewise, pieces(c, 1), room);
        CHECK((o.contract_kept && o.status == st::message_done && o.data == msg));
    }
    // Room for exactly the message: done in one call, nothing left to ask.
    for (const byte_vec& m : {msg, text("Hello"), byte_vec{}}) {
        deflater fresh;
        const byte_vec cm = compress_message(fresh, m);
        inflater exact;
        byte_vec room(m.size());
        const auto r = exact.inflate(cm, room, true);
        CHECK(r.st == st::message_done);
        CHECK(r.consumed == cm.size());
        CHECK(room == m);
    }
    // No room at all: nothing is produced and the message is not done.
    inflater none;
    const auto r = none.inflate(c, {}, true);
    CHECK(r.st == st::output_full);
    CHECK(r.produced == 0);
}

TEST_CASE("zlib memory is counted exactly: 0 before use, the same for equal settings, 0 after release()") {
    deflater d({12, 5, 6});
    CHECK(d.memory() == 0);
    byte_vec out;
    REQUIRE(d.compress(text("some text"), true, out));
    CHECK(d.memory() > 0);
    CHECK(d.memory() == deflater_memory({12, 5, 6}));
    d.reset();
    CHECK(d.memory() == deflater_memory({12, 5, 6}));
    d.release();
    CHECK(d.memory() == 0);
    // Usable again after release().
    out.clear();
    REQUIRE(d.compress(text("Hello"), true, out));
    CHECK(d.memory() == deflater_memory({12, 5, 6}));

    inflater inf(10);
    CHECK(inf.memory() == 0);
    REQUIRE(inflate_message(inf, hello).status == st::message_done);
    CHECK(inf.memory() == inflater_memory(10));
    inf.release();
    CHECK(inf.memory() == 0);
    REQUIRE(inflate_message(inf, hello).status == st::message_done);
    CHECK(inf.memory() == inflater_memory(10));
}

TEST_CASE("zlib memory grows with the window and the memory level") {
    for (int w = 9; w <= 15; ++w) {
        for (int m = 1; m <= 9; ++m) {
            const std::size_t here = deflater_memory({w, m, -1});
            CHECK(here > 0);
            if (w < 15) CHECK(deflater_memory({w + 1, m, -1}) > here);
            if (m < 9) CHECK(deflater_memory({w, m + 1, -1}) > here);
        }
    }
    for (int w = 8; w <= 15; ++w) {
        CHECK(inflater_memory(w) > (std::size_t{1} << w));
        if (w < 15) CHECK(inflater_memory(w + 1) > inflater_memory(w));
    }
}

TEST_CASE("RFC 7692 §7.1.2: settings zlib's raw DEFLATE cannot use (a window of 8 for compression) are refused") {
    for (const deflate_settings s : {deflate_settings{8, 8, -1}, deflate_settings{16, 8, -1}, deflate_settings{15, 0, -1},
                                     deflate_settings{15, 10, -1}, deflate_settings{15, 8, 10},
                                     deflate_settings{15, 8, -2}}) {
        deflater d(s);
        byte_vec out = text("kept");
        CHECK_FALSE(d.compress(text("Hello"), true, out));
        CHECK(out == text("kept"));
        CHECK(d.memory() == 0);
        CHECK(deflater_memory(s) == 0);
    }
    for (int w : {0, 7, 16}) {
        inflater inf(w);
        CHECK(inflate_message(inf, hello).status == st::error);
        CHECK(inflater_memory(w) == 0);
    }
}
