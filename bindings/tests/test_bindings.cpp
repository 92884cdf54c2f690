// The binding tests, one file for every binding: each case that is about a
// connection runs on epoll, on io_uring, and on loop_adapter inside a plain
// poll() loop (`adapter`); cases about the event loops themselves (client
// connects, timers, post, shutdown, shedding) run on epoll and io_uring.
// Then what only one binding has: loop_adapter over a socketpair, io_uring's
// provided buffers, zero-copy sends and its "unavailable" report. Hostile
// peers come from hostile_peers.hpp. Cases are named "... <binding>", so a
// binding's cases run alone with --test-case='*<epoll>*' (see meson.build).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hostile_peers.hpp"
#include "sansws/epoll.hpp"
#include "sansws/io_uring.hpp"
#include "sansws/loop_adapter.hpp"

using namespace sansws;
using namespace std::chrono_literals;
using hostile::raw_connect;
using hostile::read_all;

namespace {

// ---- loop_adapter in a poll() loop ------------------------------------------

/// What an adapter waits for, as poll() events.
pollfd watch(const loop_adapter& a) {
    return {a.fd(), static_cast<short>((a.wants_read() ? POLLIN : 0) | (a.wants_write() ? POLLOUT : 0)), 0};
}

/// Tell an adapter what poll() saw and what time it is.
void serve(loop_adapter& a, short revents, timestamp now) {
    if (revents & POLLIN) a.on_readable(now);
    if ((revents & POLLOUT) && !a.done()) a.on_writable(now);
    if ((revents & (POLLERR | POLLHUP)) && !a.done()) a.on_hangup(now);
    if (!a.done() && a.next_deadline() <= now) a.on_timer(now);
}

/// Drives adapters with poll() until `done` or a time limit.
template <class Done>
void drive(std::vector<loop_adapter*> all, Done done) {
    const timestamp limit = monotonic_now() + 10s;
    while (!done() && monotonic_now() < limit) {
        std::vector<pollfd> fds;
        std::vector<loop_adapter*> live;
        for (auto* a : all) {
            if (a->done()) continue;
            fds.push_back(watch(*a));
            live.push_back(a);
        }
        if (live.empty()) return;
        poll(fds.data(), fds.size(), 10);
        const timestamp now = monotonic_now();
        for (std::size_t i = 0; i < live.size(); ++i) serve(*live[i], fds[i].revents, now);
    }
}

/// loop_adapter as someone's own loop would run it: a TCP listener and the
/// accepted connections in one poll() loop on its own thread, timers from
/// next_deadline(), on_change answered in the next iteration, post() run
/// there too.
class adapter_server final : public hostile::server_handle {
public:
    adapter_server(const accept_settings& s, handlers h)
        : settings_(s), h_(std::make_shared<const handlers>(std::move(h))) {
        settings_.engine.role = role::server;
        listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        REQUIRE(listen(listen_fd_, 16) == 0);
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~adapter_server() override {
        stop_ = true;
        thread_.join();
        adapters_.clear();
        close(listen_fd_);
    }
    std::uint16_t port() const override { return port_; }
    void post(std::function<void()> fn) override {
        std::lock_guard lock(mutex_);
        posted_.push_back(std::move(fn));
    }

private:
    void run() {
        while (!stop_) {
            std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
            timestamp next = monotonic_now() + 10ms;
            for (const auto& a : adapters_) {
                fds.push_back(watch(*a));
                next = std::min(next, a->next_deadline());
            }
            const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - monotonic_now()).count();
            poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(0, wait)));
            const timestamp now = monotonic_now();
            for (std::size_t i = 0; i < adapters_.size(); ++i) serve(*adapters_[i], fds[i + 1].revents, now);
            std::vector<std::function<void()>> work;
            {
                std::lock_guard lock(mutex_);
                work.swap(posted_);
            }
            for (auto& fn : work) fn();
            if (std::exchange(changed_, false))
                for (auto& a : adapters_)
                    if (!a->done()) a->on_writable(monotonic_now());
            std::erase_if(adapters_, [](const auto& a) { return a->done(); });
            if (fds[0].revents & POLLIN) accept_all(now);
        }
    }
    void accept_all(timestamp now) {
        while (true) {
            const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            adapter_options o;
            static_cast<connection_options&>(o) = settings_;
            o.id = ++last_id_;
            o.on_change = [this] { changed_ = true; };
            adapters_.push_back(std::make_unique<loop_adapter>(fd, settings_.engine, h_, now, std::move(o)));
        }
    }

    accept_settings settings_;
    std::shared_ptr<const handlers> h_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::uint64_t last_id_ = 0;
    std::vector<std::unique_ptr<loop_adapter>> adapters_;
    bool changed_ = false;
    std::mutex mutex_;
    std::vector<std::function<void()>> posted_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// ---- the bindings under test -------------------------------------------------

/// Each binding: how to start a server, and the client loop that goes with it.
struct epoll_b {
    using server = epoll::server;
    using options = epoll::server_options;
    using loop = epoll::loop;
};
struct io_uring_b {
    using server = io_uring::server;
    using options = io_uring::server_options;
    using loop = io_uring::loop;
};
/// loop_adapter in adapter_server; its clients run on an epoll loop.
struct adapter_b {
    using loop = epoll::loop;
};

