// What every example program needs around the library: flag parsing with
// clear usage errors (exit 2), and SIGINT/SIGTERM handling (the first signal
// asks for a graceful shutdown, a second one exits at once).
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <sansws/extensions.hpp>

/// The permessage-deflate flags every example takes (usage text; see
/// cli::deflate_flag). A macro so it joins each program's usage literal.
#define CLI_DEFLATE_USAGE                                                                           \
    "  --no-deflate                 no permessage-deflate (default: server accepts, client offers)\n" \
    "  --deflate-server-window N    server_max_window_bits 8..15 (default 15: not limited)\n"          \
    "  --deflate-client-window N    client_max_window_bits 8..15 (default 15: not limited)\n"          \
    "  --deflate-server-no-context  server_no_context_takeover\n"                                      \
    "  --deflate-client-no-context  client_no_context_takeover"

namespace cli {

constexpr int usage_exit = 2;

/// Walks argv: `--name value`, `--name=value`, boolean `--name`, positionals.
class args {
public:
    args(int argc, char** argv, std::string_view usage) : argc_(argc), argv_(argv), usage_(usage) {}

    /// Advance to the next argument; false when there are none left.
    bool next() {
        if (++i_ >= argc_) return false;
        current_ = argv_[i_];
        inline_value_.reset();
        if (current_ == "-h" || current_ == "--help") {
            std::printf("usage: %.*s\n", static_cast<int>(usage_.size()), usage_.data());
            std::exit(0);
        }
        if (current_.starts_with("--")) {
            if (const auto eq = current_.find('='); eq != std::string_view::npos) {
                inline_value_ = std::string(current_.substr(eq + 1));
                current_ = current_.substr(0, eq);
            }
        }
        return true;
    }
    bool is(std::string_view flag) const { return current_ == flag; }
    bool positional() const { return !current_.starts_with("-") || current_ == "-"; }
    std::string_view current() const { return current_; }

    /// The value of the current flag.
    std::string value() {
        if (inline_value_) return *inline_value_;
        if (i_ + 1 >= argc_) fail(std::string(current_) + " needs a value");
        return argv_[++i_];
    }
    /// The value as an integer in [min, max].
    std::uint64_t number(std::uint64_t min, std::uint64_t max) {
        const std::string flag(current_);
        const std::string v = value();
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
            fail(flag + " needs a number from " + std::to_string(min) + " to " + std::to_string(max) + ", got '" +
                 v + "'");
        return n;
    }
    /// A flag that takes no value.
    void no_value() {
        if (inline_value_) fail(std::string(current_) + " takes no value");
    }

    [[noreturn]] void fail(const std::string& why) const {
        std::fprintf(stderr, "%s: %s\nusage: %.*s\n", argv_[0], why.c_str(), static_cast<int>(usage_.size()),
                     usage_.data());
        std::exit(usage_exit);
    }
    [[noreturn]] void unknown() const {
        fail(positional() ? "unexpected argument '" + std::string(current_) + "'"
                          : "unknown option " + std::string(current_));
    }

private:
    int argc_;
    char** argv_;
    std::string_view usage_;
    int i_ = 0;
    std::string_view current_;
    std::optional<std::string> inline_value_;
};

/// Handle the current argument if it is one of CLI_DEFLATE_USAGE's flags.
/// Window bits mean the same in both roles (RFC 7692 §7.1.2): a server
/// answers with them, a client asks for them.
inline bool deflate_flag(args& a, sansws::deflate_options& d) {
    if (a.is("--no-deflate")) {
        a.no_value();
        d.enabled = false;
    } else if (a.is("--deflate-server-window")) {
        d.server_max_window_bits = static_cast<std::uint8_t>(a.number(8, 15));
    } else if (a.is("--deflate-client-window")) {
        d.client_max_window_bits = static_cast<std::uint8_t>(a.number(8, 15));
    } else if (a.is("--deflate-server-no-context")) {
        a.no_value();
        d.server_no_context_takeover = true;
    } else if (a.is("--deflate-client-no-context")) {
        a.no_value();
        d.client_no_context_takeover = true;
    } else {
        return false;
    }
    return true;
}

namespace detail {
inline void (*on_stop)() noexcept = nullptr;
inline std::atomic<int> signals{0};  // lock-free, so usable in a signal handler

inline void handle_signal(int sig) {
    if (signals.fetch_add(1) == 0 && on_stop) {
        on_stop();
        return;
    }
    _exit(128 + sig);  // a second signal: stop waiting for peers
}
}  // namespace detail

/// Call `stop` (which must be async-signal-safe, like loop::stop() and
/// server::shutdown()) on the first SIGINT or SIGTERM; exit on the second.
/// SIGPIPE is ignored so a closed stdout is an error, not a crash.
inline void on_termination(void (*stop)() noexcept) {
    detail::on_stop = stop;
    struct sigaction sa {};
    sa.sa_handler = detail::handle_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

/// Print the line scripts wait for, e.g. "listening on 127.0.0.1:41234",
/// and flush: stdout is block-buffered when it is a pipe.
inline void print_listening(const std::string& host, std::uint16_t port) {
    const bool v6 = host.find(':') != std::string::npos;
    std::printf("listening on %s%s%s:%u\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "", unsigned{port});
    std::fflush(stdout);
}

}  // namespace cli
