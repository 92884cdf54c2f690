// wscat: an interactive WebSocket client. Each line of standard input is sent
// as a message; each message received is printed on its own line. At the end
// of input it closes with 1000, waits for the close handshake and exits 0.
//
// Exit status: 0 done, 1 connection or handshake or protocol failure,
// 2 usage, 3 the server closed the connection first, 130 interrupted.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"

namespace {

constexpr std::string_view usage =
    "wscat [options] ws://host[:port]/path\n"
    "  --binary              send each line as a binary message\n"
    "  --header 'Name: v'    extra request header (repeatable); Host and Origin replace the URL's\n"
    "  --subprotocol NAME    offer a subprotocol (repeatable)\n"
    "  --max-message BYTES   largest message accepted (default 67108864)\n"
    CLI_DEFLATE_USAGE "\n"
    CLI_IO_USAGE;

enum exit_status : int { ok = 0, failed = 1, closed_by_peer = 3, interrupted = 130 };

/// What was agreed, on stderr, in one canonical form (every parameter in
/// force, both windows spelled out) that scripts can compare.
void report_extensions(const std::optional<sansws::deflate_params>& p) {
    if (!p) {
        std::fprintf(stderr, "wscat: extensions: none\n");
        return;
    }
    std::fprintf(stderr, "wscat: extensions: permessage-deflate%s%s; server_max_window_bits=%u; client_max_window_bits=%u\n",
                 p->server_no_context_takeover ? "; server_no_context_takeover" : "",
                 p->client_no_context_takeover ? "; client_no_context_takeover" : "",
                 unsigned{p->server_max_window_bits}, unsigned{p->client_max_window_bits});
}

/// The connection's side of the program; runs on the loop thread.
template <class Loop>
class session {
public:
    session(Loop& l, bool binary) : loop_(l), binary_(binary) {}

    sansws::handlers handlers() {
        sansws::handlers h;
        h.on_open = [this](const sansws::connection_handle& c) {
            conn_ = c;
            report_extensions(c.compression_params());
            for (auto& line : pending_) send(line);
            pending_.clear();
            if (input_done_) finish();
        };
        h.on_message = [](const sansws::connection_handle&, const sansws::message& m) {
            std::fwrite(m.data.data(), 1, m.data.size(), stdout);
            std::fputc('\n', stdout);
            std::fflush(stdout);
        };
        h.on_close = [this](const sansws::connection_handle&, std::uint16_t code, std::string_view reason) {
            // The answer to our Close (end of input, or a signal's 1001): a clean end.
            if (we_closed_ || cli::detail::signals.load() > 0) return;
            std::fprintf(stderr, "wscat: connection closed by the server: %u%s%.*s\n", unsigned{code},
                         reason.empty() ? "" : " ", static_cast<int>(reason.size()), reason.data());
            status_ = closed_by_peer;
        };
        h.on_error = [this](const sansws::connection_handle&, const sansws::error_info& e) {
            std::fprintf(stderr, "wscat: %s\n", sansws::describe(e).c_str());
            if (status_ == ok) status_ = failed;
        };
        h.on_disconnect = [this](const sansws::connection_handle&) {
            // Ends run() even while standard input keeps posting lines.
            loop_.stop();
        };
        return h;
    }

    void line(std::string text) {
        if (!conn_.alive()) {
            pending_.push_back(std::move(text));  // the handshake is still running
            return;
        }
        send(text);
    }

    void end_of_input() {
        input_done_ = true;
        if (conn_.alive()) finish();
    }

    int status() const { return status_; }

private:
    void send(const std::string& text) {
        const sansws::misuse m =
            binary_ ? conn_.send_binary(sansws::as_bytes(text)) : conn_.send_text(text);
        if (m == sansws::misuse::invalid_utf8)
            std::fprintf(stderr, "wscat: line is not valid UTF-8, not sent (--binary sends bytes)\n");
    }
    void finish() {
        if (conn_.close(static_cast<std::uint16_t>(sansws::close_code::normal)) == sansws::misuse::none)
            we_closed_ = true;
    }

