// wsload's command line: the options and their parser, which exits with
// status 2 and a clear message on any usage error.
#pragma once

#include <cstdint>
#include <string>

namespace wsload {

struct options {
    std::string host, port = "80", path = "/", host_header;
    std::uint64_t connections = 1, depth = 1, size = 16, messages = 0, max_pending = 256;
    double duration = 5, connect_rate = 0;
    bool duration_given = false, text = false, idle = false;
    int cpu = -1;
    long server_pid = 0;
    std::string json;
};

options parse_args(int argc, char** argv);

}  // namespace wsload
