// The sans-I/O engine: one WebSocket connection, either role. It takes bytes
// in (receive), hands events out (next_event), queues bytes to send (output /
// consume) and is told the time (on_time). It performs no I/O, reads no clock
// and starts no threads.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sansws/detail/crypto.hpp"
#include "sansws/deflate.hpp"
#include "sansws/detail/message_reader.hpp"
#include "sansws/detail/message_writer.hpp"
#include "sansws/errors.hpp"
#include "sansws/events.hpp"
#include "sansws/extensions.hpp"
#include "sansws/frame.hpp"
#include "sansws/handshake.hpp"
#include "sansws/detail/output_queue.hpp"
#include "sansws/types.hpp"
#include "sansws/detail/utf8.hpp"

// Declarations here are the library's exported interface (it is built with
// hidden visibility: what only core/src declares stays inside).
#pragma GCC visibility push(default)

namespace sansws {

/// Life cycle (all transitions are in core/src/state_table.cpp).
enum class connection_state : std::uint8_t {
    handshake,          // waiting for the peer's request (server) or response (client)
    handshake_pending,  // server: request delivered, waiting for accept()/reject()
    open,               // data may flow both ways
    closing,            // we sent Close, waiting for the peer's
    closed,             // Close sent and received, or handshake refused: close TCP
    failed,             // protocol violation, timeout or lost transport (§7.1.7)
};
std::string_view to_string(connection_state s) noexcept;

/// What moves a connection from one state to another.
enum class state_input : std::uint8_t {
    request_received,   // server: a valid upgrade request arrived
    app_accept,         // server: accept()
    app_reject,         // server: reject()
    response_accepted,  // client: a valid 101 arrived
    response_rejected,  // client: any other response arrived
    close_sent,         // close()
    close_received,     // the peer's Close arrived (answered at once if needed)
    violation,          // protocol violation, timeout, lost transport
    app_abort,          // abort(): no close handshake, output dropped
    send,               // a data or control frame sent (the state stays)
};
/// The transition table (RFC 6455 §4, §7): the next state, or nullopt when
/// `in` is not allowed in `s` (a call then returns misuse::wrong_state).
std::optional<connection_state> next_state(connection_state s, state_input in) noexcept;

enum class delivery_mode : std::uint8_t {
    whole_message,  // assembled, bounded by max_message_size
    streaming,      // pieces as they arrive, flagged first/last
};

/// Fills its argument with unpredictable bytes (e.g. getrandom(2)). Called
/// once per connection to seed the mask-key generator (§5.3, §10.3).
using entropy_source = std::function<void(mutable_bytes)>;

/// permessage-deflate (RFC 7692): offered (client) or accepted (server) in
/// the opening handshake when negotiate.enabled. zlib memory per connection
/// follows from the window bits and mem_level (README "Compression").
struct compression_config {
    deflate_options negotiate{};
    /// The compressor's zlib memLevel (1..9) and level (0..9, -1: zlib's 6).
    int mem_level = 8;
    int level = -1;
    /// compression::automatic compresses whole messages this large or larger.
    std::size_t threshold = 64;
    /// Streaming delivery (which has no message limit): fail with 1009 once a
    /// message has inflated to more than inflate_ratio_floor bytes and more
    /// than max_inflate_ratio times the compressed length its frames declared
    /// so far. 0: no ratio cap.
    std::uint32_t max_inflate_ratio = 256;
    std::uint64_t inflate_ratio_floor = 1024 * 1024;
    /// Streaming delivery: the largest piece of inflated data per event.
    std::size_t stream_chunk = 16 * 1024;
    /// A compressor shared by the connections of one thread (not owned; it
    /// must outlive them and be used from their thread only). Used for whole
    /// messages when this side compresses with no context takeover (server:
    /// server_no_context_takeover agreed; client: client_no_context_takeover)
    /// and its window fits the agreed one; the connection then holds no
    /// compressor of its own.
    deflater* shared = nullptr;
};

struct config {
    sansws::role role = role::server;
    delivery_mode delivery = delivery_mode::whole_message;
    /// Whole-message delivery: largest message accepted (1009 above it).
    std::uint64_t max_message_size = 16 * 1024 * 1024;
    http_limits handshake_limits{};
    /// Client role: body of a refusal kept for the handshake_rejected event.
    std::size_t max_reject_body = 4096;
    /// Answer each Ping with a Pong automatically (§5.5.2); pings are still
    /// reported as events.
    bool auto_pong = true;
    /// Check that outgoing text is UTF-8 (§5.6); a misuse error otherwise.
    bool validate_outgoing_text = true;
    duration handshake_timeout = std::chrono::seconds(10);
    /// Time we wait for the peer's Close after sending ours, and (client) for
    /// the server to close TCP after the close handshake (§7.1.1).
    duration close_timeout = std::chrono::seconds(5);
    /// Keep-alive: send a Ping this often while open (zero: never) and fail
    /// with 1011 when its Pong has not come within pong_timeout.
    duration ping_interval = duration::zero();
    duration pong_timeout = std::chrono::seconds(10);
    compression_config compression{};
    /// What a quiet connection keeps (RFC 6455 §10.4: memory a peer can pin).
    /// Message, streaming and compression buffers larger than retain_size
    /// are given back by the first release_memory() after the message that
    /// used them; smaller ones (above one output block) are kept for the
    /// next message until retain_time passes without one, then given back
    /// too (next_deadline() reports that moment).
    std::size_t retain_size = 256 * 1024;
    duration retain_time = std::chrono::seconds(1);
    /// Required for the client role (mask keys, Sec-WebSocket-Key). Unused by
    /// servers, whose frames are not masked (§5.1).
    entropy_source entropy{};
    /// Client role: what to ask for.
    client_options client{};
};

/// A message framed (and, when worthwhile, compressed) once, to be sent to
/// many connections (broadcast) with no per-connection work beyond queueing
/// a reference (servers) or masking a copy (clients). The compressed form
/// starts from an empty window, so it is valid for every peer that agreed to
/// permessage-deflate with a window of at least settings.window_bits; other
/// connections get the uncompressed form.
class prepared_message {
public:
    prepared_message(message_type type, bytes_view payload, const deflate_settings& settings = {},
                     std::size_t threshold = 64);
    message_type type() const noexcept { return type_; }
    /// False for text that is not UTF-8 (§5.6): sending it is refused.
    bool valid() const noexcept { return valid_; }
    bool compressed() const noexcept { return compressed_ != nullptr; }

private:
    friend class detail::message_writer;
    struct frame {
        std::vector<std::byte> bytes;  // server frame: header then payload
        std::size_t header = 0;
    };
    message_type type_;
    bool valid_ = true;
    int window_bits_ = 15;
    std::shared_ptr<const frame> plain_;
    std::shared_ptr<const frame> compressed_;
};

class connection {
public:
    /// `now` starts the opening-handshake timer. A client queues its upgrade
    /// request at once.
    explicit connection(config cfg, timestamp now = timestamp::zero());

