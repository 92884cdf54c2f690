// The permessage-deflate transform (RFC 7692 §7.2) over zlib's raw DEFLATE
// streams (RFC 1951: no zlib or gzip wrapper). Every block zlib allocates
// goes through a counting allocator, so memory() is exact; inflation is
// bounded by the caller's output room and resumable at any byte.
#include "sansws/deflate.hpp"

// next_in as a pointer to const: compressed input is never written to.
#define ZLIB_CONST
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>

namespace sansws {
namespace {

// The LEN and NLEN of the empty stored block that a sync flush ends with:
// the compressor removes them (§7.2.1), the decompressor appends them
// (§7.2.2).
constexpr Bytef tail[4] = {0x00, 0x00, 0xff, 0xff};

// Each block carries its size in front of it, padded to keep zlib's part
// aligned as malloc's result is.
constexpr std::size_t block_header = alignof(std::max_align_t);

voidpf counted_alloc(voidpf opaque, uInt items, uInt size) {
    if (size != 0 && items > (SIZE_MAX - block_header) / size) return nullptr;
    const std::size_t n = std::size_t{items} * size + block_header;
    auto* base = static_cast<unsigned char*>(std::malloc(n));
    if (base == nullptr) return nullptr;
    std::memcpy(base, &n, sizeof n);
    *static_cast<std::size_t*>(opaque) += n;
    return base + block_header;
}

void counted_free(voidpf opaque, voidpf address) {
    if (address == nullptr) return;
    auto* base = static_cast<unsigned char*>(address) - block_header;
    std::size_t n = 0;
    std::memcpy(&n, base, sizeof n);
    *static_cast<std::size_t*>(opaque) -= n;
    std::free(base);
}

/// zlib counts in uInt: larger spans are handed over in pieces.
uInt clamp(std::size_t n) noexcept { return static_cast<uInt>(std::min<std::size_t>(n, UINT_MAX)); }

bool valid(const deflate_settings& s) noexcept {
    // zlib rejects a raw window of 8 bits (it would silently use 9, which a
    // peer that asked for 8 could not inflate), so 8 is not offered here.
    return s.window_bits >= 9 && s.window_bits <= 15 && s.mem_level >= 1 && s.mem_level <= 9 && s.level >= -1 &&
           s.level <= 9;
}

template <class Stream>
void hook(Stream& s, std::size_t& counter) noexcept {
    s.z.zalloc = counted_alloc;
    s.z.zfree = counted_free;
    s.z.opaque = &counter;
}

}  // namespace

struct deflater::stream {
    z_stream z{};
    // A failure left zlib's state unknown: refuse until reset()/release().
    bool broken = false;
};

deflater::deflater(deflate_settings s) noexcept : settings_(s) {}

deflater::~deflater() { release(); }

bool deflater::init() noexcept {
    if (!valid(settings_)) return false;
    std::unique_ptr<stream> s(new (std::nothrow) stream);
    if (!s) return false;
    hook(*s, allocated_);
    // Negative window bits: raw DEFLATE, as §7.2.1 requires.
    if (deflateInit2(&s->z, settings_.level, Z_DEFLATED, -settings_.window_bits, settings_.mem_level,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return false;  // zlib has freed whatever it had allocated
    allocated_ += sizeof(stream);
    z_ = std::move(s);
    return true;
}

bool deflater::compress(bytes_view data, bool fin, std::vector<std::byte>& out) {
    if (!z_ && !init()) return false;
    stream& s = *z_;
    if (s.broken) return false;
    const std::size_t start = out.size();
    if (data.empty()) {
        // Every call ends with a sync flush, so the stream is on a byte
        // boundary here with nothing pending, and zlib would emit nothing
        // for a second flush in a row. A message's last part must still
        // carry the 3 header bits of the empty stored block whose LEN/NLEN
        // the receiver appends: the byte 00 (the empty message of §7.2.3.6).
        if (fin) out.push_back(std::byte{0});
        return true;
    }
    try {
        // Enough for one pass in practice; grown below if not.
        out.resize(start + deflateBound(&s.z, data.size()) + 16);
        std::size_t pos = 0, written = start;
        for (;;) {
            // zlib asks for more than 6 bytes of room around a sync flush.
            if (out.size() - written < 16) out.resize(out.size() + std::max<std::size_t>(out.size() - start, 1024));
            const uInt in_now = clamp(data.size() - pos);
            const bool last = pos + in_now == data.size();
            const uInt room = clamp(out.size() - written);
            s.z.next_in = reinterpret_cast<const Bytef*>(data.data() + pos);
            s.z.avail_in = in_now;
            s.z.next_out = reinterpret_cast<Bytef*>(out.data() + written);
            s.z.avail_out = room;
            const int rc = ::deflate(&s.z, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
            pos += in_now - s.z.avail_in;
            written += room - s.z.avail_out;
            if (rc != Z_OK && rc != Z_BUF_ERROR) break;
            // Room left over after the flush: all input taken, flush complete.
            if (last && pos == data.size() && s.z.avail_out != 0) {
                if (fin) {
                    // §7.2.1: the flush ended with 00 00 ff ff; drop it.
                    if (written - start < 4 || std::memcmp(out.data() + written - 4, tail, 4) != 0) break;
                    written -= 4;
                }
                out.resize(written);
                return true;
            }
        }
    } catch (const std::bad_alloc&) {
        // Growing `out` failed with zlib's state mid-message: fall through.
    }
    out.resize(start);
    s.broken = true;
    return false;
}

void deflater::reset() noexcept {
    // Resetting the compressor is safe even with context takeover: the
    // peer's window simply goes unused.
    if (!z_) return;
    deflateReset(&z_->z);
    z_->broken = false;
}

void deflater::release() noexcept {
    if (!z_) return;
    deflateEnd(&z_->z);
    z_.reset();
    allocated_ -= sizeof(stream);
}

struct inflater::stream {
    z_stream z{};
    // zlib's data_type after the last call that moved: the bits left in its
    // bit buffer, +128 when it is between blocks (nothing pending). A fresh
    // stream is between blocks.
    int last_type = 128;
    // The last call filled the room in the middle of a block: zlib may hold
    // more output.
    bool maybe_pending = false;
    // Bytes of `tail` given to zlib in the current message.
    std::uint8_t tail_fed = 0;
    // The DEFLATE stream ended (a block with BFINAL = 1): further compressed
    // bytes start a new stream over the same window.
    bool ended = false;
    // Invalid data was seen: the window is unknown from here on.
    bool failed = false;

    void fresh() noexcept {
        last_type = 128;
        maybe_pending = false;
        ended = false;
    }
};

inflater::inflater(int window_bits) noexcept : window_bits_(window_bits) {}

inflater::~inflater() { release(); }

bool inflater::init() noexcept {
    if (window_bits_ < 8 || window_bits_ > 15) return false;
    std::unique_ptr<stream> s(new (std::nothrow) stream);
    if (!s) return false;
    hook(*s, allocated_);
    if (inflateInit2(&s->z, -window_bits_) != Z_OK) return false;
    allocated_ += sizeof(stream);
    z_ = std::move(s);
    return true;
}

namespace {

/// After a block with BFINAL = 1, zlib accepts nothing more: start a new raw
/// stream over the window so far, which later messages (and the rest of
/// this one) may still refer to. inflateResetKeep() resets the stream but
/// keeps the window in place: O(1), where copying the window out and back
/// (inflateGetDictionary/inflateSetDictionary) let a peer sending the two
/// bytes 03 00 (an empty final block) over and over cost 32 KiB of copying
/// per 2 bytes received.
bool restart(z_stream& z) noexcept { return inflateResetKeep(&z) == Z_OK; }

}  // namespace

inflater::result inflater::inflate(bytes_view in, mutable_bytes out, bool message_end) {
    if (!z_ && !init()) return {status::error, 0, 0};
    stream& s = *z_;
    if (s.failed) return {status::error, 0, 0};
    std::size_t consumed = 0, produced = 0;
    Bytef spare = 0;  // zlib wants a valid next_out even with no room

    // One zlib call on `src`: returns zlib's code, sets `used`.
    auto run = [&](const Bytef* src, std::size_t n, uInt& used) {
        const uInt given = clamp(n);
        const uInt room = clamp(out.size() - produced);
        s.z.next_in = src;
        s.z.avail_in = given;
        s.z.next_out = room != 0 ? reinterpret_cast<Bytef*>(out.data() + produced) : &spare;
        s.z.avail_out = room;
        const int rc = ::inflate(&s.z, Z_SYNC_FLUSH);
        ++work_;
        used = given - s.z.avail_in;
        const uInt made = room - s.z.avail_out;
        produced += made;
        // A call that does not move reports a different mode than the one
        // zlib is really in (it enters "between blocks" as "header next").
        if (used != 0 || made != 0) s.last_type = s.z.data_type;
        s.maybe_pending = s.z.avail_out == 0 && (s.last_type & 128) == 0;
        if (rc == Z_STREAM_END) {
            s.ended = true;
            s.maybe_pending = false;
        }
        // Z_BUF_ERROR only says that this call could not move.
        return rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END;
    };
    auto fail = [&] {
        s.failed = true;
        return result{status::error, consumed, produced};
    };
    auto done = [&] {
        s.tail_fed = 0;
        return result{status::message_done, consumed, produced};
    };
    uInt used = 0;

    while (consumed < in.size()) {
        if (s.ended) {
            if (!restart(s.z)) return fail();
            s.fresh();
        }
        const std::size_t before = produced;
        if (!run(reinterpret_cast<const Bytef*>(in.data() + consumed), in.size() - consumed, used)) return fail();
        consumed += used;
        if (consumed < in.size() && !s.ended) {
            if (produced == out.size()) return {status::output_full, consumed, produced};
            // With room left zlib takes all it is given, so only an input
            // longer than zlib's counters gets here; never spin.
            if (used == 0 && produced == before) return fail();
        }
    }
    // All of `in` is taken: write out what zlib may still hold. Only then
    // does last_type tell where the message's own bytes end.
    if (s.maybe_pending && produced < out.size() && !run(nullptr, 0, used)) return fail();
    if (!message_end) return {s.maybe_pending ? status::output_full : status::need_input, consumed, produced};

    // The end of the message: the tail (§7.2.2). It would start a block
    // that never ends where the stream already ended (§7.2.3.4 has the
    // sender add one more 00 byte so that it would be whole: that byte
    // begins, and the tail completes, a new stream), or where the message's
    // bytes end between blocks on a byte boundary (senders that flush a
    // part with nothing new, or send an empty payload for an empty message,
    // do this): there it is not fed.
    const bool at_boundary = (s.last_type & 128) != 0 && (s.last_type & 63) == 0;
    if (s.ended || (s.tail_fed == 0 && at_boundary)) return done();
    if (s.tail_fed < sizeof tail) {
        // Even with no room left: zlib cannot take it while it holds output
        // (it stops before decoding on), and otherwise the message completes
        // now, with no further call needed to learn that nothing is pending.
        if (!run(tail + s.tail_fed, sizeof tail - s.tail_fed, used)) return fail();
        s.tail_fed = static_cast<std::uint8_t>(s.tail_fed + used);
        if (s.ended) return done();
        if (s.tail_fed < sizeof tail)
            return produced == out.size() ? result{status::output_full, consumed, produced} : fail();
    }
    if ((s.last_type & 128) != 0) return done();
    if (s.maybe_pending) return {status::output_full, consumed, produced};
    // Everything is in and zlib still waits inside a block: truncated.
    return fail();
}

void inflater::reset() noexcept {
    if (!z_) return;
    inflateReset(&z_->z);
    z_->fresh();
    z_->tail_fed = 0;
    z_->failed = false;
}

void inflater::release() noexcept {
    if (!z_) return;
    inflateEnd(&z_->z);
    z_.reset();
    allocated_ -= sizeof(stream);
}

std::size_t deflater_memory(const deflate_settings& s) noexcept {
    deflater d(s);
    std::vector<std::byte> out;
    try {
        if (!d.compress(as_bytes("memory"), true, out)) return 0;
    } catch (...) {
        return 0;
    }
    return d.memory();
}

std::size_t inflater_memory(int window_bits) noexcept {
    // "Hello" (§7.2.3.1): the first output allocates zlib's window.
    static constexpr std::byte hello[] = {std::byte{0xf2}, std::byte{0x48}, std::byte{0xcd}, std::byte{0xc9},
                                          std::byte{0xc9}, std::byte{0x07}, std::byte{0x00}};
    inflater i(window_bits);
    std::byte out[16];
    if (i.inflate(hello, out, true).st != inflater::status::message_done) return 0;
    return i.memory();
}

}  // namespace sansws