template <class B>
std::unique_ptr<hostile::server_handle> start(const accept_settings& s, handlers h) {
    if constexpr (std::is_same_v<B, adapter_b>) return std::make_unique<adapter_server>(s, std::move(h));
    else return hostile::start_with<typename B::server, typename B::options>()(s, std::move(h));
}

std::string url_of(const hostile::server_handle& s, std::string_view path = "/") {
    return "ws://127.0.0.1:" + std::to_string(s.port()) + std::string(path);
}

handlers echo_handlers() {
    handlers h;
    h.on_message = [](const connection_handle& c, const message& m) { c.send(m); };
    return h;
}

config client_config() {
    config c;
    c.role = role::client;
    c.entropy = fill_random;
    c.client.host = "test";
    return c;
}

}  // namespace

TYPE_TO_STRING(epoll_b);
TYPE_TO_STRING(io_uring_b);
TYPE_TO_STRING(adapter_b);
#define EVERY_BINDING epoll_b, io_uring_b, adapter_b
#define EVENT_LOOPS epoll_b, io_uring_b

TEST_CASE("parse_ws_url") {
    std::string err;
    auto u = parse_ws_url("ws://example.com", err);
    REQUIRE(u);
    CHECK(u->host == "example.com");
    CHECK(u->port == 80);
    CHECK(u->target == "/");
    CHECK(u->host_header() == "example.com");

    u = parse_ws_url("WS://[::1]:9000/chat?room=1", err);
    REQUIRE(u);
    CHECK(u->host == "::1");
    CHECK(u->port == 9000);
    CHECK(u->target == "/chat?room=1");
    CHECK(u->host_header() == "[::1]:9000");

    u = parse_ws_url("ws://h:81?x=1", err);
    REQUIRE(u);
    CHECK(u->target == "/?x=1");

    CHECK_FALSE(parse_ws_url("wss://example.com/", err));
    CHECK(err.find("wss:// is not supported yet") != std::string::npos);
    for (const char* bad : {"http://h/", "ws://", "ws://h:0/", "ws://h:65536/", "ws://h:/", "ws://h/#frag",
                            "ws://u@h/", "ws://[::1/", "ws://[h]/", "ws://h/a b", "example.com"})
        CHECK_MESSAGE(!parse_ws_url(bad, err), bad);
}

// ---- every binding: connections ----------------------------------------------

TEST_CASE_TEMPLATE("echo to a client loop, post() from another thread, a refused connect", B, EVERY_BINDING) {
    const auto server = start<B>({}, echo_handlers());
    typename B::loop client_loop;
    std::vector<std::string> got;
    connection_handle conn;
    std::atomic<bool> opened{false};
    handlers ch;
    ch.on_open = [&](const connection_handle& c) {
        conn = c;
        opened = true;
    };
    const std::string big(300000, 'b');
    ch.on_message = [&](const connection_handle& c, const message& m) {
        got.emplace_back(m.text());
        if (got.size() == 4) c.close();
    };
    int refused_errno = 0;
    handlers refused;
    refused.on_error = [&](const connection_handle&, const error_info& e) {
        CHECK(e.kind == error_kind::transport);
        refused_errno = e.sys_errno;
    };
    std::string err;
    REQUIRE(client_loop.connect("ws://localhost:" + std::to_string(server->port()) + "/", {}, ch, err));
    REQUIRE(client_loop.connect("ws://127.0.0.1:1/", {}, refused, err));
    std::thread poster([&] {
        while (!opened) std::this_thread::sleep_for(1ms);
        for (const char* text : {"one", "two", "three"}) client_loop.post([&conn, text] { conn.send_text(text); });
        client_loop.post([&conn, &big] { conn.send_text(big); });
    });
    client_loop.run();  // returns when both connections are gone
    poster.join();
    REQUIRE(got.size() == 4);
    CHECK(got[0] == "one");
    CHECK(got[1] == "two");
    CHECK(got[2] == "three");
    CHECK(got[3] == big);
    CHECK(refused_errno == ECONNREFUSED);
    CHECK(client_loop.connection_count() == 0);
}