    Loop& loop_;
    bool binary_;
    sansws::connection_handle conn_;
    std::deque<std::string> pending_;
    bool input_done_ = false;
    bool we_closed_ = false;
    int status_ = ok;
};

/// Reads standard input on its own thread (it may be a terminal, a pipe or a
/// file, which epoll cannot watch) and posts whole lines to the loop.
template <class Loop>
void read_input(Loop& l, session<Loop>& s, int quit_fd) {
    std::string partial;
    std::vector<char> chunk(64 * 1024);
    pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {quit_fd, POLLIN, 0}};
    while (true) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents) return;  // the connection is over
        const ssize_t n = read(STDIN_FILENO, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        partial.append(chunk.data(), static_cast<std::size_t>(n));
        std::vector<std::string> lines;
        std::size_t start = 0;
        for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos; start = nl + 1)
            lines.emplace_back(partial, start, nl - start);
        partial.erase(0, start);
        if (!lines.empty())
            l.post([&s, lines = std::move(lines)]() mutable {
                for (auto& line : lines) s.line(std::move(line));
            });
    }
    l.post([&s, last = std::move(partial)]() mutable {
        if (!last.empty()) s.line(std::move(last));  // a last line without its newline
        s.end_of_input();
    });
}

/// Connect and run until the connection is over: the exit status.
template <class Loop>
int run(const std::string& url, const sansws::connect_options& opts, bool binary) {
    Loop loop;
    std::string error;
    if (!cli::usable(loop, error)) {
        std::fprintf(stderr, "wscat: %s\n", error.c_str());
        return failed;
    }
    session<Loop> s(loop, binary);
    if (!loop.connect(url, opts, s.handlers(), error)) {
        std::fprintf(stderr, "wscat: %s\n", error.c_str());
        return cli::usage_exit;  // a bad URL or request; name resolution is reported to on_error
    }
    const cli::stop_on_termination stopper(loop);

    const int quit_fd = eventfd(0, EFD_CLOEXEC);
    std::thread input(read_input<Loop>, std::ref(loop), std::ref(s), quit_fd);
    loop.run();
    const std::uint64_t one = 1;
    if (write(quit_fd, &one, sizeof one) < 0) std::perror("wscat: eventfd");
    input.join();
    close(quit_fd);
    if (cli::detail::signals.load() > 0) return interrupted;
    return s.status();
}

}  // namespace

int main(int argc, char** argv) {
    cli::args a(argc, argv, usage);
    sansws::connect_options opts;
    cli::io_kind io = cli::io_kind::epoll;
    opts.engine.max_message_size = 64 * 1024 * 1024;
    opts.engine.compression.negotiate.enabled = true;
    bool binary = false;
    std::string url;
    while (a.next()) {
        if (a.is("--binary")) {
            a.no_value();
            binary = true;
        } else if (a.is("--header")) {
            const std::string h = a.value();
            const auto colon = h.find(':');
            if (colon == std::string::npos || colon == 0) a.fail("--header needs 'Name: value', got '" + h + "'");
            const auto first = h.find_first_not_of(" \t", colon + 1);
            opts.headers.push_back({h.substr(0, colon), first == std::string::npos ? "" : h.substr(first)});
        } else if (a.is("--subprotocol")) {
            opts.subprotocols.push_back(a.value());
        } else if (a.is("--max-message")) {
            opts.engine.max_message_size = a.number(1, std::uint64_t{1} << 40);
        } else if (cli::deflate_flag(a, opts.engine.compression.negotiate)) {
        } else if (cli::io_flag(a, io)) {
        } else if (a.positional() && url.empty()) {
            url = a.current();
        } else {
            a.unknown();
        }
    }
    if (url.empty()) a.fail("a ws:// URL is required");
    // Host and Origin replace the request's own; the handshake's own fields
    // cannot be given twice.
    if (const auto name = sansws::reserved_client_header(opts.headers); !name.empty()) {
        const bool once = sansws::iequals(name, "Host") || sansws::iequals(name, "Origin");
        a.fail("--header '" + std::string(name) + ": …'" +
               (once ? " given more than once" : ": the WebSocket handshake writes this field itself"));
    }

    return io == cli::io_kind::io_uring ? run<sansws::io_uring::loop>(url, opts, binary)
                                        : run<sansws::epoll::loop>(url, opts, binary);
}
