// autobahn_client: the standard driver for the Autobahn|Testsuite fuzzing
// server. It asks for the number of cases (GET /getCaseCount), runs each
// (/runCase?case=N&agent=NAME) echoing every message back, then asks the
// server to write its reports (/updateReports?agent=NAME). One connection at
// a time, each started from the previous one's on_disconnect.
#include <cctype>
#include <charconv>
#include <cstdio>
#include <functional>
#include <string>

#include "cli.hpp"

namespace {

constexpr std::string_view usage =
    "autobahn_client --url ws://127.0.0.1:9001 --agent NAME [--cases N] [--no-deflate | --deflate-...]\n"
    "                [--io epoll|io_uring]\n"
    "  --url URL                    the fuzzing server\n"
    "  --agent NAME                 name under which results are reported (default sansws)\n"
    "  --cases N                    run only the first N cases\n"
    CLI_DEFLATE_USAGE "\n"
    CLI_IO_USAGE;

/// RFC 3986 percent-encoding of everything but unreserved characters.
std::string encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

template <class Loop>
class driver {
public:
    driver(Loop& l, std::string base, std::string agent, unsigned limit,
           const sansws::deflate_options& deflate)
        : loop_(l), base_(std::move(base)), agent_(encode(agent)), limit_(limit) {
        opts_.engine.max_message_size = 64 * 1024 * 1024;
        opts_.engine.compression.negotiate = deflate;
        // Echoed text was validated on the way in.
        opts_.engine.validate_outgoing_text = false;
    }

    void start() {
        sansws::handlers h;
        h.on_message = [this](const sansws::connection_handle&, const sansws::message& m) {
            const std::string_view t = m.text();
            auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), count_);
            if (ec != std::errc()) std::fprintf(stderr, "autobahn_client: bad case count '%.*s'\n",
                                                static_cast<int>(t.size()), t.data());
        };
        h.on_error = report_error();
        h.on_disconnect = [this](const sansws::connection_handle&) {
            if (status_ != 0) return;  // already reported
            if (count_ == 0) return fail("the server reported no cases");
            if (limit_ != 0 && limit_ < count_) count_ = limit_;
            run_case(1);
        };
        open("/getCaseCount", std::move(h));
    }

    int status() const { return status_; }

private:
    void run_case(unsigned n) {
        if (stopped()) return;
        if (n > count_) return update_reports();
        std::printf("case %u/%u\n", n, count_);
        std::fflush(stdout);
        sansws::handlers h;
        h.on_message = [](const sansws::connection_handle& c, const sansws::message& m) { c.send(m); };
        h.on_disconnect = [this, n](const sansws::connection_handle&) { run_case(n + 1); };
        // Failures are what many cases test for: not reported here.
        open("/runCase?case=" + std::to_string(n) + "&agent=" + agent_, std::move(h));
    }

    void update_reports() {
        sansws::handlers h;
        h.on_error = report_error();
        h.on_disconnect = [this](const sansws::connection_handle&) {
            if (status_ == 0) std::printf("done: %u cases, reports updated\n", count_);
        };
        open("/updateReports?agent=" + agent_, std::move(h));
    }

    void open(const std::string& path, sansws::handlers h) {
        std::string error;
        if (!loop_.connect(base_ + path, opts_, std::move(h), error)) fail(error);
    }

    std::function<void(const sansws::connection_handle&, const sansws::error_info&)> report_error() {
        return [this](const sansws::connection_handle&, const sansws::error_info& e) { fail(sansws::describe(e)); };
    }

    void fail(const std::string& why) {
        std::fprintf(stderr, "autobahn_client: %s\n", why.c_str());
        status_ = 1;
        loop_.stop();
    }

    bool stopped() const { return cli::detail::signals.load() > 0 || status_ != 0; }

    Loop& loop_;
    std::string base_;
    std::string agent_;
    unsigned limit_;
    unsigned count_ = 0;
    int status_ = 0;
    sansws::connect_options opts_;
};

/// Run the cases on the chosen binding: the exit status.
template <class Loop>
int run(const std::string& base, const std::string& agent, unsigned limit, const sansws::deflate_options& deflate) {
    Loop loop;
    std::string error;
    if (!cli::usable(loop, error)) {
        std::fprintf(stderr, "autobahn_client: %s\n", error.c_str());
        return 1;
    }
    driver<Loop> d(loop, base, agent, limit, deflate);
    const cli::stop_on_termination stopper(loop);
    d.start();
    loop.run();
    if (cli::detail::signals.load() > 0) return 130;
    return d.status();
}

}  // namespace

int main(int argc, char** argv) {
    cli::args a(argc, argv, usage);
    std::string url, agent = "sansws";
    unsigned limit = 0;
    sansws::deflate_options deflate;
    deflate.enabled = true;  // offered by default, as browsers do
    cli::io_kind io = cli::io_kind::epoll;
    while (a.next()) {
        if (a.is("--url")) url = a.value();
        else if (a.is("--agent")) agent = a.value();
        else if (a.is("--cases")) limit = static_cast<unsigned>(a.number(1, 1'000'000));
        else if (!cli::deflate_flag(a, deflate) && !cli::io_flag(a, io)) a.unknown();
    }
    if (url.empty()) a.fail("--url is required");
    if (agent.empty()) a.fail("--agent needs a name");
    std::string error;
    auto parsed = sansws::parse_ws_url(url, error);
    if (!parsed) a.fail(error);
    // The case paths are appended to the URL's own path, without its query.
    std::string base = url.substr(0, url.find('?'));
    while (base.ends_with('/')) base.pop_back();

    return io == cli::io_kind::io_uring ? run<sansws::io_uring::loop>(base, agent, limit, deflate)
                                        : run<sansws::epoll::loop>(base, agent, limit, deflate);
}
