// Hostile peers (issue 11), the same cases on every binding: a test file
// gives a function that starts a server on 127.0.0.1 (epoll, io_uring, or
// loop_adapter inside a poll() loop), and a raw TCP client in the test's
// own thread does what no well-behaved client would: stop reading, send
// frames before the 101 arrives. What is checked is counted, not timed,
// beyond bounds of a few seconds: the socket closed (reset) by the server,
// on_disconnect once, no descriptor and no kernel socket left behind.
#pragma once

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "sansws/app.hpp"
#include "sansws/options.hpp"
#include "sansws/posix.hpp"

namespace hostile {

using namespace sansws;
using namespace std::chrono_literals;

/// A server running on its own thread for the length of a test.
class server_handle {
public:
    virtual ~server_handle() = default;
    virtual std::uint16_t port() const = 0;
    /// Run `fn` on the server's (first) loop thread.
    virtual void post(std::function<void()> fn) = 0;
};
using start_fn = std::function<std::unique_ptr<server_handle>(const accept_settings&, handlers)>;

/// An epoll::server or io_uring::server (the same API) on its own thread.
template <class Server>
class running_server final : public server_handle {
public:
    template <class Options>
    running_server(Options o, handlers h) : server_(std::move(o), std::move(h)) {
        std::string err;
        REQUIRE_MESSAGE(server_.listen(err), err);
        thread_ = std::thread([this] { server_.run(); });
    }
    ~running_server() override {
        server_.shutdown();
        thread_.join();
    }
    std::uint16_t port() const override { return server_.port(); }
    void post(std::function<void()> fn) override { server_.loop_at(0).post(std::move(fn)); }
    std::string url(std::string_view path = "/") const {
        return "ws://127.0.0.1:" + std::to_string(server_.port()) + std::string(path);
    }
    Server& get() { return server_; }

private:
    Server server_;
    std::thread thread_;
};

/// start_fn for a running_server<Server> on one loop.
template <class Server, class Options>
start_fn start_with(Options base = {}) {
    return [base](const accept_settings& s, handlers h) -> std::unique_ptr<server_handle> {
        Options o = base;
        o.threads = 1;
        o.accept = s;
        return std::make_unique<running_server<Server>>(std::move(o), std::move(h));
    };
}

// ---- the raw client -------------------------------------------------------

/// A blocking TCP connection to 127.0.0.1:port; rcvbuf > 0 shrinks its
/// receive buffer first (so a peer's backlog fills it soon).
inline int raw_connect(std::uint16_t port, int rcvbuf = 0) {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    return fd;
}

/// Read until EOF, an error or `limit`; what arrived. `err` gets the
/// error (ECONNRESET for a reset), 0 at EOF, ETIMEDOUT at the limit.
inline std::string read_all(int fd, std::chrono::milliseconds limit = 5s, int* err = nullptr) {
    std::string out;
    const timestamp end = monotonic_now() + limit;
    char buf[4096];
    int e = ETIMEDOUT;
    while (monotonic_now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) continue;
        const ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0) {
            e = n == 0 ? 0 : errno;
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
    if (err) *err = e;
    return out;
}

inline void write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        REQUIRE(n > 0);
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

/// Exactly n bytes, or fewer at EOF / error / after 5 s.
inline std::string read_exact(int fd, std::size_t n) {
    std::string out;
    const timestamp end = monotonic_now() + 5s;
    char buf[4096];
    while (out.size() < n && monotonic_now() < end) {
        pollfd p{fd, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) continue;
        const ssize_t got = read(fd, buf, std::min(sizeof buf, n - out.size()));
        if (got <= 0) break;
        out.append(buf, static_cast<std::size_t>(got));
    }
    return out;
}

inline std::string upgrade_request() {
    return "GET / HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

/// One masked client frame (RFC 6455 §5.2); opcode 3 is reserved.
inline std::string client_frame(std::uint8_t opcode, std::string_view payload) {
    std::string f(1, static_cast<char>(0x80 | opcode));
    const std::size_t n = payload.size();
    if (n < 126) {
        f += static_cast<char>(0x80 | n);
    } else if (n < 65536) {
        f += static_cast<char>(0x80 | 126);
        for (int shift = 8; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xff);
    } else {
        f += static_cast<char>(0x80 | 127);
        for (int shift = 56; shift >= 0; shift -= 8) f += static_cast<char>((n >> shift) & 0xff);
    }
    const char key[4] = {0x12, 0x34, 0x56, 0x78};
    f.append(key, 4);
    for (std::size_t i = 0; i < n; ++i) f += static_cast<char>(payload[i] ^ key[i % 4]);
    return f;
}

/// The response head, byte by byte (nothing after it is taken).
inline std::string read_head(int fd) {
    std::string head;
    while (!head.ends_with("\r\n\r\n")) {
        const std::string c = read_exact(fd, 1);
        if (c.empty()) break;
        head += c;
    }
    return head;
}

/// Connected and past the handshake.
inline int open_client(std::uint16_t port, int rcvbuf = 0) {
    const int fd = raw_connect(port, rcvbuf);
    write_all(fd, upgrade_request());
    REQUIRE(read_head(fd).starts_with("HTTP/1.1 101"));
    return fd;
}

/// One unmasked server frame: opcode and payload; opcode -1 when none came.
inline std::pair<int, std::string> read_frame(int fd) {
    const std::string h = read_exact(fd, 2);
    if (h.size() < 2) return {-1, {}};
    std::size_t n = static_cast<unsigned char>(h[1]) & 0x7f;
    if (n >= 126) {
        const std::string ext = read_exact(fd, n == 126 ? 2 : 8);
        n = 0;
        for (const char c : ext) n = (n << 8) | static_cast<unsigned char>(c);
    }
    return {static_cast<unsigned char>(h[0]) & 0x0f, read_exact(fd, n)};
}

/// Wait, without reading, until the peer ends the connection (a reset,
/// or a FIN); how long that took, or nullopt past `limit`.
inline std::optional<std::chrono::nanoseconds> wait_ended(int fd, std::chrono::milliseconds limit) {
    const timestamp start = monotonic_now();
    while (monotonic_now() - start < limit) {
        pollfd p{fd, POLLRDHUP, 0};
        if (poll(&p, 1, 10) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
            return monotonic_now() - start;
    }
    return std::nullopt;
}

inline int socket_error(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    return err;
}

// ---- what the process and the kernel hold --------------------------------

inline std::size_t fd_count() {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
}

/// TCP sockets bound to `port` on this machine other than listeners: the
/// server's side of its connections, orphans (closed but still trying to
/// deliver a backlog, FIN_WAIT1) included.
inline int server_sockets(std::uint16_t port) {
    int n = 0;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::ifstream in(table);
        std::string line;
        std::getline(in, line);  // the header
        while (std::getline(in, line)) {
            char local[64] = {}, remote[64] = {};
            unsigned state = 0;
            if (std::sscanf(line.c_str(), "%*d: %63s %63s %x", local, remote, &state) != 3) continue;
            const char* colon = std::strrchr(local, ':');
            if (colon && std::strtoul(colon + 1, nullptr, 16) == port && state != 0x0A /* LISTEN */) ++n;
        }
    }
    return n;
}

template <class F>
bool eventually(F done, std::chrono::milliseconds limit = 3s) {
    const timestamp end = monotonic_now() + limit;
    while (!done()) {
        if (monotonic_now() > end) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// ---- the cases ------------------------------------------------------------

constexpr auto close_timeout = 200ms;
constexpr std::size_t backlog_bytes = 8 * 1024 * 1024;  // more than the socket buffers take

/// What the server side counts, shared with its thread.
struct counts {
    std::atomic<int> disconnects{0};
    std::atomic<int> aborts_refused{0};  // abort() refused, or a second one not answered wrong_state
    std::atomic<int> dead_after{0};      // handles still alive in on_disconnect
    std::atomic<std::size_t> memory_at_message{0};  // memory_use() in the last binary message's handler
    std::atomic<std::size_t> memory_at_ping{0};     // ... and in the last ping's
};

/// Binary over 64 KiB: its size back as text, memory_use() noted; a ping:
/// memory_use() noted. Text "big N": N bytes back. "big-close N": the same, then close(1000).
/// "abort": a message queued, then abort() (twice). Anything else: echoed.
inline handlers server_handlers(const std::shared_ptr<counts>& k) {
    handlers h;
    h.on_message = [k](const connection_handle& c, const message& m) {
        const std::string_view text = m.type == message_type::text ? m.text() : std::string_view{};
        if (text.starts_with("big")) {
            const std::size_t n = std::stoul(std::string(text.substr(text.find(' ') + 1)));
            c.send_binary(as_bytes(std::string(n, 'x')));
            if (text.starts_with("big-close")) c.close(1000, "done");
        } else if (text == "abort") {
            c.send_text("never written");
            if (c.abort() != misuse::none || c.abort() != misuse::wrong_state) ++k->aborts_refused;
        } else if (m.type == message_type::binary && m.data.size() > 64 * 1024) {
            // Only its size goes back: the output queue keeps large blocks
            // by a rule of its own, which is not what is measured here.
            k->memory_at_message = c.memory_use();
            c.send_text(std::to_string(m.data.size()));
        } else {
            c.send(m);
        }
    };
    h.on_ping = [k](const connection_handle& c, bytes_view) { k->memory_at_ping = c.memory_use(); };
    h.on_disconnect = [k](const connection_handle& c) {
        ++k->disconnects;
        if (c.alive()) ++k->dead_after;
    };
    return h;
}

constexpr auto retain_time = 100ms;

inline accept_settings server_settings() {
    accept_settings s;
    s.engine.close_timeout = close_timeout;
    s.engine.retain_time = retain_time;
    return s;
}

/// After the server ended a connection: it reset the socket (`seen`, the
/// client's error, is ECONNRESET, and no orphan socket keeps a backlog),
/// on_disconnect ran once, and no descriptor is left once the client
/// closes too.
inline void check_reset(int fd, int seen, std::uint16_t port, const counts& k, std::size_t fds_before) {
    CHECK(seen == ECONNRESET);
    CHECK(eventually([&] { return k.disconnects == 1; }));
    CHECK_MESSAGE(eventually([&] { return server_sockets(port) == 0; }),
                  "the server's socket outlived its connection: " << server_sockets(port));
    close(fd);
    CHECK(eventually([&] { return fd_count() == fds_before; }));
    std::this_thread::sleep_for(50ms);
    CHECK(k.disconnects == 1);
    CHECK(k.dead_after == 0);
}

inline void run_all(const start_fn& start) {
    auto k = std::make_shared<counts>();
    const auto server = start(server_settings(), server_handlers(k));
    const std::uint16_t port = server->port();
    const std::size_t fds_before = fd_count();

    SUBCASE("a peer that never reads, then breaks the protocol: reset at the drain deadline") {
        const int fd = open_client(port, 4096);
        // One write: the request for a backlog, then a reserved opcode. The
        // server fails the connection with its Close queued behind the
        // backlog, which the peer never reads.
        write_all(fd, client_frame(0x1, "big " + std::to_string(backlog_bytes)) + client_frame(0x3, ""));
        const auto took = wait_ended(fd, close_timeout + 3s);
        REQUIRE_MESSAGE(took, "the server kept the connection of a peer that does not read");
        CHECK(*took >= close_timeout * 3 / 4);
        check_reset(fd, socket_error(fd), port, *k, fds_before);
    }

    SUBCASE("the application closes, the peer never reads: reset after the close and drain deadlines") {
        const int fd = open_client(port, 4096);
        write_all(fd, client_frame(0x1, "big-close " + std::to_string(backlog_bytes)));
        // The Close handshake times out (close_timeout), then what is queued
        // gets close_timeout more to be written.
        const auto took = wait_ended(fd, 2 * close_timeout + 3s);
        REQUIRE_MESSAGE(took, "the server kept the connection of a peer that does not read");
        CHECK(*took >= close_timeout * 3 / 4);
        check_reset(fd, socket_error(fd), port, *k, fds_before);
    }

    SUBCASE("abort() from a handler: reset at once, queued output dropped, no Close") {
        const int fd = open_client(port);
        write_all(fd, client_frame(0x1, "abort"));
        int err = 0;
        const std::string after = read_all(fd, 3s, &err);
        CHECK_MESSAGE(after.empty(), "bytes after abort(): " << after.size());
        CHECK(k->aborts_refused == 0);
        check_reset(fd, err, port, *k, fds_before);
    }

    SUBCASE("frames right behind the upgrade request, in one write, are all echoed") {
        const int fd = raw_connect(port);
        std::string bytes = upgrade_request();
        for (int i = 0; i < 20; ++i) bytes += client_frame(0x2, std::string(1024, static_cast<char>('a' + i)));
        REQUIRE(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
        REQUIRE(read_head(fd).starts_with("HTTP/1.1 101"));
        int echoed = 0;
        for (int i = 0; i < 20; ++i) {
            const auto [opcode, payload] = read_frame(fd);
            if (opcode != 0x2 || payload != std::string(1024, static_cast<char>('a' + i))) {
                FAIL_CHECK("message " << i << ": opcode " << opcode << ", " << payload.size() << " bytes");
                break;
            }
            ++echoed;
        }
        CHECK(echoed == 20);
        write_all(fd, client_frame(0x8, std::string("\x03\xe8", 2)));
        CHECK(read_frame(fd).first == 0x8);
        int err = -1;
        CHECK(read_all(fd, 3s, &err).empty());
        CHECK(err == 0);  // a clean end after the Close handshake
        close(fd);
        CHECK(eventually([&] { return k->disconnects == 1; }));
        CHECK(eventually([&] { return fd_count() == fds_before; }));
    }

    SUBCASE("a quiet connection gives its message buffer back at retain_time, with nothing to write") {
        const int fd = open_client(port);
        // In two pieces, so the server assembles it in its message buffer
        // (smaller than retain_size: kept for retain_time, then given back
        // on the timer alone, nothing else happening on the connection).
        const std::string frame = client_frame(0x2, std::string(100 * 1024, 'q'));
        write_all(fd, std::string_view(frame).substr(0, 1000));
        std::this_thread::sleep_for(20ms);
        write_all(fd, std::string_view(frame).substr(1000));
        CHECK(read_frame(fd) == std::pair<int, std::string>(0x1, std::to_string(100 * 1024)));
        std::this_thread::sleep_for(retain_time * 3);
        write_all(fd, client_frame(0x9, ""));
        CHECK(read_frame(fd).first == 0xA);
        MESSAGE("memory_use() at the message " << k->memory_at_message.load() << ", at the ping " << k->memory_at_ping.load());
        CHECK(k->memory_at_message >= 100 * 1024);
        CHECK(k->memory_at_ping + 64 * 1024 < k->memory_at_message);
        close(fd);
    }
}

/// A server of several loops (SO_REUSEPORT) must not join a port that
/// someone else listens on: another server object, a one-loop server, a
/// socket of "another process" with SO_REUSEPORT.
template <class Server, class Options>
void port_taken_is_refused(Options o) {
    o.host = "127.0.0.1";
    o.port = 0;
    o.threads = 2;
    Server first(o, {});
    std::string err;
    REQUIRE_MESSAGE(first.listen(err), err);
    const std::uint16_t port = first.port();
    const std::string refused = "cannot listen on 127.0.0.1:" + std::to_string(port) + ": Address already in use";

    o.port = port;
    Server second(o, {});
    CHECK_FALSE(second.listen(err));
    CHECK(err == refused);
    o.threads = 1;
    Server single(o, {});
    CHECK_FALSE(single.listen(err));
    CHECK(err == refused);

    // Held by a listener with SO_REUSEPORT that is not ours.
    const int other = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(other, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(other, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(other, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(other, 8) == 0);
    socklen_t len = sizeof a;
    getsockname(other, reinterpret_cast<sockaddr*>(&a), &len);
    o.port = ntohs(a.sin_port);
    o.threads = 2;
    Server third(o, {});
    CHECK_FALSE(third.listen(err));
    CHECK(err.ends_with(": Address already in use"));
    close(other);

    // Free again: the same port is taken, by every loop.
    Server fourth(o, {});
    CHECK_MESSAGE(fourth.listen(err), err);
    CHECK(fourth.port() == o.port);
}

}  // namespace hostile
