// Not part of the API: the layer under the connection that turns sends into
// frames. Declared here only because the connection holds one by value; use
// sansws::connection.
//
// The writer owns everything about sending: the fragment state (§5.4), the
// outgoing UTF-8 check (§5.6), the compressor and its scratch (RFC 7692
// §7.2.1) and the mask-key generator (§5.3, §10.3). Every frame it queues
// goes through write_frame(), the small-frame path below included, so what
// each send queues is one function's output. It never changes the
// connection's state; the connection decides whether a send is allowed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "sansws/detail/crypto.hpp"
#include "sansws/deflate.hpp"
#include "sansws/errors.hpp"
#include "sansws/frame.hpp"
#include "sansws/detail/output_queue.hpp"
#include "sansws/types.hpp"
#include "sansws/detail/utf8.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {
class prepared_message;
}

namespace sansws::detail {

/// What the writer needs of the connection's configuration.
struct writer_settings {
    role r = role::server;
    bool validate_text = true;  // config::validate_outgoing_text
    int mem_level = 8;          // compression_config
    int level = -1;
    std::size_t threshold = 64;
    deflater* shared = nullptr;
};

class message_writer {
public:
    explicit message_writer(const writer_settings& s) noexcept : s_(s) {}

    /// Client role: seed the mask-key generator (§5.3: unpredictable keys).
    void seed_masks(std::span<const std::byte, 32> key, std::span<const std::byte, 12> nonce) noexcept {
        rng_.seed(key, nonce);
    }
    /// RFC 7692: compress with a window of `window_bits`; `no_takeover`:
    /// this side agreed to reset its compressor after each message (§7.1.1).
    void enable_compression(int window_bits, bool no_takeover) noexcept {
        agreed_ = true;
        window_bits_ = window_bits;
        no_takeover_ = no_takeover;
    }

    /// The result of a data send: a misuse refuses it (nothing queued);
    /// compression_failed means zlib failed with half a compressed message
    /// out, so the connection must fail.
    struct sent {
        misuse refused = misuse::none;
        bool compression_failed = false;
    };
    /// A text or binary message, or a fragment of one (§5.4).
    sent send(output_queue& out, opcode op, bytes_view data, bool fin, compression c);
    /// The common small server frame, inline: exactly what send() queues for
    /// it (no mask, §5.1; a 7-bit length, §5.2) and the same state after.
    /// False when it does not apply: send() decides.
    bool send_small_binary(output_queue& out, bytes_view data, bool fin, compression c) noexcept {
        if (s_.r != role::server || !fin || message_open_ || data.size() >= 126 ||
            (agreed_ && (c == compression::on || data.size() >= s_.threshold)))
            return false;
        const std::size_t n = data.size();
        std::byte* p = out.append_space(2 + n).data();
        p[0] = std::byte{0x82};  // FIN, binary
        p[1] = std::byte(n);
        copy_small(p + 2, data.data(), n);
        type_ = opcode::binary;
        return true;
    }
    /// A whole binary message the writer may keep (servers, 4 KiB or more,
    /// no compression): queued without copying. Otherwise as send().
    sent send_owned(output_queue& out, std::vector<std::byte>&& data);
    /// A prepared (broadcast) message, whole.
    misuse send_prepared(output_queue& out, const prepared_message& m);
    /// A control frame (§5.5): ping, pong or close, at most 125 bytes.
    void control(output_queue& out, opcode op, bytes_view payload) { write_frame(out, op, true, payload); }
    /// A fragmented outgoing message is open.
    bool message_open() const noexcept { return message_open_; }

    bool take_buffers_used() noexcept {
        const bool used = buffers_used_;
        buffers_used_ = false;
        return used;
    }
    std::size_t memory() const noexcept;
    bool holding_buffers() const noexcept { return zout_.capacity() != 0; }
    template <class Drop>
    void release(Drop drop) noexcept {
        if (drop(zout_.capacity())) std::vector<std::byte>().swap(zout_);
    }

    /// memcpy for the short payloads of small frames, where a library call
    /// costs more than the copy: overlapping loads and stores cover 4-16.
    static void copy_small(std::byte* dst, const std::byte* src, std::size_t n) noexcept {
        if (n >= 8 && n <= 16) {
            std::uint64_t a, b;
            std::memcpy(&a, src, 8);
            std::memcpy(&b, src + n - 8, 8);
            std::memcpy(dst, &a, 8);
            std::memcpy(dst + n - 8, &b, 8);
        } else if (n >= 4 && n < 8) {
            std::uint32_t a, b;
            std::memcpy(&a, src, 4);
            std::memcpy(&b, src + n - 4, 4);
            std::memcpy(dst, &a, 4);
            std::memcpy(dst + n - 4, &b, 4);
        } else if (n != 0) {
            std::memcpy(dst, src, n);  // an empty view may hold a null pointer
        }
    }

private:
    void write_frame(output_queue& out, opcode op, bool fin, bytes_view payload, std::uint8_t rsv = 0);
    bool compress_message(std::size_t size, bool fin, compression c) const noexcept;
    bool write_compressed(output_queue& out, opcode op, bytes_view data, bool fin, bool& failed);

    writer_settings s_;
    bool message_open_ = false;  // a fragmented outgoing message is open
    bool compressed_ = false;    // the outgoing message is compressed
    bool agreed_ = false;        // permessage-deflate is in force
    bool no_takeover_ = false;
    bool buffers_used_ = false;
    opcode type_ = opcode::binary;
    int window_bits_ = 15;
    utf8_validator utf8_;
    chacha20_rng rng_;
    std::unique_ptr<deflater> deflater_;  // created at the first compressed send
    std::vector<std::byte> zout_;         // one compressed send, before framing
};

}  // namespace sansws::detail

#pragma GCC visibility pop
