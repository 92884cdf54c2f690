// One engine on one non-blocking socket. Every entry point runs the same
// pump: bring the engine's clock up to date, read and parse what arrived,
// write what is queued, close the socket when the engine is finished.
#include "sansws/loop_adapter.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>

#include "dispatch.hpp"

namespace sansws {
namespace {

constexpr std::size_t default_buffer = 64 * 1024;
constexpr std::size_t max_iov = 64;

}  // namespace

loop_adapter::loop_adapter(int fd, config cfg, std::shared_ptr<const handlers> h, timestamp now,
                           adapter_options opts)
    : fd_(fd),
      engine_(std::move(cfg), now),
      h_(std::move(h)),
      opts_(std::move(opts)),
      state_(std::make_shared<detail::handle_state>()),
      handle_(state_) {
    if (opts_.read_buffer.empty()) {
        own_buffer_.resize(default_buffer);
        opts_.read_buffer = own_buffer_;
    }
    state_->target = this;
    state_->id = opts_.id;
    if (engine_.role() == role::server && h_->on_http) {
        peek_ = std::make_unique<http_head_parser>(http_head_parser::kind::request, http_limits{});
    }
}

loop_adapter::~loop_adapter() {
    state_->target = nullptr;
    if (fd_ >= 0) close_fd();
}

connection& loop_adapter::begin_use() {
    // A handle may act long after the last on_*() call; deadlines the call
    // sets (close_timeout) must count from now, not from then.
    if (!pumping_ && opts_.clock) engine_.on_time(opts_.clock());
    return engine_;
}

void loop_adapter::end_use() {
    if (!pumping_ && opts_.on_change) opts_.on_change();
}

void loop_adapter::on_readable(timestamp now) { pump(now, true); }
void loop_adapter::on_writable(timestamp now) { pump(now, false); }
void loop_adapter::on_timer(timestamp now) { pump(now, false); }

void loop_adapter::on_hangup(timestamp now) {
    if (fd_ < 0) return;
    pump(now, true);  // data may still be waiting ahead of the error
    if (fd_ < 0) return;
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    pumping_ = true;
    transport_lost(err != 0 ? err : ECONNRESET);
    pumping_ = false;
    close_now();
}

bool loop_adapter::wants_read() const noexcept {
    if (fd_ < 0 || eof_ || broken_ || http_mode_ || engine_.output_abandoned()) return false;
    // Once our Close is queued nothing but the peer's Close can add output,
    // so reading stays bounded; it must go on, or a peer that stopped
    // reading our backlog would never get its Close (or EOF) seen.
    const connection_state s = engine_.state();
    return engine_.buffered() < opts_.high_water || s == connection_state::closing ||
           s == connection_state::closed || s == connection_state::failed;
}

bool loop_adapter::wants_write() const noexcept {
    return fd_ >= 0 && !broken_ && !engine_.output_abandoned() && (engine_.buffered() > 0 || !http_out_.empty());
}

timestamp loop_adapter::next_deadline() const noexcept {
    // While plain HTTP is answered the engine still sits in its handshake,
    // so its handshake deadline bounds a peer that never reads the answer.
    return fd_ >= 0 ? engine_.next_deadline() : no_deadline;
}

void loop_adapter::shutdown(timestamp now, std::uint16_t code, std::string_view reason) {
    if (fd_ < 0) return;
    switch (engine_.state()) {
    case connection_state::open:
        engine_.on_time(now);
        engine_.close(code, reason);
        pump(now, false);
        break;
    case connection_state::closing:
    case connection_state::closed:
        break;  // already closing: the engine's deadlines bound the wait
    default:
        abort();
    }
}

void loop_adapter::abort() {
    if (fd_ < 0) return;
    engine_.abort();  // what is still queued is dropped: the socket is reset
    close_now();
}

void loop_adapter::pump(timestamp now, bool readable) {
    if (fd_ < 0) return;
    pumping_ = true;
    engine_.on_time(now);
    if (readable) read_some();
    drain();  // failures raised by on_time() and sends made meanwhile
    write_some();
    // Written out (or nothing to write, e.g. a timer): buffers the engine
    // no longer needs go back, also when the wake-up was only the engine's
    // own deadline for doing so.
    if (engine_.buffered() == 0) engine_.release_memory();
    pumping_ = false;
    const bool http_done = http_mode_ && http_out_.empty();
    if (broken_ || http_done || engine_.should_close_transport()) close_now();
}

void loop_adapter::read_some() {
    const mutable_bytes buf = opts_.read_buffer;
    for (unsigned i = 0; i < opts_.max_reads && wants_read(); ++i) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n > 0) {
            feed(buf.first(static_cast<std::size_t>(n)));
            if (static_cast<std::size_t>(n) < buf.size()) return;  // the socket is very likely empty
            continue;
        }
        if (n == 0) {
            eof_ = true;
            engine_.receive_eof();
            drain();
            return;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) transport_lost(errno);
        return;
    }
}

