// One session on one non-blocking socket. Every entry point runs the same
// pump: bring the clock up to date, read and parse what arrived, write what
// is queued, close the socket when the session says so. The policy is the
// session's (session.cpp); this file is the system calls.
#include "sansws/loop_adapter.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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
    : fd_(fd), opts_(std::move(opts)), s_(std::move(cfg), std::move(h), opts_, opts_.id, now, *this) {
    if (opts_.read_buffer.empty()) {
        own_buffer_.resize(default_buffer);
        opts_.read_buffer = own_buffer_;
    }
}

loop_adapter::~loop_adapter() {
    if (fd_ < 0) return;
    if (opts_.before_close) opts_.before_close(fd_);
    detail::close_socket(fd_, s_.reset_on_close());
}

void loop_adapter::wake() noexcept {
    if (opts_.on_change) opts_.on_change();
}

timestamp loop_adapter::clock() noexcept { return opts_.clock ? opts_.clock() : monotonic_now(); }

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
    s_.lost(err != 0 ? err : ECONNRESET);
    close_now();
}

void loop_adapter::shutdown(timestamp now, std::uint16_t code, std::string_view reason) {
    if (fd_ < 0) return;
    if (s_.shutdown(now, code, reason)) return close_now();
    pump(now, false);
}

void loop_adapter::abort() {
    if (fd_ < 0) return;
    s_.abort();  // what is still queued is dropped: the socket is reset
    close_now();
}

void loop_adapter::pump(timestamp now, bool readable) {
    if (fd_ < 0) return;
    s_.enter(now);
    if (readable) read_some();
    s_.leave();
    write_some();
    s_.after_io();
    if (s_.should_close()) close_now();
}

void loop_adapter::read_some() {
    const mutable_bytes buf = opts_.read_buffer;
    for (unsigned i = 0; i < opts_.max_reads && s_.wants_read(); ++i) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
        if (n > 0) {
            s_.received(buf.first(static_cast<std::size_t>(n)));
            if (static_cast<std::size_t>(n) < buf.size()) return;  // the socket is very likely empty
            continue;
        }
        if (n == 0) return s_.received_eof();
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) s_.lost(errno);
        return;
    }
}

void loop_adapter::write_some() {
    while (true) {
        const auto out = s_.output(max_iov);
        if (out.empty()) return;
        std::array<iovec, max_iov> iov;
        std::size_t count = 0, total = 0;
        for (const bytes_view s : out) {
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
            if (errno != EAGAIN && errno != EWOULDBLOCK) s_.lost(errno);
            return;
        }
        s_.written(static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < total) return;  // the socket buffer is full
    }
}

void loop_adapter::close_now() {
    if (opts_.before_close) opts_.before_close(fd_);
    // Output left unwritten (abandoned, or a stop that did not wait for
    // it): reset rather than leave the kernel an orphan socket holding it.
    detail::close_socket(fd_, s_.reset_on_close());
    fd_ = -1;
    s_.closed();
}

}  // namespace sansws
