// One connection on the io_uring loop: receive completions fed to the engine
// straight from the provided buffer, the engine's output written with one
// sendmsg at a time, closing, and the client's TCP connect.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

void set_nodelay(int fd) {
    // Frames are written whole with one sendmsg; Nagle would only delay them.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

conn::conn(loop::impl& o, std::uint64_t id, std::shared_ptr<const handlers> handlers, std::size_t hw)
    : owner(o), h(std::move(handlers)), state(std::make_shared<sansws::detail::handle_state>()), high_water(hw) {
    state->id = id;
}

conn::~conn() {
    state->target = nullptr;
    if (fd >= 0) sansws::detail::close_socket(fd, unwritten());
}

bool conn::unwritten() const noexcept {
    return (ws && (ws->output_abandoned() || ws->buffered() > 0)) || (http && !http->out.empty());
}

connection& conn::begin_use() {
    // A handle may act long after the loop last touched this connection;
    // deadlines the call sets (close_timeout) must count from now.
    if (!pumping) ws->on_time(monotonic_now());
    return *ws;
}

void conn::end_use() {
    if (!pumping) owner.mark_dirty(*this);
}

conn& loop::impl::add_conn(std::uint64_t id, std::shared_ptr<const handlers> h, std::size_t high_water) {
    auto c = std::make_unique<conn>(*this, id, std::move(h), high_water);
    c->index = static_cast<std::uint32_t>(conns.size());
    conns.push_back(std::move(c));
    ++open;
    return *conns.back();
}

// ---- receiving ------------------------------------------------------------

bool loop::impl::wants_read(const conn& c) const noexcept {
    if (c.fd < 0 || !c.ws || c.eof || c.broken || c.http_mode || c.ws->output_abandoned()) return false;
    // Once our Close is queued nothing but the peer's Close can add output,
    // so reading stays bounded; it must go on, or a peer that stopped
    // reading our backlog would never get its Close (or EOF) seen.
    const connection_state s = c.ws->state();
    return c.ws->buffered() < c.high_water || s == connection_state::closing || s == connection_state::closed ||
           s == connection_state::failed;
}

void loop::impl::arm_recv(conn& c) {
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

void loop::impl::on_recv(conn& c, int res, unsigned flags) {
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
        c.pumping = true;
        c.ws->on_time(now);
        feed(c, mutable_bytes(ring.buffer(bid), static_cast<std::size_t>(res)));
        c.pumping = false;
        // Parsed and every event delivered: the engine copied what it
        // keeps, and no view into the buffer survives the drain.
        ring.recycle(bid);
    } else if (has_buffer) {
        ring.recycle(bid);
    } else if (res == 0) {
        c.eof = true;
        c.pumping = true;
        c.ws->on_time(now);
        c.ws->receive_eof();
        drain(c);
        c.pumping = false;
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
            c.pumping = true;
            transport_lost(c, -res);
            c.pumping = false;
        }
        return mark_dirty(c);
    }
    sync(c);
}

void loop::impl::feed(conn& c, mutable_bytes data) {
    // Answering plain HTTP: anything more (pipelined requests, a body that
    // was already on its way when the receive was cancelled) is dropped.
    if (c.http_mode) return;
    if (!c.http) {
        // receive() parses in place and keeps views into `data` until
        // need_more: the drain right here is what lets the buffer go back.
        c.ws->receive(data);
        return drain(c);
    }
    switch (sansws::detail::sniff_request(c.http->parser, c.http->seen, data, *c.h, c.http->out)) {
    case sansws::detail::sniff_result::need_more:
        return;
    case sansws::detail::sniff_result::plain_http:
        c.http_mode = true;
        c.http->seen.clear();
        c.http->seen.shrink_to_fit();
        return;
    case sansws::detail::sniff_result::upgrade:
        break;
    }
    // The engine gets every byte seen so far; they live in `http` until
    // drained.
    std::string& bytes = c.http->seen;
    c.ws->receive(mutable_bytes(reinterpret_cast<std::byte*>(bytes.data()), bytes.size()));
    drain(c);
    c.http.reset();
}

void loop::impl::drain(conn& c) {
    const connection_handle self(c.state);
    while (true) {
        event ev = c.ws->next_event();
        if (std::holds_alternative<need_more>(ev)) return;
        // A plain-HTTP exchange never became a WebSocket connection: its
        // engine only bounds the exchange in time and has nothing to report.
        if (!c.http_mode) sansws::detail::dispatch_event(*c.ws, *c.h, self, ev, c.sys_errno);
    }
}

// ---- sending --------------------------------------------------------------

