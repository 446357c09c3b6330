// Without libFuzzer (gcc builds), each fuzz target is linked with this driver and runs as a test:
// every file named, or every file in every folder named, goes through the target once, as the
// fuzzer's own binary does when given files. A crash input kept in the corpus stays fixed.
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

// As libFuzzer's -timeout: an input that runs away fails the test at once, naming the file,
// instead of growing until the test's own timeout.
constexpr unsigned input_seconds = 20;
char current[4096];

extern "C" void on_alarm(int) {
    static const char head[] = "replay: timeout: over 20 s on ";
    [[maybe_unused]] auto n = ::write(2, head, sizeof head - 1);
    n = ::write(2, current, std::strlen(current));
    n = ::write(2, "\n", 1);
    ::_exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    namespace fs = std::filesystem;
    std::vector<fs::path> files;
    for (int i = 1; i < argc; ++i) {
        std::error_code ec;
        if (fs::is_directory(argv[i], ec)) {
            for (const auto& e : fs::directory_iterator(argv[i]))
                if (e.is_regular_file()) files.push_back(e.path());
        } else {
            files.emplace_back(argv[i]);
        }
    }
    std::sort(files.begin(), files.end());
    std::signal(SIGALRM, on_alarm);
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        if (!in) {
            std::fprintf(stderr, "replay: cannot read %s\n", f.c_str());
            return 74;
        }
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.c_str(), bytes.size());
        std::snprintf(current, sizeof current, "%s", f.c_str());
        ::alarm(input_seconds);
        LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("replay: %zu inputs, no invariant broken\n", files.size());
    return files.empty() ? 1 : 0;
}
