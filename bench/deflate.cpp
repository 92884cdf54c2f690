// permessage-deflate (RFC 7692 §7.2): compression and decompression
// throughput of JSON-like messages (rates are of the uncompressed bytes, so
// both directions compare with memcpy/16k on the same footing), and zlib's
// memory per connection at several windows and memory levels (as counters,
// in the console output). bench_main.cpp registers them after the framing
// suite, so the throughput rows join its summary table.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sansws/deflate.hpp"
#include "workloads.hpp"

namespace {

using message_list = std::vector<std::vector<std::byte>>;

/// Messages of `size` bytes cut from one stream of JSON objects (recurring
/// keys, ids, short names, decimals, tags), `total` bytes in all: what a
/// chatty API sends. Deterministic, so every run measures the same bytes.
message_list json_messages(std::size_t size, std::size_t total) {
    static constexpr const char* names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
    static constexpr const char* tags[] = {"new", "hot", "sale", "eu", "us", "beta", "vip", "muted"};
    std::uint64_t s = 0x9E3779B97F4A7C15ull;
    auto next = [&] {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        return s;
    };
    std::string stream;
    char object[256];
    while (stream.size() < total) {
        const int n = std::snprintf(
            object, sizeof object,
            "{\"id\":%u,\"user\":\"%s%u\",\"price\":%u.%02u,\"qty\":%u,\"tags\":[\"%s\",\"%s\"],"
            "\"active\":%s,\"ts\":%u}",
            static_cast<unsigned>(next() % 1'000'000), names[next() % 8], static_cast<unsigned>(next() % 1000),
            static_cast<unsigned>(next() % 10000), static_cast<unsigned>(next() % 100),
            static_cast<unsigned>(next() % 50), tags[next() % 8], tags[next() % 8], next() % 2 ? "true" : "false",
            static_cast<unsigned>(1'700'000'000 + next() % 10'000'000));
        stream.append(object, static_cast<std::size_t>(n));
    }
    message_list out;
    for (std::size_t at = 0; at + size <= total; at += size) {
        const auto* p = reinterpret_cast<const std::byte*>(stream.data() + at);
        out.emplace_back(p, p + size);
    }
    return out;
}

// 4 MiB of each: many small messages, or a few large ones.
const message_list& json_1k() {
    static const message_list m = json_messages(1024, 4 << 20);
    return m;
}
const message_list& json_64k() {
    static const message_list m = json_messages(64 * 1024, 4 << 20);
    return m;
}

std::size_t total_size(const message_list& messages) {
    std::size_t n = 0;
    for (const auto& m : messages) n += m.size();
    return n;
}

/// One connection's compressor (context takeover, §7.2.3.2) sending the
/// messages in order, again and again.
void compress(benchmark::State& state, const message_list& (*workload)(), sansws::deflate_settings settings) {
    const message_list& messages = workload();
    sansws::deflater d(settings);
    std::vector<std::byte> out;
    std::uint64_t compressed = 0;
    bool ok = true;
    for (auto _ : state) {
        for (const auto& m : messages) {
            out.clear();
            ok &= d.compress(m, true, out);
            compressed += out.size();
            benchmark::DoNotOptimize(out.data());
        }
    }
    if (!ok || compressed == 0) state.SkipWithError("compress failed");
    const auto iters = static_cast<std::uint64_t>(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(iters * total_size(messages)));
    state.SetItemsProcessed(static_cast<std::int64_t>(iters * messages.size()));
    state.counters["ratio"] = static_cast<double>(compressed) / static_cast<double>(iters * total_size(messages));
}

/// The receiving side of the same: the messages compressed once (outside
/// the timing), then inflated in order into a message-sized buffer, again
/// and again. The first message refers to nothing before it, so each pass
/// decodes the same as the first.
void decompress(benchmark::State& state, const message_list& (*workload)(), sansws::deflate_settings settings) {
    const message_list& messages = workload();
    message_list compressed;
    {
        sansws::deflater d(settings);
        for (const auto& m : messages) {
            compressed.emplace_back();
            if (!d.compress(m, true, compressed.back())) {
                state.SkipWithError("compress failed");
                return;
            }
        }
    }
    sansws::inflater inf(settings.window_bits);
    std::vector<std::byte> out(messages.front().size());
    std::uint64_t produced = 0;
    bool ok = true;
    for (auto _ : state) {
        for (const auto& c : compressed) {
            // A message never needs more room than its own size.
            const auto r = inf.inflate(c, out, true);
            ok &= r.st == sansws::inflater::status::message_done && r.consumed == c.size();
            produced += r.produced;
            benchmark::DoNotOptimize(out.data());
        }
    }
    const auto iters = static_cast<std::uint64_t>(state.iterations());
    // Every byte came out, and the last message is the one that went in.
    if (!ok || produced != iters * total_size(messages) || out != messages.back())
        state.SkipWithError("inflated output differs from the messages");
    state.SetBytesProcessed(static_cast<std::int64_t>(produced));
    state.SetItemsProcessed(static_cast<std::int64_t>(iters * compressed.size()));
}

/// The cost per compressed byte received (RFC 6455 §10.4: what a peer can
/// make us spend): bytes/s here count the compressed input, not the output.
/// "ordinary": the 64 KiB JSON messages; "final_blocks": 32 KiB of them,
/// then 128 Ki pairs 03 00 (an empty block with BFINAL = 1 each, so a new
/// DEFLATE stream per 2 bytes), a hostile peer's cheapest way to make the
/// inflater restart.
void inflate_input(benchmark::State& state, bool final_blocks) {
    const message_list& messages = json_64k();
    message_list compressed;
    {
        sansws::deflater d;
        for (const auto& m : messages) {
            compressed.emplace_back();
            if (!d.compress(m, true, compressed.back())) {
                state.SkipWithError("compress failed");
                return;
            }
            if (final_blocks) break;
        }
    }
    if (final_blocks) {
        auto& m = compressed.front();
        // The sync flush's 00 00 ff ff back (§7.2.1), then the final blocks.
        for (int b : {0x00, 0x00, 0xff, 0xff}) m.push_back(std::byte(b));
        for (int i = 0; i < 128 * 1024; ++i) {
            m.push_back(std::byte{0x03});
            m.push_back(std::byte{0x00});
        }
    }
    std::vector<std::byte> out(messages.front().size());
    std::uint64_t consumed = 0;
    bool ok = true;
    for (auto _ : state) {
        sansws::inflater inf;  // each pass from an empty window, as the compressor did
        for (const auto& c : compressed) {
            const auto r = inf.inflate(c, out, true);
            ok &= r.st == sansws::inflater::status::message_done && r.consumed == c.size();
            consumed += r.consumed;
            benchmark::DoNotOptimize(out.data());
        }
    }
    if (!ok) state.SkipWithError("inflate failed");
    state.SetBytesProcessed(static_cast<std::int64_t>(consumed));
    state.SetItemsProcessed(static_cast<std::int64_t>(static_cast<std::uint64_t>(state.iterations()) * compressed.size()));
}

/// Nothing to time: zlib's bytes at this window as counters. "inflater":
/// one decompressor; "mN": one connection (a compressor at mem_level N
/// and a decompressor), as deflater_memory + inflater_memory count them
/// after a first message.
void memory(benchmark::State& state, int window_bits) {
    for (auto _ : state) benchmark::DoNotOptimize(window_bits);
    const auto bytes = [](std::size_t n) {
        return benchmark::Counter(static_cast<double>(n), benchmark::Counter::kDefaults,
                                  benchmark::Counter::kIs1024);
    };
    const std::size_t inflate = sansws::inflater_memory(window_bits);
    state.counters["inflater"] = bytes(inflate);
    for (const int level : {1, 4, 8, 9})
        state.counters[std::string("m").append(std::to_string(level))] =
            bytes(sansws::deflater_memory({window_bits, level, -1}) + inflate);
}

}  // namespace

namespace bench {

void register_deflate(std::vector<std::string>& table) {
    using benchmark::RegisterBenchmark;
    const sansws::deflate_settings standard{15, 8, -1}, fast{15, 8, 1};
    const auto add = [&](const std::string& name, const message_list& (*workload)(), sansws::deflate_settings s,
                         bool inflate) {
        table.push_back(name);
        RegisterBenchmark(name.c_str(), inflate ? decompress : compress, workload, s)->Unit(benchmark::kMillisecond);
    };
    add("deflate/compress/json_1k", json_1k, standard, false);
    add("deflate/compress/json_64k", json_64k, standard, false);
    add("deflate/compress/json_1k_level1", json_1k, fast, false);
    add("deflate/compress/json_64k_level1", json_64k, fast, false);
    add("deflate/decompress/json_1k", json_1k, standard, true);
    add("deflate/decompress/json_64k", json_64k, standard, true);
    add("deflate/decompress/json_64k_level1", json_64k, fast, true);
    for (const auto& [name, final_blocks] : {std::pair{"deflate/inflate_input/ordinary", false},
                                             std::pair{"deflate/inflate_input/final_blocks", true}}) {
        table.push_back(name);
        RegisterBenchmark(name, inflate_input, final_blocks)->Unit(benchmark::kMillisecond);
    }
    for (const int w : {9, 10, 12, 15})
        RegisterBenchmark(std::string("deflate/memory/window_").append(std::to_string(w)).c_str(), memory, w)
            ->Iterations(1);
}

}  // namespace bench