TEST_CASE_TEMPLATE("plain HTTP through on_http", B, EVERY_BINDING) {
    handlers h;
    h.on_http = [](const http_head& req) { return http_response{200, {}, "page at " + req.target}; };
    const auto server = start<B>({}, h);
    const int fd = raw_connect(server->port());
    hostile::write_all(fd, "GET /index HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string resp = read_all(fd);
    CHECK(resp.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(resp.ends_with("\r\n\r\npage at /index"));
    close(fd);
}

TEST_CASE_TEMPLATE("stops reading above the high-water mark", B, EVERY_BINDING) {
    accept_settings s;
    s.high_water = 64 * 1024;
    std::atomic<std::size_t> most{0};
    handlers h;
    h.on_message = [&](const connection_handle& c, const message& m) {
        c.send(m);
        most = std::max<std::size_t>(most, c.buffered());
    };
    const auto server = start<B>(s, h);

    // A client engine on a blocking socket that sends and never reads: the
    // echoes pile up at the server until it stops reading.
    const int fd = raw_connect(server->port());
    int small = 16 * 1024;  // so our own socket buffers fill up soon
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    connection client(client_config());
    // False once the socket stays full for a while: the server stopped reading.
    auto flush = [&] {
        while (client.buffered()) {
            const auto out = client.output(1);
            const ssize_t n = send(fd, out[0].data(), out[0].size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                client.consume(static_cast<std::size_t>(n));
                continue;
            }
            pollfd p{fd, POLLOUT, 0};
            if (n == 0 || errno != EAGAIN || poll(&p, 1, 500) <= 0) return false;
        }
        return true;
    };
    REQUIRE(flush());
    std::string head = hostile::read_head(fd);
    REQUIRE(head.starts_with("HTTP/1.1 101"));
    REQUIRE(client.receive(mutable_bytes(reinterpret_cast<std::byte*>(head.data()), head.size())) == misuse::none);
    REQUIRE(std::holds_alternative<handshake_response>(client.next_event()));
    REQUIRE(std::holds_alternative<need_more>(client.next_event()));
    const std::string chunk(16 * 1024, 'x');
    int sent = 0;
    for (; sent < 4000; ++sent) {
        REQUIRE(client.send_text(chunk) == misuse::none);
        if (!flush()) break;  // the server stopped reading: our socket buffer filled up
    }
    std::this_thread::sleep_for(100ms);
    const std::size_t stalled = most;
    std::this_thread::sleep_for(300ms);
    CHECK(sent < 4000);
    CHECK(stalled >= s.high_water);
    // Receiving stops at the mark. What was already read (io_uring: what the
    // kernel had delivered) is still processed, so the output may pass the
    // mark by about one socket buffer, but no further.
    CHECK(most == stalled);
    CHECK(most < s.high_water + 8 * 1024 * 1024);
    close(fd);
}

TEST_CASE_TEMPLATE("deadlines: handshake timeout, the engine's keep-alive pings", B, EVERY_BINDING) {
    accept_settings s;
    s.engine.handshake_timeout = 200ms;
    s.engine.ping_interval = 40ms;
    const auto server = start<B>(s, echo_handlers());

    // Says nothing: closed once the handshake deadline passes.
    const int silent = raw_connect(server->port());
    const timestamp start_at = monotonic_now();
    CHECK(read_all(silent) == "");
    const auto waited = monotonic_now() - start_at;
    CHECK(waited >= 150ms);
    CHECK(waited < 3s);
    close(silent);

    // The server pings on its own deadline; the client answers.
    typename B::loop client_loop;
    int pings = 0;
    handlers ch;
    ch.on_ping = [&](const connection_handle& c, bytes_view) {
        if (++pings == 3) c.close();
    };
    std::string err;
    REQUIRE(client_loop.connect(url_of(*server), {}, ch, err));
    client_loop.run();
    CHECK(pings == 3);
}

TEST_CASE_TEMPLATE("hostile peers", B, EVERY_BINDING) { hostile::run_all(start<B>); }

// ---- every binding: the application API (issue 12) ---------------------------------

TEST_CASE_TEMPLATE("on_drain streams a large message within high_water", B, EVERY_BINDING) {
    // "stream N": N bytes as one binary message in 64 KiB fragments, sent
    // while the output is below high_water and resumed from on_drain.
    constexpr std::size_t total = 8 * 1024 * 1024, piece = 64 * 1024;
    struct stream {
        std::size_t left = 0;
        std::uint64_t end = 0;  // written() + buffered() after the last fragment
    };
    std::atomic<std::size_t> most{0};
    std::atomic<int> drains{0};
    accept_settings s;
    s.high_water = 256 * 1024;
    s.low_water = 64 * 1024;
    const std::size_t high_water = s.high_water;
    auto pump = [&most, high_water, piece](const connection_handle& c) {
        stream& st = c.data<stream>();
        const std::string bytes(piece, 'z');
        while (st.left > 0 && c.buffered() < high_water) {
            const std::size_t n = std::min(piece, st.left);
            st.left -= n;
            REQUIRE(c.send_binary(as_bytes(std::string_view(bytes).substr(0, n)), st.left == 0) == misuse::none);
            most = std::max<std::size_t>(most, c.buffered());
            if (st.left == 0) st.end = c.written() + c.buffered();
        }
    };
    handlers h;
    std::atomic<std::uint64_t> end{0}, written_at_close{0};
    h.on_message = [&](const connection_handle& c, const message&) {
        c.data<stream>().left = total;
        pump(c);
    };
    h.on_close = [&](const connection_handle& c, std::uint16_t, std::string_view) {
        // The client closes once it has the whole message: every byte of it
        // has been written, and written() says so.
        end = c.data<stream>().end;
        written_at_close = c.written();
    };
    h.on_drain = [&](const connection_handle& c) {
        ++drains;
        pump(c);
    };
    const auto server = start<B>(s, h);

    typename B::loop client_loop;
    std::size_t got = 0;
    bool intact = false;
    handlers ch;
    ch.on_open = [](const connection_handle& c) { c.send_text("stream"); };
    ch.on_message = [&](const connection_handle& c, const message& m) {
        got = m.data.size();
        intact = std::all_of(m.data.begin(), m.data.end(), [](std::byte b) { return b == std::byte{'z'}; });
        c.close();
    };
    connect_options co;
    co.engine.max_message_size = 2 * total;
    std::string err;
    REQUIRE(client_loop.connect(url_of(*server), co, ch, err));
    client_loop.run();
    CHECK(got == total);
    CHECK(intact);
    CHECK(drains > 4);
    CHECK(most < s.high_water + piece + 64);
    CHECK(hostile::eventually([&] { return end != 0; }));
    CHECK(end > total);  // the payload and the frame headers
    CHECK(written_at_close >= end);
    MESSAGE("drain callbacks " << drains.load() << ", most queued " << most.load());
}

TEST_CASE_TEMPLATE("max_backpressure drops sends; close_on_backpressure_limit aborts", B, EVERY_BINDING) {
    std::atomic<int> dropped{0}, disconnects{0};
    std::atomic<std::size_t> most{0};
    handlers h;
    // "flood": 200 messages of 64 KiB to a peer that does not read.
    h.on_message = [&](const connection_handle& c, const message&) {
        const std::string bytes(64 * 1024, 'f');
        for (int i = 0; i < 200 && c.alive(); ++i) {
            if (c.send_binary(as_bytes(bytes)) == misuse::too_large) ++dropped;
            most = std::max<std::size_t>(most, c.buffered());
        }
    };
    h.on_disconnect = [&](const connection_handle&) { ++disconnects; };
    accept_settings s;
    s.max_backpressure = 512 * 1024;

    SUBCASE("dropped") {
        const auto server = start<B>(s, h);
        const int fd = hostile::open_client(server->port(), 4096);
        hostile::write_all(fd, hostile::client_frame(0x1, "flood"));
        CHECK(hostile::eventually([&] { return dropped > 100; }));
        CHECK(most <= s.max_backpressure + 64 * 1024 + 16);
        CHECK(disconnects == 0);
        close(fd);
        CHECK(hostile::eventually([&] { return disconnects == 1; }));
    }
    SUBCASE("closed") {
        s.close_on_backpressure_limit = true;
        const auto server = start<B>(s, h);
        const int fd = hostile::open_client(server->port(), 4096);
        hostile::write_all(fd, hostile::client_frame(0x1, "flood"));
        REQUIRE(hostile::wait_ended(fd, 3s));
        CHECK(dropped == 1);  // the send that found the limit; later ones find the connection aborted
        CHECK(hostile::eventually([&] { return disconnects == 1; }));
        int err = 0;
        read_all(fd, 1s, &err);  // what was written before the reset, then the reset
        CHECK(err == ECONNRESET);
        close(fd);
    }
}

TEST_CASE_TEMPLATE("idle timeout and keep-alive, per listener and per connection", B, EVERY_BINDING) {
    std::atomic<int> disconnects{0};
    handlers h = echo_handlers();
    h.on_request = [](const connection_handle& c, const handshake_request& r) {
        // Per connection: this one gets a longer idle timeout and keep-alive pings.
        if (r.target == "/keepalive") c.set_idle_timeout(300ms, 100ms);
        return request_decision{};
    };
    h.on_disconnect = [&](const connection_handle&) { ++disconnects; };
    accept_settings s = hostile::server_settings();  // close_timeout 200 ms
    s.idle_timeout = 150ms;
    const auto server = start<B>(s, h);

    SUBCASE("a silent peer gets Close 1001, then is dropped") {
        const int fd = hostile::open_client(server->port());
        const timestamp opened = monotonic_now();
        const auto [opcode, payload] = hostile::read_frame(fd);
        const auto idle = monotonic_now() - opened;
        CHECK(opcode == 0x8);
        CHECK(payload == std::string("\x03\xe9", 2) + "idle timeout");
        CHECK(idle >= 120ms);
        CHECK(idle < 1s);
        // No answer to the Close: dropped (reset) a close_timeout later.
        const auto ended = hostile::wait_ended(fd, 3s);
        REQUIRE(ended);
        CHECK(*ended >= 100ms);
        CHECK(hostile::eventually([&] { return disconnects == 1; }));
        close(fd);
    }
    SUBCASE("a peer that answers the pings stays; the timeout counts from the last input") {
        const int fd = hostile::raw_connect(server->port());
        hostile::write_all(fd, "GET /keepalive HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
        REQUIRE(hostile::read_head(fd).starts_with("HTTP/1.1 101"));
        int pings = 0;
        const timestamp until = monotonic_now() + 1s;
        while (monotonic_now() < until) {
            const auto [opcode, payload] = hostile::read_frame(fd);
            if (opcode != 0x9) break;
            ++pings;
            hostile::write_all(fd, hostile::client_frame(0xA, payload));
        }
        CHECK(pings >= 4);
        CHECK(disconnects == 0);
        // Stop answering: pings, then Close 1001 once the idle timeout passes.
        int opcode = 0x9;
        while (opcode == 0x9) opcode = hostile::read_frame(fd).first;
        CHECK(opcode == 0x8);
        close(fd);
        CHECK(hostile::eventually([&] { return disconnects == 1; }));
    }
}

TEST_CASE_TEMPLATE("the handle: pong, remote address, subprotocol and extensions, user data, pause", B, EVERY_BINDING) {
    struct seen {
        std::mutex m;
        std::optional<endpoint> remote, remote_at_disconnect;
        std::string subprotocol, extensions, data_at_disconnect;
        connection_handle handle;
    };
    auto k = std::make_shared<seen>();
    handlers h;
    h.on_request = [](const connection_handle&, const handshake_request&) {
        return request_decision::accept_with("chat");
    };
    h.on_open = [k](const connection_handle& c) {
        std::lock_guard lock(k->m);
        k->remote = c.remote();
        k->subprotocol = c.subprotocol().value_or("");
        k->extensions = c.extensions();
        k->handle = c;
        c.data<std::string>() = "mine";
        c.pong(as_bytes(std::string_view("beat")));
    };
    h.on_message = [k](const connection_handle& c, const message& m) {
        if (m.text() == "pause") {
            CHECK(c.pause() == misuse::none);
            CHECK(c.paused());
            c.send_text("paused");
        } else {
            c.send(m);
        }
    };
    h.on_disconnect = [k](const connection_handle& c) {
        std::lock_guard lock(k->m);
        k->remote_at_disconnect = c.remote();
        k->data_at_disconnect = c.data<std::string>();
        CHECK(c.pause() == misuse::wrong_state);
    };
    accept_settings s;
    s.engine.compression.negotiate.enabled = true;
    const auto server = start<B>(s, h);

    const int fd = raw_connect(server->port());
    hostile::write_all(fd, "GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
    REQUIRE(hostile::read_head(fd).starts_with("HTTP/1.1 101"));
    CHECK(hostile::read_frame(fd) == std::pair<int, std::string>(0xA, "beat"));
    sockaddr_in local{};
    socklen_t len = sizeof local;
    getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    {
        std::lock_guard lock(k->m);
        REQUIRE(k->remote);
        CHECK(k->remote->address == "127.0.0.1");
        CHECK(k->remote->port == ntohs(local.sin_port));
        CHECK(k->subprotocol == "chat");
        CHECK(k->extensions == "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15");
    }

    // Paused: a message sent afterwards is not read until resume().
    hostile::write_all(fd, hostile::client_frame(0x1, "pause"));
    CHECK(hostile::read_frame(fd) == std::pair<int, std::string>(0x1, "paused"));
    hostile::write_all(fd, hostile::client_frame(0x1, "after"));
    pollfd p{fd, POLLIN, 0};
    CHECK(poll(&p, 1, 300) == 0);
    server->post([k] {
        std::lock_guard lock(k->m);
        CHECK(k->handle.resume() == misuse::none);
        CHECK_FALSE(k->handle.paused());
    });
    CHECK(hostile::read_frame(fd) == std::pair<int, std::string>(0x1, "after"));
    close(fd);
    CHECK(hostile::eventually([&] {
        std::lock_guard lock(k->m);
        return !k->data_at_disconnect.empty();
    }));
    std::lock_guard lock(k->m);
    CHECK(k->data_at_disconnect == "mine");
    CHECK(k->remote_at_disconnect.has_value());
    k->handle = {};
}

// ---- the event loops: client, timers, post, shutdown ------------------------------

TEST_CASE_TEMPLATE("timers: one-shot, repeating, cancelled; run() waits for them", B, EVENT_LOOPS) {
    typename B::loop l;
    std::vector<std::string> log;
    const timestamp started = monotonic_now();
    int ticks = 0;
    event_loop::timer_id repeating = 0;
    repeating = l.add_timer(20ms, [&] {
        log.push_back("tick");
        if (++ticks == 3) CHECK(l.cancel_timer(repeating));
    }, 20ms);
    const auto never = l.add_timer(30ms, [&] { log.push_back("never"); });
    l.add_timer(10ms, [&] {
        log.push_back("once");
        CHECK(l.cancel_timer(never));
        CHECK_FALSE(l.cancel_timer(never));
    });
    l.run();
    CHECK(log == std::vector<std::string>{"once", "tick", "tick", "tick"});
    CHECK(monotonic_now() - started >= 60ms);
    CHECK(repeating != 0);
}

TEST_CASE_TEMPLATE("a timer on another thread broadcasts to every connection through server::post", B, EVENT_LOOPS) {
    typename B::options so;
    so.threads = 2;
    hostile::running_server<typename B::server> server(so, {});
    auto& srv = server.get();

    typename B::loop client_loop;
    int ticks = 0, opened = 0;
    std::atomic<bool> ready{false};
    handlers ch;
    ch.on_open = [&](const connection_handle&) {
        if (++opened == 6) ready = true;
    };
    ch.on_message = [&](const connection_handle& c, const message& m) {
        CHECK(m.text() == "tick");
        ++ticks;
        c.close();
    };
    std::string err;
    for (int i = 0; i < 6; ++i) REQUIRE(client_loop.connect(server.url(), {}, ch, err));
    std::thread ticker([&] {
        while (!ready) std::this_thread::sleep_for(1ms);
        // Every loop broadcasts to its own connections, on its own thread.
        for (std::size_t i = 0; i < srv.loop_count(); ++i) {
            auto& l = srv.loop_at(i);
            l.post([&l] { l.for_each_connection([](const connection_handle& c) { c.send_text("tick"); }); });
        }
    });
    client_loop.run();
    ticker.join();
    CHECK(ticks == 6);
    CHECK_FALSE(srv.post(std::uint64_t{7} << 48, [] {}));  // no loop 7
}

TEST_CASE_TEMPLATE("server::post reaches a connection by id from any thread", B, EVENT_LOOPS) {
    typename B::options so;
    so.threads = 2;
    std::atomic<std::uint64_t> id{0};
    std::mutex m;
    std::vector<connection_handle> handles;
    handlers sh;
    sh.on_open = [&](const connection_handle& c) {
        std::lock_guard lock(m);
        handles.push_back(c);
        id = c.id();
    };
    hostile::running_server<typename B::server> server(so, sh);
    const int fd = hostile::open_client(server.port());
    REQUIRE(hostile::eventually([&] { return id != 0; }));
    REQUIRE(server.get().post(id, [&] {
        std::lock_guard lock(m);
        for (const auto& c : handles)
            if (c.id() == id) c.send_text("from elsewhere");
    }));
    CHECK(hostile::read_frame(fd) == std::pair<int, std::string>(0x1, "from elsewhere"));
    close(fd);
    std::lock_guard lock(m);
    handles.clear();
}

TEST_CASE_TEMPLATE("client: a slow resolver stalls no other connection; connect timeout", B, EVENT_LOOPS) {
    const auto server = start<B>({}, echo_handlers());
    typename B::loop client_loop;
    const timestamp started = monotonic_now();
    std::vector<std::string> log;
    handlers fast;
    fast.on_open = [](const connection_handle& c) { c.send_text("fast"); };
    fast.on_message = [&](const connection_handle& c, const message& m) {
        log.push_back(std::string(m.text()) + (monotonic_now() - started < 500ms ? " in time" : " late"));
        c.close();
    };
    handlers slow = fast;
    slow.on_open = [](const connection_handle& c) { c.send_text("slow"); };
    int timeout_errno = 0;
    std::string timeout_message;
    handlers timed_out;
    timed_out.on_error = [&](const connection_handle&, const error_info& e) {
        CHECK(e.kind == error_kind::transport);
        timeout_errno = e.sys_errno;
        timeout_message = e.message;
        log.push_back(monotonic_now() - started < 700ms ? "timed out in time" : "timed out late");
    };

    connect_options slow_opts;
    slow_opts.resolver = [](const std::string& host, const std::string& port) {
        std::this_thread::sleep_for(800ms);
        CHECK(host == "slow.example");
        return resolve_host("127.0.0.1", port);
    };
    connect_options stuck = slow_opts;
    stuck.resolver = [](const std::string&, const std::string& port) {
        std::this_thread::sleep_for(1500ms);
        return resolve_host("127.0.0.1", port);
    };
    stuck.connect_timeout = 300ms;
    const std::string port = std::to_string(server->port());
    std::string err;
    REQUIRE(client_loop.connect("ws://slow.example:" + port + "/", slow_opts, slow, err));
    REQUIRE(client_loop.connect("ws://stuck.example:" + port + "/", stuck, timed_out, err));
    REQUIRE(client_loop.connect("ws://127.0.0.1:" + port + "/", {}, fast, err));
    client_loop.run();
    CHECK(log == std::vector<std::string>{"fast in time", "timed out in time", "slow late"});
    CHECK(timeout_errno == ETIMEDOUT);
    CHECK(timeout_message == "cannot connect to ws://stuck.example:" + port + "/");

    // A name that does not resolve is reported, not returned.
    std::string resolve_error;
    handlers unknown;
    unknown.on_error = [&](const connection_handle&, const error_info& e) { resolve_error = describe(e); };
    connect_options fails;
    fails.resolver = [](const std::string& host, const std::string&) {
        return resolved_addresses{{}, "cannot resolve " + host + ": no such name"};
    };
    REQUIRE(client_loop.connect("ws://nowhere.invalid/", fails, unknown, err));
    client_loop.run();
    CHECK(resolve_error == "cannot resolve nowhere.invalid: no such name");
}

TEST_CASE_TEMPLATE("client: a refused upgrade hands over the whole HTTP response", B, EVENT_LOOPS) {
    handlers sh;
    sh.on_request = [](const connection_handle&, const handshake_request&) {
        request_decision d = request_decision::reject(401, "who are you?\n");
        d.headers.push_back({"WWW-Authenticate", "Bearer"});
        return d;
    };
    const auto server = start<B>({}, sh);
    typename B::loop client_loop;
    int status = 0;
    std::string header, body;
    handlers ch;
    ch.on_error = [&](const connection_handle&, const error_info& e) {
        REQUIRE(e.kind == error_kind::rejected);
        REQUIRE(e.rejected);
        status = e.rejected->status;
        for (const auto& f : e.rejected->headers)
            if (iequals(f.name, "WWW-Authenticate")) header = f.value;
        body = e.rejected->body;
    };
    std::string err;
    REQUIRE(client_loop.connect(url_of(*server), {}, ch, err));
    client_loop.run();
    CHECK(status == 401);
    CHECK(header == "Bearer");
    CHECK(body == "who are you?\n");
}

TEST_CASE_TEMPLATE("graceful shutdown closes with 1001", B, EVENT_LOOPS) {
    std::atomic<int> server_disconnects{0};
    handlers sh = echo_handlers();
    sh.on_disconnect = [&](const connection_handle&) { ++server_disconnects; };
    auto server = std::make_unique<hostile::running_server<typename B::server>>(typename B::options{}, sh);

    typename B::loop client_loop;
    std::vector<std::uint16_t> codes;
    std::atomic<int> opened{0};
    handlers ch;
    ch.on_open = [&](const connection_handle&) { ++opened; };
    ch.on_close = [&](const connection_handle&, std::uint16_t code, std::string_view) { codes.push_back(code); };
    std::string err;
    for (int i = 0; i < 5; ++i) REQUIRE(client_loop.connect(server->url(), {}, ch, err));
    std::thread stopper([&] {
        while (opened < 5) std::this_thread::sleep_for(1ms);
        server.reset();  // shutdown() and join: run() returned
    });
    client_loop.run();
    stopper.join();
    CHECK(codes == std::vector<std::uint16_t>(5, 1001));
    CHECK(server_disconnects == 5);
}

TEST_CASE_TEMPLATE("one compressor per loop (share_compressor)", B, EVENT_LOOPS) {
    accept_settings s;
    s.engine.compression.negotiate.enabled = true;
    s.engine.compression.negotiate.server_no_context_takeover = true;
    s.share_compressor = true;
    const auto server = start<B>(s, echo_handlers());

    typename B::loop client_loop;
    std::string text;
    for (int i = 0; i < 200; ++i) text += "{\"id\": " + std::to_string(i) + ", \"state\": \"pending\"}\n";
    int echoed = 0;
    handlers ch;
    ch.on_open = [&](const connection_handle& c) {
        const auto p = c.compression_params();
        REQUIRE(p);
        CHECK(p->server_no_context_takeover);
        c.send_text(text);
        c.send_text(text);
    };
    ch.on_message = [&](const connection_handle& c, const message& m) {
        CHECK(m.text() == text);
        if (++echoed % 2 == 0) c.close();
    };
    connect_options co;
    co.engine.compression.negotiate.enabled = true;
    std::string err;
    for (int i = 0; i < 4; ++i) REQUIRE(client_loop.connect(url_of(*server), co, ch, err));
    client_loop.run();
    CHECK(echoed == 8);
}

TEST_CASE_TEMPLATE("out of descriptors, new connections get 503", B, EVENT_LOOPS) {
    // The server runs in a child process: the limit applies to a whole process.
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t server_pid = fork();
    REQUIRE(server_pid >= 0);
    if (server_pid == 0) {
        close(fds[0]);
        typename B::server s({}, echo_handlers());
        std::string err;
        if (!s.listen(err)) _exit(2);
        // Room for three more descriptors: new ones take the lowest free
        // numbers, so the limit goes right below the fourth free one.
        int limit = 0;
        for (int free_seen = 0; free_seen < 4; ++limit)
            if (fcntl(limit, F_GETFD) < 0) ++free_seen;
        rlimit lim{static_cast<rlim_t>(limit - 1), static_cast<rlim_t>(limit - 1)};
        setrlimit(RLIMIT_NOFILE, &lim);
        const std::uint16_t port = s.port();
        if (write(fds[1], &port, sizeof port) != sizeof port) _exit(3);
        close(fds[1]);
        std::thread stopper([&s] {
            std::this_thread::sleep_for(3s);
            s.shutdown();
        });
        s.run();
        stopper.join();
        _exit(s.loop_at(0).shed_count() > 0 ? 0 : 4);
    }
    close(fds[1]);
    std::uint16_t port = 0;
    REQUIRE(read(fds[0], &port, sizeof port) == sizeof port);
    close(fds[0]);
    std::vector<int> socks;
    int busy = 0;
    for (int i = 0; i < 12; ++i) socks.push_back(raw_connect(port));
    for (const int fd : socks) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 200) > 0) {
            char buf[256];
            const ssize_t n = read(fd, buf, sizeof buf);
            if (n > 0 && std::string_view(buf, static_cast<std::size_t>(n)).starts_with("HTTP/1.1 503")) ++busy;
        }
    }
    CHECK(busy > 0);
    for (const int fd : socks) close(fd);
    int status = 0;
    waitpid(server_pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE_TEMPLATE("a port someone else listens on is refused, SO_REUSEPORT or not", B, EVENT_LOOPS) {
    hostile::port_taken_is_refused<typename B::server>(typename B::options{});
}

// ---- one binding only -----------------------------------------------------------

TEST_CASE("loop_adapter over a socketpair: client and server, callback order <adapter_b>") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);

    std::vector<std::string> log;
    handlers server_h;
    server_h.on_request = [](const connection_handle&, const handshake_request& r) {
        CHECK(r.target == "/");
        return request_decision::accept_with("chat");
    };
    server_h.on_message = [](const connection_handle& c, const message& m) { c.send(m); };
    server_h.on_disconnect = [&](const connection_handle&) { log.push_back("server gone"); };

    connection_handle client;
    std::vector<std::string> received;
    handlers client_h;
    client_h.on_open = [&](const connection_handle& c) {
        client = c;
        CHECK(c.subprotocol() == "chat");
        CHECK(c.remote() == std::nullopt);  // not an IP socket
        c.send_text("hello");
        c.send_binary(as_bytes(std::string(300000, 'b')));
    };
    client_h.on_message = [&](const connection_handle& c, const message& m) {
        received.emplace_back(as_text(m.data));
        if (received.size() == 2) c.close(1000, "bye");
    };
    client_h.on_close = [&](const connection_handle&, std::uint16_t code, std::string_view) {
        log.push_back("client close " + std::to_string(code));
    };
    client_h.on_disconnect = [&](const connection_handle&) { log.push_back("client gone"); };

    config cc = client_config();
    cc.client.subprotocols = {"chat"};
    const timestamp now = monotonic_now();
    loop_adapter server(sv[0], config{}, std::make_shared<const handlers>(server_h), now);
    loop_adapter client_side(sv[1], cc, std::make_shared<const handlers>(client_h), now);
    drive({&server, &client_side}, [&] { return server.done() && client_side.done(); });

    REQUIRE(received.size() == 2);
    CHECK(received[0] == "hello");
    // Compared by size and content, so a failure does not print 300 kB.
    CHECK(received[1].size() == 300000);
    CHECK(received[1].find_first_not_of('b') == std::string::npos);
    // The server closes TCP right after answering the Close (§7.1.1); the
    // client reports the Close, then the end of the stream.
    CHECK(log == std::vector<std::string>{"server gone", "client close 1000", "client gone"});
    CHECK_FALSE(client.alive());
    CHECK(client.send_text("late") == misuse::wrong_state);
    CHECK(client.state() == connection_state::closed);
}

TEST_CASE("io_uring: unavailable, with the reason and the alternative <io_uring_b>") {
    setenv("SANSWS_IO_URING_DISABLE", "1", 1);
    io_uring::loop l;
    CHECK_FALSE(l.ok());
    CHECK(l.error().find("io_uring is unavailable") != std::string::npos);
    CHECK(l.error().find("SANSWS_IO_URING_DISABLE") != std::string::npos);
    CHECK(l.error().find("--io epoll") != std::string::npos);
    std::string err;
    CHECK_FALSE(l.connect("ws://127.0.0.1:1/", {}, {}, err));
    CHECK(err == l.error());
    l.run();  // returns at once

    io_uring::server s({}, {});
    CHECK_FALSE(s.listen(err));
    CHECK(err.find("io_uring is unavailable") != std::string::npos);
    unsetenv("SANSWS_IO_URING_DISABLE");

    io_uring::loop fine;
    CHECK_MESSAGE(fine.ok(), fine.error());
    MESSAGE("ring setup flags: " << fine.setup_flags());
}

TEST_CASE("io_uring: many connections, few receive buffers, zero-copy sends <io_uring_b>") {
    io_uring::server_options so;
    so.threads = 2;
    // Two small buffers per loop: multishot receives run out all the time.
    so.ring.buffer_count = 2;
    so.ring.buffer_size = 4096;
    so.ring.zero_copy_threshold = 64 * 1024;
    hostile::running_server<io_uring::server> server(so, echo_handlers());

    io_uring::loop client_loop;
    constexpr int clients = 200;
    const std::string large(200000, 'z');
    int done = 0, errors = 0;
    handlers ch;
    ch.on_open = [&](const connection_handle& c) {
        c.send_text("hello " + std::to_string(c.id()));
        c.send_text(large);
    };
    ch.on_message = [&](const connection_handle& c, const message& m) {
        const int n = ++c.data<int>();
        if (n == 1) CHECK(m.text() == "hello " + std::to_string(c.id()));
        if (n == 2) {
            CHECK(m.text() == large);
            c.close();
        }
    };
    ch.on_error = [&](const connection_handle&, const error_info& e) {
        ++errors;
        FAIL_CHECK(describe(e));
    };
    ch.on_disconnect = [&](const connection_handle& c) {
        if (c.data<int>() == 2) ++done;
    };
    std::string err;
    for (int i = 0; i < clients; ++i) REQUIRE(client_loop.connect(server.url(), {}, ch, err));
    client_loop.run();
    CHECK(done == clients);
    CHECK(errors == 0);
    std::uint64_t exhausted = 0, zc = 0, copied = 0;
    for (std::size_t i = 0; i < server.get().loop_count(); ++i) {
        exhausted += server.get().loop_at(i).stats().buffers_exhausted;
        zc += server.get().loop_at(i).stats().zero_copy_sends;
        copied += server.get().loop_at(i).stats().zero_copy_copied;
    }
    CHECK(exhausted > 0);
    CHECK(zc > 0);
    MESSAGE("zero-copy sends: " << zc << ", of which the kernel copied: " << copied
                                << "; receives out of buffers: " << exhausted);
}
