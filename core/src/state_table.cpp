// Every state transition of a connection, in one table (RFC 6455 §4, §7).
// connection.cpp changes state only through connection::transition().
#include <array>

#include "sansws/connection.hpp"

namespace sansws {
namespace {

using st = connection_state;
using in = state_input;

struct rule {
    st from;
    in input;
    st to;
};

constexpr std::array rules{
    // Opening handshake (§4.1, §4.2).
    rule{st::handshake, in::request_received, st::handshake_pending},
    rule{st::handshake, in::response_accepted, st::open},
    rule{st::handshake, in::response_rejected, st::closed},
    rule{st::handshake, in::violation, st::failed},
    rule{st::handshake_pending, in::app_accept, st::open},
    rule{st::handshake_pending, in::app_reject, st::closed},
    rule{st::handshake_pending, in::violation, st::failed},
    // Data transfer and the closing handshake (§7.1.2, §7.1.3).
    rule{st::open, in::close_sent, st::closing},
    rule{st::open, in::close_received, st::closed},  // our Close is queued at once
    rule{st::open, in::violation, st::failed},
    rule{st::closing, in::close_received, st::closed},
    rule{st::closing, in::violation, st::failed},  // includes the close timeout
    // abort(): the application ends the connection without a Close from
    // any state, a closed one whose output is still queued included.
    rule{st::handshake, in::app_abort, st::failed},
    rule{st::handshake_pending, in::app_abort, st::failed},
    rule{st::open, in::app_abort, st::failed},
    rule{st::closing, in::app_abort, st::failed},
    rule{st::closed, in::app_abort, st::failed},
};

}  // namespace

std::optional<connection_state> next_state(connection_state s, state_input input) noexcept {
    for (const rule& r : rules)
        if (r.from == s && r.input == input) return r.to;
    return std::nullopt;
}

std::string_view to_string(connection_state s) noexcept {
    switch (s) {
    case st::handshake: return "handshake";
    case st::handshake_pending: return "handshake_pending";
    case st::open: return "open";
    case st::closing: return "closing";
    case st::closed: return "closed";
    case st::failed: return "failed";
    }
    return "unknown";
}

}  // namespace sansws
