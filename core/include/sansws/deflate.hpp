// The permessage-deflate transform (RFC 7692 §7.2) over zlib's raw DEFLATE:
// a compressor and a decompressor for one direction of one connection, with
// every byte zlib allocates counted, and a decompressor whose output is
// bounded by the caller's buffer (it never produces more than it is given
// room for, so a small input cannot make it allocate or work unboundedly).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "sansws/types.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Per message: whether to compress it when permessage-deflate is in force.
enum class compression : std::uint8_t {
    automatic,  // whole messages of compression_config::threshold bytes or more, and fragmented ones
    on,
    off,
};

/// Whole-message delivery: the most compressed bytes a message's frames may
/// declare, max_message_size plus an eighth plus 1 KiB (DEFLATE expands
/// incompressible data by well under that; RFC 6455 §10.4). Above it the
/// message is refused with 1009 on the frame header, before inflating.
constexpr std::uint64_t compressed_message_limit(std::uint64_t max_message_size) noexcept {
    const std::uint64_t slack = max_message_size / 8 + 1024;
    return max_message_size > UINT64_MAX - slack ? UINT64_MAX : max_message_size + slack;
}

/// zlib's raw deflate cannot compress with a 256-byte window (deflateInit2
/// refuses -8): a side limited to 8 bits sends uncompressed messages, which
/// RFC 7692 §6 allows (RSV1 is per message), and inflates with 9.
inline constexpr int min_compress_window_bits = 9;

/// Compression settings of one compressor. window_bits 9..15 (zlib's raw
/// deflate cannot use 8: it refuses it, so compress() returns false);
/// mem_level 1..9 (zlib: a hash table and an output buffer of
/// 2^(mem_level + 8) bytes each); level 0..9 (-1: zlib's default, 6).
/// zlib's memory for a compressor is about 2^(window_bits + 2) +
/// 2^(mem_level + 9) + 6 KiB; deflater_memory() gives it exactly.
struct deflate_settings {
    int window_bits = 15;
    int mem_level = 8;
    int level = -1;
};

/// Compresses the messages of one direction (§7.2.1). The zlib stream is
/// created at the first message and kept for context takeover.
class deflater {
public:
    explicit deflater(deflate_settings s = {}) noexcept;
    ~deflater();
    deflater(const deflater&) = delete;
    deflater& operator=(const deflater&) = delete;

    /// Compress `data`, the next part of the current message, appending the
    /// compressed bytes to `out`. Each call flushes (Z_SYNC_FLUSH) so the
    /// part can be sent as a frame now; with `fin` (the message ends here)
    /// the final 00 00 ff ff is removed from `out` (§7.2.1). An empty part
    /// adds nothing, or with `fin` the single byte 00 (an empty message is
    /// 00, §7.2.3.6). Returns false only when zlib fails (out of memory, bad
    /// settings): `out` is then unchanged and the deflater refuses every
    /// message until reset() or release().
    bool compress(bytes_view data, bool fin, std::vector<std::byte>& out);
    /// Forget the LZ77 window (no context takeover, §7.1.1): the next message
    /// refers to nothing before it. Keeps the allocated state. Call between
    /// messages; always safe for the peer, whose window simply goes unused.
    void reset() noexcept;
    /// Free the zlib state (it is created again when needed).
    void release() noexcept;
    /// Heap bytes held for this compressor now: zlib's blocks (each with our
    /// size header of alignof(std::max_align_t) bytes) and the z_stream. 0
    /// before the first message and after release().
    std::size_t memory() const noexcept { return allocated_; }
    const deflate_settings& settings() const noexcept { return settings_; }

private:
    bool init() noexcept;
    deflate_settings settings_;
    struct stream;
    std::unique_ptr<stream> z_;
    std::size_t allocated_ = 0;
};

