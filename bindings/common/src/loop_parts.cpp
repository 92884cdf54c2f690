// post()/stop() mailbox, timers and client connects for the event loops.
#include "loop_parts.hpp"

#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

#include "listen.hpp"
#include "sansws/posix.hpp"

namespace sansws {
namespace detail {

// ---- mailbox --------------------------------------------------------------

mailbox::mailbox(int eventfd_flags) : fd_(eventfd(0, EFD_CLOEXEC | eventfd_flags)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "sansws loop eventfd");
}

mailbox::~mailbox() { ::close(fd_); }

void mailbox::wake() noexcept {
    const std::uint64_t one = 1;
    const int saved = errno;  // stop() may run in a signal handler
    if (::write(fd_, &one, sizeof one) < 0) {
        // The counter is saturated only if the loop never reads it; the
        // queued work runs whenever it next wakes.
    }
    errno = saved;
}

void mailbox::post(std::function<void()> fn) {
    bool first;
    {
        std::lock_guard lock(mutex_);
        if (closed_) return;
        first = posted_.empty();
        posted_.push_back(std::move(fn));
    }
    if (first) wake();
}

void mailbox::stop() noexcept {
    stop_.store(true);
    wake();
}

void mailbox::run() {
    std::vector<std::function<void()>> work;
    {
        std::lock_guard lock(mutex_);
        work.swap(posted_);
    }
    for (auto& fn : work) fn();
}

bool mailbox::empty() {
    std::lock_guard lock(mutex_);
    return posted_.empty();
}

void mailbox::rewake() {
    if (!empty()) wake();
}

void mailbox::close() {
    std::vector<std::function<void()>> dropped;
    std::lock_guard lock(mutex_);
    closed_ = true;
    dropped.swap(posted_);
}

// ---- timers ---------------------------------------------------------------

std::uint64_t timer_queue::add(timestamp at, duration repeat, std::function<void()> fn) {
    const std::uint64_t id = ++last_id_;
    entries_.emplace(id, entry{at, repeat, std::move(fn)});
    heap_.push({at, id});
    return id;
}

bool timer_queue::cancel(std::uint64_t id) { return entries_.erase(id) > 0; }

void timer_queue::run(timestamp now) {
    std::vector<std::uint64_t> due;
    while (!heap_.empty() && heap_.top().at <= now) {
        const slot s = heap_.top();
        heap_.pop();
        const auto it = entries_.find(s.id);
        if (it != entries_.end() && it->second.at == s.at) due.push_back(s.id);  // else stale
    }
    for (const std::uint64_t id : due) {
        // Looked up again: an earlier timer's function may have cancelled it.
        const auto it = entries_.find(id);
        if (it == entries_.end()) continue;
        std::function<void()> fn;
        if (it->second.repeat > duration::zero()) {
            // The next run counts from this one's due time, or from now
            // when the loop was held up past it (no burst of catch-up runs).
            entry& e = it->second;
            e.at = std::max(e.at + e.repeat, now);
            heap_.push({e.at, id});
            fn = e.fn;  // a copy: the function may cancel its own timer
        } else {
            fn = std::move(it->second.fn);
            entries_.erase(it);
        }
        fn();
    }
}

// ---- client connects -------------------------------------------------------

namespace {

void add_addresses(const addrinfo* res, std::vector<std::pair<sockaddr_storage, socklen_t>>& out) {
    for (const addrinfo* p = res; p; p = p->ai_next) {
        sockaddr_storage ss{};
        std::memcpy(&ss, p->ai_addr, p->ai_addrlen);
        out.emplace_back(ss, p->ai_addrlen);
    }
}

/// getaddrinfo with `flags`; empty error on success.
resolved_addresses lookup(const std::string& host, const std::string& port, int flags) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | flags;
    addrinfo* res = nullptr;
    resolved_addresses r;
    const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) {
        r.error = "cannot resolve " + host + ": " + gai_strerror(rc);
        return r;
    }
    add_addresses(res, r.addresses);
    freeaddrinfo(res);
    if (r.addresses.empty()) r.error = "cannot resolve " + host + ": no address";
    return r;
}

}  // namespace


std::unique_ptr<pending_connect> prepare_connect(std::string_view url, const connect_options& opts, handlers h,
                                                 std::uint64_t id, std::string& error) {
    const auto u = parse_ws_url(url, error);
    if (!u) return nullptr;
    auto p = std::make_unique<pending_connect>();
    p->id = id;
    p->url = std::string(url);
    p->host = u->host;
    p->port = std::to_string(u->port);
    p->cfg = opts.engine;
    p->cfg.role = role::client;
    if (!p->cfg.entropy) p->cfg.entropy = fill_random;
    p->cfg.client.host = u->host_header();
    p->cfg.client.target = u->target;
    p->cfg.client.subprotocols = opts.subprotocols;
    p->cfg.client.headers = opts.headers;
    p->cfg.client.origin = opts.origin;
    if (const misuse bad = connection(p->cfg).setup_error(); bad != misuse::none) {
        // Caught here rather than after a connect: a header name with a
        // space or a malformed subprotocol is the caller's mistake.
        error = "invalid request settings (" + std::string(to_string(bad)) + "): check headers and subprotocols";
        return nullptr;
    }
    p->h = std::make_shared<const handlers>(std::move(h));
    p->opts = opts;
    p->connect_timeout = opts.connect_timeout;
    p->resolver = opts.resolver;
    // A literal address needs no resolver (and no thread).
    if (!p->resolver) p->addrs = lookup(p->host, p->port, AI_NUMERICHOST).addresses;
    return p;
}

void pending_connect::resolve(const std::shared_ptr<mailbox>& mail, std::function<void(resolved_addresses)> done) {
    resolving = true;
    // One thread per name: a slow one holds up no other connect. It owns
    // copies of all it uses; the loop may be gone when it finishes (the
    // mailbox then drops the result).
    std::thread([resolver = resolver, host = host, port = port, mail, done = std::move(done)]() mutable {
        resolved_addresses r = resolver ? resolver(host, port) : resolve_host(host, port);
        if (r.error.empty() && r.addresses.empty()) r.error = "cannot resolve " + host + ": no address";
        mail->post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    }).detach();
}

int pending_connect::open_next(bool nonblocking) {
    for (; next_addr < addrs.size(); ++next_addr) {
        const int fd = socket(addrs[next_addr].first.ss_family,
                              SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
        if (fd >= 0) {
            set_nodelay(fd);
            return fd;
        }
        last_errno = errno;
    }
    return -1;
}

void pending_connect::report_failure() const {
    auto state = std::make_shared<handle_state>();
    state->id = id;
    const connection_handle handle(state);
    const std::string what = failure.empty() ? "cannot connect to " + url : failure;
    error_info e;
    e.kind = error_kind::transport;
    e.sys_errno = failure.empty() ? last_errno : 0;
    e.message = what;
    if (h->on_error) h->on_error(handle, e);
    if (h->on_disconnect) h->on_disconnect(handle);
}

}  // namespace detail

resolved_addresses resolve_host(const std::string& host, const std::string& port) {
    return detail::lookup(host, port, 0);
}

}  // namespace sansws
