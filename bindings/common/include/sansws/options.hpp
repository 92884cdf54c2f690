// The settings every event-loop binding (epoll, io_uring) takes for its
// client connections, accepted connections and servers. They live here so an
// application can build them once and hand them to whichever binding it runs
// on; each binding keeps its own names for them too (sansws::epoll::
// server_options is this server_options).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sansws/connection.hpp"

namespace sansws {

/// What a client connection asks for (see the bindings' loop::connect).
struct connect_options {
    config engine{};  // role and client fields are filled in; entropy defaults to getrandom
    std::vector<std::string> subprotocols;
    http_headers headers;  // extra request fields
    std::optional<std::string> origin;
    duration connect_timeout = std::chrono::seconds(10);  // TCP connect, all addresses
    std::size_t high_water = 1024 * 1024;
};

/// Per-connection settings for accepted sockets.
struct accept_settings {
    config engine{};  // role is set to server
    std::size_t high_water = 1024 * 1024;
    /// One compressor per loop (engine.compression's window and mem_level)
    /// for the connections that agreed to server_no_context_takeover
    /// (RFC 7692 §7.1.1.1): they then hold no compressor of their own. Set
    /// engine.compression.negotiate.server_no_context_takeover too, so every
    /// agreement includes it.
    bool share_compressor = false;
};

struct server_options {
    /// Address to bind: a literal ("127.0.0.1", "::", "::1") or a name whose
    /// every address is bound ("localhost"). "::" also takes IPv4 where the
    /// system allows it.
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;  // 0: pick a free port, see server::port()
    /// Loops, each on its own thread with its own SO_REUSEPORT listener.
    /// The port is shared between these listeners only: listen() refuses a
    /// port that someone else (another server, another process) listens on.
    unsigned threads = 1;
    accept_settings accept{};
    duration shutdown_timeout = std::chrono::seconds(5);
    int backlog = 1024;
};

}  // namespace sansws
