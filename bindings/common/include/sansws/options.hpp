// The settings every binding takes. They live here so an application can
// build them once and hand them to whichever binding it runs on; each
// binding keeps its own names for them too (sansws::epoll::server_options is
// this server_options).
//
//   connection_options   per connection, whatever the binding: output
//                        limits, the drain mark, idle timeout, keep-alive
//   connect_options      a client connection (loop::connect): the above plus
//                        the request and the connect timeout
//   accept_settings      accepted connections of a listener: the above plus
//                        the engine's config
//   server_options       a server: address, threads, accept_settings
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "sansws/connection.hpp"

namespace sansws {

/// Per-connection policy of the bindings, on top of the engine's config.
/// Every field can be set per listener (accept_settings), per client
/// connection (connect_options) or per loop_adapter (adapter_options); the
/// timeouts can also be changed on one connection at run time
/// (connection_handle::set_idle_timeout).
struct connection_options {
    /// Back-pressure: while this much output (or more) is queued, the
    /// binding stops reading from the peer, so a peer that sends without
    /// reading the answers cannot make the queue grow without bound.
    std::size_t high_water = 1024 * 1024;
    /// handlers::on_drain runs once the queued output falls to this or
    /// below after it had reached high_water: the moment to send more when
    /// streaming a large message (see bindings/README.md). Must be below
    /// high_water.
    std::size_t low_water = 256 * 1024;
    /// uWebSockets' maxBackpressure: when more than this is queued, data
    /// sends (send_text, send_binary, send) are dropped and return
    /// misuse::too_large, so a broadcast skips a peer that does not keep up
    /// until it catches up. 0: no limit. Control frames (ping, pong, close)
    /// are never dropped.
    std::size_t max_backpressure = 0;
    /// uWebSockets' closeOnBackpressureLimit: instead of dropping, a send
    /// that finds more than max_backpressure queued aborts the connection
    /// (connection_handle::abort(): queued output discarded, socket reset,
    /// on_disconnect). Needs max_backpressure.
    bool close_on_backpressure_limit = false;
    /// Close an open connection on which nothing has been received for this
    /// long: Close 1001 "idle timeout", and the connection is dropped
    /// (reset) if it has not ended close_timeout (the engine's) later.
    /// Zero: never.
    duration idle_timeout = duration::zero();
    /// Keep-alive for idle_timeout: send a Ping after this long without
    /// receiving anything (and again each time as long again passes), so a
    /// live peer answers with a Pong and is not timed out while a dead one
    /// is. Zero: never. The engine's own config::ping_interval /
    /// pong_timeout are the other way: they ping on a fixed schedule and
    /// fail the connection with 1011 when a Pong is late.
    duration keepalive = duration::zero();
};

/// The result of resolving a client's host name: addresses to try in order.
struct resolved_addresses {
    std::vector<std::pair<sockaddr_storage, socklen_t>> addresses;  // tried in this order
    std::string error;  // set when resolution failed
};

/// Resolves `host` and `port` (decimal) into addresses. Runs on a resolver
/// thread, never on the loop's, so it may block.
using resolver_fn = std::function<resolved_addresses(const std::string& host, const std::string& port)>;

/// The default resolver: getaddrinfo(3) (blocking; for a resolver_fn of
/// your own that falls back to it).
resolved_addresses resolve_host(const std::string& host, const std::string& port);

/// What a client connection asks for (see the bindings' loop::connect).
struct connect_options : connection_options {
    config engine{};  // role and client fields are filled in; entropy defaults to getrandom
    std::vector<std::string> subprotocols;  // offered, in order of preference (Sec-WebSocket-Protocol)
    http_headers headers;  // extra request fields
    std::optional<std::string> origin;  // the Origin field, if any
    /// From connect() until the TCP connection is up: name resolution and
    /// the connect to every address. Then the engine's handshake_timeout
    /// bounds the opening handshake. Passing it reports error_kind::transport
    /// with sys_errno ETIMEDOUT.
    duration connect_timeout = std::chrono::seconds(10);
    /// Name resolution, on a thread of its own (so a slow DNS server never
    /// stalls the loop); empty: getaddrinfo(3). Literal addresses are used
    /// as they are, without a thread.
    resolver_fn resolver{};
};

/// Per-connection settings for accepted sockets.
struct accept_settings : connection_options {
    /// The engine's config for every accepted connection (role is set to
    /// server). Among others: handshake_timeout, close_timeout,
    /// max_message_size, compression, and the engine's keep-alive
    /// ping_interval / pong_timeout.
    config engine{};
    /// One compressor per loop (engine.compression's window and mem_level)
    /// for the connections that agreed to server_no_context_takeover
    /// (RFC 7692 §7.1.1.1): they then hold no compressor of their own. Set
    /// engine.compression.negotiate.server_no_context_takeover too, so every
    /// agreement includes it.
    bool share_compressor = false;
};

/// A server (epoll::server, io_uring::server): where to listen, how many
/// loops, and what every accepted connection gets.
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
    /// How long shutdown() waits for the close handshakes of open
    /// connections before it drops (resets) those still open.
    duration shutdown_timeout = std::chrono::seconds(5);
    /// listen(2)'s backlog: connections the kernel queues before accept.
    int backlog = 1024;
};

}  // namespace sansws
