// The epoll event loop: readiness dispatch to loop_adapter connections,
// accepting, client connects, the deadline heap, post() and graceful stop.
//
// Connections are addressed by id everywhere (epoll data, deadline entries,
// the dirty list), never by pointer: an event for a connection closed earlier
// in the same batch simply finds nothing. Only sync() erases a connection,
// and only the loop's own code (never a handler) calls it.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <queue>
#include <system_error>
#include <unordered_map>

#include "listen.hpp"
#include "loop_core.hpp"
#include "sansws/epoll.hpp"
#include "sansws/loop_adapter.hpp"

namespace sansws::epoll {
namespace {

constexpr std::uint64_t wake_tag = 0;
constexpr std::uint64_t listener_tag = std::uint64_t{1} << 63;
constexpr std::size_t read_buffer_size = 64 * 1024;
constexpr auto accept_pause = std::chrono::milliseconds(100);

thread_local loop* current_loop = nullptr;

struct listener {
    int fd;
    std::shared_ptr<const handlers> h;
    accept_settings settings;
};

struct conn {
    std::uint64_t id = 0;
    std::unique_ptr<loop_adapter> ws;                   // null while a client connects
    std::unique_ptr<detail::pending_connect> pending;  // a client until TCP is up
    int fd = -1;                        // the connecting socket
    std::uint32_t watched = 0;          // events registered with epoll
    bool registered = false;
    bool dirty = false;
    bool finished = false;              // a client connect that failed: erase
    timestamp scheduled = no_deadline;  // the deadline in the heap for this id

    ~conn() {
        if (fd >= 0) ::close(fd);
    }
};

class epoll_core final : public detail::loop_core {
public:
    epoll_core(loop& self, unsigned index);
    ~epoll_core() override;

    void run() override;
    bool ready(std::string&) override { return true; }
    void start(std::unique_ptr<detail::pending_connect> p) override;
    void listen_on(int fd, std::shared_ptr<const handlers> h, const accept_settings& settings) override;
    void collect(std::vector<connection_handle>& open) const override;
    std::size_t connection_count() const noexcept override { return conns_.size(); }

private:
    struct timer_entry {
        timestamp at;
        std::uint64_t id;
        bool operator>(const timer_entry& o) const noexcept { return at > o.at; }
    };

    void iterate(int timeout_ms);
    int timeout_ms() const;
    void on_listener(listener& l);
    void pause_accepting();
    void on_conn_event(std::uint64_t id, std::uint32_t events);
    void resolved(std::uint64_t id, resolved_addresses r);
    void start_connect(conn& c);
    void connected(conn& c);
    void connect_failed(conn& c);
    void sync(std::uint64_t id);
    void watch(conn& c, std::uint32_t events);
    void mark_dirty(std::uint64_t id);
    void flush_dirty();
    void run_deadlines();
    void begin_shutdown();
    bool finished();
    adapter_options adapter_opts(std::uint64_t id, const connection_options& o);

    loop& self_;
    int ep_ = -1;
    int spare_fd_ = -1;  // released on EMFILE/ENFILE to accept-and-close
    std::vector<std::byte> read_buffer_;
    std::vector<std::unique_ptr<listener>> listeners_;
    timestamp accept_paused_until_ = no_deadline;
    std::unordered_map<std::uint64_t, std::unique_ptr<conn>> conns_;
    std::priority_queue<timer_entry, std::vector<timer_entry>, std::greater<>> deadlines_;
    std::vector<std::uint64_t> dirty_;
    bool stopping_ = false;
    timestamp shutdown_deadline_ = no_deadline;
};

epoll_core::epoll_core(loop& self, unsigned index)
    : loop_core(index, EFD_NONBLOCK), self_(self), read_buffer_(read_buffer_size) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) throw std::system_error(errno, std::generic_category(), "sansws epoll loop");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = wake_tag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, mail->fd(), &ev);
    spare_fd_ = detail::open_spare();
    now = monotonic_now();
}

epoll_core::~epoll_core() {
    conns_.clear();  // adapters close their sockets without callbacks
    for (auto& l : listeners_) ::close(l->fd);
    if (spare_fd_ >= 0) ::close(spare_fd_);
    ::close(ep_);
}

void epoll_core::listen_on(int fd, std::shared_ptr<const handlers> h, const accept_settings& settings) {
    listeners_.push_back(std::make_unique<listener>(listener{fd, std::move(h), settings}));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = listener_tag | (listeners_.size() - 1);
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
}

void epoll_core::collect(std::vector<connection_handle>& open) const {
    for (const auto& [id, c] : conns_)
        if (c->ws && !c->ws->done()) open.push_back(c->ws->handle());
}

