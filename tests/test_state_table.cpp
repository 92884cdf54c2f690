// The transition table (RFC 6455 §4, §7): every allowed edge, and nothing else.
#include <doctest/doctest.h>

#include <sansws/connection.hpp>

using namespace sansws;
using st = connection_state;
using in = state_input;

TEST_CASE("RFC 6455 §4.2: the server waits for the application after a valid request") {
    CHECK(next_state(st::handshake, in::request_received) == st::handshake_pending);
    CHECK(next_state(st::handshake_pending, in::app_accept) == st::open);
    CHECK(next_state(st::handshake_pending, in::app_reject) == st::closed);
}

TEST_CASE("RFC 6455 §4.1: the client opens on a valid 101 and closes on a refusal") {
    CHECK(next_state(st::handshake, in::response_accepted) == st::open);
    CHECK(next_state(st::handshake, in::response_rejected) == st::closed);
}

TEST_CASE("RFC 6455 §7.1.2/§7.1.3: closing handshake in both orders") {
    CHECK(next_state(st::open, in::close_sent) == st::closing);
    CHECK(next_state(st::closing, in::close_received) == st::closed);
    CHECK(next_state(st::open, in::close_received) == st::closed);
}

TEST_CASE("RFC 6455 §7.1.7: a violation fails the connection from every live state") {
    for (st s : {st::handshake, st::handshake_pending, st::open, st::closing})
        CHECK(next_state(s, in::violation) == st::failed);
}

TEST_CASE("abort() fails the connection from every state but failed, a closed one with output included") {
    for (st s : {st::handshake, st::handshake_pending, st::open, st::closing, st::closed})
        CHECK(next_state(s, in::app_abort) == st::failed);
    CHECK(!next_state(st::failed, in::app_abort));
}

TEST_CASE("RFC 6455 §5.4, §5.5.1: frames are sent only while open, never after our Close") {
    CHECK(next_state(st::open, in::send) == st::open);
    for (st s : {st::handshake, st::handshake_pending, st::closing, st::closed, st::failed})
        CHECK(!next_state(s, in::send));
}

TEST_CASE("RFC 6455 §7.1.7: closed and failed are terminal; every other pair is refused") {
    const st all_states[] = {st::handshake, st::handshake_pending, st::open, st::closing, st::closed, st::failed};
    const in all_inputs[] = {in::request_received, in::app_accept,     in::app_reject, in::response_accepted,
                             in::response_rejected, in::close_sent,    in::close_received, in::violation,
                             in::app_abort, in::send};
    int allowed = 0;
    for (st s : all_states)
        for (in i : all_inputs) {
            auto to = next_state(s, i);
            // Only the application's abort leaves closed (dropping output).
            if (s == st::failed || (s == st::closed && i != in::app_abort)) CHECK(!to);
            if (to) ++allowed;
        }
    CHECK(allowed == 18);  // exactly the edges checked above
    CHECK(!next_state(st::open, in::app_accept));
    CHECK(!next_state(st::closing, in::close_sent));  // one Close per side (§5.5.1)
    CHECK(!next_state(st::handshake, in::close_sent));
}

TEST_CASE("connection_state names") {
    CHECK(to_string(st::open) == "open");
    CHECK(to_string(st::handshake_pending) == "handshake_pending");
    CHECK(to_string(st::failed) == "failed");
}
