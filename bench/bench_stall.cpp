// bench-stall: a subscriber that never reads, to measure what one stalled consumer costs the bus.
//   bench-stall PUB_SOCKET READY_FILE [TIMEOUT_S]
// Connects with the smallest receive buffer the kernel allows, creates READY_FILE, then waits
// without reading until the bus drops it (prints "dropped_after_s=...", exit 0) or TIMEOUT_S
// (default 60) passes (prints "not_dropped", exit 1).
#include <sys/socket.h>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-stall";
}

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) bench::die(prog, "usage: bench-stall PUB_SOCKET READY_FILE [TIMEOUT_S]");
    const auto timeout_s = argc > 3 ? bench::number<std::uint64_t>(prog, argv[3]) : 60;
    const int fd = bench::connect_unix(prog, argv[1]);
    int small = 1;  // the kernel rounds it up to its minimum
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    bench::touch(prog, argv[2]);
    const std::uint64_t start = bench::now_ns();
    const std::uint64_t deadline = start + timeout_s * 1'000'000'000u;
    // POLLHUP/POLLRDHUP say the bus closed its end; the data queued in our buffer is never read.
    while (bench::now_ns() < deadline) {
        pollfd p{fd, POLLRDHUP, 0};
        if (poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
            std::printf("dropped_after_s=%.3f\n", static_cast<double>(bench::now_ns() - start) / 1e9);
            return 0;
        }
    }
    std::printf("not_dropped\n");
    return 1;
}
