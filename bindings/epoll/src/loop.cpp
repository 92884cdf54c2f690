// The epoll event loop: readiness dispatch to loop_adapter connections,
// accepting, client connects, the deadline heap, post() and graceful stop.
//
// Connections are addressed by id everywhere (epoll data, timer entries,
// the dirty list), never by pointer: an event for a connection closed earlier
// in the same batch simply finds nothing. Only sync() erases a connection,
// and only the loop's own code (never a handler) calls it.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "sansws/epoll.hpp"

namespace sansws::epoll {
namespace {

constexpr std::uint64_t wake_tag = 0;
constexpr std::uint64_t listener_tag = std::uint64_t{1} << 63;
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr auto accept_pause = std::chrono::milliseconds(100);

thread_local loop* current_loop = nullptr;

void set_nodelay(int fd) {
    // Frames are written whole with one sendmsg; Nagle would only delay them.
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace

struct loop::listener {
    int fd;
    std::shared_ptr<const handlers> h;
    accept_settings settings;
};

struct loop::conn {
    std::uint64_t id = 0;
    std::unique_ptr<loop_adapter> ws;  // null while a client is connecting
    std::uint32_t watched = 0;         // events registered with epoll
    bool registered = false;
    bool dirty = false;
    bool finished = false;             // a client connect that failed: erase
    timestamp scheduled = no_deadline; // the deadline in the heap for this id
    // Client connecting: one address after another until one answers.
    int fd = -1;
    std::vector<std::pair<sockaddr_storage, socklen_t>> addrs;
    std::size_t next_addr = 0;
    int last_errno = 0;
    std::string url;
    config cfg;
    std::shared_ptr<const handlers> h;
    std::size_t high_water = 0;

    ~conn() {
        if (fd >= 0) ::close(fd);
    }
};

loop::loop(unsigned index) : index_(index), read_buffer_(read_buffer_size) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ep_ < 0 || wake_fd_ < 0) throw std::system_error(errno, std::generic_category(), "sansws epoll loop");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_tag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, wake_fd_, &ev);
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    now_ = monotonic_now();
}

loop::~loop() {
    conns_.clear();  // adapters close their sockets without callbacks
    for (auto& l : listeners_) ::close(l->fd);
    if (spare_fd_ >= 0) ::close(spare_fd_);
    ::close(wake_fd_);
    ::close(ep_);
}

loop* loop::current() noexcept { return current_loop; }

void loop::post(std::function<void()> fn) {
    bool first;
    {
        std::lock_guard lock(post_mutex_);
        first = posted_.empty();
        posted_.push_back(std::move(fn));
    }
    const std::uint64_t one = 1;
    if (first && ::write(wake_fd_, &one, sizeof one) < 0) {
        // The counter is saturated only if the loop never reads it; the
        // queued work runs whenever it next wakes.
    }
}

void loop::stop() noexcept {
    stop_requested_.store(true);
    const std::uint64_t one = 1;
    const int saved = errno;  // callable from a signal handler
    if (::write(wake_fd_, &one, sizeof one) < 0) {
        // Nothing else to do from here; the flag is set.
    }
    errno = saved;
}

void loop::add_listener(int fd, std::shared_ptr<const handlers> h, accept_settings settings) {
    settings.engine.role = role::server;
    if (settings.share_compressor) {
        const compression_config& z = settings.engine.compression;
        shared_deflaters_.push_back(std::make_unique<deflater>(
            deflate_settings{z.negotiate.server_max_window_bits, z.mem_level, z.level}));
        settings.engine.compression.shared = shared_deflaters_.back().get();
    }
    listeners_.push_back(std::make_unique<listener>(listener{fd, std::move(h), std::move(settings)}));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = listener_tag | (listeners_.size() - 1);
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
}

adapter_options loop::adapter_opts(std::uint64_t id, std::size_t high_water) {
    adapter_options o;
    o.high_water = high_water;
    o.read_buffer = read_buffer_;
    o.id = id;
    o.on_change = [this, id] { mark_dirty(id); };
    return o;
}

