// Raw client-to-server bytes into a server's frame parser (masked frames).
#include "frame_parser_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_frame_parser(sansws::role::server, data, size);
}
