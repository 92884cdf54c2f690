// Ring setup with fallbacks for older kernels, the provided-buffer ring, and
// a clear explanation when io_uring cannot be used at all.
#include "ring.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace sansws::io_uring::detail {
namespace {

constexpr std::string_view alternative = "; use the epoll binding instead (--io epoll)";

/// Kernel versions refuse setup flags they do not know with EINVAL, so the
/// newest combination is tried first. SINGLE_ISSUER (6.0) lets the kernel
/// skip locking for a ring only its loop thread submits to; DEFER_TASKRUN
/// (6.1) runs completion work only when the loop waits for it, instead of
/// interrupting it; COOP_TASKRUN (5.19) at least avoids the interrupts.
/// R_DISABLED lets the loop's own thread, not the one that built the ring,
/// become its single issuer. SUBMIT_ALL keeps submitting past a failing entry.
constexpr unsigned setup_attempts[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_R_DISABLED,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
    0,
};

bool disabled_by_environment() {
    const char* v = std::getenv("SANSWS_IO_URING_DISABLE");
    return v != nullptr && *v != '\0' && std::string_view(v) != "0";
}

int sysctl_io_uring_disabled() {
    std::ifstream f("/proc/sys/kernel/io_uring_disabled");
    int v = -1;
    if (!(f >> v)) return -1;
    return v;
}

/// Why io_uring_setup failed with `err`, for people.
std::string explain_setup_error(int err) {
    std::string why;
    switch (err) {
    case ENOSYS:
        why = "the kernel has no io_uring support, or a sandbox hides it (io_uring_setup: ENOSYS)";
        break;
    case EPERM:
    case EACCES:
        switch (sysctl_io_uring_disabled()) {
        case 2:
            why = "io_uring is disabled on this system (sysctl kernel.io_uring_disabled = 2)";
            break;
        case 1:
            why = "io_uring is restricted to privileged users and the kernel.io_uring_group group "
                  "(sysctl kernel.io_uring_disabled = 1)";
            break;
        default:
            why = "io_uring_setup was refused (" + std::string(std::strerror(err)) +
                  "), most likely by a seccomp filter (containers often block io_uring)";
        }
        break;
    case ENOMEM:
        why = "the kernel could not allocate a ring (ENOMEM: memory or RLIMIT_MEMLOCK too low)";
        break;
    default:
        why = std::string("io_uring_setup failed: ") + std::strerror(err);
    }
    return "io_uring is unavailable: " + why + std::string(alternative);
}

std::uint32_t round_up_pow2(std::uint32_t n) {
    std::uint32_t p = 1;
    while (p < n) p <<= 1;
    return p;
}

}  // namespace

ring::~ring() {
    if (open_) io_uring_queue_exit(&ring_);
    if (buf_ring_) munmap(buf_ring_, buf_ring_bytes_);
    if (buffers_ && !keep_buffers_) munmap(buffers_, buffers_bytes_);
}

