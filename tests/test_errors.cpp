// Error strings and the violation -> close code mapping.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string_view>

#include "sansws/errors.hpp"

using namespace sansws;

namespace {

constexpr violation all_violations[] = {
    violation::bad_handshake,         violation::handshake_too_large,
    violation::handshake_timeout,     violation::reserved_bits,
    violation::reserved_opcode,       violation::fragmented_control,
    violation::control_too_long,      violation::unmasked_frame,
    violation::masked_frame,          violation::length_too_large,
    violation::non_minimal_length,    violation::unexpected_continuation,
    violation::expected_continuation, violation::invalid_close_payload,
    violation::invalid_close_code,    violation::invalid_utf8,
    violation::message_too_big,       
    violation::pong_timeout,          violation::close_timeout,
    violation::connection_lost,       violation::invalid_compressed_data,
    violation::compression_failed,
};

constexpr misuse all_misuses[] = {
    misuse::wrong_role,         misuse::wrong_state,        misuse::input_pending,
    misuse::message_in_progress, misuse::no_message_open,   misuse::control_too_long,
    misuse::invalid_close_code, misuse::invalid_utf8,       misuse::invalid_argument,
    misuse::too_large,
};

}  // namespace

TEST_CASE("RFC 6455 §7.4.1: every violation has a distinct, short, non-empty reason") {
    std::set<std::string_view> seen;
    for (violation v : all_violations) {
        const std::string_view r = to_string(v);
        CAPTURE(r);
        CHECK_FALSE(r.empty());
        // Short enough to be a Close reason: 125 bytes minus the 2-byte code
        // (§5.5, §5.5.1).
        CHECK(r.size() <= 123);
        CHECK(seen.insert(r).second);
        CHECK(r != to_string(violation::none));
    }
    CHECK_FALSE(to_string(violation::none).empty());
    CHECK(to_string(violation::reserved_opcode) == "reserved opcode (RFC 6455 §5.2)");
}

TEST_CASE("every misuse has a distinct, non-empty reason") {
    std::set<std::string_view> seen;
    for (misuse m : all_misuses) {
        const std::string_view r = to_string(m);
        CAPTURE(r);
        CHECK_FALSE(r.empty());
        CHECK(seen.insert(r).second);
        CHECK(r != to_string(misuse::none));
    }
    CHECK_FALSE(to_string(misuse::none).empty());
}

TEST_CASE("out-of-range enum values still yield a reason") {
    CHECK_FALSE(to_string(static_cast<violation>(200)).empty());
    CHECK_FALSE(to_string(static_cast<misuse>(200)).empty());
}

TEST_CASE("RFC 6455 §7.4.1: close code for each violation") {
    // 1007: data inconsistent with the message type (§8.1).
    CHECK(close_code_for(violation::invalid_utf8) == close_code::invalid_payload);
    // 1009: message too big to process.
    CHECK(close_code_for(violation::message_too_big) == close_code::message_too_big);
    // 1011: an unexpected condition on our side.
    CHECK(close_code_for(violation::pong_timeout) == close_code::internal_error);
    // §7.1.5: a transport that ends without a Close is reported as 1006,
    // which is only ever reported locally (§7.4.1).
    CHECK(close_code_for(violation::connection_lost) == close_code::abnormal);
    // RFC 7692 §7.2.2: data that does not inflate is inconsistent data, 1007;
    // zlib failing on our side is ours, 1011.
    CHECK(close_code_for(violation::invalid_compressed_data) == close_code::invalid_payload);
    CHECK(close_code_for(violation::compression_failed) == close_code::internal_error);
    for (violation v : all_violations) {
        CAPTURE(to_string(v));
        if (v == violation::connection_lost) continue;
        const close_code c = close_code_for(v);
        CHECK(is_valid_wire_close_code(static_cast<std::uint16_t>(c)));
        if (v != violation::invalid_utf8 && v != violation::message_too_big &&
            v != violation::pong_timeout && v != violation::invalid_compressed_data &&
            v != violation::compression_failed) {
            CHECK(c == close_code::protocol_error);
        }
    }
    CHECK(close_code_for(violation::close_timeout) == close_code::protocol_error);
    CHECK(close_code_for(violation::bad_handshake) == close_code::protocol_error);
}

TEST_CASE("RFC 6455 §7.4.1/§7.4.2: is_valid_wire_close_code boundaries") {
    struct probe {
        std::uint16_t code;
        bool valid;
    };
    const probe probes[] = {
        {0, false},     {999, false},  // §7.4.2: 0-999 unused
        {1000, true},   {1001, true},  {1002, true}, {1003, true},
        {1004, false},                 // §7.4.1: reserved
        {1005, false},  {1006, false}, // §7.4.1: must not be sent
        {1007, true},   {1011, true},  {1014, true},
        {1015, false},                 // §7.4.1: TLS failure, must not be sent
        {1016, false},  {2999, false}, // §7.4.2: reserved for future RFCs
        {3000, true},   {3999, true},  {4000, true}, {4999, true},  // §7.4.2
        {5000, false},  {65535, false},
    };
    for (const auto& p : probes) {
        CAPTURE(p.code);
        CHECK(is_valid_wire_close_code(p.code) == p.valid);
    }
    static_assert(is_valid_wire_close_code(1000));
    static_assert(!is_valid_wire_close_code(1005));
}