void loop::run() {
    loop* const outer = current_loop;
    current_loop = this;
    now_ = monotonic_now();
    while (true) {
        if (stop_requested_.load() && !stopping_) begin_shutdown();
        flush_dirty();
        if (finished()) break;
        iterate(timeout_ms());
    }
    current_loop = outer;
}

int loop::timeout_ms() const {
    if (!dirty_.empty()) return 0;
    timestamp next = std::min(accept_paused_until_, timers_.empty() ? no_deadline : timers_.top().at);
    if (stopping_) next = std::min(next, shutdown_deadline_);
    if (next == no_deadline) return -1;
    const timestamp now = monotonic_now();
    if (next <= now) return 0;
    // Round up: waking a little early would only spin until the deadline.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - now).count();
    return static_cast<int>(std::min<std::int64_t>(ms, 3'600'000));
}

void loop::iterate(int timeout) {
    std::array<epoll_event, 256> events;
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
    now_ = monotonic_now();
    for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag == wake_tag) {
            std::uint64_t count;
            if (::read(wake_fd_, &count, sizeof count) < 0) {
                // EAGAIN: another wake-up already drained the counter.
            }
            run_posted();
        } else if (tag & listener_tag) {
            const std::size_t index = tag & ~listener_tag;
            if (index < listeners_.size()) on_listener(*listeners_[index]);
        } else {
            on_conn_event(tag, events[i].events);
        }
    }
    run_timers();
    if (now_ >= accept_paused_until_) {
        accept_paused_until_ = no_deadline;
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = listener_tag | i;
            epoll_ctl(ep_, EPOLL_CTL_MOD, listeners_[i]->fd, &ev);
        }
    }
}

void loop::run_posted() {
    std::vector<std::function<void()>> work;
    {
        std::lock_guard lock(post_mutex_);
        work.swap(posted_);
    }
    for (auto& fn : work) fn();
}

void loop::on_listener(listener& l) {
    while (true) {
        const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
                // accept4 reports EMFILE before looking at the queue, so only
                // the shedding accept tells whether anything was waiting.
                if (!shed_one(l.fd)) return;
                if (spare_fd_ >= 0) continue;  // keep shedding what is queued
            }
            // Out of descriptors with no spare, or out of memory: stop
            // accepting for a moment instead of spinning on a level-triggered
            // listener; existing connections are served meanwhile.
            pause_accepting();
            return;
        }
        set_nodelay(fd);
        const std::uint64_t id = next_id();
        auto c = std::make_unique<conn>();
        c->id = id;
        c->ws = std::make_unique<loop_adapter>(fd, l.settings.engine, l.h, now_,
                                               adapter_opts(id, l.settings.high_water));
        conns_.emplace(id, std::move(c));
        sync(id);
    }
}

bool loop::shed_one(int lfd) {
    // The spare-descriptor trick: free one fd, take the pending connection
    // off the queue with it, tell the client and close it, take the spare
    // back. The client gets an answer instead of a hanging connect.
    ::close(spare_fd_);
    spare_fd_ = -1;
    const int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        static constexpr std::string_view busy =
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            // Best effort: the close below is the answer then.
        }
        ::close(fd);
        ++shed_;
    }
    spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    return fd >= 0;
}

void loop::pause_accepting() {
    accept_paused_until_ = now_ + accept_pause;
    for (auto& l : listeners_) {
        epoll_event ev{};
        ev.events = 0;
        epoll_ctl(ep_, EPOLL_CTL_MOD, l->fd, &ev);
    }
}

