// Listening sockets for the servers: name resolution, one socket per address
// and loop, SO_REUSEPORT between loops, IPv4 and IPv6 side by side; shedding
// connections when out of descriptors.
#include "listen.hpp"

#include <netdb.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

namespace sansws::detail {
namespace {

std::string show(const sockaddr_storage& ss, std::uint16_t port) {
    char host[NI_MAXHOST] = "?";
    getnameinfo(reinterpret_cast<const sockaddr*>(&ss), sizeof ss, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
    // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
    // positive) about `"[" + std::string(host) + ...`.
    std::string s;
    if (ss.ss_family == AF_INET6) s += '[';
    s += host;
    if (ss.ss_family == AF_INET6) s += ']';
    s += ':';
    s += std::to_string(port);
    return s;
}

void set_port(sockaddr_storage& ss, std::uint16_t port) {
    if (ss.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6&>(ss).sin6_port = htons(port);
    else reinterpret_cast<sockaddr_in&>(ss).sin_port = htons(port);
}

std::uint16_t bound_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                          : reinterpret_cast<sockaddr_in&>(ss).sin_port);
}

/// A bound, listening, non-blocking socket, or -1 with `error` set.
/// backlog < 0: bound only (a probe), not listening.
int open_listener(sockaddr_storage addr, socklen_t len, std::uint16_t port, bool reuse_port, bool v6only,
                  int backlog, std::string& error) {
    set_port(addr, port);
    const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error = std::string("socket: ") + std::strerror(errno);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Only with several loops: on by default it would let a second server
    // silently share the port with a first one.
    if (reuse_port) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (addr.ss_family == AF_INET6) {
        // When the name also resolved to IPv4 that gets its own socket;
        // otherwise "::" takes IPv4 too.
        int v6 = v6only ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6, sizeof v6);
    }
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) < 0 || (backlog >= 0 && ::listen(fd, backlog) < 0)) {
        error = "cannot listen on " + show(addr, port) + ": " + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

/// SO_REUSEPORT lets any socket of the same user with the option join a
/// port, a listener of another server (or process) included, which would
/// then silently get a share of the connections. Before a server's group
/// takes a fixed port, a socket without the option binds it and lets go:
/// that fails with EADDRINUSE while anyone listens there. (A port the
/// kernel picks, port 0, is never one already shared.) Not atomic: a
/// server starting at the same moment may still slip in between.
bool port_is_free(const sockaddr_storage& addr, socklen_t len, std::uint16_t port, bool v6only,
                  std::string& error) {
    const int probe = open_listener(addr, len, port, false, v6only, -1, error);
    if (probe < 0) return false;
    ::close(probe);
    return true;
}

}  // namespace

bool open_listeners(const std::string& host, std::uint16_t port, unsigned loops, int backlog,
                    std::vector<std::vector<int>>& fds, std::uint16_t& bound, std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), "0", &hints, &res);
    if (rc != 0) {
        error = "cannot resolve " + host + ": " + gai_strerror(rc);
        return false;
    }
    std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
    bool v4 = false, v6 = false;
    for (const addrinfo* p = res; p; p = p->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, p->ai_addr, p->ai_addrlen);
        const bool dup = std::any_of(addrs.begin(), addrs.end(), [&](const auto& a) {
            return a.second == p->ai_addrlen && std::memcmp(&a.first, &ss, p->ai_addrlen) == 0;
        });
        if (dup) continue;
        addrs.emplace_back(ss, p->ai_addrlen);
        (p->ai_family == AF_INET6 ? v6 : v4) = true;
    }
    freeaddrinfo(res);

    fds.assign(loops, {});
    const bool reuse_port = loops > 1;
    for (unsigned t = 0; t < loops; ++t) {
        for (const auto& [addr, len] : addrs) {
            // Only the listeners of this call may share the port: each
            // address is probed before its first listener (once the port is
            // known: with port 0, the first listener picks it, the others
            // join).
            const bool probe = reuse_port && t == 0 && port != 0;
            const int fd = probe && !port_is_free(addr, len, port, v4 && v6, error)
                               ? -1
                               : open_listener(addr, len, port, reuse_port, v4 && v6, backlog, error);
            if (fd < 0) {
                for (const auto& set : fds)
                    for (const int open : set) ::close(open);
                fds.clear();
                return false;
            }
            // Port 0: the first socket picks the port, every other one
            // (other family, other loops) binds the same.
            if (port == 0) port = bound_port(fd);
            fds[t].push_back(fd);
        }
    }
    bound = port;
    return true;
}

bool shed_one(int listen_fd, int& spare_fd) noexcept {
    ::close(spare_fd);
    spare_fd = -1;
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        static constexpr std::string_view busy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            // Best effort: the close below is the answer then.
        }
        ::close(fd);
    }
    spare_fd = open_spare();
    return fd >= 0;
}

int open_spare() noexcept { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

void set_nodelay(int fd) noexcept {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace sansws::detail
