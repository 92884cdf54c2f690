// Replay driver for builds without libFuzzer (fuzzing_engine=none): runs
// LLVMFuzzerTestOneInput once on every file named on the command line or
// found below the directories named there, so `meson test` replays the seed
// corpora and the regression inputs with any compiler and any sanitizer.
#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include <unistd.h>

#include "fuzz.hpp"

// Present when a sanitizer runtime is linked: lets us name the input that
// made ASan/UBSan give up, since their reports end the process themselves.
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

namespace {

namespace fs = std::filesystem;

// The input being run; the crash handlers print it with write(2) alone,
// which is safe in a signal handler.
std::string current;

void say_current() {
    constexpr char prefix[] = "\nreplay: failed on input ";
    ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
    ignored = write(STDERR_FILENO, current.c_str(), current.size());
    ignored = write(STDERR_FILENO, "\n", 1);
    static_cast<void>(ignored);
}

extern "C" void on_signal(int) {
    say_current();
    // SA_RESETHAND restored the default action: returning re-runs the
    // faulting instruction (trap, bad access) or lets abort() finish.
}

void install_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sa.sa_flags = static_cast<int>(SA_RESETHAND);
    sigemptyset(&sa.sa_mask);
    // __builtin_trap() raises SIGILL on x86 and SIGTRAP elsewhere.
    for (int sig : {SIGILL, SIGTRAP, SIGABRT}) sigaction(sig, &sa, nullptr);
    if (__sanitizer_set_death_callback != nullptr) {
        __sanitizer_set_death_callback(say_current);
    } else {
        // Without a sanitizer nobody else reports bad accesses; with one,
        // taking these over would hide its report.
        for (int sig : {SIGSEGV, SIGBUS, SIGFPE}) sigaction(sig, &sa, nullptr);
    }
}

bool collect(const fs::path& p, std::vector<fs::path>& out) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) {
        out.push_back(p);
        return true;
    }
    if (!fs::is_directory(p, ec)) return false;
    for (const auto& entry : fs::recursive_directory_iterator(p, ec)) {
        if (entry.is_regular_file(ec)) out.push_back(entry.path());
    }
    return !ec;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
        return 2;
    }
    std::vector<fs::path> inputs;
    for (int i = 1; i < argc; ++i) {
        if (!collect(argv[i], inputs)) {
            std::fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 2;
        }
    }
    if (inputs.empty()) {
        // An empty corpus would make the test pass while checking nothing.
        std::fprintf(stderr, "replay: no inputs found\n");
        return 2;
    }
    std::sort(inputs.begin(), inputs.end());
    install_handlers();
    for (const auto& path : inputs) {
        current = path.string();
        std::ifstream in(path, std::ios::binary);
        const std::vector<char> raw{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        if (!in.good() && !in.eof()) {
            std::fprintf(stderr, "replay: cannot read %s\n", current.c_str());
            return 2;
        }
        // An allocation of exactly the input's size, so ASan catches any
        // read past its end.
        const auto data = std::make_unique<std::uint8_t[]>(raw.size());
        if (!raw.empty()) std::memcpy(data.get(), raw.data(), raw.size());
        LLVMFuzzerTestOneInput(data.get(), raw.size());
    }
    std::printf("replayed %zu inputs\n", inputs.size());
    return 0;
}