void loop::impl::start_send(conn& c) {
    if (c.send_busy || c.broken || c.fd < 0 || !c.ws || c.ws->output_abandoned()) return;
    const bool http_out = c.http && !c.http->out.empty();
    if (!http_out && c.ws->buffered() == 0) return;
    const auto [sqe, slot] = ring.send_entry();
    if (!sqe) return defer(c);
    c.send_zc = false;
    c.send_http = http_out;
    if (http_out) {
        io_uring_prep_send(sqe, c.fd, c.http->out.data(), c.http->out.size(), MSG_NOSIGNAL);
    } else {
        // The bytes stay where the engine queued them until consume(), and
        // later sends only append behind them, so the kernel may read them
        // while the application keeps sending. The gather list itself is
        // copied at submission.
        detail::send_slot& s = *slot;
        std::size_t count = 0, total = 0;
        for (const bytes_view b : c.ws->output(detail::send_slot::max_iov)) {
            s.iov[count++] = {const_cast<std::byte*>(b.data()), b.size()};
            total += b.size();
        }
        s.msg = {};
        s.msg.msg_iov = s.iov;
        s.msg.msg_iovlen = count;
        // sendmsg rather than writev: MSG_NOSIGNAL turns a dead peer into
        // EPIPE instead of a process-killing SIGPIPE.
        if (options.zero_copy_threshold != 0 && total >= options.zero_copy_threshold && ring.zero_copy_supported()) {
            io_uring_prep_sendmsg_zc(sqe, c.fd, &s.msg, MSG_NOSIGNAL);
            if (report_usage) sqe->ioprio |= send_zc_report_usage;
            c.send_zc = true;
            ++stats.zero_copy_sends;
        } else {
            io_uring_prep_sendmsg(sqe, c.fd, &s.msg, MSG_NOSIGNAL);
        }
    }
    io_uring_sqe_set_data64(sqe, tag(&c, op::send));
    c.send_busy = true;
    ++in_flight;
}

void loop::impl::on_send(conn& c, int res, unsigned flags) {
    if (flags & IORING_CQE_F_NOTIF) {
        // The kernel let go of a zero-copy send's bytes: now they may be
        // consumed (freed or overwritten).
        if (static_cast<std::uint32_t>(res) & notif_usage_zc_copied) ++stats.zero_copy_copied;
        --in_flight;
        c.send_busy = false;
        const std::uint32_t sent = std::exchange(c.zc_sent, 0);
        if (c.closed) return settle(c);
        c.ws->consume(sent);
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
        c.pumping = true;
        transport_lost(c, -res);
        c.pumping = false;
        return sync(c);
    }
    if (notification_follows) return;
    if (res > 0) {
        if (c.send_http) c.http->out.erase(0, static_cast<std::size_t>(res));
        else c.ws->consume(static_cast<std::size_t>(res));
    }
    // A short write leaves the rest queued: sync() sends it.
    sync(c);
}

// ---- state changes --------------------------------------------------------

void loop::impl::sync(conn& c) {
    if (c.closed || !c.ws) return;
    const bool http_done = c.http_mode && (!c.http || c.http->out.empty()) && !c.send_busy;
    // should_close_transport() may be true with output still queued (and a
    // send of it in flight): abort(), or the drain deadline passed with the
    // peer not reading. close_now() cancels the send; the bytes stay where
    // they are until its completion, the connection is freed only after.
    if (c.broken || http_done || c.ws->should_close_transport()) return close_now(c);
    start_send(c);
    // Written out (or nothing to write, e.g. a timer): buffers the engine
    // no longer needs go back, also when the wake-up was only the engine's
    // own deadline for doing so.
    if (c.ws->buffered() == 0) c.ws->release_memory();
    const bool want = wants_read(c);
    if (want && !c.recv_armed && !c.starved) {
        arm_recv(c);
    } else if (!want && c.recv_armed && !c.recv_cancelled) {
        // Above the high-water mark (or done reading): a multishot receive
        // cannot pause, so it is cancelled and armed again later.
        c.recv_cancelled = cancel(tag(&c, op::recv));
    }
    heap_set(c, c.ws->next_deadline());
}

void loop::impl::on_timer(conn& c) {
    if (!c.ws) return give_up_connect(c, ETIMEDOUT);
    c.pumping = true;
    c.ws->on_time(now);
    drain(c);
    c.pumping = false;
    sync(c);
}

void loop::impl::shutdown_conn(conn& c) {
    if (c.closed) return;
    if (!c.ws) return give_up_connect(c, ECANCELED);
    switch (c.ws->state()) {
    case connection_state::open:
        c.pumping = true;
        c.ws->on_time(now);
        c.ws->close(static_cast<std::uint16_t>(close_code::going_away), "going away");
        drain(c);
        c.pumping = false;
        sync(c);
        break;
    case connection_state::closing:
    case connection_state::closed:
        break;  // already closing: the engine's deadlines bound the wait
    default:
        close_now(c);  // still in the opening handshake (or answering plain HTTP): drop it
    }
}

void loop::impl::transport_lost(conn& c, int err) {
    if (c.broken) return;
    c.broken = true;
    c.sys_errno = err;
    c.ws->receive_eof();
    drain(c);  // reports connection_lost unless the connection already ended
    // A send in flight may still be reading the queued bytes; they go with
    // the engine once it completes.
    if (!c.send_busy) c.ws->consume(c.ws->buffered());
}

