// bench-lines: the reading end of a pipe from state-event, for the decode + render figure.
//   state-event 'bench/*' ... | bench-lines READY_FILE
// Creates READY_FILE at the first line (state-event is subscribed and printing: bench-load then
// starts its data), counts lines naming bench/data (one per event in compact and pretty output),
// and stops at the first line naming bench/end. Rate: data events from the first one to the end.
#include <string>

#include "bench_common.hpp"

int main(int argc, char** argv) {
    constexpr const char* prog = "bench-lines";
    if (argc != 2) bench::die(prog, "usage: bench-lines READY_FILE");
    std::string buf(1 << 18, '\0'), carry;
    std::uint64_t events = 0, first_ns = 0, end_ns = 0;
    bool ready = false;
    while (end_ns == 0) {
        const ssize_t n = read(0, buf.data(), buf.size());
        if (n <= 0) break;
        if (!ready) {
            bench::touch(prog, argv[1]);
            ready = true;
        }
        carry.append(buf.data(), static_cast<std::size_t>(n));
        std::size_t pos = 0;
        for (std::size_t nl; (nl = carry.find('\n', pos)) != std::string::npos; pos = nl + 1) {
            const std::string_view line(carry.data() + pos, nl - pos);
            if (line.find("bench/data") != std::string_view::npos) {
                if (events++ == 0) first_ns = bench::now_ns();
            } else if (line.find("bench/end") != std::string_view::npos) {
                end_ns = bench::now_ns();
                break;
            }
        }
        carry.erase(0, pos);
    }
    const double secs = end_ns > first_ns && events > 0 ? static_cast<double>(end_ns - first_ns) / 1e9 : 0;
    std::printf("received=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(events), secs,
                secs > 0 ? static_cast<double>(events) / secs : 0);
    return end_ns != 0 ? 0 : 1;
}