    // ---- input ----------------------------------------------------------
    /// Hand over received bytes. Zero-copy: the engine parses them in place
    /// (payloads delivered from `data` are unmasked inside it; pieces of a
    /// message that spans reads are unmasked as they are copied out), so
    /// `data` must stay valid and untouched until next_event() returns
    /// need_more. Fails with
    /// misuse::input_pending when the previous input is not drained yet.
    misuse receive(mutable_bytes data);
    /// The peer closed its side of the transport (read returned 0).
    void receive_eof();
    /// The next event, or need_more once the input is used up.
    event next_event();

    // ---- handshake (server) ---------------------------------------------
    /// Frames the client sent early (held back, bounded by the handshake
    /// limit) are parsed by the following next_event() calls, before any
    /// input given to receive() afterwards.
    misuse accept(const accept_options& opts = {});
    misuse reject(int status, const http_headers& headers = {}, std::string_view body = {});

    // ---- sending --------------------------------------------------------
    /// Send a text or binary message, or (fin=false) a fragment of one
    /// (§5.4): the first call fixes the type, later calls continue it, the
    /// call with fin=true ends it. Control frames may be sent in between.
    /// With permessage-deflate in force, `c` chooses whether the message is
    /// compressed; the first fragment's choice holds for the whole message.
    misuse send_text(std::string_view text, bool fin = true, compression c = compression::automatic);
    misuse send_binary(bytes_view data, bool fin = true, compression c = compression::automatic) {
        // Inline fast path for the common small server frame (the sender's
        // per-frame cost is mostly call overhead otherwise).
        if (state_ == connection_state::open && writer_.send_small_binary(out_, data, fin, c)) return misuse::none;
        return send_data(opcode::binary, data, fin, c);
    }
    /// Zero-copy send of a whole binary message the engine may keep.
    misuse send_binary(std::vector<std::byte>&& data);
    misuse send(const message& m);
    /// Queue a prepared message (whole, FIN set).
    misuse send(const prepared_message& m);
    misuse ping(bytes_view data = {});
    misuse pong(bytes_view data = {});
    /// Start the close handshake (§7.1.2); reason must be UTF-8 and at most
    /// 123 bytes. code 1005 sends an empty Close.
    misuse close(std::uint16_t code = 1000, std::string_view reason = {});
    misuse send(const close_frame& c) { return close(c.code, c.reason); }
    /// End the connection at once: no close handshake, nothing more is
    /// parsed or reported, and should_close_transport() is true even though
    /// output may still be queued; the caller drops that output and closes
    /// the transport (a binding resets it). Allowed in every state but failed
    /// after an earlier abort (misuse::wrong_state).
    misuse abort() noexcept;

