// What every example program needs around the library: flag parsing with
// clear usage errors (exit 2), SIGINT/SIGTERM handling (the first signal
// asks for a graceful shutdown, a second one exits at once), and the choice
// of event loop (--io epoll|io_uring) without writing the program twice.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <sansws/epoll.hpp>
#include <sansws/extensions.hpp>
#include <sansws/io_uring.hpp>

/// The permessage-deflate flags every example takes (usage text; see
/// cli::deflate_flag). A macro so it joins each program's usage literal.
#define CLI_DEFLATE_USAGE                                                                           \
    "  --no-deflate                 no permessage-deflate (default: server accepts, client offers)\n" \
    "  --deflate-server-window N    server_max_window_bits 8..15 (default 15: not limited)\n"          \
    "  --deflate-client-window N    client_max_window_bits 8..15 (default 15: not limited)\n"          \
    "  --deflate-server-no-context  server_no_context_takeover\n"                                      \
    "  --deflate-client-no-context  client_no_context_takeover"

/// The event-loop flag every example but libuv_echo takes (see cli::io_flag).
#define CLI_IO_USAGE "  --io epoll|io_uring          event loop: epoll (default) or io_uring"

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

/// Which binding runs the program.
enum class io_kind { epoll, io_uring };

/// Handle the current argument if it is --io.
inline bool io_flag(args& a, io_kind& io) {
    if (!a.is("--io")) return false;
    const std::string v = a.value();
    if (v == "epoll") io = io_kind::epoll;
    else if (v == "io_uring") io = io_kind::io_uring;
    else a.fail("--io needs epoll or io_uring, got '" + v + "'");
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

/// Whether `loop` can run: an io_uring loop says why not (io_uring is
/// missing or forbidden here), an epoll loop always can.
template <class Loop>
bool usable(const Loop& loop, std::string& error) {
    if constexpr (requires { loop.error(); }) {
        if (!loop.ok()) {
            error = loop.error();
            return false;
        }
    }
    return true;
}

namespace detail {
template <class T>
inline std::atomic<T*> running{nullptr};  // what a signal stops; lock-free, as on_stop needs

template <class Server>
void shutdown_server() noexcept {
    if (Server* s = running<Server>.load()) s->shutdown();
}

template <class Server, class Options>
int serve(const char* program, Options opts, sansws::handlers h, const std::function<void(std::uint16_t)>& listening) {
    Server server(std::move(opts), std::move(h));
    std::string error;
    if (!server.listen(error)) {
        std::fprintf(stderr, "%s: %s\n", program, error.c_str());
        return 1;
    }
    running<Server> = &server;
    on_termination(shutdown_server<Server>);
    listening(server.port());
    server.run();
    running<Server> = nullptr;
    return 0;
}
}  // namespace detail

/// Listen with the chosen binding and serve until SIGINT/SIGTERM (graceful
/// shutdown). `listening` runs once the port is bound. A failure to listen,
/// io_uring being unavailable included, is printed as "program: why" and
/// gives exit status 1. `ring` applies to io_uring only.
inline int serve(io_kind io, const char* program, const sansws::server_options& opts, sansws::handlers h,
                 const std::function<void(std::uint16_t)>& listening,
                 const sansws::io_uring::ring_options& ring = {}) {
    if (io == io_kind::io_uring) {
        sansws::io_uring::server_options o;
        static_cast<sansws::server_options&>(o) = opts;
        o.ring = ring;
        return detail::serve<sansws::io_uring::server>(program, std::move(o), std::move(h), listening);
    }
    return detail::serve<sansws::epoll::server>(program, opts, std::move(h), listening);
}

/// While it exists, SIGINT/SIGTERM stop `loop` gracefully (see on_termination).
template <class Loop>
class stop_on_termination {
public:
    explicit stop_on_termination(Loop& loop) {
        detail::running<Loop> = &loop;
        on_termination([]() noexcept {
            if (Loop* l = detail::running<Loop>.load()) l->stop();
        });
    }
    ~stop_on_termination() { detail::running<Loop> = nullptr; }
    stop_on_termination(const stop_on_termination&) = delete;
    stop_on_termination& operator=(const stop_on_termination&) = delete;
};

/// Print the line scripts wait for, e.g. "listening on 127.0.0.1:41234",
/// and flush: stdout is block-buffered when it is a pipe.
inline void print_listening(const std::string& host, std::uint16_t port) {
    const bool v6 = host.find(':') != std::string::npos;
    std::printf("listening on %s%s%s:%u\n", v6 ? "[" : "", host.c_str(), v6 ? "]" : "", unsigned{port});
    std::fflush(stdout);
}

}  // namespace cli