/// Decompresses the messages of one direction (§7.2.2), appending the
/// 00 00 ff ff tail itself at the end of each message. Resumable: when the
/// output room runs out it stops, and the next call continues with the
/// input not yet consumed.
///
/// The caller's loop, for each part (frame payload) of a message, with
/// message_end on the last part (an empty part is fine):
///   output_full  -> deliver `produced` bytes, call again with
///                   in.subspan(consumed) (possibly empty), fresh non-empty
///                   room and the same message_end;
///   need_input   -> deliver, go on with the next part;
///   message_done -> deliver; the message is complete;
///   error        -> fail the connection (1007).
/// Each output_full fills the room entirely, so the loop always ends, and
/// no output is ever lost or repeated; the bytes produced do not depend on
/// how the input is split or how much room each call gets (one exception
/// at the constructor: a peer exceeding its window). The inflater
/// never writes more than `out.size()` bytes per call and holds no output
/// of its own beyond zlib's window, so a limit on the message size can be
/// enforced as the bytes come out.
class inflater {
public:
    /// window_bits 8..15: the window the peer's compressor was limited to.
    /// Others make every call fail. zlib checks a distance against its window
    /// plus the bytes the same call already wrote, so a peer exceeding the
    /// window is caught with a small room but may go unnoticed with a large
    /// one (the bytes decoded are then still the ones the peer meant).
    explicit inflater(int window_bits = 15) noexcept;
    ~inflater();
    inflater(const inflater&) = delete;
    inflater& operator=(const inflater&) = delete;

    enum class status : std::uint8_t {
        need_input,    // all of `in` consumed and all its output given; next part
        output_full,   // `out` is full, more may follow: call again with the rest of `in`
        message_done,  // message_end was set and the message is fully inflated
        error,         // not valid DEFLATE data (or zlib failed): fail with 1007
    };
    struct result {
        status st;
        std::size_t consumed;  // bytes of `in` used
        std::size_t produced;  // bytes written to the start of `out`
    };
    /// Inflate `in` (the next compressed bytes of the current message) into
    /// `out`. `message_end`: `in` holds the message's last compressed bytes;
    /// the tail is then fed after them, and message_done is returned once
    /// everything is out. The tail is not fed where it could only begin a
    /// block that never ends: after a block with BFINAL = 1, or when the
    /// message's bytes already end between blocks on a byte boundary (an
    /// empty payload, a last frame with nothing after a sync flush). A
    /// message that ends inside a block is an error (truncated).
    /// A block with BFINAL = 1 ends the DEFLATE stream: compressed bytes
    /// after it (in this message, such as §7.2.3.4's extra 00, or in the
    /// next) start a new stream over the same window, so context takeover
    /// carries on. After an error, every call returns error (consuming and
    /// producing nothing) until reset() or release().
    /// Cost: a new stream keeps zlib's window where it is (no copy), and a
    /// stream takes at least 2 input bytes, so one call makes at most
    /// 4 + consumed / 2 zlib calls whatever the input (work()).
    result inflate(bytes_view in, mutable_bytes out, bool message_end);
    /// The cost counter: zlib calls made so far plus window bytes copied to
    /// start new streams (none today). Each zlib call does a bounded amount
    /// of work beyond the bytes it moves, so this bounds the CPU a peer's
    /// compressed bytes can cost per byte (RFC 6455 §10.4).
    std::uint64_t work() const noexcept { return work_; }
    /// After message_done, with no context takeover (§7.1.1): forget the
    /// window. Also clears an error.
    void reset() noexcept;
    /// Free zlib's state (created again when needed, with an empty window).
    void release() noexcept;
    /// Heap bytes held for this decompressor now (zlib allocates its window
    /// at the first output): counted as deflater::memory() is.
    std::size_t memory() const noexcept { return allocated_; }
    int window_bits() const noexcept { return window_bits_; }

private:
    bool init() noexcept;
    int window_bits_;
    struct stream;
    std::unique_ptr<stream> z_;
    std::size_t allocated_ = 0;
    std::uint64_t work_ = 0;
};

/// zlib's memory for one compressor and one decompressor with these
/// settings, as counted by deflater::memory() / inflater::memory() once
/// each has handled a message (the README table): measured by running a
/// small message through a new one. 0 for settings it refuses.
std::size_t deflater_memory(const deflate_settings& s) noexcept;
std::size_t inflater_memory(int window_bits) noexcept;

}  // namespace sansws

#pragma GCC visibility pop