void loop::on_conn_event(std::uint64_t id, std::uint32_t events) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) return;
    conn& c = *it->second;
    if (!c.ws) {
        if (c.fd < 0) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (events & EPOLLOUT) && !(events & (EPOLLERR | EPOLLHUP))) {
            connected(c);
        } else {
            c.last_errno = err != 0 ? err : ECONNREFUSED;
            ::close(c.fd);
            c.fd = -1;
            c.registered = false;
            ++c.next_addr;
            start_connect(c);
        }
        return sync(id);
    }
    loop_adapter& ws = *c.ws;
    if (events & EPOLLIN) ws.on_readable(now_);
    if ((events & EPOLLOUT) && !ws.done()) ws.on_writable(now_);
    if ((events & (EPOLLERR | EPOLLHUP)) && !ws.done()) ws.on_hangup(now_);
    sync(id);
}

bool loop::connect(std::string_view url, const connect_options& opts, handlers h, std::string& error) {
    const auto u = parse_ws_url(url, error);
    if (!u) return false;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int rc = getaddrinfo(u->host.c_str(), std::to_string(u->port).c_str(), &hints, &res);
    if (rc != 0) {
        error = "cannot resolve " + u->host + ": " + gai_strerror(rc);
        return false;
    }
    auto c = std::make_unique<conn>();
    c->id = next_id();
    for (const addrinfo* p = res; p; p = p->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, p->ai_addr, p->ai_addrlen);
        c->addrs.emplace_back(ss, p->ai_addrlen);
    }
    freeaddrinfo(res);
    c->url = std::string(url);
    c->cfg = opts.engine;
    c->cfg.role = role::client;
    if (!c->cfg.entropy) c->cfg.entropy = fill_random;
    c->cfg.client.host = u->host_header();
    c->cfg.client.target = u->target;
    c->cfg.client.subprotocols = opts.subprotocols;
    c->cfg.client.headers = opts.headers;
    c->cfg.client.origin = opts.origin;
    if (const misuse bad = connection(c->cfg).setup_error(); bad != misuse::none) {
        // Caught here rather than after a connect: a header name with a
        // space or a malformed subprotocol is the caller's mistake.
        error = "invalid request settings (" + std::string(to_string(bad)) + "): check headers and subprotocols";
        return false;
    }
    c->h = std::make_shared<const handlers>(std::move(h));
    c->high_water = opts.high_water;
    now_ = monotonic_now();
    c->scheduled = now_ + opts.connect_timeout;
    timers_.push({c->scheduled, c->id});
    const std::uint64_t id = c->id;
    conn& ref = *c;
    conns_.emplace(id, std::move(c));
    start_connect(ref);
    return true;
}

void loop::start_connect(conn& c) {
    for (; c.next_addr < c.addrs.size(); ++c.next_addr) {
        const auto& [addr, len] = c.addrs[c.next_addr];
        const int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            c.last_errno = errno;
            continue;
        }
        set_nodelay(fd);
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0 || errno == EINPROGRESS) {
            c.fd = fd;
            watch(c, EPOLLOUT);  // writable (or an error) once the connect completes
            return;
        }
        c.last_errno = errno;
        ::close(fd);
    }
    // Every address failed at once: report from the loop, never from inside
    // connect(), so handlers do not run before the caller expects them.
    mark_dirty(c.id);
}

void loop::connected(conn& c) {
    c.ws = std::make_unique<loop_adapter>(c.fd, std::move(c.cfg), std::move(c.h), now_,
                                          adapter_opts(c.id, c.high_water));
    c.fd = -1;
    c.addrs.clear();
    c.scheduled = no_deadline;  // the engine's handshake deadline takes over
}

void loop::connect_failed(conn& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.finished = true;
    auto state = std::make_shared<detail::handle_state>();
    state->id = c.id;
    const connection_handle handle(state);
    const std::string what = "cannot connect to " + c.url;
    error_info e;
    e.kind = error_kind::transport;
    e.sys_errno = c.last_errno;
    e.message = what;
    if (c.h->on_error) c.h->on_error(handle, e);
    if (c.h->on_disconnect) c.h->on_disconnect(handle);
}

