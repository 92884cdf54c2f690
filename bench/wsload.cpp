// wsload: a WebSocket echo load generator (issue 7). One thread, its own
// epoll loop, N client connections each keeping D messages in flight; every
// echo is checked (type, length, every byte) and timed from the moment its
// message was written.
//
// The opening handshake uses the sansws engine in the client role (it is
// cold, and §4.1's checks are best not written twice). The data path is
// framed by hand, on purpose: (1) a bug in the engine's framing would
// otherwise sit on both ends of the measurement and cancel out, and (2) it
// is cheaper than a general engine, which matters because the load
// generator must outrun the server it measures: message bodies are masked
// once at start-up and gathered from there by sendmsg (no per-message
// masking or copying), and echoes are compared in the read buffer as they
// arrive, never reassembled.
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "sansws/connection.hpp"
#include "wsload_cli.hpp"
#include "wsload_support.hpp"

namespace {

using namespace wsload;

u64 now_ns() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<u64>(ts.tv_sec) * 1'000'000'000u + static_cast<u64>(ts.tv_nsec);
}

void fill_random(sansws::mutable_bytes out) {
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
        if (n > 0) done += static_cast<std::size_t>(n);
        else if (errno != EINTR) {
            std::fprintf(stderr, "wsload: getrandom: %s\n", std::strerror(errno));
            std::exit(1);
        }
    }
}

