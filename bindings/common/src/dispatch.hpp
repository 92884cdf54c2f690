// Internal to the bindings: what every binding does with the engine's events
// once its own I/O has produced them. One implementation, so an application
// sees the same callbacks in the same order whichever binding runs it.
#pragma once

#include <string>

#include "sansws/app.hpp"

namespace sansws::detail {

/// Report one engine event to the application. A handshake request is
/// answered here with on_request's decision (500 when that answer is
/// unusable); `sys_errno` goes into error_info for failures.
void dispatch_event(connection& engine, const handlers& h, const connection_handle& self, event& ev,
                    int sys_errno);

/// Tell on_error why the engine refused its configuration, if it did
/// (connection::setup_error()): such an engine starts failed and silent.
void report_setup_error(const connection& engine, const handlers& h, const connection_handle& self);

/// Close a connection's socket. `unwritten` (output was dropped: abort(),
/// the drain deadline, a transport lost or a stop timeout with output
/// queued) resets it instead (SO_LINGER 0): the kernel neither keeps an
/// orphan socket trying to deliver a backlog the peer does not read nor
/// sends a FIN that would pass for a clean end.
void close_socket(int fd, bool unwritten) noexcept;

enum class sniff_result : std::uint8_t {
    need_more,   // the request head is not complete yet
    plain_http,  // not an upgrade: `response` holds on_http's answer, write it and close
    upgrade,     // an upgrade (or a head the engine will refuse): give `seen` to the engine
};

/// Servers with handlers::on_http read the request head before the engine
/// does, to tell plain HTTP from WebSocket upgrades. `seen` collects every
/// byte fed so far (the engine gets them all for an upgrade).
sniff_result sniff_request(http_head_parser& parser, std::string& seen, bytes_view data, const handlers& h,
                           std::string& response);

}  // namespace sansws::detail