bool ring::open(const ring_options& o, std::string& error) {
    if (disabled_by_environment()) {
        error = "io_uring is unavailable: disabled by the environment (SANSWS_IO_URING_DISABLE is set)" +
                std::string(alternative);
        return false;
    }
    if (o.buffer_count == 0 || o.buffer_count > 32768 || o.buffer_size == 0) {
        error = "invalid io_uring ring options: buffer_count must be 1..32768 and buffer_size at least 1";
        return false;
    }
    const unsigned entries = std::clamp(o.entries, 8u, 32768u);
    int rc = -EINVAL;
    for (const unsigned flags : setup_attempts) {
        io_uring_params p{};
        // Multishot receives post one completion per buffer filled, so the
        // completion queue must hold a burst of them (the kernel keeps any
        // overflow, IORING_FEAT_NODROP, but that path is slow).
        p.flags = flags | IORING_SETUP_CQSIZE;
        p.cq_entries = std::min(65536u, 4 * std::max(entries, round_up_pow2(o.buffer_count)));
        rc = io_uring_queue_init_params(entries, &ring_, &p);
        if (rc == 0) {
            flags_ = flags;
            if (!(p.features & IORING_FEAT_SUBMIT_STABLE) || !(p.features & IORING_FEAT_NODROP)) {
                io_uring_queue_exit(&ring_);
                error = "io_uring is unavailable: the kernel is too old (Linux 5.19 or later is needed)" +
                        std::string(alternative);
                return false;
            }
            break;
        }
        if (rc != -EINVAL) break;
    }
    if (rc != 0) {
        error = explain_setup_error(-rc);
        return false;
    }
    open_ = true;

    if (io_uring_probe* probe = io_uring_get_probe_ring(&ring_)) {
        zero_copy_ = io_uring_opcode_supported(probe, IORING_OP_SENDMSG_ZC);
        io_uring_free_probe(probe);
    }

    // The provided buffers: one ring of buffer addresses shared with the
    // kernel, and the buffers themselves in one mapping whose pages become
    // resident only as data lands in them.
    buffer_count_ = round_up_pow2(o.buffer_count);
    buffer_size_ = o.buffer_size;
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    buf_ring_bytes_ = (buffer_count_ * sizeof(io_uring_buf) + page - 1) / page * page;
    buffers_bytes_ = std::size_t{buffer_count_} * buffer_size_;
    void* br = mmap(nullptr, buf_ring_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* bufs = mmap(nullptr, buffers_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                      -1, 0);
    if (br == MAP_FAILED || bufs == MAP_FAILED) {
        const int err = errno;
        if (br != MAP_FAILED) munmap(br, buf_ring_bytes_);
        if (bufs != MAP_FAILED) munmap(bufs, buffers_bytes_);
        error = "cannot map io_uring receive buffers: " + std::string(std::strerror(err));
        return false;
    }
    buf_ring_ = static_cast<io_uring_buf_ring*>(br);
    buffers_ = static_cast<std::byte*>(bufs);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(buf_ring_);
    reg.ring_entries = buffer_count_;
    reg.bgid = buffer_group;
    rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc != 0) {
        error = rc == -EINVAL ? "io_uring is unavailable: the kernel has no provided-buffer rings (Linux 5.19 or "
                                "later is needed)" + std::string(alternative)
                              : "cannot register io_uring receive buffers: " + std::string(std::strerror(-rc));
        return false;
    }
    io_uring_buf_ring_init(buf_ring_);
    const int mask = io_uring_buf_ring_mask(buffer_count_);
    for (std::uint32_t i = 0; i < buffer_count_; ++i)
        io_uring_buf_ring_add(buf_ring_, buffer(i), buffer_size_, static_cast<unsigned short>(i), mask,
                              static_cast<int>(i));
    io_uring_buf_ring_advance(buf_ring_, static_cast<int>(buffer_count_));
    return true;
}

bool ring::start(std::string& error) {
    if (started_) return true;
    if (flags_ & IORING_SETUP_R_DISABLED) {
        // liburing 2.3 declares io_uring_enable_rings() but does not export
        // it, hence the raw register call.
        const int rc = io_uring_register(ring_.ring_fd, IORING_REGISTER_ENABLE_RINGS, nullptr, 0);
        if (rc < 0) {
            error = "cannot enable the io_uring ring: " + std::string(std::strerror(-rc));
            return false;
        }
    }
    started_ = true;
    return true;
}

io_uring_sqe* ring::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s) return s;
    submit();
    return io_uring_get_sqe(&ring_);
}

std::pair<io_uring_sqe*, send_slot*> ring::send_entry() {
    // Submitting first, while no entry is half prepared, is what lets the
    // slots be reused: there are never more of them than queue entries.
    if (io_uring_sq_space_left(&ring_) == 0) submit();
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (!s) return {nullptr, nullptr};
    if (slots_used_ == slots_.size()) slots_.emplace_back();
    return {s, &slots_[slots_used_++]};
}

void ring::reset_slots() noexcept {
    // Only once the kernel has taken every queued entry: one left behind
    // may still point at its slot.
    if (io_uring_sq_ready(&ring_) == 0) slots_used_ = 0;
}

void ring::submit() {
    int rc;
    do {
        rc = io_uring_submit(&ring_);
    } while (rc == -EINTR);
    reset_slots();
}

void ring::submit_and_wait(std::int64_t timeout_ns) {
    io_uring_cqe* cqe = nullptr;
    if (timeout_ns < 0) {
        io_uring_submit_and_wait(&ring_, 1);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        // -ETIME (nothing completed in time) and -EINTR (a signal) both
        // just end the wait; the caller looks at the clock and the queue.
        io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    reset_slots();
}

void ring::recycle(unsigned bid) noexcept {
    io_uring_buf_ring_add(buf_ring_, buffer(bid), buffer_size_, static_cast<unsigned short>(bid),
                          io_uring_buf_ring_mask(buffer_count_), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
}

std::string ring::flags_text() const {
    std::string s;
    auto add = [&](unsigned flag, const char* name) {
        if (!(flags_ & flag)) return;
        if (!s.empty()) s += ' ';
        s += name;
    };
    add(IORING_SETUP_SINGLE_ISSUER, "SINGLE_ISSUER");
    add(IORING_SETUP_DEFER_TASKRUN, "DEFER_TASKRUN");
    add(IORING_SETUP_COOP_TASKRUN, "COOP_TASKRUN");
    add(IORING_SETUP_SUBMIT_ALL, "SUBMIT_ALL");
    return s.empty() ? "none" : s;
}

}  // namespace sansws::io_uring::detail