    // ---- output ---------------------------------------------------------
    /// Bytes to write, as gather spans; valid until the next non-const call.
    std::span<const bytes_view> output(std::size_t max_segments = 64) { return out_.gather(max_segments); }
    void consume(std::size_t n) noexcept { out_.consume(n); }
    std::size_t buffered() const noexcept { return out_.size(); }

    // ---- time -----------------------------------------------------------
    /// Tell the engine the time; it acts on every deadline that has passed.
    void on_time(timestamp now);
    /// The earliest moment on_time() has work to do; no_deadline when none.
    timestamp next_deadline() const noexcept;

    // ---- state ----------------------------------------------------------
    connection_state state() const noexcept { return state_; }
    sansws::role role() const noexcept { return cfg_.role; }
    /// True once the transport should be closed: the connection is closed or
    /// failed and its output is written. A client waits for the server to
    /// close first (§7.1.1) until close_timeout passes. Output a peer does not
    /// read is not waited for forever: close_timeout after the connection
    /// became closed or failed (or at once after abort()), this is true with
    /// output still queued, which the caller then drops (output_abandoned()).
    bool should_close_transport() const noexcept;
    /// True when should_close_transport() gave up on queued output (abort(),
    /// or the drain deadline passed): close without writing it (a reset).
    bool output_abandoned() const noexcept { return abandoned_; }
    /// The subprotocol agreed in the handshake, if any.
    const std::optional<std::string>& subprotocol() const noexcept { return subprotocol_; }
    /// The permessage-deflate parameters in force, if it was agreed.
    const std::optional<deflate_params>& compression_params() const noexcept { return deflate_; }
    /// Bytes of memory this connection holds now: the object, its buffers
    /// (output queue, message assembly, compression scratch) and zlib's
    /// state, for a server enforcing a memory budget.
    std::size_t memory_use() const noexcept;
    /// The cost counter of inflating received messages (inflater::work():
    /// zlib calls): at most a few per event plus one per 2 compressed bytes
    /// received, whatever their content (RFC 6455 §10.4).
    std::uint64_t inflate_work() const noexcept;
    /// Give back buffers that hold nothing now: the output blocks once the
    /// output is written; between messages, the message buffer, the
    /// streaming chunk and compression scratch, under the retention rule of
    /// config::retain_size and retain_time. Bindings call it whenever the
    /// output is written (and after on_time()), so a quiet connection costs
    /// little more than this object and its zlib state. Views from earlier
    /// events end. Returns the bytes given back (a binding may then ask the
    /// allocator to return large frees to the OS).
    std::size_t release_memory() noexcept;
    /// The first violation, if the connection failed because of one.
    violation failure_reason() const noexcept { return failure_; }
    /// Why the configuration was refused (client without entropy, bad client
    /// options); such a connection starts failed and sends nothing.
    misuse setup_error() const noexcept { return setup_error_; }

private:
    void transition(state_input in) noexcept;
    bool allowed(state_input in) const noexcept { return next_state(state_, in).has_value(); }
    void record_failure(violation v);
    event take_failure();
    event slow_event();
    event handshake_event();
    event frame_event();
    event fail(violation v) {
        record_failure(v);
        return take_failure();
    }
    event on_control(opcode op, bytes_view payload);
    misuse send_data(opcode op, bytes_view data, bool fin, compression c = compression::automatic);
    void after_send(const detail::message_writer::sent& r);
    void queue_close(std::uint16_t code, std::string_view reason);
    void stash_early_input();
    void schedule_ping() noexcept;
    bool read_reject_body();
    timestamp retain_deadline() const noexcept;
    // permessage-deflate negotiation (connection_deflate.cpp)
    bool check_compression_config() const noexcept;
    void negotiate_compression(accept_options& opts);
    bool check_compression_answer(const http_head& head, std::string& reason);
    void enable_compression(const deflate_params& p);

