// The io_uring event loop: waiting for completions, dispatching them,
// accepting, the deadline heap, post() and graceful stop.
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <system_error>

#include "listen.hpp"
#include "loop_impl.hpp"

namespace sansws::io_uring {
namespace {

constexpr auto accept_pause = std::chrono::milliseconds(100);
// After run(): how long to wait for cancelled requests to report back.
constexpr auto quiesce_limit = std::chrono::seconds(2);

thread_local loop* current_loop = nullptr;

}  // namespace

// ---- the public face ------------------------------------------------------

namespace {
uring_core& core_of(const std::unique_ptr<sansws::detail::loop_core>& c) { return static_cast<uring_core&>(*c); }
}  // namespace

loop::loop(unsigned index, const ring_options& ring)
    : event_loop(std::make_unique<uring_core>(*this, index, ring)) {}
loop* loop::current() noexcept { return current_loop; }
bool loop::ok() const noexcept { return core_of(core_).error.empty(); }
const std::string& loop::error() const noexcept { return core_of(core_).error; }
std::string loop::setup_flags() const { return ok() ? core_of(core_).ring.flags_text() : std::string("none"); }
loop_stats loop::stats() const noexcept {
    loop_stats s = core_of(core_).stats;
    s.shed = core_->shed;
    return s;
}

bool uring_core::ready(std::string& err) {
    if (!error.empty()) {
        err = error;
        return false;
    }
    return ring.start(err);
}

void uring_core::listen_on(int fd, std::shared_ptr<const handlers> h, const accept_settings& settings) {
    // Armed by the loop itself: the ring takes submissions from its own
    // thread only, and this may run on the thread building the server.
    listeners.push_back(std::make_unique<listener>(listener{fd, std::move(h), settings}));
}

void uring_core::collect(std::vector<connection_handle>& all) const {
    for (const auto& c : conns)
        if (!c->closed && c->s) all.push_back(c->s->handle());
}

// ---- setup ----------------------------------------------------------------

uring_core::uring_core(loop& s, unsigned i, const ring_options& o) : loop_core(i, 0), self(s), options(o) {
    // The mailbox's eventfd is blocking: the ring waits for it to become
    // readable (on kernels that would answer a non-blocking one with
    // EAGAIN, too).
    if (!ring.open(o, error)) return;
    spare_fd = sansws::detail::open_spare();
    now = monotonic_now();
}

uring_core::~uring_core() {
    // Sockets close without callbacks. Requests are in flight here only if
    // run() gave up waiting for them (quiesce); the ring then cancels them
    // as it goes, and the buffers they might still fill stay mapped.
    if (in_flight > 0) ring.keep_buffers();
    conns.clear();
    for (auto& l : listeners)
        if (l->fd >= 0) ::close(l->fd);
    if (spare_fd >= 0) ::close(spare_fd);
}

// ---- the loop -------------------------------------------------------------

void uring_core::run() {
    if (!error.empty()) return;
    std::string why;
    if (!ring.start(why)) {
        error = why;
        return;
    }
    loop* const outer = current_loop;
    current_loop = &self;
    now = monotonic_now();
    quiescing = false;
    mail->rewake();  // work posted after the last run() had read the eventfd
    while (true) {
        if (mail->stop_requested() && !stopping) begin_shutdown();
        if (!wake_armed) arm_wake();
        flush_dirty();
        rearm_starved();
        arm_listeners();
        reap();
        if (finished()) break;
        iterate();
    }
    quiesce();
    current_loop = outer;
}

void uring_core::iterate() {
    ring.submit_and_wait(timeout_ns());
    now = monotonic_now();
    process_completions();
    run_timers();
    timers.run(now);
    if (now >= accept_paused_until) accept_paused_until = no_deadline;
}

std::int64_t uring_core::timeout_ns() const {
    if (!dirty.empty() || !later.empty() || !starved.empty()) return 0;
    timestamp next = heap.empty() ? no_deadline : heap.front()->deadline;
    next = std::min({next, accept_paused_until, timers.next()});
    if (stopping) next = std::min(next, shutdown_deadline);
    if (next == no_deadline) return -1;
    const timestamp t = monotonic_now();
    if (next <= t) return 0;
    return std::min<std::int64_t>((next - t).count(), std::int64_t{3600} * 1'000'000'000);
}

void uring_core::process_completions() {
    std::array<io_uring_cqe*, 128> batch;
    while (true) {
        const unsigned n = io_uring_peek_batch_cqe(ring.get(), batch.data(), batch.size());
        for (unsigned i = 0; i < n; ++i) complete(batch[i]->user_data, batch[i]->res, batch[i]->flags);
        io_uring_cq_advance(ring.get(), n);
        if (n < batch.size()) return;
    }
}

void uring_core::complete(std::uint64_t user_data, int res, unsigned flags) {
    // 0: a cancel request's own answer; LIBURING_UDATA_TIMEOUT: liburing's
    // wait timeout on kernels without IORING_FEAT_EXT_ARG.
    if (user_data == 0 || user_data == LIBURING_UDATA_TIMEOUT) return;
    void* owner = reinterpret_cast<void*>(user_data & ~op_bits);
    switch (static_cast<op>(user_data & op_bits)) {
    case op::recv:
        return on_recv(*static_cast<conn*>(owner), res, flags);
    case op::send:
        return on_send(*static_cast<conn*>(owner), res, flags);
    case op::connect:
        return on_connect(*static_cast<conn*>(owner), res);
    case op::accept:
        return on_accept(*static_cast<listener*>(owner), res, flags);
    case op::wake:
        wake_armed = false;
        --in_flight;
        if (!quiescing) mail->run();
        return;
    }
}

bool uring_core::cancel(std::uint64_t user_data) {
    io_uring_sqe* sqe = ring.sqe();
    if (!sqe) return false;
    io_uring_prep_cancel64(sqe, user_data, 0);
    io_uring_sqe_set_data64(sqe, 0);
    return true;
}

// ---- post() ---------------------------------------------------------------

void uring_core::arm_wake() {
    io_uring_sqe* sqe = ring.sqe();
    if (!sqe) return;  // tried again next iteration
    io_uring_prep_read(sqe, mail->fd(), &wake_value, sizeof wake_value, 0);
    io_uring_sqe_set_data64(sqe, tag(this, op::wake));
    wake_armed = true;
    ++in_flight;
}

// ---- accepting ------------------------------------------------------------

void uring_core::arm_listeners() {
    if (accept_paused_until != no_deadline) return;
    for (auto& l : listeners) {
        if (l->fd < 0 || l->armed) continue;
        io_uring_sqe* sqe = ring.sqe();
        if (!sqe) return;
        // Accepted sockets stay blocking: io_uring polls for them itself.
        io_uring_prep_multishot_accept(sqe, l->fd, nullptr, nullptr, SOCK_CLOEXEC);
        io_uring_sqe_set_data64(sqe, tag(l.get(), op::accept));
        l->armed = true;
        ++in_flight;
    }
}

void uring_core::on_accept(listener& l, int res, unsigned flags) {
    if (!(flags & IORING_CQE_F_MORE)) {
        l.armed = false;  // arm_listeners() starts it again
        --in_flight;
    }
    if (res >= 0) {
        if (l.fd < 0) ::close(res);  // raced with shutdown
        else accepted(l, res);
        return;
    }
    if (l.fd < 0) return;
    switch (-res) {
    case EMFILE:
    case ENFILE:
        // The connection stays queued: answer it with 503 through the spare
        // descriptor. The multishot accept ended; armed again, it reports
        // the next one the same way while descriptors are short.
        if (spare_fd >= 0 && sansws::detail::shed_one(l.fd, spare_fd)) {
            ++shed;
            if (spare_fd >= 0) return;
        }
        [[fallthrough]];
    case ENOMEM:
    case ENOBUFS:
        // Out of descriptors with no spare, or out of memory: stop accepting
        // for a moment instead of spinning; connections are served meanwhile.
        accept_paused_until = now + accept_pause;
        return;
    default:
        return;  // ECONNABORTED and the like: armed again
    }
}

void uring_core::accepted(listener& l, int fd) {
    sansws::detail::set_nodelay(fd);
    conn& c = add_conn(next_id());
    c.fd = fd;
    c.s.emplace(l.settings.engine, l.h, l.settings, c.id, now, c);
    sync(c);  // arms the receive and the handshake deadline
}

// ---- deadlines ------------------------------------------------------------

void uring_core::heap_set(conn& c, timestamp at) {
    if (at == c.deadline) return;
    c.deadline = at;
    if (c.heap_index == conn::none) {
        if (at == no_deadline) return;
        c.heap_index = static_cast<std::uint32_t>(heap.size());
        heap.push_back(&c);
        return heap_fix(c.heap_index);
    }
    const std::size_t i = c.heap_index;
    if (at == no_deadline) {
        heap_swap(i, heap.size() - 1);
        heap.pop_back();
        c.heap_index = conn::none;
        if (i < heap.size()) heap_fix(i);
        return;
    }
    heap_fix(i);
}

void uring_core::heap_swap(std::size_t a, std::size_t b) {
    std::swap(heap[a], heap[b]);
    heap[a]->heap_index = static_cast<std::uint32_t>(a);
    heap[b]->heap_index = static_cast<std::uint32_t>(b);
}

void uring_core::heap_fix(std::size_t i) {
    while (i > 0 && heap[i]->deadline < heap[(i - 1) / 2]->deadline) {
        heap_swap(i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    while (true) {
        const std::size_t l = 2 * i + 1, r = l + 1;
        std::size_t m = i;
        if (l < heap.size() && heap[l]->deadline < heap[m]->deadline) m = l;
        if (r < heap.size() && heap[r]->deadline < heap[m]->deadline) m = r;
        if (m == i) return;
        heap_swap(i, m);
        i = m;
    }
}

void uring_core::run_timers() {
    while (!heap.empty() && heap.front()->deadline <= now) {
        conn& c = *heap.front();
        heap_set(c, no_deadline);
        on_timer(c);
    }
}

// ---- housekeeping ---------------------------------------------------------

void uring_core::mark_dirty(conn& c) {
    if (c.dirty) return;
    c.dirty = true;
    dirty.push_back(&c);
}

void uring_core::defer(conn& c) {
    // No submission entry was free: try again next iteration (the wait
    // does not block then), not in a loop within this one.
    if (c.deferred) return;
    c.deferred = true;
    later.push_back(&c);
}

void uring_core::flush_dirty() {
    std::vector<conn*> retry;
    retry.swap(later);
    for (conn* c : retry) {
        c->deferred = false;
        mark_dirty(*c);
    }
    // Output queued through handles outside a connection's own completions
    // (a broadcast, a post()) is written here, once per iteration, so many
    // sends to one peer share a sendmsg. Flushing may queue more: index loop.
    for (std::size_t i = 0; i < dirty.size(); ++i) {
        conn& c = *dirty[i];
        c.dirty = false;
        if (c.closed) {
            cancel_requests(c);  // those that found no submission entry when it closed
            settle(c);
        } else if (!c.s) {
            if (!c.connect_busy && !c.connecting->resolving) connect_failed(c);  // every address failed at once
        } else {
            sync(c);
        }
    }
    dirty.clear();
}

void uring_core::rearm_starved() {
    // Arming every starved receive at once would mostly buy more ENOBUFS
    // when many peers are sending: as many per iteration as there are
    // buffers, oldest first; the rest wait their turn (the next wait does
    // not block while any do).
    for (std::uint32_t budget = ring.buffer_count(); budget > 0 && !starved.empty();) {
        conn& c = *starved.front();
        starved.pop_front();
        c.starved = false;
        if (c.closed || c.recv_armed || c.fd < 0 || !c.s || !c.s->wants_read()) continue;
        arm_recv(c);
        --budget;
    }
}

void uring_core::reap() {
    std::vector<conn*> keep;
    for (conn* c : dead) {
        if (c->dirty || c->deferred || c->starved) {
            keep.push_back(c);  // still listed
            continue;
        }
        const std::uint32_t i = c->index;
        std::swap(conns[i], conns.back());
        conns[i]->index = i;
        conns.pop_back();
    }
    dead.swap(keep);
}

// ---- stopping -------------------------------------------------------------

void uring_core::begin_shutdown() {
    stopping = true;
    shutdown_deadline = now + shutdown_timeout;
    for (auto& l : listeners) {
        if (l->fd < 0) continue;
        if (l->armed) cancel(tag(l.get(), op::accept));
        ::close(l->fd);
        l->fd = -1;
    }
    std::vector<conn*> all;
    for (auto& c : conns) all.push_back(c.get());
    // Handlers run meanwhile (on_disconnect); conns are only freed by reap().
    for (conn* c : all) shutdown_conn(*c);
}

bool uring_core::finished() {
    if (stopping) {
        if (open > 0 && monotonic_now() >= shutdown_deadline) {
            // Peers that did not finish the close handshake in time.
            std::vector<conn*> all;
            for (auto& c : conns) all.push_back(c.get());
            for (conn* c : all) {
                if (c->closed) continue;
                if (c->s) drop(*c);
                else connect_failed(*c);
            }
        }
        return open == 0;
    }
    if (open > 0 || !timers.empty()) return false;
    for (auto& l : listeners)
        if (l->fd >= 0) return false;
    return mail->empty();
}

void uring_core::quiesce() {
    // Nothing may be left in flight when run() returns: the loop may be
    // destroyed on another thread, which could not submit or wait. Closed
    // connections' requests were cancelled already; the eventfd read goes
    // now (armed again by the next run()).
    quiescing = true;
    if (wake_armed) cancel(tag(this, op::wake));
    const timestamp limit = monotonic_now() + quiesce_limit;
    while (in_flight > 0 && monotonic_now() < limit) {
        ring.submit_and_wait(std::chrono::nanoseconds(std::chrono::milliseconds(10)).count());
        now = monotonic_now();
        process_completions();
    }
    reap();
}

}  // namespace sansws::io_uring
