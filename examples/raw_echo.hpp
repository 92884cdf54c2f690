// The README's embedding example, verbatim; tests/test_readme_example.cpp
// runs it and checks that README.md still shows exactly this code.
#pragma once

#include <sansws/sansws.hpp>
#include <sys/uio.h>
#include <unistd.h>

void serve(int fd) {
    sansws::connection ws(sansws::config{.role = sansws::role::server});
    std::array<std::byte, 16384> buf;
    while (!ws.should_close_transport()) {
        ssize_t n = read(fd, buf.data(), buf.size());
        if (n <= 0) ws.receive_eof(); else ws.receive(std::span(buf).first(n));
        for (auto ev = ws.next_event(); !std::holds_alternative<sansws::need_more>(ev); ev = ws.next_event()) {
            if (std::holds_alternative<sansws::handshake_request>(ev)) ws.accept();
            else if (auto* m = std::get_if<sansws::message>(&ev)) ws.send(*m);  // echo
        }
        while (ws.buffered()) {
            std::vector<iovec> iov;
            for (auto s : ws.output()) iov.push_back({(void*)s.data(), s.size()});
            ssize_t w = writev(fd, iov.data(), (int)iov.size());
            if (w <= 0) return;
            ws.consume(w);
        }
        if (n <= 0) break;
    }
    close(fd);
}
