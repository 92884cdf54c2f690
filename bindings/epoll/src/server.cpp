// The multi-threaded server: one loop per thread, each with its own
// listening socket on the same address (SO_REUSEPORT lets the kernel spread
// new connections between them), so loops share nothing.
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "sansws/epoll.hpp"

namespace sansws::epoll {
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
    if (bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) < 0 || ::listen(fd, backlog) < 0) {
        error = "cannot listen on " + show(addr, port) + ": " + std::strerror(errno);
        ::close(fd);
        return -1;
    }
    return fd;
}

}  // namespace

server::server(server_options opts, handlers h)
    : opts_(std::move(opts)), h_(std::make_shared<const handlers>(std::move(h))) {}

server::~server() = default;

bool server::listen(std::string& error) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(opts_.host.empty() ? nullptr : opts_.host.c_str(), "0", &hints, &res);
    if (rc != 0) {
        error = "cannot resolve " + opts_.host + ": " + gai_strerror(rc);
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

    const unsigned threads = std::max(1u, opts_.threads);
    std::uint16_t port = opts_.port;
    loops_.clear();
    for (unsigned t = 0; t < threads; ++t) {
        auto l = std::make_unique<loop>(t);
        l->set_shutdown_timeout(opts_.shutdown_timeout);
        for (const auto& [addr, len] : addrs) {
            const int fd = open_listener(addr, len, port, threads > 1, v4 && v6, opts_.backlog, error);
            if (fd < 0) {
                loops_.clear();
                return false;
            }
            // Port 0: the first socket picks the port, every other one
            // (other family, other loops) binds the same.
            if (port == 0) port = bound_port(fd);
            l->add_listener(fd, h_, opts_.accept);
        }
        loops_.push_back(std::move(l));
    }
    port_ = port;
    return true;
}

void server::run() {
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < loops_.size(); ++i) threads.emplace_back([l = loops_[i].get()] { l->run(); });
    if (!loops_.empty()) loops_[0]->run();
    for (auto& t : threads) t.join();
}

void server::shutdown() noexcept {
    for (auto& l : loops_) l->stop();
}

}  // namespace sansws::epoll