// What /proc tells about the server: CPU seconds used and resident memory.
double process_cpu_seconds(long pid) {
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
    if (!f) return -1;
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields 14 and 15 (utime, stime) count from after the ")" that ends
    // the command name, which may itself contain spaces.
    const char* p = std::strrchr(buf, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2) return -1;
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long process_rss_kb(long pid) {
    std::FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/status").c_str(), "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (std::fgets(line, sizeof line, f))
        if (std::sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    std::fclose(f);
    return kb;
}

double own_cpu_seconds() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
           static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

volatile std::sig_atomic_t interrupted = 0;
extern "C" void on_signal(int) { interrupted = 1; }

enum class phase : std::uint8_t { connecting, handshaking, open, closing, done };

// A stretch of output: bytes in conn::small (ext == nullptr) or in a
// payload template (gathered from there, never copied).
struct piece {
    const std::byte* ext;
    std::size_t off, len;
};

struct conn {
    int fd = -1;
    phase ph = phase::connecting;
    bool writable_armed = false;  // EPOLLOUT requested
    bool close_seen = false;      // the server's Close arrived
    u64 started = 0;              // when connect() was called
    u64 id = 0;                   // sequence numbers of this connection start here
    std::unique_ptr<sansws::connection> hs;  // the handshake engine, until the 101 arrives
    // sending
    u64 next_send = 0, next_recv = 0, stamped = 0;
    std::vector<std::byte> small;
    std::vector<piece> pieces;
    std::size_t piece_at = 0, piece_off = 0;
    std::unique_ptr<u64[]> sent_at;  // write time of message seq, at seq % depth
    // receiving: one frame at a time, checked in place
    std::array<std::byte, 14> hdr{};
    std::size_t hdr_len = 0;
    bool in_payload = false, fin = false, in_message = false;
    std::uint8_t op = 0;
    u64 left = 0, msg_off = 0;
    std::array<std::byte, seq_len> expect_seq{};
    std::array<std::byte, 125> ctl{};
    std::size_t ctl_len = 0;
};

class loader {
public:
    loader(const options& o, const payloads& pl) : o_(o), pl_(pl) {}
    loader(const loader&) = delete;
    loader& operator=(const loader&) = delete;
    ~loader() {
        for (conn& c : conns_)
            if (c.fd >= 0) close(c.fd);
        if (ep_ >= 0) close(ep_);
        if (addr_) freeaddrinfo(addr_);
    }
    int run();

private:
    bool setup();
    void launch();
    void on_event(conn& c, std::uint32_t events);
    void on_connected(conn& c);
    void on_handshake_input(conn& c, std::size_t n);
    void on_frames(conn& c, std::size_t n, u64 t);
    bool frame_header(conn& c, const std::byte* h);
    bool check_payload(conn& c, const std::byte* p, std::size_t n);
    void end_frame(conn& c, u64 t);
    void queue_message(conn& c);
    void queue_small(conn& c, const std::byte* p, std::size_t n);
    void queue_close(conn& c);
    bool flush(conn& c);
    bool flush_handshake(conn& c);
    void arm(conn& c, bool writable);
    void fail(conn& c, const std::string& why);
    void finish(conn& c);
    void poll(u64 until);
    void report(double window_s, double connect_s, double cpu_s, double server_cpu_s, long rss_before, long rss_idle);

    const options& o_;
    const payloads& pl_;
    int ep_ = -1;
    addrinfo* addr_ = nullptr;
    std::vector<conn> conns_;
    histogram hist_;
    std::unique_ptr<std::byte[]> buf_ = std::make_unique<std::byte[]>(read_size);
    static constexpr std::size_t read_size = 256 * 1024;
    std::string fatal_;  // stops the ramp-up: out of descriptors or ports
    u64 launched_ = 0, pending_ = 0, open_ = 0, closing_ = 0, opened_ = 0;
    u64 errors_ = 0, outstanding_ = 0, sent_total_ = 0, echoed_ = 0;
    u64 window_echoes_ = 0, window_bytes_ = 0;
    bool sending_ = false, ramp_start_set_ = false;
    u64 ramp_start_ = 0;
    std::string first_error_;
};

bool loader::setup() {
    // Each connection is a descriptor: ask for what N needs up front rather
    // than fail with EMFILE at connection 1,021.
    const u64 need = o_.connections + 32;
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
        rl.rlim_cur = std::min<rlim_t>(need, rl.rlim_max);
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < need) {
        std::fprintf(stderr,
                     "wsload: %llu connections need about %llu file descriptors, but RLIMIT_NOFILE allows %llu "
                     "(hard limit %llu): raise it (ulimit -n) or open fewer connections\n",
                     static_cast<unsigned long long>(o_.connections), static_cast<unsigned long long>(need),
                     static_cast<unsigned long long>(rl.rlim_cur), static_cast<unsigned long long>(rl.rlim_max));
        return false;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    if (const int rc = getaddrinfo(o_.host.c_str(), o_.port.c_str(), &hints, &addr_); rc != 0) {
        std::fprintf(stderr, "wsload: cannot resolve %s: %s\n", o_.host.c_str(), gai_strerror(rc));
        return false;
    }
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
        std::fprintf(stderr, "wsload: epoll_create1: %s\n", std::strerror(errno));
        return false;
    }
    conns_.resize(o_.connections);
    return true;
}

// Starts connections while the in-flight bound and the connect rate allow.
void loader::launch() {
    const u64 now = now_ns();
    if (!ramp_start_set_) ramp_start_ = now, ramp_start_set_ = true;
    u64 allowed = o_.connections;
    if (o_.connect_rate > 0)
        allowed = std::min<u64>(allowed, 1 + static_cast<u64>(o_.connect_rate * static_cast<double>(now - ramp_start_) / 1e9));
    while (fatal_.empty() && launched_ < allowed && pending_ < o_.max_pending) {
        conn& c = conns_[launched_];
        c.id = launched_ << 28;  // 2^28 messages per connection before ids overlap
        c.started = now;
        ++launched_;
        c.fd = socket(addr_->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c.fd < 0) {
            const int e = errno;
            if (e == EMFILE || e == ENFILE)
                fatal_ = "out of file descriptors after " + std::to_string(launched_ - 1) + " connections (" +
                         std::strerror(e) + "): raise the limit (ulimit -n) or open fewer connections";
            else
                fatal_ = std::string("socket: ") + std::strerror(e);
            c.ph = phase::done;
            break;
        }
        const int one = 1;
        setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ++pending_;
        if (connect(c.fd, addr_->ai_addr, addr_->ai_addrlen) < 0 && errno != EINPROGRESS) {
            const int e = errno;
            if (e == EADDRNOTAVAIL)
                fatal_ = "no free local port after " + std::to_string(launched_ - 1) +
                         " connections: the ephemeral range (/proc/sys/net/ipv4/ip_local_port_range) is used up";
            fail(c, std::string("connect: ") + std::strerror(e));
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLOUT;
        ev.data.u64 = static_cast<u64>(&c - conns_.data());
        epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
        c.writable_armed = true;
    }
}

void loader::arm(conn& c, bool writable) {
    if (c.writable_armed == writable) return;
    epoll_event ev{};
    ev.events = EPOLLIN | (writable ? EPOLLOUT : 0u);
    ev.data.u64 = static_cast<u64>(&c - conns_.data());
    epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    c.writable_armed = writable;
}

void loader::finish(conn& c) {
    if (c.ph == phase::connecting || c.ph == phase::handshaking) --pending_;
    if (c.ph == phase::open) --open_;
    if (c.ph == phase::closing) --closing_;
    if (c.fd >= 0) close(c.fd);  // also removes it from the epoll set
    c.fd = -1;
    c.ph = phase::done;
    c.hs.reset();
    outstanding_ -= c.next_send - c.next_recv;
    c.next_recv = c.next_send;
}

// Every error is counted and ends its connection; the first few are
// printed as they happen so that a flood of them stays readable.
void loader::fail(conn& c, const std::string& why) {
    ++errors_;
    const std::string msg = "connection " + std::to_string(&c - conns_.data()) + ": " + why;
    if (first_error_.empty()) first_error_ = msg;
    if (errors_ <= 10) std::fprintf(stderr, "wsload: error: %s\n", msg.c_str());
    if (errors_ == 10) std::fprintf(stderr, "wsload: (further errors are only counted)\n");
    finish(c);
}

void loader::on_connected(conn& c) {
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
        fail(c, "connect to " + o_.host_header + ": " + std::strerror(err) +
                    (err == ECONNREFUSED ? " (is the server listening?)" : ""));
        return;
    }
    sansws::config cfg;
    cfg.role = sansws::role::client;
    cfg.entropy = fill_random;
    cfg.client.host = o_.host_header;
    cfg.client.target = o_.path;
    c.hs = std::make_unique<sansws::connection>(std::move(cfg), sansws::timestamp(now_ns()));
    c.ph = phase::handshaking;
    arm(c, false);
    flush_handshake(c);
}

bool loader::flush_handshake(conn& c) {
    while (c.hs->buffered()) {
        iovec iov[8];
        std::size_t n = 0;
        for (const auto s : c.hs->output(8)) iov[n++] = {const_cast<std::byte*>(s.data()), s.size()};
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = n;
        const ssize_t w = sendmsg(c.fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            arm(c, true);
            return true;
        }
        if (w < 0) {
            fail(c, std::string("sending the upgrade request: ") + std::strerror(errno));
            return false;
        }
        c.hs->consume(static_cast<std::size_t>(w));
    }
    arm(c, false);
    return true;
}

void loader::on_handshake_input(conn& c, std::size_t n) {
    if (n == 0) return fail(c, "the server closed the connection during the opening handshake");
    c.hs->receive(sansws::mutable_bytes(buf_.get(), n));
    bool opened = false;
    for (;;) {
        const sansws::event ev = c.hs->next_event();
        if (std::holds_alternative<sansws::need_more>(ev)) break;
        if (std::holds_alternative<sansws::handshake_response>(ev) && !opened) {
            opened = true;
        } else if (const auto* r = std::get_if<sansws::handshake_rejected>(&ev)) {
            return fail(c, "the server refused the upgrade: HTTP " + std::to_string(r->status) + " " + r->reason);
        } else if (const auto* f = std::get_if<sansws::failure>(&ev)) {
            return fail(c, "opening handshake failed: " + std::string(f->reason));
        } else {
            return fail(c, "the server sent a frame before any message was sent");
        }
    }
    if (!opened) return;
    c.hs.reset();
    c.ph = phase::open;
    --pending_;
    ++open_;
    ++opened_;
    if (!o_.idle) c.sent_at = std::make_unique<u64[]>(o_.depth);
}

void loader::queue_small(conn& c, const std::byte* p, std::size_t n) {
    // Adjacent small pieces merge, so a burst of small messages is one iovec.
    if (!c.pieces.empty() && !c.pieces.back().ext && c.pieces.back().off + c.pieces.back().len == c.small.size())
        c.pieces.back().len += n;
    else
        c.pieces.push_back({nullptr, c.small.size(), n});
    c.small.insert(c.small.end(), p, p + n);
}

void loader::queue_message(conn& c) {
    const u64 seq = c.next_send++;
    ++outstanding_;
    ++sent_total_;
    const variant& v = pl_.of(seq);
    std::byte buf[14 + seq_len];
    const std::size_t h = client_header(buf, pl_.text ? 1 : 2, pl_.size, v.key);
    std::byte field[seq_len];
    encode_seq(c.id + (seq & ((u64{1} << 28) - 1)), field);
    for (std::size_t i = 0; i < seq_len; ++i) buf[h + i] = field[i] ^ v.key[i % 4];
    queue_small(c, buf, h + seq_len);
    if (pl_.tail_at > seq_len) c.pieces.push_back({v.masked.data() + seq_len, 0, pl_.tail_at - seq_len});
    if (pl_.tail_at < pl_.size) {
        for (std::size_t i = 0; i < seq_len; ++i) buf[i] = field[i] ^ v.key[(pl_.tail_at + i) % 4];
        queue_small(c, buf, seq_len);
    }
}

void loader::queue_close(conn& c) {
    std::byte frame[8];
    const auto& key = pl_.variants[0].key;
    client_header(frame, 8, 2, key);
    frame[6] = std::byte(1000 >> 8) ^ key[0];
    frame[7] = std::byte(1000 & 0xFF) ^ key[1];
    queue_small(c, frame, sizeof frame);
}

bool loader::flush(conn& c) {
    if (c.sent_at) {
        // Stamped just before the write, so latency is the server's and the
        // network's, not the time this loop spent building the messages.
        const u64 t = now_ns();
        for (; c.stamped < c.next_send; ++c.stamped) c.sent_at[c.stamped % o_.depth] = t;
    }
    while (c.piece_at < c.pieces.size()) {
        iovec iov[64];
        std::size_t n = 0;
        for (std::size_t i = c.piece_at; i < c.pieces.size() && n < 64; ++i) {
            const piece& p = c.pieces[i];
            const std::byte* base = p.ext ? p.ext : c.small.data() + p.off;
            const std::size_t skip = i == c.piece_at ? c.piece_off : 0;
            iov[n++] = {const_cast<std::byte*>(base + skip), p.len - skip};
        }
        msghdr mh{};
        mh.msg_iov = iov;
        mh.msg_iovlen = n;
        ssize_t w = sendmsg(c.fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) {
            arm(c, true);
            return true;
        }
        if (w < 0) {
            fail(c, std::string("send: ") + std::strerror(errno) +
                        (errno == EPIPE || errno == ECONNRESET ? " (the server dropped the connection)" : ""));
            return false;
        }
        for (; w > 0; ++c.piece_at, c.piece_off = 0) {
            const std::size_t rest = c.pieces[c.piece_at].len - c.piece_off;
            if (static_cast<std::size_t>(w) < rest) {
                c.piece_off += static_cast<std::size_t>(w);
                break;
            }
            w -= static_cast<ssize_t>(rest);
        }
    }
    c.pieces.clear();
    c.small.clear();
    c.piece_at = c.piece_off = 0;
    arm(c, false);
    return true;
}

// Parses one complete header (§5.2) of a server frame; false after fail().
bool loader::frame_header(conn& c, const std::byte* h) {
    const auto b0 = std::to_integer<std::uint8_t>(h[0]), b1 = std::to_integer<std::uint8_t>(h[1]);
    c.fin = b0 & 0x80;
    c.op = b0 & 0x0F;
    u64 len = b1 & 0x7F;
    if (len == 126) len = std::to_integer<u64>(h[2]) << 8 | std::to_integer<u64>(h[3]);
    if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = len << 8 | std::to_integer<u64>(h[2 + i]);
    }
    if (b0 & 0x70) return fail(c, "frame with RSV bits set (no extension was agreed)"), false;
    if (b1 & 0x80) return fail(c, "masked frame from the server (§5.1)"), false;
    if (c.op >= 8) {
        if (c.op > 10) return fail(c, "reserved control opcode " + std::to_string(c.op)), false;
        if (len > 125 || !c.fin) return fail(c, "control frame longer than 125 bytes or fragmented"), false;
        c.ctl_len = 0;
    } else {
        const std::uint8_t want = pl_.text ? 1 : 2;
        if (c.op == 0 && !c.in_message) return fail(c, "continuation frame outside a message"), false;
        if (c.op != 0 && c.in_message) return fail(c, "new message before the previous one ended"), false;
        if (c.op != 0 && c.op != want)
            return fail(c, c.op == 1 || c.op == 2 ? std::string("echo is ") + (c.op == 1 ? "text" : "binary") +
                                                        ", sent " + (pl_.text ? "text" : "binary")
                                                  : "reserved data opcode " + std::to_string(c.op)),
                   false;
        if (c.op != 0) {
            if (c.next_recv == c.next_send) return fail(c, "message from the server while none was in flight"), false;
            c.in_message = true;
            c.msg_off = 0;
            encode_seq(c.id + (c.next_recv & ((u64{1} << 28) - 1)), c.expect_seq.data());
        }
        if (len > pl_.size - c.msg_off)
            return fail(c, "echo " + std::to_string(c.next_recv) + " is longer than the " + std::to_string(pl_.size) +
                               " bytes sent"),
                   false;
    }
    c.left = len;
    c.in_payload = true;
    return true;
}

