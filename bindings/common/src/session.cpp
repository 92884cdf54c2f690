// The per-connection policy of every binding (session.hpp): reading and
// back-pressure, plain-HTTP sniffing, event delivery, transport loss, the
// drain callback, idle timeout and keep-alive, what to close and how.
#include "sansws/session.hpp"

#include <algorithm>
#include <utility>

#include "dispatch.hpp"

namespace sansws::detail {

struct session::http_state {
    http_head_parser parser{http_head_parser::kind::request, http_limits{}};
    std::string seen;  // every byte read so far, for the engine if it is an upgrade
    std::string out;   // the plain-HTTP answer being written
};

session::session(config cfg, std::shared_ptr<const handlers> h, const connection_options& o, std::uint64_t id,
                 timestamp now, session_host& host)
    : engine_(std::move(cfg), now),  // a moved-from config keeps its durations
      h_(std::move(h)),
      host_(host),
      self_(std::make_shared<handle_state>()),
      state_(self_.s_.get()),
      opts_(o),
      close_timeout_(cfg.close_timeout),
      now_(now),
      last_input_(now) {
    state_->target = this;
    state_->id = id;
    if (engine_.role() == role::server && h_->on_http) http_ = std::make_unique<http_state>();
}

session::~session() { state_->target = nullptr; }

void session::enter(timestamp now) {
    busy_ = true;
    now_ = std::max(now_, now);
    // The drop after an idle timeout falls at the same moment as the
    // engine's close timeout for the Close it sent, and wins.
    if (now_ >= give_up_at_ && !engine_.should_close_transport()) engine_.abort();
    engine_.on_time(now_);
    if (now_ >= idle_deadline()) {
        engine_.close(static_cast<std::uint16_t>(close_code::going_away), "idle timeout");
        give_up_at_ = now_ + close_timeout_;
    } else if (now_ >= ping_deadline()) {
        engine_.ping();
        last_ping_ = now_;
    }
}

void session::leave() {
    drain();  // failures raised by on_time() and what sends meanwhile produced
    note_output();
    busy_ = false;
}

void session::received(mutable_bytes data) {
    last_input_ = now_;
    // Answering plain HTTP: anything more (pipelined requests, a body) is dropped.
    if (http_mode_) return;
    if (!http_) {
        // receive() parses in place and keeps views into `data` until
        // need_more: draining right here is what lets the buffer be reused.
        engine_.receive(data);
        return drain();
    }
    switch (sniff_request(http_->parser, http_->seen, data, *h_, http_->out)) {
    case sniff_result::need_more:
        return;
    case sniff_result::plain_http:
        http_mode_ = true;
        http_->seen.clear();
        http_->seen.shrink_to_fit();
        return;
    case sniff_result::upgrade:
        break;
    }
    // The engine gets every byte seen so far, kept alive until drained.
    const std::unique_ptr<http_state> sniffed = std::move(http_);
    std::string& bytes = sniffed->seen;
    engine_.receive(mutable_bytes(reinterpret_cast<std::byte*>(bytes.data()), bytes.size()));
    drain();
}

void session::received_eof() {
    eof_ = true;
    engine_.receive_eof();
    drain();
}

void session::lost(int err) {
    if (broken_) return;
    broken_ = true;
    sys_errno_ = err;
    engine_.receive_eof();
    const bool outer = std::exchange(busy_, true);  // also called after leave(), from a failed write
    drain();  // reports connection_lost unless the connection already ended
    busy_ = outer;
}

void session::drain() {
    while (true) {
        event ev = engine_.next_event();
        if (std::holds_alternative<need_more>(ev)) return;
        // A plain-HTTP exchange never became a WebSocket connection: its
        // engine only bounds the exchange in time and has nothing to report.
        if (!http_mode_) dispatch_event(engine_, *h_, self_, ev, sys_errno_);
    }
}

std::span<const bytes_view> session::output(std::size_t max_segments) {
    if (broken_) return {};
    if (http_mode_) {
        if (!http_ || http_->out.empty()) return {};
        http_segment_ = as_bytes(http_->out);
        return {&http_segment_, 1};
    }
    // Abandoned (abort(), or the drain deadline passed with the peer not
    // reading): nothing more is written, the socket is reset.
    if (engine_.output_abandoned() || engine_.buffered() == 0) return {};
    return engine_.output(max_segments);
}

void session::written(std::size_t n) {
    if (http_mode_) {
        http_->out.erase(0, n);
        return;
    }
    engine_.consume(n);
    written_total_ += n;
    if (!above_high_ || engine_.buffered() > opts_.low_water) return;
    above_high_ = false;
    if (!h_->on_drain || engine_.state() != connection_state::open) return;
    const bool outer = std::exchange(busy_, true);  // sends from on_drain are written by the driver right after
    h_->on_drain(self_);
    note_output();
    busy_ = outer;
}

void session::after_io() noexcept {
    // Written out (or nothing to write, e.g. a timer): buffers the engine
    // no longer needs go back, also when the wake-up was only the engine's
    // own deadline for doing so.
    if (engine_.buffered() == 0) engine_.release_memory();
}

bool session::wants_read() const noexcept {
    if (eof_ || broken_ || http_mode_ || engine_.output_abandoned()) return false;
    // Once our Close is queued nothing but the peer's Close can add output,
    // so reading stays bounded; it must go on, or a peer that stopped
    // reading our backlog would never get its Close (or EOF) seen.
    const connection_state s = engine_.state();
    if (s == connection_state::closing || s == connection_state::closed || s == connection_state::failed) return true;
    return !paused_ && engine_.buffered() < opts_.high_water;
}

bool session::wants_write() const noexcept {
    if (broken_ || engine_.output_abandoned()) return false;
    return http_mode_ ? http_ && !http_->out.empty() : engine_.buffered() > 0;
}

bool session::should_close() const noexcept {
    return broken_ || (http_mode_ && http_->out.empty()) || engine_.should_close_transport();
}

bool session::reset_on_close() const noexcept {
    return engine_.output_abandoned() || engine_.buffered() > 0 || (http_ && !http_->out.empty());
}

timestamp session::idle_deadline() const noexcept {
    if (opts_.idle_timeout <= duration::zero() || engine_.state() != connection_state::open) return no_deadline;
    return last_input_ + opts_.idle_timeout;
}

timestamp session::ping_deadline() const noexcept {
    if (opts_.keepalive <= duration::zero() || engine_.state() != connection_state::open) return no_deadline;
    return std::max(last_input_, last_ping_) + opts_.keepalive;
}

timestamp session::next_deadline() const noexcept {
    // While plain HTTP is answered the engine still sits in its handshake,
    // so its handshake deadline bounds a peer that never reads the answer.
    return std::min({engine_.next_deadline(), idle_deadline(), ping_deadline(),
                     engine_.should_close_transport() ? no_deadline : give_up_at_});
}

void session::closed() {
    if (!state_->target) return;
    state_->target = nullptr;
    report_setup_error(engine_, *h_, self_);
    if (h_->on_disconnect && !http_mode_) h_->on_disconnect(self_);
}

bool session::shutdown(timestamp now, std::uint16_t code, std::string_view reason) {
    switch (engine_.state()) {
    case connection_state::open:
        enter(now);
        engine_.close(code, reason);
        leave();
        return false;
    case connection_state::closing:
    case connection_state::closed:
        return false;  // already closing: the engine's deadlines bound the wait
    default:
        abort();  // still in the opening handshake (or answering plain HTTP), or failed: drop it
        return true;
    }
}

misuse session::begin_use(bool data) {
    // A handle may act long after the driver last touched this connection;
    // deadlines the call sets (close_timeout) must count from now.
    if (!busy_) engine_.on_time(now_ = std::max(now_, host_.clock()));
    if (!data || opts_.max_backpressure == 0 || engine_.buffered() <= opts_.max_backpressure ||
        engine_.output_abandoned())
        return misuse::none;  // (an aborted connection refuses the send itself)
    // uWebSockets' maxBackpressure: the message is dropped, or with
    // closeOnBackpressureLimit the connection (reset after the handler).
    if (opts_.close_on_backpressure_limit) engine_.abort();
    return misuse::too_large;
}

void session::note_output() noexcept {
    if (engine_.buffered() >= opts_.high_water) above_high_ = true;
}

void session::end_use() noexcept {
    note_output();
    if (!busy_) host_.wake();
}

void session::set_paused(bool p) noexcept {
    paused_ = p;
    if (!busy_) host_.wake();
}

void session::set_idle_timeout(duration idle, duration keepalive) noexcept {
    opts_.idle_timeout = idle;
    opts_.keepalive = keepalive;
    if (!busy_) host_.wake();
}

}  // namespace sansws::detail
