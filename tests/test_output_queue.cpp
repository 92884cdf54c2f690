// The output queue: gather view, consume(n), coalescing, zero-copy segments.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <sansws/detail/output_queue.hpp>
#include <string>

using namespace sansws;

namespace {
std::string drain_all(output_queue& q) {
    std::string out;
    for (auto s : q.gather()) out += as_text(s);
    q.consume(q.size());
    return out;
}
}  // namespace

TEST_CASE("output_queue: bytes come out in order and consume(n) acknowledges exactly n") {
    output_queue q;
    CHECK(q.empty());
    q.append(as_bytes("hello "));
    q.append(as_bytes("world"));
    CHECK(q.size() == 11);
    auto view = q.gather();
    REQUIRE(view.size() == 1);  // small appends are coalesced into one block
    CHECK(as_text(view[0]) == "hello world");
    q.consume(3);
    CHECK(q.size() == 8);
    CHECK(as_text(q.gather()[0]) == "lo world");
    CHECK(drain_all(q) == "lo world");
    CHECK(q.empty());
}

TEST_CASE("output_queue: a moved-in buffer is referenced, not copied") {
    output_queue q;
    q.append(as_bytes("hdr"));
    std::vector<std::byte> big(100000, std::byte{'x'});
    const std::byte* where = big.data();
    q.append(std::move(big));
    q.append(as_bytes("tail"));
    auto view = q.gather();
    REQUIRE(view.size() == 3);
    CHECK(view[1].data() == where);
    CHECK(view[1].size() == 100000);
    CHECK(as_text(view[2]) == "tail");
}

TEST_CASE("output_queue: shared segments keep their owner alive until consumed") {
    output_queue q;
    auto owner = std::make_shared<std::string>("shared payload");
    std::weak_ptr<std::string> watch = owner;
    q.append_shared(as_bytes(*owner), owner);
    owner.reset();
    CHECK(!watch.expired());
    CHECK(as_text(q.gather()[0]) == "shared payload");
    q.consume(q.size());
    CHECK(watch.expired());
}

TEST_CASE("output_queue: gather respects max_segments and partial consumes across segments") {
    output_queue q;
    std::string expect;
    for (int i = 0; i < 10; ++i) {
        std::vector<std::byte> v(5000, std::byte('a' + i));
        expect += std::string(5000, static_cast<char>('a' + i));
        q.append(std::move(v));
    }
    CHECK(q.gather(4).size() == 4);
    std::string got;
    std::mt19937 rng(3);
    while (!q.empty()) {
        auto view = q.gather(3);
        std::size_t take = std::min<std::size_t>(q.size(), 1 + rng() % 7000);
        std::size_t left = take;
        for (auto s : view) {
            std::size_t n = std::min(left, s.size());
            got += as_text(s.first(n));
            left -= n;
            if (left == 0) break;
        }
        q.consume(take - left);
    }
    CHECK(got == expect);
}

TEST_CASE("output_queue: append_space gives writable room of exactly n bytes") {
    output_queue q;
    auto room = q.append_space(4);
    REQUIRE(room.size() == 4);
    std::memcpy(room.data(), "abcd", 4);
    auto big = q.append_space(output_queue::block_size + 10);
    CHECK(big.size() == output_queue::block_size + 10);
    std::memset(big.data(), 'z', big.size());
    CHECK(q.size() == 4 + output_queue::block_size + 10);
    CHECK(drain_all(q) == "abcd" + std::string(output_queue::block_size + 10, 'z'));
}

TEST_CASE("output_queue: the steady state recycles its block (memory stays bounded)") {
    output_queue q;
    for (int i = 0; i < 10000; ++i) {
        q.append(as_bytes("0123456789abcdef"));
        if (i % 7 == 0) q.consume(q.size());
    }
    q.consume(q.size());
    CHECK(q.memory() <= 2 * output_queue::block_size);
}

TEST_CASE("release gives the buffers back only when everything is written") {
    output_queue q;
    const std::vector<std::byte> data(100, std::byte{7});
    q.append(data);
    const std::size_t held = q.memory();
    CHECK(held >= output_queue::block_size);
    q.release();  // bytes still queued: nothing is given back
    CHECK(q.memory() == held);
    CHECK(q.size() == 100);
    q.consume(100);
    q.release();
    CHECK(q.memory() == 0);
    q.append(data);  // and it works as new afterwards
    CHECK(q.size() == 100);
    CHECK(q.gather().size() == 1);
}
