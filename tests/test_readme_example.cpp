// The README's embedding example runs for real: serve() from
// examples/raw_echo.hpp on one end of a socketpair, a client engine on the
// other. A second test keeps the README and the compiled code identical.
#include <doctest/doctest.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "raw_echo.hpp"

namespace {

// Pump one client engine over a blocking socket until `done` says stop.
template <class Done>
void client_round(sansws::connection& c, int fd, std::vector<sansws::event>& seen, Done done) {
    std::array<std::byte, 4096> buf;
    while (!done()) {
        while (c.buffered()) {
            auto seg = c.output()[0];
            ssize_t w = write(fd, seg.data(), seg.size());
            REQUIRE(w > 0);
            c.consume(static_cast<std::size_t>(w));
        }
        if (done()) break;
        ssize_t n = read(fd, buf.data(), buf.size());
        if (n <= 0) {
            c.receive_eof();
        } else {
            REQUIRE(c.receive(std::span(buf).first(static_cast<std::size_t>(n))) == sansws::misuse::none);
        }
        for (auto ev = c.next_event(); !std::holds_alternative<sansws::need_more>(ev); ev = c.next_event()) {
            if (auto* m = std::get_if<sansws::message>(&ev)) {
                // Views die at the next call: keep a copy.
                static thread_local std::vector<std::string> keep;
                keep.emplace_back(m->text());
                ev = sansws::message{m->type, sansws::as_bytes(keep.back())};
            }
            seen.push_back(ev);
        }
        if (n <= 0) break;
    }
}

}  // namespace

TEST_CASE("README example: echo server over a real socket, through the close handshake (RFC 6455 §7.1.1)") {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    std::thread server([fd = fds[0]] { serve(fd); });

    sansws::config cfg;
    cfg.role = sansws::role::client;
    cfg.client.host = "example.test";
    cfg.entropy = [n = 0](sansws::mutable_bytes out) mutable {
        for (auto& b : out) b = std::byte(++n * 131);
    };
    sansws::connection c(std::move(cfg));
    std::vector<sansws::event> seen;
    client_round(c, fds[1], seen, [&] { return c.state() == sansws::connection_state::open; });
    REQUIRE(std::holds_alternative<sansws::handshake_response>(seen.at(0)));

    REQUIRE(c.send_text("hello, loop") == sansws::misuse::none);
    client_round(c, fds[1], seen, [&] { return seen.size() == 2; });
    auto* echo = std::get_if<sansws::message>(&seen.at(1));
    REQUIRE(echo);
    CHECK(echo->text() == "hello, loop");

    REQUIRE(c.close(1000, "bye") == sansws::misuse::none);
    client_round(c, fds[1], seen, [&] { return c.should_close_transport(); });
    auto* closed = std::get_if<sansws::close_frame>(&seen.back());
    REQUIRE(closed);
    CHECK(closed->code == 1000);
    CHECK(c.state() == sansws::connection_state::closed);
    server.join();  // serve() returned after the server side closed first
    close(fds[1]);
}

TEST_CASE("README example: README.md shows exactly the code that is tested") {
    auto slurp = [](const char* path) {
        std::ifstream f(path);
        REQUIRE(f);
        std::stringstream s;
        s << f.rdbuf();
        return s.str();
    };
    const std::string readme = slurp(SANSWS_SOURCE_DIR "/README.md");
    std::string code = slurp(SANSWS_SOURCE_DIR "/examples/raw_echo.hpp");
    code = code.substr(code.find("#include"));
    CHECK(readme.find("```cpp\n" + code + "```") != std::string::npos);
}
