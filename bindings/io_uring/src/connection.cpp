// One connection on the io_uring loop: its session (session.hpp) fed from
// receive completions straight out of the provided buffer, its output
// written with one sendmsg at a time, closing, and the client's TCP connect.
// The per-connection policy is the session's; this file is the requests.
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "dispatch.hpp"
#include "loop_impl.hpp"

namespace sansws::io_uring {
namespace {

// Kernel ABI values from Linux 6.2, newer than liburing 2.3's header: ask
// the notification of a zero-copy send to say whether the kernel copied
// the data after all (it does on loopback).
constexpr unsigned send_zc_report_usage = 1U << 3;
constexpr std::uint32_t notif_usage_zc_copied = 1U << 31;

}  // namespace

conn::conn(uring_core& o, std::uint64_t i) : owner(o), id(i) {}

conn::~conn() {
    if (fd >= 0) sansws::detail::close_socket(fd, unwritten());
}

void conn::wake() noexcept { owner.mark_dirty(*this); }

conn& uring_core::add_conn(std::uint64_t id) {
    auto c = std::make_unique<conn>(*this, id);
    c->index = static_cast<std::uint32_t>(conns.size());
    conns.push_back(std::move(c));
    ++open;
    return *conns.back();
}

// ---- receiving ------------------------------------------------------------

void uring_core::arm_recv(conn& c) {
    io_uring_sqe* sqe = ring.sqe();
    if (!sqe) return defer(c);
    // Length 0: the kernel fills one whole provided buffer per completion.
    if (multishot_recv) io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
    else io_uring_prep_recv(sqe, c.fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = detail::ring::buffer_group;
    io_uring_sqe_set_data64(sqe, tag(&c, op::recv));
    c.recv_armed = true;
    c.recv_cancelled = false;
    ++in_flight;
}

void uring_core::on_recv(conn& c, int res, unsigned flags) {
    if (!(flags & IORING_CQE_F_MORE)) {
        c.recv_armed = false;
        c.recv_cancelled = false;
        --in_flight;
    }
    const bool has_buffer = flags & IORING_CQE_F_BUFFER;
    const unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
    if (c.closed) {
        if (has_buffer) ring.recycle(bid);
        return settle(c);
    }
    if (res > 0 && has_buffer) {
        c.s->enter(now);
        c.s->received(mutable_bytes(ring.buffer(bid), static_cast<std::size_t>(res)));
        c.s->leave();
        // Parsed and every event delivered: the engine copied what it
        // keeps, and no view into the buffer survives the drain.
        ring.recycle(bid);
    } else if (has_buffer) {
        ring.recycle(bid);
    } else if (res == 0) {
        c.s->enter(now);
        c.s->received_eof();
        c.s->leave();
    } else {
        switch (-res) {
        case ENOBUFS:
            // Every buffer was taken when data came: the multishot receive
            // ended. Buffers are back once this batch of completions is
            // processed; rearm_starved() arms it again then, in turn.
            ++stats.buffers_exhausted;
            if (!c.starved) {
                c.starved = true;
                starved.push_back(&c);
            }
            break;
        case ECANCELED:
        case EINTR:
        case EAGAIN:
            break;
        case EINVAL:
            if (multishot_recv) {
                multishot_recv = false;  // a kernel before 6.0: one receive per request
                break;
            }
            [[fallthrough]];
        default:
            transport_lost(c, -res);
        }
        return mark_dirty(c);
    }
    sync(c);
}

// ---- sending --------------------------------------------------------------

void uring_core::start_send(conn& c) {
    if (c.send_busy || c.fd < 0 || !c.s) return;
    // The bytes stay where the session queued them until written(), and
    // later sends only append behind them, so the kernel may read them
    // while the application keeps sending. The gather list itself is
    // copied at submission.
    const auto out = c.s->output(detail::send_slot::max_iov);
    if (out.empty()) return;
    const auto [sqe, slot] = ring.send_entry();
    if (!sqe) return defer(c);
    detail::send_slot& s = *slot;
    std::size_t count = 0, total = 0;
    for (const bytes_view b : out) {
        s.iov[count++] = {const_cast<std::byte*>(b.data()), b.size()};
        total += b.size();
    }
    s.msg = {};
    s.msg.msg_iov = s.iov;
    s.msg.msg_iovlen = count;
    // sendmsg rather than writev: MSG_NOSIGNAL turns a dead peer into
    // EPIPE instead of a process-killing SIGPIPE.
    c.send_zc = false;
    if (options.zero_copy_threshold != 0 && total >= options.zero_copy_threshold && ring.zero_copy_supported() &&
        !c.s->plain_http()) {
        io_uring_prep_sendmsg_zc(sqe, c.fd, &s.msg, MSG_NOSIGNAL);
        if (report_usage) sqe->ioprio |= send_zc_report_usage;
        c.send_zc = true;
        ++stats.zero_copy_sends;
    } else {
        io_uring_prep_sendmsg(sqe, c.fd, &s.msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(sqe, tag(&c, op::send));
    c.send_busy = true;
    ++in_flight;
}

void uring_core::on_send(conn& c, int res, unsigned flags) {
    if (flags & IORING_CQE_F_NOTIF) {
        // The kernel let go of a zero-copy send's bytes: now they may be
        // consumed (freed or overwritten).
        if (static_cast<std::uint32_t>(res) & notif_usage_zc_copied) ++stats.zero_copy_copied;
        --in_flight;
        c.send_busy = false;
        const std::uint32_t sent = std::exchange(c.zc_sent, 0);
        if (c.closed) return settle(c);
        c.s->written(sent);
        return sync(c);
    }
    if (c.send_zc && res == -EINVAL && report_usage && !(flags & IORING_CQE_F_MORE)) {
        // A kernel before 6.2 refuses the usage report: send again without.
        report_usage = false;
        --in_flight;
        c.send_busy = false;
        return c.closed ? settle(c) : sync(c);
    }
    const bool notification_follows = c.send_zc && (flags & IORING_CQE_F_MORE);
    if (notification_follows) {
        c.zc_sent = res > 0 ? static_cast<std::uint32_t>(res) : 0;  // consumed at the notification
    } else {
        --in_flight;
        c.send_busy = false;
    }
    if (c.closed) return settle(c);
    if (res < 0 && res != -EINTR && res != -EAGAIN) {
        transport_lost(c, -res);
        return sync(c);
    }
    if (notification_follows) return;
    // A short write leaves the rest queued: sync() sends it.
    if (res > 0) c.s->written(static_cast<std::size_t>(res));
    sync(c);
}

// ---- state changes --------------------------------------------------------

void uring_core::sync(conn& c) {
    if (c.closed || !c.s) return;
    sansws::detail::session& s = *c.s;
    // should_close() may be true with output still queued (and a send of
    // it in flight): abort(), or the drain deadline passed with the peer
    // not reading. close_now() cancels the send; the bytes stay where they
    // are until its completion, the connection is freed only after.
    if (s.should_close()) return close_now(c);
    start_send(c);
    if (!c.send_busy) s.after_io();
    const bool want = s.wants_read();
    if (want && !c.recv_armed && !c.starved) {
        arm_recv(c);
    } else if (!want && c.recv_armed && !c.recv_cancelled) {
        // Above the high-water mark, paused, or done reading: a multishot
        // receive cannot pause, so it is cancelled and armed again later.
        c.recv_cancelled = cancel(tag(&c, op::recv));
    }
    heap_set(c, s.next_deadline());
}

void uring_core::on_timer(conn& c) {
    if (!c.s) return give_up_connect(c, ETIMEDOUT);
    c.s->enter(now);
    c.s->leave();
    sync(c);
}

void uring_core::shutdown_conn(conn& c) {
    if (c.closed) return;
    if (!c.s) return give_up_connect(c, ECANCELED);
    if (c.s->shutdown(now, static_cast<std::uint16_t>(close_code::going_away), "going away")) return close_now(c);
    sync(c);
}

void uring_core::transport_lost(conn& c, int err) {
    // A send in flight may still be reading the queued bytes: they stay
    // with the session until the connection is freed.
    c.s->lost(err);
}

void uring_core::drop(conn& c) {
    c.s->abort();
    close_now(c);
}

void uring_core::close_now(conn& c) {
    if (c.closed) return;
    if (c.fd >= 0) {
        // In-flight requests hold the socket open; cancelled, they let it go
        // and the fd can be closed at once. A zero-copy notification cannot
        // be cancelled: it comes once the network stack is done.
        cancel_requests(c);
        sansws::detail::close_socket(c.fd, c.unwritten());
        c.fd = -1;
    }
    c.closed = true;
    --open;
    heap_set(c, no_deadline);
    c.s->closed();
    settle(c);
}

void uring_core::cancel_requests(conn& c) {
    if (c.recv_armed && !c.recv_cancelled) c.recv_cancelled = cancel(tag(&c, op::recv));
    // Cancelling a send that already completed only finds nothing.
    const bool send_stopped = !c.send_busy || cancel(tag(&c, op::send));
    // No submission entry was free: flush_dirty() tries again.
    if ((c.recv_armed && !c.recv_cancelled) || !send_stopped) defer(c);
}

void uring_core::settle(conn& c) {
    if (!c.closed || c.dead || c.recv_armed || c.send_busy || c.connect_busy) return;
    if (c.connecting && c.connecting->resolving) return;  // the resolver's answer still names it
    c.dead = true;
    dead.push_back(&c);
}

// ---- client connect -------------------------------------------------------

void uring_core::start(std::unique_ptr<sansws::detail::pending_connect> p) {
    conn& c = add_conn(p->id);
    heap_set(c, now + p->connect_timeout);
    c.connecting = std::move(p);
    if (!c.connecting->addrs.empty()) return start_connect(c);
    c.connecting->resolve(mail, [this, &c](resolved_addresses r) { resolved(c, std::move(r)); });
}

void uring_core::resolved(conn& c, resolved_addresses r) {
    sansws::detail::pending_connect& p = *c.connecting;
    p.resolving = false;
    if (c.closed) return settle(c);  // timed out or stopped meanwhile
    p.failure = std::move(r.error);
    p.addrs = std::move(r.addresses);
    start_connect(c);
}

void uring_core::start_connect(conn& c) {
    sansws::detail::pending_connect& p = *c.connecting;
    // Blocking, like accepted sockets: io_uring waits for readiness itself,
    // and every kernel version treats such sockets alike.
    if (const int fd = p.open_next(false); fd >= 0) {
        io_uring_sqe* sqe = ring.sqe();
        if (sqe) {
            const auto& [addr, len] = p.addrs[p.next_addr];
            io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&addr), len);
            io_uring_sqe_set_data64(sqe, tag(&c, op::connect));
            c.fd = fd;
            c.connect_busy = true;
            ++in_flight;
            return;
        }
        ::close(fd);
        p.last_errno = EAGAIN;
    }
    // Every address failed at once: report from the loop, never from inside
    // connect(), so handlers do not run before the caller expects them.
    mark_dirty(c);
}

void uring_core::on_connect(conn& c, int res) {
    c.connect_busy = false;
    --in_flight;
    if (c.closed) return settle(c);
    sansws::detail::pending_connect& p = *c.connecting;
    if (c.give_up) return connect_failed(c);
    if (res == 0) {
        c.s.emplace(std::move(p.cfg), std::move(p.h), p.opts, c.id, now, c);
        c.connecting.reset();
        return sync(c);  // writes the request, arms the receive, the handshake deadline takes over
    }
    p.last_errno = -res;
    ::close(c.fd);
    c.fd = -1;
    ++p.next_addr;
    start_connect(c);
}

void uring_core::give_up_connect(conn& c, int err) {
    c.connecting->last_errno = err;
    c.connecting->failure.clear();
    if (!c.connect_busy) return connect_failed(c);
    c.give_up = true;
    cancel(tag(&c, op::connect));
}

void uring_core::connect_failed(conn& c) {
    if (c.closed) return;
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.closed = true;
    --open;
    heap_set(c, no_deadline);
    c.connecting->report_failure();
    settle(c);
}

}  // namespace sansws::io_uring