adapter_options epoll_core::adapter_opts(std::uint64_t id, const connection_options& o) {
    adapter_options a;
    static_cast<connection_options&>(a) = o;
    a.read_buffer = read_buffer_;
    a.id = id;
    a.on_change = [this, id] { mark_dirty(id); };
    return a;
}

void epoll_core::run() {
    loop* const outer = current_loop;
    current_loop = &self_;
    now = monotonic_now();
    while (true) {
        if (mail->stop_requested() && !stopping_) begin_shutdown();
        flush_dirty();
        if (finished()) break;
        iterate(timeout_ms());
    }
    current_loop = outer;
}

int epoll_core::timeout_ms() const {
    if (!dirty_.empty()) return 0;
    timestamp next = std::min({accept_paused_until_, deadlines_.empty() ? no_deadline : deadlines_.top().at,
                               timers.next()});
    if (stopping_) next = std::min(next, shutdown_deadline_);
    if (next == no_deadline) return -1;
    const timestamp t = monotonic_now();
    if (next <= t) return 0;
    // Round up: waking a little early would only spin until the deadline.
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - t).count();
    return static_cast<int>(std::min<std::int64_t>(ms, 3'600'000));
}

void epoll_core::iterate(int timeout) {
    std::array<epoll_event, 256> events;
    const int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), timeout);
    now = monotonic_now();
    for (int i = 0; i < n; ++i) {
        const std::uint64_t tag = events[i].data.u64;
        if (tag == wake_tag) {
            std::uint64_t count;
            if (::read(mail->fd(), &count, sizeof count) < 0) {
                // EAGAIN: another wake-up already drained the counter.
            }
            mail->run();
        } else if (tag & listener_tag) {
            const std::size_t index = tag & ~listener_tag;
            if (index < listeners_.size()) on_listener(*listeners_[index]);
        } else {
            on_conn_event(tag, events[i].events);
        }
    }
    run_deadlines();
    timers.run(now);
    if (now >= accept_paused_until_) {
        accept_paused_until_ = no_deadline;
        for (std::size_t i = 0; i < listeners_.size(); ++i) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u64 = listener_tag | i;
            epoll_ctl(ep_, EPOLL_CTL_MOD, listeners_[i]->fd, &ev);
        }
    }
}

void epoll_core::on_listener(listener& l) {
    while (true) {
        const int fd = accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if ((errno == EMFILE || errno == ENFILE) && spare_fd_ >= 0) {
                // accept4 reports EMFILE before looking at the queue, so only
                // the shedding accept tells whether anything was waiting.
                if (!detail::shed_one(l.fd, spare_fd_)) return;
                ++shed;
                if (spare_fd_ >= 0) continue;  // keep shedding what is queued
            }
            // Out of descriptors with no spare, or out of memory: stop
            // accepting for a moment instead of spinning on a level-triggered
            // listener; existing connections are served meanwhile.
            pause_accepting();
            return;
        }
        detail::set_nodelay(fd);
        const std::uint64_t id = next_id();
        auto c = std::make_unique<conn>();
        c->id = id;
        c->ws = std::make_unique<loop_adapter>(fd, l.settings.engine, l.h, now, adapter_opts(id, l.settings));
        conns_.emplace(id, std::move(c));
        sync(id);
    }
}

void epoll_core::pause_accepting() {
    accept_paused_until_ = now + accept_pause;
    for (auto& l : listeners_) {
        epoll_event ev{};
        ev.events = 0;
        epoll_ctl(ep_, EPOLL_CTL_MOD, l->fd, &ev);
    }
}

void epoll_core::on_conn_event(std::uint64_t id, std::uint32_t events) {
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
            c.pending->last_errno = err != 0 ? err : ECONNREFUSED;
            ::close(c.fd);
            c.fd = -1;
            c.registered = false;
            ++c.pending->next_addr;
            start_connect(c);
        }
        return sync(id);
    }
    loop_adapter& ws = *c.ws;
    if (events & EPOLLIN) ws.on_readable(now);
    if ((events & EPOLLOUT) && !ws.done()) ws.on_writable(now);
    if ((events & (EPOLLERR | EPOLLHUP)) && !ws.done()) ws.on_hangup(now);
    sync(id);
}

void epoll_core::start(std::unique_ptr<detail::pending_connect> p) {
    auto c = std::make_unique<conn>();
    const std::uint64_t id = c->id = p->id;
    c->scheduled = now + p->connect_timeout;
    deadlines_.push({c->scheduled, id});
    c->pending = std::move(p);
    conn& ref = *c;
    conns_.emplace(id, std::move(c));
    if (!ref.pending->addrs.empty()) return start_connect(ref);
    ref.pending->resolve(mail, [this, id](resolved_addresses r) { resolved(id, std::move(r)); });
}

