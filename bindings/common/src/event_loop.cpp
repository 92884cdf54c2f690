// event_loop's calls, the same for every binding, over its loop_core.
#include "sansws/event_loop.hpp"

#include "loop_core.hpp"
#include "sansws/posix.hpp"

namespace sansws {

event_loop::event_loop(std::unique_ptr<detail::loop_core> core) noexcept : core_(std::move(core)) {}
event_loop::~event_loop() = default;

void event_loop::run() { core_->run(); }
void event_loop::stop() noexcept { core_->mail->stop(); }
void event_loop::post(std::function<void()> fn) { core_->mail->post(std::move(fn)); }

bool event_loop::connect(std::string_view url, const connect_options& opts, handlers h, std::string& error) {
    if (!core_->ready(error)) return false;
    auto p = detail::prepare_connect(url, opts, std::move(h), core_->next_id(), error);
    if (!p) return false;
    core_->now = monotonic_now();
    core_->start(std::move(p));
    return true;
}

void event_loop::add_listener(int fd, std::shared_ptr<const handlers> h, accept_settings settings) {
    settings.engine.role = role::server;
    if (settings.share_compressor) core_->share_compressor(settings);
    core_->listen_on(fd, std::move(h), settings);
}

event_loop::timer_id event_loop::add_timer(duration delay, std::function<void()> fn, duration repeat) {
    return core_->timers.add(monotonic_now() + delay, repeat, std::move(fn));
}

bool event_loop::cancel_timer(timer_id id) { return core_->timers.cancel(id); }

void event_loop::for_each_connection(const std::function<void(const connection_handle&)>& fn) {
    // Collected first: fn may close connections, and handlers it triggers
    // may open others.
    std::vector<connection_handle> open;
    core_->collect(open);
    for (const auto& c : open)
        if (c.alive()) fn(c);
}

void event_loop::set_shutdown_timeout(duration d) noexcept { core_->shutdown_timeout = d; }
timestamp event_loop::now() const noexcept { return core_->now; }
std::size_t event_loop::connection_count() const noexcept { return core_->connection_count(); }
std::uint64_t event_loop::shed_count() const noexcept { return core_->shed; }

namespace detail {

void loop_core::share_compressor(accept_settings& s) {
    const compression_config& z = s.engine.compression;
    shared_deflaters.push_back(
        std::make_unique<deflater>(deflate_settings{z.negotiate.server_max_window_bits, z.mem_level, z.level}));
    s.engine.compression.shared = shared_deflaters.back().get();
}

}  // namespace detail
}  // namespace sansws
