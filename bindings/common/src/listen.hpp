// Internal to the bindings: the sockets of a server (listening, shedding
// when out of descriptors) and of client connects, shared by the epoll and
// io_uring loops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sansws/server.hpp"  // open_listeners()

namespace sansws::detail {

/// Out of descriptors (EMFILE/ENFILE on accept): the spare-descriptor
/// trick. Frees `spare_fd`, takes the pending connection off `listen_fd`'s
/// queue with it, answers 503 and closes it, takes the spare back. The
/// client gets an answer instead of a hanging connect. True when a
/// connection was waiting (and shed); `spare_fd` is -1 afterwards if the
/// spare could not be taken back.
bool shed_one(int listen_fd, int& spare_fd) noexcept;

/// A descriptor to hold in reserve for shed_one(), or -1.
int open_spare() noexcept;

/// TCP_NODELAY: frames are written whole with one sendmsg; Nagle would only
/// delay them.
void set_nodelay(int fd) noexcept;

}  // namespace sansws::detail
