// The benchmark workloads of issue 4: pre-built wire buffers of masked
// client frames (what a server reads), the engine set up behind a real
// opening handshake, and the cheap payload fingerprint every parse workload
// checks after its timed loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sansws/sansws.hpp"

namespace bench {

/// Reads are this big: the size of a typical socket read buffer.
inline constexpr std::size_t read_size = 16 * 1024;

/// A stream of complete frames as a client sends them.
struct wire {
    std::vector<std::byte> bytes;
    std::size_t frames = 0;
    std::uint64_t fingerprint = 0;  // sum of fingerprint() of every payload
};

enum class payload_kind { binary, ascii_text, mixed_text };

/// `frames` masked frames (random keys) with `payload` bytes each.
wire build_wire(std::size_t frames, std::size_t payload, payload_kind kind);

/// The workloads, built once on first use.
const wire& w1_small_binary();   // 1,000,000 frames of 16 B
const wire& w2_1k_binary();      // 1 KiB frames, 64 MiB of payload
const wire& w3_64k_binary();     // 64 KiB frames, 256 MiB of payload
const wire& w4_64k_ascii_text(); // 64 KiB ASCII text frames, 64 MiB
const wire& w5_64k_mixed_text(); // 64 KiB mixed UTF-8 frames, 64 MiB

/// 64 KiB of text for the UTF-8 kernel benchmarks (valid, one message).
const std::vector<std::byte>& ascii_text_64k();
const std::vector<std::byte>& mixed_text_64k();

/// Depends on the size and on the first and last eight bytes, so a parser
/// that skips unmasking, drops or truncates a message is caught, without
/// the check costing a second pass over the payload.
inline std::uint64_t fingerprint(sansws::bytes_view d) noexcept {
    std::uint64_t h = d.size() * 0x9E3779B97F4A7C15ull;
    if (d.size() >= 8) {
        std::uint64_t a, b;
        std::memcpy(&a, d.data(), 8);
        std::memcpy(&b, d.data() + d.size() - 8, 8);
        return h ^ (a + 3 * b);
    }
    for (std::byte x : d) h = h * 31 + std::to_integer<std::uint64_t>(x);
    return h;
}

/// A server connection that has completed the opening handshake with the
/// default configuration (whole-message delivery, 16 MiB limit).
std::unique_ptr<sansws::connection> open_server();

/// The permessage-deflate benchmarks (deflate.cpp); their names are added
/// to `table`, the summary table's rows.
void register_deflate(std::vector<std::string>& table);

}  // namespace bench
