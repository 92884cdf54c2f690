// The multi-threaded server: one loop per thread, each with its own
// listening socket on the same address (SO_REUSEPORT lets the kernel spread
// new connections between them), so loops share nothing.
#include <algorithm>

#include "listen.hpp"
#include "sansws/epoll.hpp"

namespace sansws::epoll {

server::server(server_options opts, handlers h)
    : opts_(std::move(opts)), h_(std::make_shared<const handlers>(std::move(h))) {}

server::~server() = default;

bool server::listen(std::string& error) {
    const unsigned threads = std::max(1u, opts_.threads);
    loops_.clear();
    std::vector<std::unique_ptr<loop>> loops;
    for (unsigned t = 0; t < threads; ++t) {
        loops.push_back(std::make_unique<loop>(t));
        loops.back()->set_shutdown_timeout(opts_.shutdown_timeout);
    }
    std::vector<std::vector<int>> fds;
    std::uint16_t port = 0;
    if (!detail::open_listeners(opts_.host, opts_.port, threads, opts_.backlog, fds, port, error)) return false;
    for (unsigned t = 0; t < threads; ++t)
        for (const int fd : fds[t]) loops[t]->add_listener(fd, h_, opts_.accept);
    loops_ = std::move(loops);
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
