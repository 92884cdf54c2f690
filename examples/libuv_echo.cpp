// libuv_echo: the echo server again, this time inside libuv's loop through
// the caller-owned-loop binding (bindings/loop). libuv keeps the loop, the
// readiness (uv_poll_t) and the timers (uv_timer_t); sansws::loop_adapter
// does the socket I/O and the protocol. Same flags and output as echo_server.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include <sansws/loop_adapter.hpp>

#include "cli.hpp"

namespace {

constexpr std::string_view usage =
    "libuv_echo --port P [--host H] [--max-message BYTES] [--no-deflate | --deflate-...]\n"
    "  --port P                     port to listen on; 0 picks a free one (printed)\n"
    "  --host H                     address to bind (default 127.0.0.1)\n"
    "  --max-message BYTES          largest message accepted (default 67108864 = 64 MiB)\n"
    CLI_DEFLATE_USAGE;

using sansws::timestamp;

/// One connection: the adapter plus the two libuv handles that drive it.
struct session {
    uv_poll_t poll{};
    uv_timer_t timer{};
    std::unique_ptr<sansws::loop_adapter> ws;
    int open_handles = 2;  // freed once libuv has closed both
};

struct server {
    uv_loop_t* loop = nullptr;
    uv_poll_t listen_poll{};
    int listen_fd = -1;
    uv_signal_t sigint{}, sigterm{};
    uv_timer_t shutdown_timer{};
    std::set<session*> sessions;
    std::shared_ptr<const sansws::handlers> h;
    sansws::config cfg;
    std::array<std::byte, 64 * 1024> buffer{};  // shared: one thread, input parsed at once
    std::uint64_t last_id = 0;
    bool stopping = false;
} srv;

void update(session* s);

void close_shutdown_timer() {
    auto* t = reinterpret_cast<uv_handle_t*>(&srv.shutdown_timer);
    if (!uv_is_closing(t)) uv_close(t, nullptr);
}

void on_handle_closed(uv_handle_t* handle) {
    auto* s = static_cast<session*>(handle->data);
    if (--s->open_handles == 0) delete s;
}

void finish_if_done(session* s) {
    if (!s->ws->done()) return update(s);
    srv.sessions.erase(s);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->poll), on_handle_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->timer), on_handle_closed);
    // Last connection gone: close what keeps uv_run() going.
    if (srv.stopping && srv.sessions.empty()) close_shutdown_timer();
}

void on_poll(uv_poll_t* p, int status, int events) {
    auto* s = static_cast<session*>(p->data);
    const timestamp now = sansws::monotonic_now();
    if (status < 0) {
        s->ws->on_hangup(now);
    } else {
        if (events & UV_READABLE) s->ws->on_readable(now);
        if ((events & UV_WRITABLE) && !s->ws->done()) s->ws->on_writable(now);
    }
    finish_if_done(s);
}

void on_timer(uv_timer_t* t) {
    auto* s = static_cast<session*>(t->data);
    s->ws->on_timer(sansws::monotonic_now());
    finish_if_done(s);
}

/// Tell libuv what the adapter wants: poll events and the next deadline.
void update(session* s) {
    const int events = (s->ws->wants_read() ? UV_READABLE : 0) | (s->ws->wants_write() ? UV_WRITABLE : 0);
    if (events != 0) uv_poll_start(&s->poll, events, on_poll);
    else uv_poll_stop(&s->poll);
    const timestamp deadline = s->ws->next_deadline();
    if (deadline == sansws::no_deadline) {
        uv_timer_stop(&s->timer);
        return;
    }
    const auto left = deadline - sansws::monotonic_now();
    const auto ms = left.count() <= 0 ? 0 : std::chrono::ceil<std::chrono::milliseconds>(left).count();
    uv_timer_start(&s->timer, on_timer, static_cast<std::uint64_t>(ms), 0);
}