// Compares echoed bytes at message offset c.msg_off with what was sent.
bool loader::check_payload(conn& c, const std::byte* p, std::size_t n) {
    const variant& v = pl_.of(c.next_recv);
    for (std::size_t i = 0; i < n;) {
        const u64 off = c.msg_off + i;
        std::size_t run;
        const std::byte* want;
        if (off < seq_len) {
            run = std::min<std::size_t>(n - i, seq_len - off);
            want = c.expect_seq.data() + off;
        } else if (off < pl_.tail_at) {
            run = std::min<std::size_t>(n - i, pl_.tail_at - off);
            want = v.plain.data() + off;
        } else {
            run = n - i;
            want = c.expect_seq.data() + (off - pl_.tail_at);
        }
        if (std::memcmp(p + i, want, run) != 0) {
            std::size_t k = 0;
            while (p[i + k] == want[k]) ++k;
            char detail[96];
            std::snprintf(detail, sizeof detail, " (got 0x%02x, sent 0x%02x)", std::to_integer<unsigned>(p[i + k]),
                          std::to_integer<unsigned>(want[k]));
            fail(c, "echo " + std::to_string(c.next_recv) + " differs from the message sent at byte " +
                        std::to_string(off + k) + detail +
                        (off + k < seq_len || off + k >= pl_.tail_at ? ": wrong sequence number (lost, reordered or "
                                                                       "misrouted message)"
                                                                     : ""));
            return false;
        }
        i += run;
    }
    c.msg_off += n;
    return true;
}

