// The whole engine in the client role, driven by a script (engine_script.hpp).
#include "engine_script.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return fuzz::run_engine(sansws::role::client, data, size);
}
