// Internal to the bindings: the listening sockets of a multi-loop server,
// shared by the epoll and io_uring servers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sansws::detail {

/// Resolve `host` and bind `loops` sets of listening sockets (bound,
/// listening, non-blocking, close-on-exec), one socket per address in each
/// set: `fds[i]` is loop i's. With several loops every socket has
/// SO_REUSEPORT, so the kernel spreads new connections between them; a port
/// someone else listens on is refused all the same ("cannot listen on
/// HOST:PORT: Address already in use"), never shared. Port 0
/// picks a free port, which every socket then shares; `port` receives the
/// port bound. False with `error` set (and nothing left open) when the
/// address cannot be resolved or bound.
bool open_listeners(const std::string& host, std::uint16_t port, unsigned loops, int backlog,
                    std::vector<std::vector<int>>& fds, std::uint16_t& bound, std::string& error);

}  // namespace sansws::detail
