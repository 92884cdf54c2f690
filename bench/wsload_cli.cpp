// wsload's command line (see wsload_cli.hpp).
#include "wsload_cli.hpp"

#include <sched.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "wsload_support.hpp"

namespace wsload {
namespace {

constexpr std::string_view usage_text =
    "wsload --url ws://HOST:PORT/PATH [options]\n"
    "  --connections N    connections to open (default 1)\n"
    "  --depth D          messages in flight per connection (default 1)\n"
    "  --size S           payload bytes per message, 8..67108864 (default 16)\n"
    "  --text | --binary  message type (default binary)\n"
    "  --duration T       seconds to send for, after every connection is open (default 5)\n"
    "  --messages M       stop after M echoes in all (no time limit unless --duration is given)\n"
    "  --idle             open the connections, send nothing, hold them for --duration seconds\n"
    "  --cpu K            pin wsload to CPU K\n"
    "  --json FILE        also write the results as JSON\n"
    "  --connect-rate R   start at most R connections per second (default: no limit)\n"
    "  --max-pending P    connects and handshakes in progress at once (default 256)\n"
    "  --server-pid PID   report that process's CPU use and, with --idle, its memory per connection\n"
    "exit status: 0 every echo checked out, 1 errors (mismatch, unexpected close, refused, ...), 2 usage";

[[noreturn]] void usage_error(const std::string& msg) {
    std::fprintf(stderr, "wsload: %s (wsload --help lists the options)\n", msg.c_str());
    std::exit(2);
}


u64 parse_number(std::string_view flag, std::string_view v, u64 min, u64 max) {
    u64 n = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n < min || n > max)
        usage_error(std::string(flag) + " needs a whole number from " + std::to_string(min) + " to " +
                    std::to_string(max) + ", got '" + std::string(v) + "'");
    return n;
}

double parse_seconds(std::string_view flag, const std::string& v) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !(d > 0) || d > 1e6)
        usage_error(std::string(flag) + " needs a positive number, got '" + v + "'");
    return d;
}

// ws://host[:port][/path]; host may be [IPv6].
void parse_url(const std::string& url, options& o) {
    if (url.starts_with("wss://")) usage_error("wss:// is not supported: wsload speaks plain ws://");
    if (!url.starts_with("ws://")) usage_error("--url must start with ws://, got '" + url + "'");
    const std::string rest = url.substr(5);
    const std::size_t slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    o.path = slash == std::string::npos ? "/" : rest.substr(slash);
    std::size_t colon = std::string::npos;
    if (authority.starts_with("[")) {
        const std::size_t close = authority.find(']');
        if (close == std::string::npos) usage_error("unterminated [IPv6] address in --url");
        o.host = authority.substr(1, close - 1);
        if (close + 1 < authority.size()) {
            if (authority[close + 1] != ':') usage_error("unexpected text after ] in --url");
            colon = close + 1;
        }
    } else {
        colon = authority.rfind(':');
        o.host = authority.substr(0, colon);
    }
    if (colon != std::string::npos) o.port = std::to_string(parse_number("port in --url", authority.substr(colon + 1), 1, 65535));
    if (o.host.empty()) usage_error("--url has no host");
    o.host_header = authority;
}

}  // namespace

options parse_args(int argc, char** argv) {
    options o;
    bool have_url = false;
    for (int i = 1; i < argc; ++i) {
        std::string flag = argv[i];
        std::optional<std::string> inline_value;
        if (const auto eq = flag.find('='); flag.starts_with("--") && eq != std::string::npos) {
            inline_value = flag.substr(eq + 1);
            flag.resize(eq);
        }
        auto value = [&]() -> std::string {
            if (inline_value) return *inline_value;
            if (i + 1 >= argc) usage_error(flag + " needs a value");
            return argv[++i];
        };
        auto boolean = [&] {
            if (inline_value) usage_error(flag + " takes no value");
        };
        if (flag == "-h" || flag == "--help") {
            std::printf("usage: %.*s\n", static_cast<int>(usage_text.size()), usage_text.data());
            std::exit(0);
        } else if (flag == "--url") {
            parse_url(value(), o);
            have_url = true;
        } else if (flag == "--connections") {
            o.connections = parse_number(flag, value(), 1, 1'000'000);
        } else if (flag == "--depth") {
            o.depth = parse_number(flag, value(), 1, 65536);
        } else if (flag == "--size") {
            o.size = parse_number(flag, value(), seq_len, 64u << 20);
        } else if (flag == "--text") {
            boolean();
            o.text = true;
        } else if (flag == "--binary") {
            boolean();
            o.text = false;
        } else if (flag == "--duration") {
            o.duration = parse_seconds(flag, value());
            o.duration_given = true;
        } else if (flag == "--messages") {
            o.messages = parse_number(flag, value(), 1, u64{1} << 48);
        } else if (flag == "--idle") {
            boolean();
            o.idle = true;
        } else if (flag == "--cpu") {
            o.cpu = static_cast<int>(parse_number(flag, value(), 0, CPU_SETSIZE - 1));
        } else if (flag == "--json") {
            o.json = value();
            if (o.json.empty()) usage_error("--json needs a file name");
        } else if (flag == "--connect-rate") {
            o.connect_rate = parse_seconds(flag, value());
        } else if (flag == "--max-pending") {
            o.max_pending = parse_number(flag, value(), 1, 100'000);
        } else if (flag == "--server-pid") {
            o.server_pid = static_cast<long>(parse_number(flag, value(), 1, 1u << 30));
        } else {
            usage_error("unknown option '" + flag + "'");
        }
    }
    if (!have_url) usage_error("--url is required");
    if (o.idle && o.messages) usage_error("--idle sends nothing; --messages makes no sense with it");
    return o;
}

}  // namespace wsload