void loop_adapter::feed(mutable_bytes data) {
    if (peek_) return peek(data);
    // receive() parses in place and keeps views into `data` until
    // need_more: draining right here is what lets the buffer be shared.
    engine_.receive(data);
    drain();
}

void loop_adapter::peek(mutable_bytes data) {
    switch (detail::sniff_request(*peek_, peeked_, data, *h_, http_out_)) {
    case detail::sniff_result::need_more:
        return;
    case detail::sniff_result::plain_http:
        http_mode_ = true;
        peek_.reset();
        peeked_.clear();
        return;
    case detail::sniff_result::upgrade:
        break;
    }
    // The engine gets every byte seen so far.
    peek_.reset();
    std::string bytes = std::move(peeked_);
    engine_.receive(mutable_bytes(reinterpret_cast<std::byte*>(bytes.data()), bytes.size()));
    drain();
}

void loop_adapter::drain() {
    while (true) {
        event ev = engine_.next_event();
        if (std::holds_alternative<need_more>(ev)) return;
        dispatch(ev);
    }
}

void loop_adapter::dispatch(event& ev) {
    // A plain-HTTP exchange never became a WebSocket connection: its engine
    // only bounds the exchange in time and has nothing to report.
    if (http_mode_) return;
    detail::dispatch_event(engine_, *h_, handle_, ev, sys_errno_);
}

void loop_adapter::write_some() {
    // Abandoned (abort(), or the drain deadline passed with the peer not
    // reading): nothing more is written, the socket is reset.
    if (engine_.output_abandoned()) return;
    while (!broken_) {
        if (!http_out_.empty()) {
            const ssize_t n = ::send(fd_, http_out_.data(), http_out_.size(), MSG_NOSIGNAL);
            if (n >= 0) {
                http_out_.erase(0, static_cast<std::size_t>(n));
                continue;
            }
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) transport_lost(errno);
            return;
        }
        if (engine_.buffered() == 0) return;
        std::array<iovec, max_iov> iov;
        std::size_t count = 0, total = 0;
        for (const bytes_view s : engine_.output(max_iov)) {
            iov[count++] = {const_cast<std::byte*>(s.data()), s.size()};
            total += s.size();
        }
        msghdr msg{};
        msg.msg_iov = iov.data();
        msg.msg_iovlen = count;
        // sendmsg rather than writev: MSG_NOSIGNAL turns a dead peer into
        // EPIPE instead of a process-killing SIGPIPE.
        const ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) transport_lost(errno);
            return;
        }
        engine_.consume(static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < total) return;  // the socket buffer is full
    }
    // The transport is gone: nothing queued can ever be written.
    engine_.consume(engine_.buffered());
    http_out_.clear();
}

void loop_adapter::transport_lost(int err) {
    if (broken_) return;
    broken_ = true;
    sys_errno_ = err;
    engine_.receive_eof();
    drain();  // reports connection_lost unless the connection already ended
    engine_.consume(engine_.buffered());
}

void loop_adapter::close_fd() {
    if (opts_.before_close) opts_.before_close(fd_);
    // Output left unwritten (abandoned, or a stop that did not wait for
    // it): reset rather than leave the kernel an orphan socket holding it.
    detail::close_socket(fd_, engine_.output_abandoned() || engine_.buffered() > 0 || !http_out_.empty());
    fd_ = -1;
}

void loop_adapter::close_now() {
    close_fd();
    state_->target = nullptr;
    detail::report_setup_error(engine_, *h_, handle_);
    if (h_->on_disconnect && !http_mode_) h_->on_disconnect(handle_);
}

}  // namespace sansws