void epoll_core::resolved(std::uint64_t id, resolved_addresses r) {
    const auto it = conns_.find(id);
    if (it == conns_.end() || !it->second->pending) return;  // timed out or stopped meanwhile
    conn& c = *it->second;
    c.pending->resolving = false;
    c.pending->failure = std::move(r.error);
    c.pending->addrs = std::move(r.addresses);
    start_connect(c);
}

void epoll_core::start_connect(conn& c) {
    detail::pending_connect& p = *c.pending;
    for (int fd; (fd = p.open_next(true)) >= 0; ++p.next_addr) {
        const auto& [addr, len] = p.addrs[p.next_addr];
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0 || errno == EINPROGRESS) {
            c.fd = fd;
            watch(c, EPOLLOUT);  // writable (or an error) once the connect completes
            return;
        }
        p.last_errno = errno;
        ::close(fd);
    }
    // Every address failed at once: report from the loop, never from inside
    // connect(), so handlers do not run before the caller expects them.
    mark_dirty(c.id);
}

void epoll_core::connected(conn& c) {
    detail::pending_connect& p = *c.pending;
    c.ws = std::make_unique<loop_adapter>(c.fd, std::move(p.cfg), std::move(p.h), now, adapter_opts(c.id, p.opts));
    c.fd = -1;
    c.pending.reset();
    c.scheduled = no_deadline;  // the engine's handshake deadline takes over
}

void epoll_core::connect_failed(conn& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.finished = true;
    c.pending->report_failure();
}

void epoll_core::watch(conn& c, std::uint32_t events) {
    const int fd = c.ws ? c.ws->fd() : c.fd;
    if (c.registered && events == c.watched) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = c.id;
    epoll_ctl(ep_, c.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev);
    c.registered = true;
    c.watched = events;
}

void epoll_core::sync(std::uint64_t id) {
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
        if (d != no_deadline) deadlines_.push({d, id});
    }
}

void epoll_core::mark_dirty(std::uint64_t id) {
    const auto it = conns_.find(id);
    if (it == conns_.end() || it->second->dirty) return;
    it->second->dirty = true;
    dirty_.push_back(id);
}

void epoll_core::flush_dirty() {
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
        } else if (c.fd < 0 && !c.finished && !c.pending->resolving) {
            connect_failed(c);
        }
        sync(id);
    }
    dirty_.clear();
}

void epoll_core::run_deadlines() {
    while (!deadlines_.empty() && deadlines_.top().at <= now) {
        const timer_entry t = deadlines_.top();
        deadlines_.pop();
        const auto it = conns_.find(t.id);
        // Entries are never removed from the heap; stale ones are skipped.
        if (it == conns_.end() || it->second->scheduled != t.at) continue;
        conn& c = *it->second;
        c.scheduled = no_deadline;
        if (c.ws) {
            c.ws->on_timer(now);
        } else {
            c.pending->last_errno = ETIMEDOUT;
            c.pending->failure.clear();
            connect_failed(c);
        }
        sync(t.id);
    }
    // Rebuild when stale entries outnumber live ones, to bound the heap.
    if (deadlines_.size() > 64 + 4 * conns_.size()) {
        decltype(deadlines_) fresh;
        for (const auto& [id, c] : conns_)
            if (c->scheduled != no_deadline) fresh.push({c->scheduled, id});
        deadlines_.swap(fresh);
    }
}

void epoll_core::begin_shutdown() {
    stopping_ = true;
    shutdown_deadline_ = now + shutdown_timeout;
    for (auto& l : listeners_) ::close(l->fd);
    listeners_.clear();
    std::vector<std::uint64_t> ids;
    for (const auto& [id, c] : conns_) ids.push_back(id);
    for (const std::uint64_t id : ids) {
        const auto it = conns_.find(id);
        if (it == conns_.end()) continue;
        conn& c = *it->second;
        if (c.ws) {
            c.ws->shutdown(now, static_cast<std::uint16_t>(close_code::going_away), "going away");
        } else {
            c.pending->last_errno = ECANCELED;
            c.pending->failure.clear();
            connect_failed(c);
        }
        sync(id);
    }
}

bool epoll_core::finished() {
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
    return listeners_.empty() && conns_.empty() && timers.empty() && mail->empty();
}

}  // namespace

loop::loop(unsigned index) : event_loop(std::make_unique<epoll_core>(*this, index)) {}

loop* loop::current() noexcept { return current_loop; }

}  // namespace sansws::epoll
