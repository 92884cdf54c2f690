// No parser or kernel reads or writes outside the span it is given: every
// input here sits between two PROT_NONE pages, ending exactly at the second,
// so one byte too far is a SIGSEGV (design rule 5: no hidden padding).
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <sansws/sansws.hpp>
#include <sansws/kernels.hpp>
#include <string>
#include <vector>

using namespace sansws;

namespace {

/// `len` writable bytes, preceded and followed by an inaccessible page.
class guarded {
public:
    explicit guarded(std::size_t len) : len_(len) {
        const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        const std::size_t body = (len + page - 1) / page * page;
        size_ = body + 2 * page;
        void* m = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        REQUIRE(m != MAP_FAILED);
        base_ = static_cast<std::byte*>(m);
        REQUIRE(mprotect(base_, page, PROT_NONE) == 0);
        REQUIRE(mprotect(base_ + page + body, page, PROT_NONE) == 0);
        data_ = base_ + page + body - len;  // ends exactly at the guard page
    }
    guarded(const std::vector<std::byte>& content) : guarded(content.size()) {
        if (!content.empty()) std::memcpy(data_, content.data(), content.size());
    }
    ~guarded() { munmap(base_, size_); }
    guarded(const guarded&) = delete;
    guarded& operator=(const guarded&) = delete;
    mutable_bytes span() const noexcept { return {data_, len_}; }

private:
    std::size_t len_, size_;
    std::byte* base_;
    std::byte* data_;
};

std::vector<std::byte> to_bytes(std::string_view s) {
    std::vector<std::byte> v(s.size());
    if (!s.empty()) std::memcpy(v.data(), s.data(), s.size());
    return v;
}

std::vector<std::byte> masked_frame(std::uint8_t b0, std::size_t len, bool masked) {
    frame_header h;
    h.fin = (b0 & 0x80) != 0;
    h.op = static_cast<opcode>(b0 & 0x0F);
    h.masked = masked;
    h.key = {std::byte{0x11}, std::byte{0x22}, std::byte{0x33}, std::byte{0x44}};
    h.payload_length = len;
    std::array<std::byte, max_frame_header_size> hdr{};
    const std::size_t n = write_frame_header(hdr, h);
    std::vector<std::byte> out(hdr.begin(), hdr.begin() + static_cast<std::ptrdiff_t>(n));
    out.resize(n + len, std::byte{'a'});
    if (masked) apply_mask(std::span(out).subspan(n), h.key, 0);
    return out;
}

const char* request =
    "GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

}  // namespace

TEST_CASE("guard page: every mask and UTF-8 kernel stays inside its span (RFC 6455 §5.3, §8.1)") {
    const mask_key key{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}};
    std::mt19937 rng(11);
    for (kernel k : available_kernels()) {
        CAPTURE(to_string(k));
        REQUIRE(force_kernel(k));
        for (std::size_t len : {0, 1, 3, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 1000, 4099}) {
            std::vector<std::byte> content(len);
            for (auto& b : content) b = std::byte(rng() % 0x80);  // ASCII: valid text throughout
            guarded src(content), dst(len);
            for (std::size_t phase = 0; phase < 4; ++phase) {
                apply_mask(src.span(), key, phase);
                copy_masked(dst.span(), src.span(), key, phase);
            }
            utf8_validator v;
            CHECK(v.feed(src.span()));
            utf8_validator w;
            (void)w.feed_unmasked(dst.span(), src.span(), key, 0);
            // A truncated code point at the very end must not make the
            // validator look ahead for its continuation bytes.
            if (len >= 1) {
                guarded cut(content);
                cut.span()[len - 1] = std::byte{0xF0};
                utf8_validator t;
                CHECK(t.feed(cut.span()));
                CHECK_FALSE(t.complete());
            }
        }
    }
    force_kernel(available_kernels().back());
}

TEST_CASE("guard page: the frame parser reads no further than every prefix it is given (RFC 6455 §5.2)") {
    std::vector<std::vector<std::byte>> frames;
    for (bool masked : {true, false})
        for (std::size_t len : {0, 1, 125, 126, 300, 65535, 65536})
            frames.push_back(masked_frame(0x82, len, masked));
    for (const auto& frame : frames) {
        const role r = (std::to_integer<int>(frame[1]) & 0x80) ? role::server : role::client;
        // Every header prefix, then a few payload prefixes.
        std::vector<std::size_t> cuts;
        for (std::size_t i = 0; i <= std::min<std::size_t>(frame.size(), 20); ++i) cuts.push_back(i);
        cuts.push_back(frame.size() - 1);
        cuts.push_back(frame.size());
        for (std::size_t cut : cuts) {
            guarded in(std::vector<std::byte>(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(cut)));
            frame_parser p(r);
            mutable_bytes rest = in.span();
            std::uint64_t payload = 0;
            while (true) {
                frame_piece piece = p.parse(rest);
                REQUIRE(piece.type != frame_piece::kind::error);
                rest = rest.subspan(piece.consumed);
                payload += piece.payload.size();
                if (piece.type == frame_piece::kind::need_more || rest.empty()) break;
            }
            CHECK(rest.empty());
        }
    }
}

TEST_CASE("guard page: the HTTP head parser stops at the end of every prefix (RFC 6455 §4.2.1)") {
    const std::string req = request;
    for (std::size_t cut = 0; cut <= req.size(); ++cut) {
        guarded in(to_bytes(std::string_view(req).substr(0, cut)));
        http_head_parser p(http_head_parser::kind::request, {});
        std::size_t used = 0;
        const auto st = p.feed(in.span(), used);
        CHECK(used <= cut);
        CHECK((st == http_head_parser::status::done) == (cut == req.size()));
    }
}

TEST_CASE("guard page: a server connection consumes handshake and frames without over-reading (RFC 6455 §4, §5)") {
    std::vector<std::byte> frames;
    for (std::size_t len : {0, 5, 125, 126, 70000}) {
        auto f = masked_frame(len % 2 ? 0x81 : 0x82, len, true);
        frames.insert(frames.end(), f.begin(), f.end());
    }
    auto ping = masked_frame(0x89, 4, true);
    frames.insert(frames.end(), ping.begin(), ping.end());
    auto drain = [](connection& c) {
        for (auto ev = c.next_event(); !std::holds_alternative<need_more>(ev); ev = c.next_event()) {
            if (auto* f = std::get_if<failure>(&ev)) FAIL(f->reason);
            if (std::holds_alternative<handshake_request>(ev)) REQUIRE(c.accept() == misuse::none);
        }
    };
    const std::string req = request;
    for (std::size_t cut : {std::size_t(0), std::size_t(1), req.size() - 1}) {
        connection c(config{});
        guarded a(to_bytes(std::string_view(req).substr(0, cut)));
        guarded b(to_bytes(std::string_view(req).substr(cut)));
        REQUIRE(c.receive(a.span()) == misuse::none);
        drain(c);
        REQUIRE(c.receive(b.span()) == misuse::none);
        drain(c);
        CHECK(c.state() == connection_state::open);
    }
    for (std::size_t cut : {std::size_t(1), std::size_t(2), std::size_t(6), std::size_t(7), std::size_t(20),
                            frames.size() - 1, frames.size()}) {
        connection c(config{});
        guarded hs(to_bytes(req));
        REQUIRE(c.receive(hs.span()) == misuse::none);
        drain(c);
        guarded in(std::vector<std::byte>(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(cut)));
        REQUIRE(c.receive(in.span()) == misuse::none);
        drain(c);
        CHECK(c.state() == connection_state::open);
    }
}
