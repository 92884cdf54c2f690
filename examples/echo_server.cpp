// echo_server: sends every text and binary message back unchanged, as the
// same type. The peer for interop tests and for the Autobahn fuzzing client,
// which sends messages of up to 16 MiB (hence the 64 MiB default limit).
#include <cstdio>
#include <string>

#include "cli.hpp"

namespace {

constexpr std::string_view usage =
    "echo_server --port P [--host H] [--threads N] [--max-message BYTES] [--handshake-timeout MS]\n"
    "            [--no-deflate | --deflate-...] [--deflate-shared] [--io epoll|io_uring] [--ring-...]\n"
    "  --port P                port to listen on; 0 picks a free one (printed)\n"
    "  --host H                address or name to bind (default 127.0.0.1; :: for all)\n"
    "  --threads N             event loops, one per thread (default 1)\n"
    "  --max-message BYTES     largest message accepted (default 67108864 = 64 MiB)\n"
    "  --handshake-timeout MS  drop connections not past the opening handshake by then (default 10000)\n"
    CLI_DEFLATE_USAGE "\n"
    "  --deflate-shared             one compressor per thread (implies --deflate-server-no-context)\n"
    CLI_IO_USAGE "\n"
    "  --ring-buffers N             io_uring: receive buffers per thread (default 256)\n"
    "  --ring-buffer-size BYTES     io_uring: size of each (default 16384)\n"
    "  --zero-copy BYTES            io_uring: zero-copy sends (SENDMSG_ZC) from this much queued output\n"
    "                               (default 0: never)";

}  // namespace

int main(int argc, char** argv) {
    cli::args a(argc, argv, usage);
    sansws::server_options opts;
    sansws::io_uring::ring_options ring;
    cli::io_kind io = cli::io_kind::epoll;
    opts.accept.engine.max_message_size = 64 * 1024 * 1024;
    opts.accept.engine.compression.negotiate.enabled = true;
    bool have_port = false;
    while (a.next()) {
        if (a.is("--port")) {
            opts.port = static_cast<std::uint16_t>(a.number(0, 65535));
            have_port = true;
        } else if (a.is("--host")) {
            opts.host = a.value();
            if (opts.host.empty()) a.fail("--host needs an address");
        } else if (a.is("--threads")) {
            opts.threads = static_cast<unsigned>(a.number(1, 1024));
        } else if (a.is("--max-message")) {
            opts.accept.engine.max_message_size = a.number(1, std::uint64_t{1} << 40);
        } else if (a.is("--handshake-timeout")) {
            opts.accept.engine.handshake_timeout = std::chrono::milliseconds(a.number(1, 3'600'000));
        } else if (a.is("--deflate-shared")) {
            a.no_value();
            opts.accept.share_compressor = true;
            opts.accept.engine.compression.negotiate.server_no_context_takeover = true;
        } else if (a.is("--ring-buffers")) {
            ring.buffer_count = static_cast<std::uint32_t>(a.number(1, 32768));
        } else if (a.is("--ring-buffer-size")) {
            ring.buffer_size = static_cast<std::uint32_t>(a.number(512, std::uint64_t{1} << 24));
        } else if (a.is("--zero-copy")) {
            ring.zero_copy_threshold = a.number(0, std::uint64_t{1} << 40);
        } else if (cli::deflate_flag(a, opts.accept.engine.compression.negotiate)) {
        } else if (cli::io_flag(a, io)) {
        } else {
            a.unknown();
        }
    }
    if (!have_port) a.fail("--port is required (0 picks a free port)");
    // Incoming text was validated as it arrived; checking it again on the
    // way out would only cost time.
    opts.accept.engine.validate_outgoing_text = false;

    sansws::handlers h;
    h.on_message = [](const sansws::connection_handle& c, const sansws::message& m) { c.send(m); };

    return cli::serve(io, "echo_server", opts, std::move(h),
                      [&](std::uint16_t port) { cli::print_listening(opts.host, port); }, ring);
}