void loop::watch(conn& c, std::uint32_t events) {
    const int fd = c.ws ? c.ws->fd() : c.fd;
    if (c.registered && events == c.watched) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    epoll_ctl(ep_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    c.registered = true;
    c.watched = events;
}

void loop::sync(std::uint64_t id) {
    const auto it = conns_.find(id);
    if (it == conns_.end()) return;
    conn& c = *it->second;
    if (c.finished || (c.ws && c.ws->done())) {
        // Closing the fd already removed it from the epoll set.
        conns_.erase(it);
        return;
    }
    if (!c.ws) return;  // connecting: EPOLLOUT and the connect deadline are set
    watch(c, (c.ws->wants_read() ? EPOLLIN : 0u) | (c.ws->wants_write() ? EPOLLOUT : 0u));
    const timestamp d = c.ws->next_deadline();
    if (d != c.scheduled) {
        c.scheduled = d;
        if (d != no_deadline) timers_.push({d, id});
    }
}

void loop::mark_dirty(std::uint64_t id) {
    const auto it = conns_.find(id);
    if (it == conns_.end() || it->second->dirty) return;
    it->second->dirty = true;
    dirty_.push_back(id);
}

void loop::flush_dirty() {
    // Output queued through handles outside a connection's own events (a
    // broadcast, a post()) is written here, once per loop iteration, so many
    // sends to one peer share a sendmsg. Flushing may queue more: index loop.
    for (std::size_t i = 0; i < dirty_.size(); ++i) {
        const std::uint64_t id = dirty_[i];
        const auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        conn& c = *it->second;
        c.dirty = false;
        if (c.ws) {
            c.ws->on_writable(monotonic_now());
        } else if (c.fd < 0 && !c.finished) {
            connect_failed(c);
        }
        sync(id);
    }
    dirty_.clear();
}

void loop::run_timers() {
    while (!timers_.empty() && timers_.top().at <= now_) {
        const timer_entry t = timers_.top();
        timers_.pop();
        const auto it = conns_.find(t.id);
        // Entries are never removed from the heap; stale ones are skipped.
        if (it == conns_.end() || it->second->scheduled != t.at) continue;
        conn& c = *it->second;
        c.scheduled = no_deadline;
        if (c.ws) {
            c.ws->on_timer(now_);
        } else {
            c.last_errno = ETIMEDOUT;
            connect_failed(c);
        }
        sync(t.id);
    }
    // Rebuild when stale entries outnumber live ones, to bound the heap.
    if (timers_.size() > 64 + 4 * conns_.size()) {
        decltype(timers_) fresh;
        for (const auto& [id, c] : conns_)
            if (c->scheduled != no_deadline) fresh.push({c->scheduled, id});
        timers_.swap(fresh);
    }
}

void loop::begin_shutdown() {
    stopping_ = true;
    shutdown_deadline_ = now_ + shutdown_timeout_;
    for (auto& l : listeners_) ::close(l->fd);
    listeners_.clear();
    std::vector<std::uint64_t> ids;
    for (const auto& [id, c] : conns_) ids.push_back(id);
    for (const std::uint64_t id : ids) {
        const auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        conn& c = *it->second;
        if (c.ws) {
            c.ws->shutdown(now_, static_cast<std::uint16_t>(close_code::going_away), "going away");
        } else {
            c.last_errno = ECANCELED;
            connect_failed(c);
        }
        sync(id);
    }
}

bool loop::finished() {
    if (stopping_) {
        if (!conns_.empty() && monotonic_now() >= shutdown_deadline_) {
            // Peers that did not finish the close handshake in time.
            std::vector<std::uint64_t> ids;
            for (const auto& [id, c] : conns_) ids.push_back(id);
            for (const std::uint64_t id : ids) {
                const auto it = conns_.find(id);
                if (it == conns_.end()) continue;
                if (it->second->ws) it->second->ws->abort();
                it->second->finished = true;
                sync(id);
            }
        }
        return conns_.empty();
    }
    if (!listeners_.empty() || !conns_.empty()) return false;
    std::lock_guard lock(post_mutex_);
    return posted_.empty();
}

}  // namespace sansws::epoll
