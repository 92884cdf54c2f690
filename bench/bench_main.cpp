// sansws_bench: the framing-throughput suite of issue 4. Every parse workload
// copies a pre-built wire buffer in 16 KiB reads into a read buffer (what
// read(2) does) and hands each read to a server connection through the
// public API, draining every event; memcpy/16k does the copies alone and is
// the reference every ratio is taken against. After the timed loop each
// workload checks a fingerprint of the payloads it saw, so a benchmark that
// skips work fails instead of reporting a number.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sansws/kernels.hpp"
#include "workloads.hpp"

namespace {

using namespace bench;

alignas(64) std::byte read_buffer[read_size];

// Benchmark names in registration order: the order of the summary table.
std::vector<std::string> registered;

// The kernel chosen at start-up (cpuid, or SANSWS_KERNEL): the engine
// workloads run with it even after a kernel benchmark forced another.
sansws::kernel engine_kernel = sansws::kernel::scalar;

void memcpy_16k(benchmark::State& state) {
    const wire& w = w3_64k_binary();
    std::size_t reads = 0;
    for (auto _ : state) {
        for (std::size_t off = 0; off < w.bytes.size(); off += read_size) {
            const std::size_t n = std::min(read_size, w.bytes.size() - off);
            std::memcpy(read_buffer, w.bytes.data() + off, n);
            benchmark::ClobberMemory();
            ++reads;
        }
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * w.bytes.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(reads));
}

void parse(benchmark::State& state, const wire& (*workload)(), sansws::message_type type) {
    sansws::force_kernel(engine_kernel);
    const wire& w = workload();
    const auto owner = open_server();
    sansws::connection* const conn = owner.get();
    std::uint64_t sum = 0, messages = 0;
    bool unexpected = false;
    for (auto _ : state) {
        for (std::size_t off = 0; off < w.bytes.size(); off += read_size) {
            const std::size_t n = std::min(read_size, w.bytes.size() - off);
            std::memcpy(read_buffer, w.bytes.data() + off, n);
            conn->receive(sansws::mutable_bytes(read_buffer, n));
            while (true) {
                const sansws::event ev = conn->next_event();
                if (const auto* m = std::get_if<sansws::message>(&ev)) {
                    sum += fingerprint(m->data);
                    unexpected |= m->type != type;
                    ++messages;
                    continue;
                }
                unexpected |= !std::holds_alternative<sansws::need_more>(ev);
                break;
            }
        }
    }
    const auto iters = static_cast<std::uint64_t>(state.iterations());
    if (unexpected || messages != w.frames * iters || sum != w.fingerprint * iters)
        state.SkipWithError("payload checksum mismatch: the parser skipped or corrupted work");
    state.SetBytesProcessed(static_cast<std::int64_t>(iters * w.bytes.size()));
    state.SetItemsProcessed(static_cast<std::int64_t>(messages));
}

/// Unmasked server frames of `size` bytes sent through the public API into
/// the output queue, drained as a writer would: whenever a 16 KiB write's
/// worth is queued, gather the spans and consume them all.
void serialize(benchmark::State& state, std::size_t size, std::size_t frames_per_iteration) {
    sansws::force_kernel(engine_kernel);
    const auto owner = open_server();
    sansws::connection* const conn = owner.get();
    std::vector<std::byte> pool(std::max<std::size_t>(size, 64 * 1024));
    std::uint64_t x = 88172645463325252ull;
    for (auto& b : pool) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        b = std::byte(x);
    }
    const std::size_t header = sansws::frame_header_size(size, false);
    const auto second = std::byte(size < 126 ? size : size <= 0xFFFF ? 126 : 127);
    std::uint64_t wire_bytes = 0, frames = 0;
    bool bad = false;
    auto drain = [&] {
        // Each drain starts at a frame: check its header, count the bytes.
        const auto spans = conn->output();
        if (!spans.empty()) bad |= spans[0].size() < 2 || spans[0][0] != std::byte{0x82} || spans[0][1] != second;
        for (const auto s : spans) wire_bytes += s.size();
        conn->consume(conn->buffered());
    };
    std::size_t at = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < frames_per_iteration; ++i) {
            bad |= conn->send_binary(sansws::bytes_view(pool.data() + at, size)) != sansws::misuse::none;
            at = at + size + size > pool.size() ? 0 : at + size;
            if (conn->buffered() >= read_size) drain();
        }
        drain();
        frames += frames_per_iteration;
    }
    if (bad || wire_bytes != frames * (header + size))
        state.SkipWithError("output mismatch: the serializer skipped or corrupted work");
    state.SetBytesProcessed(static_cast<std::int64_t>(frames * (header + size)));
    state.SetItemsProcessed(static_cast<std::int64_t>(frames));
}

void mask(benchmark::State& state, sansws::kernel k) {
    sansws::force_kernel(k);
    std::vector<std::byte> buf(read_size, std::byte{0x5A});
    const sansws::mask_key key{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    for (auto _ : state) {
        sansws::apply_mask(buf, key, 0);
        benchmark::ClobberMemory();
    }
    // Applied an even number of times, the mask cancels out.
    if (state.iterations() % 2 == 0 && std::any_of(buf.begin(), buf.end(), [](std::byte b) { return b != std::byte{0x5A}; }))
        state.SkipWithError("unmasking is not its own inverse");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * buf.size()));
    state.SetItemsProcessed(state.iterations());
}

void utf8(benchmark::State& state, sansws::kernel k, const std::vector<std::byte>& (*text)()) {
    sansws::force_kernel(k);
    const auto& t = text();
    bool ok = true;
    for (auto _ : state) {
        sansws::utf8_validator v;
        ok &= v.feed(t) && v.complete();
    }
    if (!ok) state.SkipWithError("valid text was rejected");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * t.size()));
    state.SetItemsProcessed(state.iterations());
}

