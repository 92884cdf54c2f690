// Tests for the io_uring binding on loopback: its client and server talking
// to each other (echo, post(), many connections, exhausted receive buffers,
// zero-copy sends), deadlines, back-pressure, plain HTTP, descriptor
// exhaustion, graceful shutdown, the error when io_uring is unavailable,
// hostile peers and a port someone else holds (hostile_peers.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "hostile_peers.hpp"
#include "sansws/io_uring.hpp"

using namespace sansws;

namespace {

using running_server = hostile::running_server<io_uring::server>;

handlers echo_handlers() {
    handlers h;
    h.on_message = [](const connection_handle& c, const message& m) { c.send(m); };
    return h;
}

using hostile::raw_connect;
using hostile::read_all;

}  // namespace

TEST_CASE("io_uring: unavailable, with the reason and the alternative") {
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

TEST_CASE("io_uring: client and server echo, post() and a refused connect") {
    io_uring::server_options so;
    so.threads = 2;
    running_server server(so, echo_handlers());

    io_uring::loop client_loop;
    REQUIRE(client_loop.ok());
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
    REQUIRE(client_loop.connect("ws://localhost:" + std::to_string(server.port()) + "/", {}, ch, err));
    REQUIRE(client_loop.connect("ws://127.0.0.1:1/", {}, refused, err));

    std::thread poster([&] {
        while (!opened) std::this_thread::sleep_for(std::chrono::milliseconds(1));
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

TEST_CASE("io_uring: many connections, few receive buffers, zero-copy sends") {
    io_uring::server_options so;
    so.threads = 2;
    // Two small buffers per loop: multishot receives run out all the time.
    so.ring.buffer_count = 2;
    so.ring.buffer_size = 4096;
    so.ring.zero_copy_threshold = 64 * 1024;
    running_server server(so, echo_handlers());

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
        auto& count = c.user_data();
        const int n = count.has_value() ? std::any_cast<int>(count) + 1 : 1;
        count = n;
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
        if (c.user_data().has_value() && std::any_cast<int>(c.user_data()) == 2) ++done;
    };
    std::string err;
    for (int i = 0; i < clients; ++i) REQUIRE(client_loop.connect(server.url(), {}, ch, err));
    client_loop.run();
    CHECK(done == clients);
    CHECK(errors == 0);
    std::uint64_t exhausted = 0, zc = 0;
    for (std::size_t i = 0; i < server.get().loop_count(); ++i) {
        exhausted += server.get().loop_at(i).stats().buffers_exhausted;
        zc += server.get().loop_at(i).stats().zero_copy_sends;
    }
    CHECK(exhausted > 0);
    CHECK(zc > 0);
    std::uint64_t copied = 0;
    for (std::size_t i = 0; i < server.get().loop_count(); ++i) copied += server.get().loop_at(i).stats().zero_copy_copied;
    MESSAGE("zero-copy sends: " << zc << ", of which the kernel copied: " << copied
                                << "; receives out of buffers: " << exhausted);
}

TEST_CASE("io_uring: one compressor per loop (share_compressor)") {
    io_uring::server_options so;
    so.accept.engine.compression.negotiate.enabled = true;
    so.accept.engine.compression.negotiate.server_no_context_takeover = true;
    so.accept.share_compressor = true;
    running_server server(so, echo_handlers());

    io_uring::loop client_loop;
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
    for (int i = 0; i < 4; ++i) REQUIRE(client_loop.connect(server.url(), co, ch, err));
    client_loop.run();
    CHECK(echoed == 8);
}

TEST_CASE("io_uring: deadlines (handshake timeout, keep-alive pings)") {
    io_uring::server_options so;
    so.accept.engine.handshake_timeout = std::chrono::milliseconds(200);
    so.accept.engine.ping_interval = std::chrono::milliseconds(40);
    running_server server(so, echo_handlers());

    // Says nothing: closed once the handshake deadline passes.
    const int silent = raw_connect(server.port());
    const timestamp start = monotonic_now();
    CHECK(read_all(silent) == "");
    const auto waited = monotonic_now() - start;
    CHECK(waited >= std::chrono::milliseconds(150));
    CHECK(waited < std::chrono::seconds(3));
    close(silent);

    // The server pings on its own deadline; the client answers.
    io_uring::loop client_loop;
    int pings = 0;
    handlers ch;
    ch.on_ping = [&](const connection_handle& c, bytes_view) {
        if (++pings == 3) c.close();
    };
    std::string err;
    REQUIRE(client_loop.connect(server.url(), {}, ch, err));
    client_loop.run();
    CHECK(pings == 3);
}

TEST_CASE("io_uring: graceful shutdown closes with 1001") {
    std::atomic<int> server_disconnects{0};
    handlers sh = echo_handlers();
    sh.on_disconnect = [&](const connection_handle&) { ++server_disconnects; };
    auto server = std::make_unique<running_server>(io_uring::server_options{}, sh);

    io_uring::loop client_loop;
    std::vector<std::uint16_t> codes;
    std::atomic<int> opened{0};
    handlers ch;
    ch.on_open = [&](const connection_handle&) { ++opened; };
    ch.on_close = [&](const connection_handle&, std::uint16_t code, std::string_view) { codes.push_back(code); };
    std::string err;
    for (int i = 0; i < 5; ++i) REQUIRE(client_loop.connect(server->url(), {}, ch, err));
    std::thread stopper([&] {
        while (opened < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        server.reset();  // shutdown() and join: run() returned
    });
    client_loop.run();
    stopper.join();
    CHECK(codes == std::vector<std::uint16_t>(5, 1001));
    CHECK(server_disconnects == 5);
}

TEST_CASE("io_uring: plain HTTP through on_http") {
    handlers h;
    h.on_http = [](const http_head& req) { return http_response{200, {}, "page at " + req.target}; };
    running_server server(io_uring::server_options{}, h);
    const int fd = raw_connect(server.port());
    const std::string req = "GET /index HTTP/1.1\r\nHost: x\r\n\r\n";
    REQUIRE(write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
    const std::string resp = read_all(fd);
    CHECK(resp.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(resp.ends_with("\r\n\r\npage at /index"));
    close(fd);
}

TEST_CASE("io_uring: stops reading above the high-water mark") {
    io_uring::server_options so;
    so.accept.high_water = 64 * 1024;
    std::atomic<std::size_t> most{0};
    handlers h;
    h.on_message = [&](const connection_handle& c, const message& m) {
        c.send(m);
        most = std::max<std::size_t>(most, c.buffered());
    };
    running_server server(so, h);

    // A client engine on a blocking socket that sends and never reads: the
    // echoes pile up at the server until it stops reading.
    const int fd = raw_connect(server.port());
    int small = 16 * 1024;  // so our own socket buffers fill up soon
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    config cc;
    cc.role = role::client;
    cc.entropy = fill_random;
    cc.client.host = "test";
    connection client(cc);
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
    std::string head;
    char c;
    while (!head.ends_with("\r\n\r\n") && read(fd, &c, 1) == 1) head += c;
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
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const std::size_t stalled = most;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(sent < 4000);
    CHECK(stalled >= so.accept.high_water);
    // Receiving stops at the mark: the multishot receive is cancelled. What
    // the kernel had already delivered by then is still processed, so the
    // output may pass the mark by about one socket buffer, but no further.
    CHECK(most == stalled);
    CHECK(most < so.accept.high_water + 8 * 1024 * 1024);
    MESSAGE("high-water mark " << so.accept.high_water << ", most output queued " << most.load());
    close(fd);
}

TEST_CASE("io_uring: out of descriptors, new connections get 503") {
    // The server runs in a child process: the limit applies to a whole process.
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t server_pid = fork();
    REQUIRE(server_pid >= 0);
    if (server_pid == 0) {
        close(fds[0]);
        io_uring::server s({}, echo_handlers());
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
            std::this_thread::sleep_for(std::chrono::seconds(3));
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

TEST_CASE("io_uring: hostile peers") {
    hostile::run_all(hostile::start_with<io_uring::server, io_uring::server_options>());
}

TEST_CASE("io_uring: a port someone else listens on is refused, SO_REUSEPORT or not") {
    hostile::port_taken_is_refused<io_uring::server>(io_uring::server_options{});
}