void loader::end_frame(conn& c, u64 t) {
    c.in_payload = false;
    if (c.op == 9) {  // Ping: answer with a Pong carrying its data (§5.5.3)
        std::byte frame[14 + 125];
        const auto& key = pl_.variants[0].key;
        const std::size_t h = client_header(frame, 10, c.ctl_len, key);
        for (std::size_t i = 0; i < c.ctl_len; ++i) frame[h + i] = c.ctl[i] ^ key[i % 4];
        queue_small(c, frame, h + c.ctl_len);
    } else if (c.op == 8) {
        c.close_seen = true;
        if (c.ph != phase::closing) {
            const unsigned code = c.ctl_len >= 2 ? std::to_integer<unsigned>(c.ctl[0]) << 8 | std::to_integer<unsigned>(c.ctl[1]) : 1005;
            const std::string reason(reinterpret_cast<const char*>(c.ctl.data()) + std::min<std::size_t>(c.ctl_len, 2),
                                     c.ctl_len > 2 ? c.ctl_len - 2 : 0);
            fail(c, "the server closed the connection: Close " + std::to_string(code) +
                        (reason.empty() ? "" : " '" + reason + "'"));
        }
    } else if (c.op < 8 && c.fin) {
        if (c.msg_off != pl_.size)
            return fail(c, "echo " + std::to_string(c.next_recv) + " has " + std::to_string(c.msg_off) + " bytes, sent " +
                               std::to_string(pl_.size));
        c.in_message = false;
        hist_.add(t - c.sent_at[c.next_recv % o_.depth]);
        ++c.next_recv;
        --outstanding_;
        ++echoed_;
        if (sending_) {
            ++window_echoes_;
            window_bytes_ += pl_.size;
            if (!o_.messages || sent_total_ < o_.messages) queue_message(c);
        }
    }
}