void on_accept(uv_poll_t*, int status, int) {
    if (status < 0) return;
    while (true) {
        const int fd = accept4(srv.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or out of descriptors: libuv polls again
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* s = new session;
        uv_poll_init_socket(srv.loop, &s->poll, fd);
        uv_timer_init(srv.loop, &s->timer);
        s->poll.data = s->timer.data = s;
        sansws::adapter_options o;
        o.read_buffer = srv.buffer;
        o.id = ++srv.last_id;
        // A handle queued output from elsewhere: just re-arm the poll.
        o.on_change = [s] { update(s); };
        // libuv must stop polling an fd before it is closed.
        o.before_close = [s](int) { uv_poll_stop(&s->poll); };
        s->ws = std::make_unique<sansws::loop_adapter>(fd, srv.cfg, srv.h, sansws::monotonic_now(), std::move(o));
        srv.sessions.insert(s);
        update(s);
    }
}

void on_shutdown_deadline(uv_timer_t*) {
    const std::set<session*> left = srv.sessions;
    for (session* s : left) {
        s->ws->abort();
        finish_if_done(s);
    }
}

void on_signal(uv_signal_t*, int) {
    if (srv.stopping) return;
    srv.stopping = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&srv.sigint), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&srv.sigterm), nullptr);
    uv_poll_stop(&srv.listen_poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&srv.listen_poll), nullptr);
    ::close(srv.listen_fd);
    // Close every connection with 1001 and give the peers 5 s to answer.
    uv_timer_start(&srv.shutdown_timer, on_shutdown_deadline, 5000, 0);
    const std::set<session*> all = srv.sessions;
    for (session* s : all) {
        s->ws->shutdown(sansws::monotonic_now());
        finish_if_done(s);
    }
    if (srv.sessions.empty()) close_shutdown_timer();
}

int listen_on(const std::string& host, std::uint16_t port, std::uint16_t& bound) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res); rc != 0) {
        std::fprintf(stderr, "libuv_echo: cannot resolve %s: %s\n", host.c_str(), gai_strerror(rc));
        return -1;
    }
    const int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        std::fprintf(stderr, "libuv_echo: cannot listen on %s:%u: %s\n", host.c_str(), unsigned{port},
                     std::strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    bound = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                           : reinterpret_cast<sockaddr_in&>(ss).sin_port);
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    cli::args a(argc, argv, usage);
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    bool have_port = false;
    srv.cfg.max_message_size = 64 * 1024 * 1024;
    srv.cfg.compression.negotiate.enabled = true;
    while (a.next()) {
        if (a.is("--port")) {
            port = static_cast<std::uint16_t>(a.number(0, 65535));
            have_port = true;
        } else if (a.is("--host")) {
            host = a.value();
        } else if (a.is("--max-message")) {
            srv.cfg.max_message_size = a.number(1, std::uint64_t{1} << 40);
        } else if (cli::deflate_flag(a, srv.cfg.compression.negotiate)) {
        } else {
            a.unknown();
        }
    }
    if (!have_port) a.fail("--port is required (0 picks a free port)");
    srv.cfg.validate_outgoing_text = false;  // echoed text was validated on the way in
    sansws::handlers h;
    h.on_message = [](const sansws::connection_handle& c, const sansws::message& m) { c.send(m); };
    srv.h = std::make_shared<const sansws::handlers>(std::move(h));

    std::uint16_t bound = 0;
    srv.listen_fd = listen_on(host, port, bound);
    if (srv.listen_fd < 0) return 1;
    signal(SIGPIPE, SIG_IGN);
    srv.loop = uv_default_loop();
    uv_poll_init_socket(srv.loop, &srv.listen_poll, srv.listen_fd);
    uv_poll_start(&srv.listen_poll, UV_READABLE, on_accept);
    uv_timer_init(srv.loop, &srv.shutdown_timer);
    uv_signal_init(srv.loop, &srv.sigint);
    uv_signal_init(srv.loop, &srv.sigterm);
    uv_signal_start(&srv.sigint, on_signal, SIGINT);
    uv_signal_start(&srv.sigterm, on_signal, SIGTERM);
    cli::print_listening(host, bound);
    uv_run(srv.loop, UV_RUN_DEFAULT);
    uv_loop_close(srv.loop);
    return 0;
}