// ---- the summary table -------------------------------------------------------

struct target {
    const char* name;
    double ratio;  // 0: no target
};
constexpr target targets[] = {
    {"parse/w1_small_binary", 0.07},   {"parse/w2_1k_binary", 0.70},
    {"parse/w3_64k_binary", 0.75},     {"parse/w4_64k_ascii_text", 0.60},
    {"parse/w5_64k_mixed_text", 0.25}, {"serialize/w6_small", 0.90},
};

/// Prints Google Benchmark's console output, then a table of every
/// workload's rates and its ratio to memcpy/16k from the same run.
class table_reporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& r : runs) {
            // With repetitions the median stands for the benchmark: robust
            // against bursts of load from other processes.
            const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
            if (r.run_type == Run::RT_Aggregate && !median) continue;
            result& out = results_[r.run_name.str()];
            out.error |= r.error_occurred;
            failed_ |= r.error_occurred;
            if (out.from_median && !median) continue;
            out.from_median = median;
            auto counter = [&](const char* n) {
                const auto it = r.counters.find(n);
                return it == r.counters.end() ? 0.0 : static_cast<double>(it->second);
            };
            out.bytes = counter("bytes_per_second");
            out.items = counter("items_per_second");
        }
        ConsoleReporter::ReportRuns(runs);
    }

    bool failed() const noexcept { return failed_; }

    void Finalize() override {
        ConsoleReporter::Finalize();
        auto& os = GetOutputStream();
        const auto ref = results_.find("memcpy/16k");
        const double base = ref != results_.end() && !ref->second.error ? ref->second.bytes : 0;
        // In registration order, whatever order interleaving ran them in.
        std::vector<std::pair<std::string, result>> rows;
        for (const auto& name : registered)
            if (const auto it = results_.find(name); it != results_.end()) rows.emplace_back(name, it->second);
        char line[200];
        std::snprintf(line, sizeof line, "\n%-28s %12s %14s %8s %8s %5s\n", "workload", "GB/s", "items/s", "ratio",
                      "target", "met");
        os << "\nThroughput of wire bytes (deflate rows: uncompressed bytes; GB/s = 1e9 bytes/s); ratio to "
              "memcpy/16k of this run.";
        os << line;
        for (const auto& [name, r] : rows) {
            if (r.error) {
                std::snprintf(line, sizeof line, "%-28s %s\n", name.c_str(), "ERROR (see above)");
                os << line;
                continue;
            }
            const target* t = nullptr;
            for (const auto& c : targets)
                if (name == c.name) t = &c;
            const double ratio = base > 0 ? r.bytes / base : 0;
            char tgt[16] = "", met[8] = "";
            if (t) {
                std::snprintf(tgt, sizeof tgt, ">=%.2f", t->ratio);
                std::snprintf(met, sizeof met, "%s", ratio >= t->ratio ? "yes" : "NO");
            }
            std::snprintf(line, sizeof line, "%-28s %12.3f %14.4g %8.3f %8s %5s\n", name.c_str(), r.bytes / 1e9,
                          r.items, ratio, tgt, met);
            os << line;
        }
    }

private:
    struct result {
        bool error = false;
        bool from_median = false;
        double bytes = 0, items = 0;
    };
    std::map<std::string, result> results_;
    bool failed_ = false;
};

void register_all() {
    using sansws::message_type;
    // Every benchmark goes through add(), which records the table's order.
    const auto add = [](const std::string& name, auto&&... args) {
        registered.push_back(name);
        return benchmark::RegisterBenchmark(name.c_str(), std::forward<decltype(args)>(args)...);
    };
    add("memcpy/16k", memcpy_16k)->Unit(benchmark::kMillisecond);
    add("parse/w1_small_binary", parse, w1_small_binary, message_type::binary)
        ->Unit(benchmark::kMillisecond);
    add("parse/w2_1k_binary", parse, w2_1k_binary, message_type::binary)
        ->Unit(benchmark::kMillisecond);
    add("parse/w3_64k_binary", parse, w3_64k_binary, message_type::binary)
        ->Unit(benchmark::kMillisecond);
    add("parse/w4_64k_ascii_text", parse, w4_64k_ascii_text, message_type::text)
        ->Unit(benchmark::kMillisecond);
    add("parse/w5_64k_mixed_text", parse, w5_64k_mixed_text, message_type::text)
        ->Unit(benchmark::kMillisecond);
    add("serialize/w6_small", serialize, std::size_t{16}, std::size_t{1'000'000})
        ->Unit(benchmark::kMillisecond);
    add("serialize/w6_64k", serialize, std::size_t{65536}, std::size_t{1024})
        ->Unit(benchmark::kMillisecond);
    for (sansws::kernel k : sansws::available_kernels()) {
        if (!sansws::has_utf8_kernel(k)) continue;
        const std::string n(to_string(k));
        add("utf8/" + n + "/ascii", utf8, k, ascii_text_64k);
        add("utf8/" + n + "/mixed", utf8, k, mixed_text_64k);
    }
    for (sansws::kernel k : sansws::available_kernels())
        add("mask/" + std::string(to_string(k)), mask, k);
    register_deflate(registered);
}

}  // namespace

int main(int argc, char** argv) {
    engine_kernel = sansws::active_kernel();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    register_all();
    std::printf("sansws_bench: engine kernel %s\n", std::string(to_string(engine_kernel)).c_str());
    table_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();
    // A workload whose checksum failed fails the run (and CI's smoke test).
    return reporter.failed() ? 1 : 0;
}