// Parses received frames in buf_[0, n) straight from the read buffer; only
// a header split between reads is copied.
void loader::on_frames(conn& c, std::size_t n, u64 t) {
    const std::byte* p = buf_.get();
    while (n > 0 && c.ph != phase::done) {
        if (!c.in_payload) {
            auto need = [](const std::byte* x, std::size_t k) -> std::size_t {
                if (k < 2) return 2;
                const auto l = std::to_integer<unsigned>(x[1]) & 0x7F;
                return 2 + (l == 126 ? 2 : l == 127 ? 8 : 0) + (std::to_integer<unsigned>(x[1]) & 0x80 ? 4 : 0);
            };
            if (c.hdr_len == 0 && n >= need(p, n)) {
                const std::size_t k = need(p, n);
                if (!frame_header(c, p)) return;
                p += k, n -= k;
            } else {
                // A header split between reads: gather it (at most 14 bytes).
                while (n > 0 && c.hdr_len < need(c.hdr.data(), c.hdr_len)) c.hdr[c.hdr_len++] = *p++, --n;
                if (c.hdr_len < need(c.hdr.data(), c.hdr_len)) return;
                c.hdr_len = 0;
                if (!frame_header(c, c.hdr.data())) return;
            }
        } else {
            const std::size_t k = static_cast<std::size_t>(std::min<u64>(c.left, n));
            if (c.op >= 8) {
                std::memcpy(c.ctl.data() + c.ctl_len, p, k);
                c.ctl_len += k;
            } else if (!check_payload(c, p, k)) {
                return;
            }
            c.left -= k;
            p += k, n -= k;
        }
        if (c.in_payload && c.left == 0) end_frame(c, t);
    }
}

