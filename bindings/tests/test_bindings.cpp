// Tests for the bindings on real sockets: URL parsing, loop_adapter driven
// by a small poll() loop over a socketpair, and the epoll client and server
// talking to each other over loopback; hostile peers (hostile_peers.hpp)
// against epoll and against loop_adapter in a poll() loop that accepts TCP
// connections; a port someone else holds.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "hostile_peers.hpp"
#include "sansws/epoll.hpp"
#include "sansws/loop_adapter.hpp"

using namespace sansws;

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

namespace {

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
    const timestamp limit = monotonic_now() + std::chrono::seconds(10);
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
/// next_deadline(), on_change answered in the next iteration.
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

private:
    void run() {
        while (!stop_) {
            std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
            timestamp next = monotonic_now() + std::chrono::milliseconds(10);
            for (const auto& a : adapters_) {
                fds.push_back(watch(*a));
                next = std::min(next, a->next_deadline());
            }
            const auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - monotonic_now()).count();
            poll(fds.data(), fds.size(), static_cast<int>(std::max<std::int64_t>(0, wait)));
            const timestamp now = monotonic_now();
            const bool changed = std::exchange(changed_, false);
            for (std::size_t i = 0; i < adapters_.size(); ++i) {
                serve(*adapters_[i], fds[i + 1].revents, now);
                if (changed && !adapters_[i]->done()) adapters_[i]->on_writable(now);
            }
            std::erase_if(adapters_, [](const auto& a) { return a->done(); });
            if (fds[0].revents & POLLIN) accept_all(now);
        }
    }
    void accept_all(timestamp now) {
        while (true) {
            const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) return;
            adapter_options o;
            o.high_water = settings_.high_water;
            o.on_change = [this] { changed_ = true; };
            adapters_.push_back(std::make_unique<loop_adapter>(fd, settings_.engine, h_, now, std::move(o)));
        }
    }

    accept_settings settings_;
    std::shared_ptr<const handlers> h_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::vector<std::unique_ptr<loop_adapter>> adapters_;
    bool changed_ = false;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

config client_config() {
    config c;
    c.role = role::client;
    c.entropy = fill_random;
    c.client.host = "test";
    return c;
}

}  // namespace

TEST_CASE("loop_adapter: client and server echo over a socketpair") {
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

TEST_CASE("loop_adapter: plain HTTP goes to on_http, upgrades to the engine") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    handlers h;
    h.on_http = [](const http_head& req) {
        return http_response{200, {{"Content-Type", "text/plain"}}, "page at " + req.target};
    };
    loop_adapter server(sv[0], config{}, std::make_shared<const handlers>(h), monotonic_now());
    const std::string req = "GET /index HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(write(sv[1], req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    drive({&server}, [&] { return server.done(); });
    char buf[1024];
    const ssize_t n = read(sv[1], buf, sizeof buf);
    REQUIRE(n > 0);
    const std::string resp(buf, static_cast<std::size_t>(n));
    CHECK(resp.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(resp.ends_with("\r\n\r\npage at /index"));
    close(sv[1]);
}

TEST_CASE("loop_adapter: stops reading above the high-water mark") {
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
    handlers h;
    h.on_message = [](const connection_handle& c, const message& m) { c.send(m); };
    adapter_options o;
    o.high_water = 64 * 1024;
    loop_adapter server(sv[0], config{}, std::make_shared<const handlers>(h), monotonic_now(), o);

    // A client that sends but never reads: the echoes pile up at the server.
    bool open = false;
    handlers ch;
    ch.on_open = [&](const connection_handle&) { open = true; };
    loop_adapter client(sv[1], client_config(), std::make_shared<const handlers>(ch), monotonic_now());
    drive({&server, &client}, [&] { return open; });
    REQUIRE(open);
    const std::string chunk(16 * 1024, 'x');
    for (int i = 0; i < 64 && server.wants_read(); ++i) {
        client.handle().send_text(chunk);
        client.on_writable(monotonic_now());
        server.on_readable(monotonic_now());
        server.on_writable(monotonic_now());
    }
    CHECK_FALSE(server.wants_read());
    CHECK(server.engine().buffered() >= o.high_water);
    CHECK(server.engine().buffered() < o.high_water + 4 * chunk.size());
}

TEST_CASE("epoll: client and server on loopback, post() and stop()") {
    epoll::server_options so;
    so.port = 0;
    so.threads = 2;
    handlers sh;
    sh.on_message = [](const connection_handle& c, const message& m) { c.send(m); };
    epoll::server server(so, sh);
    std::string err;
    REQUIRE_MESSAGE(server.listen(err), err);
    REQUIRE(server.port() != 0);
    std::thread server_thread([&] { server.run(); });

    epoll::loop client_loop;
    std::vector<std::string> got;
    connection_handle conn;
    std::atomic<bool> opened{false};
    handlers ch;
    ch.on_open = [&](const connection_handle& c) {
        conn = c;
        opened = true;
    };
    ch.on_message = [&](const connection_handle& c, const message& m) {
        got.emplace_back(m.text());
        if (got.size() == 3) c.close();
    };
    int refused_errno = 0;
    handlers refused;
    refused.on_error = [&](const connection_handle&, const error_info& e) {
        CHECK(e.kind == error_kind::transport);
        refused_errno = e.sys_errno;
    };
    REQUIRE(client_loop.connect("ws://localhost:" + std::to_string(server.port()) + "/", {}, ch, err));
    REQUIRE(client_loop.connect("ws://127.0.0.1:1/", {}, refused, err));

    // Another thread sends through the loop with post().
    std::thread poster([&] {
        while (!opened) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        for (const char* text : {"one", "two", "three"})
            client_loop.post([&conn, text] { conn.send_text(text); });
    });
    client_loop.run();  // returns when both connections are gone
    poster.join();
    CHECK(got == std::vector<std::string>{"one", "two", "three"});
    CHECK(refused_errno == ECONNREFUSED);

    server.shutdown();
    server_thread.join();
}

TEST_CASE("loop_adapter: hostile peers") {
    hostile::run_all([](const accept_settings& s, handlers h) -> std::unique_ptr<hostile::server_handle> {
        return std::make_unique<adapter_server>(s, std::move(h));
    });
}

TEST_CASE("epoll: hostile peers") {
    hostile::run_all(hostile::start_with<epoll::server, epoll::server_options>());
}

TEST_CASE("epoll: a port someone else listens on is refused, SO_REUSEPORT or not") {
    hostile::port_taken_is_refused<epoll::server>(epoll::server_options{});
}
