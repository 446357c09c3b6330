// bench-raw: the ceiling for a relay: one writer, one reader on a Unix stream socketpair,
// 200-byte messages written in batches of 256 and read in 256 KiB reads.
//   bench-raw COUNT
#include <sys/socket.h>

#include <thread>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-raw";
constexpr std::size_t msg = 200, batch = 256;
}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) bench::die(prog, "usage: bench-raw COUNT");
    const auto count = bench::number<std::uint64_t>(prog, argv[1]);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        bench::die(prog, std::string("cannot create socketpair: ") + std::strerror(errno));
    const std::uint64_t start = bench::now_ns();
    std::thread writer([&] {
        const std::string buf(msg * batch, 'x');
        for (std::uint64_t i = 0; i < count; i += batch)
            bench::write_all(prog, sv[0], std::string_view(buf).substr(0, msg * std::min<std::uint64_t>(batch, count - i)));
        close(sv[0]);
    });
    std::string rbuf(1 << 18, '\0');
    std::uint64_t bytes = 0;
    for (;;) {
        const ssize_t n = read(sv[1], rbuf.data(), rbuf.size());
        if (n <= 0) break;
        bytes += static_cast<std::uint64_t>(n);
    }
    const double secs = static_cast<double>(bench::now_ns() - start) / 1e9;
    writer.join();
    const auto got = bytes / msg;
    std::printf("received=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(got), secs,
                static_cast<double>(got) / secs);
    return got == count ? 0 : 1;
}