void loader::on_event(conn& c, std::uint32_t events) {
    if (c.ph == phase::connecting) return on_connected(c);
    if ((events & EPOLLOUT) && c.ph == phase::handshaking && !flush_handshake(c)) return;
    if ((events & EPOLLOUT) && c.ph != phase::handshaking && !flush(c)) return;
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    const ssize_t r = recv(c.fd, buf_.get(), read_size, 0);
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        return fail(c, std::string("recv: ") + std::strerror(errno) +
                           (errno == ECONNRESET ? " (the server reset the connection)" : ""));
    }
    const u64 t = now_ns();
    if (c.ph == phase::handshaking) return on_handshake_input(c, static_cast<std::size_t>(r));
    if (r == 0) {
        if (c.ph == phase::closing && c.close_seen) return finish(c);  // the clean end (§7.1.1)
        return fail(c, c.ph == phase::closing ? "the server closed TCP without answering our Close"
                                              : "the server closed the connection without a Close frame");
    }
    on_frames(c, static_cast<std::size_t>(r), t);
    if (c.ph != phase::done && !c.pieces.empty()) flush(c);
}

void loader::poll(u64 until) {
    epoll_event evs[256];
    const u64 now = now_ns();
    const int timeout = until <= now ? 0 : static_cast<int>(std::min<u64>((until - now + 999'999) / 1'000'000, 100));
    const int n = epoll_wait(ep_, evs, 256, timeout);
    for (int i = 0; i < n; ++i) {
        conn& c = conns_[evs[i].data.u64];
        if (c.ph != phase::done) on_event(c, evs[i].events);
    }
}

int loader::run() {
    if (!setup()) return 1;
    const double server_cpu0 = o_.server_pid ? process_cpu_seconds(o_.server_pid) : 0;
    const long rss_before = o_.server_pid ? process_rss_kb(o_.server_pid) : -1;
    if (o_.server_pid && (server_cpu0 < 0 || rss_before < 0)) {
        std::fprintf(stderr, "wsload: cannot read /proc/%ld: is --server-pid a running process?\n", o_.server_pid);
        return 1;
    }
    constexpr u64 connect_timeout = 10'000'000'000;
    const u64 t_start = now_ns();
    // Ramp-up: every connection open (or failed) before any message moves,
    // so the measured window has all N connections working.
    while (!interrupted && (launched_ < o_.connections || pending_ > 0) && fatal_.empty()) {
        launch();
        poll(now_ns() + (o_.connect_rate > 0 ? 1'000'000 : 100'000'000));
        const u64 now = now_ns();
        if (pending_ > 0 && now - t_start > connect_timeout)
            for (conn& c : conns_)
                if ((c.ph == phase::connecting || c.ph == phase::handshaking) && now - c.started > connect_timeout)
                    fail(c, "not open after 10 s (connect or opening handshake)");
    }
    const u64 t0 = now_ns();
    const double connect_s = static_cast<double>(t0 - t_start) / 1e9;
    if (fatal_.empty() && !interrupted)
        std::fprintf(stderr, "wsload: %llu of %llu connections open in %.3f s\n", static_cast<unsigned long long>(open_),
                     static_cast<unsigned long long>(o_.connections), connect_s);
    const double cpu0 = own_cpu_seconds();
    const double server_cpu_start = o_.server_pid ? process_cpu_seconds(o_.server_pid) : 0;
    const u64 end = o_.duration_given || !o_.messages ? t0 + static_cast<u64>(o_.duration * 1e9) : ~u64{0};
    long rss_idle = -1;
    if (fatal_.empty() && open_ > 0) {
        if (!o_.idle) {
            sending_ = true;
            for (conn& c : conns_) {
                if (c.ph != phase::open) continue;
                for (u64 i = 0; i < o_.depth && (!o_.messages || sent_total_ < o_.messages); ++i) queue_message(c);
                flush(c);
            }
        }
        while (!interrupted && open_ > 0 && now_ns() < end && (!o_.messages || echoed_ < o_.messages)) poll(end);
        if (o_.idle && o_.server_pid) rss_idle = process_rss_kb(o_.server_pid);
    }
    const u64 t1 = now_ns();
    sending_ = false;
    const double cpu_s = own_cpu_seconds() - cpu0;
    const double server_cpu_s = o_.server_pid ? process_cpu_seconds(o_.server_pid) - server_cpu_start : 0;
    // Drain: every message sent must come back, even after the window.
    const u64 drain_end = now_ns() + 5'000'000'000;
    while (outstanding_ > 0 && now_ns() < drain_end) poll(drain_end);
    for (conn& c : conns_)
        if (c.ph == phase::open && c.next_recv != c.next_send)
            fail(c, std::to_string(c.next_send - c.next_recv) + " echoes still missing 5 s after the run ended");
    // Close handshake (§7.1.2): ours, the server's answer, then its TCP close.
    for (conn& c : conns_) {
        if (c.ph == phase::connecting || c.ph == phase::handshaking) finish(c);
        if (c.ph != phase::open) continue;
        c.ph = phase::closing;
        --open_;
        ++closing_;
        queue_close(c);
        flush(c);
    }
    const u64 close_end = now_ns() + 5'000'000'000;
    while (closing_ > 0 && now_ns() < close_end) poll(close_end);
    // A server that answered our Close but keeps TCP open only breaks a
    // SHOULD (§7.1.1); no answer at all is an error.
    for (conn& c : conns_)
        if (c.ph == phase::closing && c.close_seen) finish(c);
        else if (c.ph == phase::closing) fail(c, "no answer to our Close within 5 s");
    if (!fatal_.empty()) {
        // What stopped the run matters more than the errors it caused.
        ++errors_;
        std::fprintf(stderr, "wsload: error: %s\n", fatal_.c_str());
        first_error_ = fatal_;
    }
    report(static_cast<double>(t1 - t0) / 1e9, connect_s, cpu_s, server_cpu_s, rss_before, rss_idle);
    if (interrupted) return 130;
    return errors_ ? 1 : 0;
}

void loader::report(double window_s, double connect_s, double cpu_s, double server_cpu_s, long rss_before,
                    long rss_idle) {
    const double msgs = window_s > 0 ? static_cast<double>(window_echoes_) / window_s : 0;
    const double mbs = window_s > 0 ? static_cast<double>(window_bytes_) / window_s / 1e6 : 0;
    auto us = [](u64 ns) { return static_cast<double>(ns) / 1e3; };
    const double per_conn =
        rss_idle >= 0 && opened_ > 0 ? static_cast<double>(rss_idle - rss_before) * 1024.0 / static_cast<double>(opened_) : -1;
    const char* type = pl_.text ? "text" : "binary";
    std::printf("wsload: ws://%s%s  %llu connections, %s\n", o_.host_header.c_str(), o_.path.c_str(),
                static_cast<unsigned long long>(o_.connections),
                o_.idle ? "idle" : (std::to_string(o_.depth) + " in flight each, " + std::to_string(pl_.size) + " B " + type).c_str());
    std::printf("  connected   %llu in %.3f s\n", static_cast<unsigned long long>(opened_), connect_s);
    if (!o_.idle && opened_ > 0) {
        std::printf("  echoes      %llu in %.2f s: %.0f msgs/s, %.2f MB/s of payload\n",
                    static_cast<unsigned long long>(window_echoes_), window_s, msgs, mbs);
        std::printf("  round trip  p50 %.1f us, p90 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us (%llu echoes)\n",
                    us(hist_.percentile(0.5)), us(hist_.percentile(0.9)), us(hist_.percentile(0.99)),
                    us(hist_.percentile(0.999)), us(hist_.max()), static_cast<unsigned long long>(hist_.count()));
    }
    if (window_s > 0.1 && opened_ > 0) {
        std::printf("  CPU         wsload %.0f%%", 100 * cpu_s / window_s);
        if (o_.server_pid) std::printf(", server %.0f%%", 100 * server_cpu_s / window_s);
        std::printf(" of one core\n");
    }
    if (per_conn >= 0)
        std::printf("  server RSS  %ld kB before, %ld kB with %llu idle connections: %.0f bytes per connection\n",
                    rss_before, rss_idle, static_cast<unsigned long long>(opened_), per_conn);
    std::printf("  errors      %llu%s%s\n", static_cast<unsigned long long>(errors_),
                !fatal_.empty() ? ", stopped by: " : errors_ ? ", first: " : "", first_error_.c_str());
    if (o_.json.empty()) return;
    std::FILE* f = std::fopen(o_.json.c_str(), "w");
    if (!f) {
        std::fprintf(stderr, "wsload: cannot write %s: %s\n", o_.json.c_str(), std::strerror(errno));
        ++errors_;
        return;
    }
    std::string err;
    for (const char ch : first_error_) {
        if (ch == '"' || ch == '\\') err += '\\';
        if (static_cast<unsigned char>(ch) >= 0x20) err += ch;
    }
    std::fprintf(f,
                 "{\"url\": \"ws://%s%s\", \"mode\": \"%s\", \"connections\": %llu, \"depth\": %llu, \"size\": %llu, "
                 "\"type\": \"%s\",\n \"connected\": %llu, \"connect_s\": %.4f, \"window_s\": %.4f, \"messages\": %llu, "
                 "\"msgs_per_s\": %.1f, \"mb_per_s\": %.3f,\n \"latency_us\": {\"p50\": %.2f, \"p90\": %.2f, \"p99\": %.2f, "
                 "\"p999\": %.2f, \"max\": %.2f, \"count\": %llu},\n \"cpu_wsload\": %.3f, \"cpu_server\": %.3f, "
                 "\"server_rss_before_kb\": %ld, \"server_rss_idle_kb\": %ld, \"bytes_per_idle_connection\": %.1f,\n"
                 " \"errors\": %llu, \"first_error\": \"%s\"}\n",
                 o_.host_header.c_str(), o_.path.c_str(), o_.idle ? "idle" : "echo",
                 static_cast<unsigned long long>(o_.connections), static_cast<unsigned long long>(o_.depth),
                 static_cast<unsigned long long>(pl_.size), type, static_cast<unsigned long long>(opened_),
                 connect_s, window_s, static_cast<unsigned long long>(window_echoes_), msgs, mbs,
                 us(hist_.percentile(0.5)), us(hist_.percentile(0.9)), us(hist_.percentile(0.99)),
                 us(hist_.percentile(0.999)), us(hist_.max()), static_cast<unsigned long long>(hist_.count()),
                 window_s > 0 ? cpu_s / window_s : 0, window_s > 0 && o_.server_pid ? server_cpu_s / window_s : -1,
                 rss_before, rss_idle, per_conn, static_cast<unsigned long long>(errors_), err.c_str());
    std::fclose(f);
}

}  // namespace

int main(int argc, char** argv) {
    const options o = parse_args(argc, argv);
    if (o.cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0) {
            std::fprintf(stderr, "wsload: --cpu %d: %s (this machine has %ld CPUs)\n", o.cpu, std::strerror(errno),
                         sysconf(_SC_NPROCESSORS_ONLN));
            return 2;
        }
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    std::array<std::byte, 32> keys;
    fill_random(keys);
    const payloads pl(o.size, o.text, keys);
    loader l(o, pl);
    return l.run();
}
