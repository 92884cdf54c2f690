// Raw server-to-client bytes into a client's frame parser (unmasked frames).
#include "frame_parser_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_frame_parser(sansws::role::client, data, size);
}
