// bench-raw: the machine's ceilings for a relay, measured with bare Unix stream sockets.
//   bench-raw COUNT              throughput: one writer, one reader on a socketpair, 200-byte
//                                messages written in batches of 256 and read in 256 KiB reads
//   bench-raw lat RATE SECONDS   latency floor: a paced sender thread -> a relay process that
//                                only copies bytes -> a receiver thread; three wake-ups per
//                                message, as through event-busd, with no decoding anywhere
#include <sys/socket.h>
#include <sys/wait.h>

#include <thread>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-raw";
constexpr std::size_t msg = 200, batch = 256;

int throughput(std::uint64_t count) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        bench::die(prog, std::string("cannot create socketpair: ") + std::strerror(errno));
    const std::uint64_t start = bench::now_ns();
    std::thread writer([&] {
        const std::string buf(msg * batch, 'x');
        for (std::uint64_t i = 0; i < count; i += batch)
            bench::write_all(prog, sv[0],
                             std::string_view(buf).substr(0, msg * std::min<std::uint64_t>(batch, count - i)));
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

// Each message is 200 bytes starting with its send time (8 bytes, native order); the stream is
// read back in whole messages.
int latency(std::uint64_t rate, std::uint64_t seconds) {
    const std::uint64_t count = rate * seconds;
    int in[2], out[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in) != 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out) != 0)
        bench::die(prog, std::string("cannot create socketpair: ") + std::strerror(errno));
    const pid_t relay = fork();
    if (relay < 0) bench::die(prog, std::string("cannot fork: ") + std::strerror(errno));
    if (relay == 0) {
        close(in[0]);
        close(out[1]);
        char buf[1 << 16];
        for (;;) {
            const ssize_t n = read(in[1], buf, sizeof buf);
            if (n <= 0) _exit(0);
            bench::write_all(prog, out[0], std::string_view(buf, static_cast<std::size_t>(n)));
        }
    }
    close(in[1]);
    close(out[0]);
    std::vector<double> lat;
    lat.reserve(count);
    std::thread rx([&] {
        std::string pending;
        char buf[1 << 16];
        while (lat.size() < count) {
            const ssize_t n = read(out[1], buf, sizeof buf);
            if (n <= 0) return;
            const std::uint64_t now = bench::now_ns();
            pending.append(buf, static_cast<std::size_t>(n));
            std::size_t at = 0;
            for (; pending.size() - at >= msg; at += msg) {
                std::uint64_t t = 0;
                std::memcpy(&t, pending.data() + at, sizeof t);
                lat.push_back(static_cast<double>(now - t) / 1000.0);
            }
            pending.erase(0, at);
        }
    });
    std::string m(msg, 'x');
    const std::uint64_t start = bench::now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        bench::pace(start, rate, i);
        const std::uint64_t t = bench::now_ns();
        std::memcpy(m.data(), &t, sizeof t);
        bench::write_all(prog, in[0], m);
    }
    rx.join();
    close(in[0]);
    close(out[1]);
    waitpid(relay, nullptr, 0);
    return bench::report_latency(lat, count);
}
}  // namespace

int main(int argc, char** argv) {
    if (argc == 2) return throughput(bench::number<std::uint64_t>(prog, argv[1]));
    if (argc == 4 && std::string_view(argv[1]) == "lat")
        return latency(bench::number<std::uint64_t>(prog, argv[2]), bench::number<std::uint64_t>(prog, argv[3]));
    bench::die(prog, "usage: bench-raw COUNT | bench-raw lat RATE SECONDS");
}
