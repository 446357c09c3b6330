// bench-latency: end-to-end latency through the bus at a paced rate.
//   bench-latency PUB_SOCKET PULL_SOCKET RATE SECONDS
// Subscribes (and proves registration with a bench/hello round trip), then one thread fires one
// event per write at RATE events/s carrying CLOCK_MONOTONIC at send, while another receives and
// records receive - send. Prints p50/p99/p999 in microseconds and how many events were lost.
#include <atomic>
#include <thread>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-latency";
}

int main(int argc, char** argv) {
    if (argc != 5) bench::die(prog, "usage: bench-latency PUB_SOCKET PULL_SOCKET RATE SECONDS");
    const auto rate = bench::number<std::uint64_t>(prog, argv[3]);
    const auto seconds = bench::number<std::uint64_t>(prog, argv[4]);
    if (rate == 0 || seconds == 0) bench::die(prog, "RATE and SECONDS must be positive");
    const std::uint64_t count = rate * seconds;

    const int sub = bench::connect_unix(prog, argv[1]);
    const int pull = bench::connect_unix(prog, argv[2]);
    tagbus::frame_decoder dec;
    std::string rbuf(1 << 16, '\0');

    // Registration round trip, bounded to 5 s.
    const std::string hello = bench::frame("bench/hello/lat", 0, 0, 0, 0);
    bool synced = false;
    for (int i = 0; i < 2500 && !synced; ++i) {
        bench::write_all(prog, pull, hello);
        pollfd p{sub, POLLIN, 0};
        if (poll(&p, 1, 2) <= 0) continue;
        const ssize_t n = read(sub, rbuf.data(), rbuf.size());
        if (n <= 0) bench::die(prog, "lost the bus while subscribing");
        dec.feed(std::string_view(rbuf.data(), static_cast<std::size_t>(n)));
        std::string_view body;
        while (dec.next(body)) synced = true;
    }
    if (!synced) bench::die(prog, "the bus did not echo bench/hello within 5 s");

    std::vector<double> lat;
    lat.reserve(count);
    std::atomic<bool> sending_done{false};
    std::thread rx([&] {
        std::uint64_t quiet_since = 0;
        while (lat.size() < count) {
            pollfd p{sub, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) {
                // Stop 1 s after the sender finished if events never arrive (loss).
                if (sending_done) {
                    if (quiet_since == 0)
                        quiet_since = bench::now_ns();
                    else if (bench::now_ns() - quiet_since > 1'000'000'000u)
                        return;
                }
                continue;
            }
            const ssize_t n = read(sub, rbuf.data(), rbuf.size());
            if (n <= 0) return;
            const std::uint64_t now = bench::now_ns();
            dec.feed(std::string_view(rbuf.data(), static_cast<std::size_t>(n)));
            std::string_view body;
            while (dec.next(body)) {
                auto parts = tagbus::split_body(body);
                if (!parts || parts->first != "bench/data") continue;
                bench::bench_fields f;
                if (bench::fields(parts->second, f) && f.t > 0) lat.push_back(static_cast<double>(now - f.t) / 1000.0);
            }
        }
    });

    const bench::frame_template tpl(prog, "bench/data", 0, 200);
    bench::send_paced(prog, pull, tpl, count, rate);
    sending_done = true;
    rx.join();
    return bench::report_latency(lat, count);
}
