// Every state transition of a connection, in one table (RFC 6455 §4, §7).
// connection.cpp changes state only through connection::transition(), and
// every call the state decides (sends, accept(), reject(), close()) asks the
// table first: a missing cell is misuse::wrong_state. The inline small-frame
// send in connection.hpp tests `state_ == open` itself, which is this table's
// only cell for `send`.
//
// Side state kept beside the states, in the connection: close_sent_ (our
// Close is queued: by close(), by answering the peer's Close, or by failing
// an open or closing connection, §7.1.7) and close_received_ (the peer's
// Close arrived, §5.5.1); in `closed` they tell a client whether to wait for
// the server's TCP close (§7.1.1). The drain deadline of closed and failed
// (output written within close_timeout or abandoned) is set on entering
// either state.
#include <array>
#include <cstddef>

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
    // Sending data and control frames (§5.4, §5.5): only while open; after
    // our Close nothing more is sent (§5.5.1).
    rule{st::open, in::send, st::open},
};

constexpr std::size_t state_count = static_cast<std::size_t>(st::failed) + 1;
constexpr std::size_t input_count = static_cast<std::size_t>(in::send) + 1;

/// The rules as a [state][input] grid for an O(1) lookup; 0xFF: no cell.
constexpr auto grid = [] {
    std::array<std::array<std::uint8_t, input_count>, state_count> g{};
    for (auto& row : g) row.fill(0xFF);
    for (const rule& r : rules)
        g[static_cast<std::size_t>(r.from)][static_cast<std::size_t>(r.input)] = static_cast<std::uint8_t>(r.to);
    return g;
}();

}  // namespace

std::optional<connection_state> next_state(connection_state s, state_input input) noexcept {
    const auto i = static_cast<std::size_t>(s), j = static_cast<std::size_t>(input);
    if (i >= state_count || j >= input_count || grid[i][j] == 0xFF) return std::nullopt;
    return static_cast<connection_state>(grid[i][j]);
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