    config cfg_;
    misuse setup_error_ = misuse::none;
    connection_state state_ = connection_state::handshake;
    violation failure_ = violation::none;
    std::string failure_detail_;       // text behind failure::reason
    bool failure_unreported_ = false;  // recorded, next_event() reports it once
    output_queue out_;
    detail::message_reader reader_;    // received bytes to messages
    detail::message_writer writer_;    // sends to frames

    // input
    mutable_bytes in_{};            // the caller's current input (unparsed part)
    std::vector<std::byte> early_;  // server: bytes after the request, before accept()
    mutable_bytes early_in_{};      // the unparsed part of early_, read before in_
    bool eof_ = false;

    // handshake
    std::unique_ptr<http_head_parser> http_;
    std::string client_key_;                   // client: Sec-WebSocket-Key sent
    std::vector<std::string> offered_protocols_; // server: what the client offered
    std::optional<handshake_rejected> rejected_;
    std::size_t reject_body_left_ = 0;  // client: body bytes still expected
    bool reject_until_eof_ = false;
    std::optional<std::string> subprotocol_;

    // closing
    bool close_sent_ = false;
    bool close_received_ = false;

    // permessage-deflate
    std::optional<deflate_params> deflate_;  // agreed in the handshake
    std::vector<extension_offer> extension_offers_;  // server: parsed from the request, kept until accept()

    // time
    timestamp now_{};
    timestamp handshake_deadline_ = no_deadline;
    timestamp close_deadline_ = no_deadline;
    timestamp ping_at_ = no_deadline;
    timestamp pong_deadline_ = no_deadline;
    bool close_wait_over_ = false;
    // Closed or failed: the queued output (our Close, a refusal) is written
    // by this moment or dropped (abandoned_), so a peer that stops reading
    // cannot hold the transport and the queue forever.
    timestamp drain_deadline_ = no_deadline;
    bool abandoned_ = false;
    timestamp buffers_used_at_{};  // a message last used the reader's or writer's buffers (retain_time)
};

}  // namespace sansws

#pragma GCC visibility pop