void loop::impl::close_now(conn& c) {
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
    c.state->target = nullptr;
    const connection_handle self(c.state);
    if (c.ws) sansws::detail::report_setup_error(*c.ws, *c.h, self);
    if (c.h->on_disconnect && !c.http_mode) c.h->on_disconnect(self);
    settle(c);
}

void loop::impl::cancel_requests(conn& c) {
    if (c.recv_armed && !c.recv_cancelled) c.recv_cancelled = cancel(tag(&c, op::recv));
    // Cancelling a send that already completed only finds nothing.
    const bool send_stopped = !c.send_busy || cancel(tag(&c, op::send));
    // No submission entry was free: flush_dirty() tries again.
    if ((c.recv_armed && !c.recv_cancelled) || !send_stopped) defer(c);
}

void loop::impl::settle(conn& c) {
    if (!c.closed || c.dead || c.recv_armed || c.send_busy || c.connect_busy) return;
    c.dead = true;
    dead.push_back(&c);
}

// ---- client connect -------------------------------------------------------

bool loop::impl::connect(std::string_view url, const connect_options& opts, handlers h, std::string& err) {
    if (!error.empty()) {
        err = error;
        return false;
    }
    if (!ring.start(err)) return false;
    const auto u = parse_ws_url(url, err);
    if (!u) return false;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(u->host.c_str(), std::to_string(u->port).c_str(), &hints, &res);
    if (rc != 0) {
        err = "cannot resolve " + u->host + ": " + gai_strerror(rc);
        return false;
    }
    auto k = std::make_unique<connect_state>();
    for (const addrinfo* p = res; p; p = p->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, p->ai_addr, p->ai_addrlen);
        k->addrs.emplace_back(ss, p->ai_addrlen);
    }
    freeaddrinfo(res);
    k->url = std::string(url);
    k->cfg = opts.engine;
    k->cfg.role = role::client;
    if (!k->cfg.entropy) k->cfg.entropy = fill_random;
    k->cfg.client.host = u->host_header();
    k->cfg.client.target = u->target;
    k->cfg.client.subprotocols = opts.subprotocols;
    k->cfg.client.headers = opts.headers;
    k->cfg.client.origin = opts.origin;
    if (const misuse bad = connection(k->cfg).setup_error(); bad != misuse::none) {
        // Caught here rather than after a connect: a header name with a
        // space or a malformed subprotocol is the caller's mistake.
        err = "invalid request settings (" + std::string(to_string(bad)) + "): check headers and subprotocols";
        return false;
    }
    conn& c = add_conn(next_id(), std::make_shared<const handlers>(std::move(h)), opts.high_water);
    c.connecting = std::move(k);
    now = monotonic_now();
    heap_set(c, now + opts.connect_timeout);
    start_connect(c);
    return true;
}

void loop::impl::start_connect(conn& c) {
    connect_state& k = *c.connecting;
    for (; k.next_addr < k.addrs.size(); ++k.next_addr) {
        const auto& [addr, len] = k.addrs[k.next_addr];
        // Blocking, like accepted sockets: io_uring waits for readiness
        // itself, and every kernel version treats such sockets alike.
        const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            k.last_errno = errno;
            continue;
        }
        set_nodelay(fd);
        io_uring_sqe* sqe = ring.sqe();
        if (!sqe) {
            ::close(fd);
            k.last_errno = EAGAIN;
            break;
        }
        io_uring_prep_connect(sqe, fd, reinterpret_cast<const sockaddr*>(&addr), len);
        io_uring_sqe_set_data64(sqe, tag(&c, op::connect));
        c.fd = fd;
        c.connect_busy = true;
        ++in_flight;
        return;
    }
    // Every address failed at once: report from the loop, never from inside
    // connect(), so handlers do not run before the caller expects them.
    mark_dirty(c);
}

void loop::impl::on_connect(conn& c, int res) {
    c.connect_busy = false;
    --in_flight;
    if (c.closed) return settle(c);
    connect_state& k = *c.connecting;
    if (k.give_up) return connect_failed(c);
    if (res == 0) {
        c.ws.emplace(std::move(k.cfg), now);
        c.connecting.reset();
        c.state->target = &c;
        return sync(c);  // writes the request, arms the receive, the handshake deadline takes over
    }
    k.last_errno = -res;
    ::close(c.fd);
    c.fd = -1;
    ++k.next_addr;
    start_connect(c);
}

void loop::impl::give_up_connect(conn& c, int err) {
    c.connecting->last_errno = err;
    if (!c.connect_busy) return connect_failed(c);
    c.connecting->give_up = true;
    cancel(tag(&c, op::connect));
}

void loop::impl::connect_failed(conn& c) {
    if (c.closed) return;
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.closed = true;
    --open;
    heap_set(c, no_deadline);
    const connection_handle handle(c.state);
    const std::string what = "cannot connect to " + c.connecting->url;
    error_info e;
    e.kind = error_kind::transport;
    e.sys_errno = c.connecting->last_errno;
    e.message = what;
    if (c.h->on_error) c.h->on_error(handle, e);
    if (c.h->on_disconnect) c.h->on_disconnect(handle);
    settle(c);
}

}  // namespace sansws::io_uring
