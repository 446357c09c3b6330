// bench-load: a publisher on the bus's pull socket.
//   bench-load PULL_SOCKET COUNT ID [RATE [WAIT_FILE]]
// Sends COUNT events tagged bench/data with data {pub: ID, seq, t, pad} (~200-byte frames).
// RATE 0 pipelines: frames are written in batches as fast as the socket accepts them.
// RATE > 0 paces one write per event at that many events/s (t = CLOCK_MONOTONIC at send).
// WAIT_FILE: first fire bench/hello every 5 ms until that file exists (a consumer that can only
// show readiness by printing, such as state-event, then creates it), and end with bench/end.
#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-load";
constexpr std::size_t frame_size = 200;
constexpr std::size_t batch = 256;
}  // namespace

int main(int argc, char** argv) {
    if (argc < 4 || argc > 6) bench::die(prog, "usage: bench-load PULL_SOCKET COUNT ID [RATE [WAIT_FILE]]");
    const std::string pull = argv[1];
    const auto count = bench::number<std::uint64_t>(prog, argv[2]);
    const auto id = bench::number<std::uint64_t>(prog, argv[3]);
    const auto rate = argc > 4 ? bench::number<std::uint64_t>(prog, argv[4]) : 0;
    const std::string wait_file = argc > 5 ? argv[5] : "";

    const int fd = bench::connect_unix(prog, pull);
    if (!wait_file.empty()) {
        const std::string hello = bench::frame("bench/hello", id, 0, 0, 0);
        const std::uint64_t deadline = bench::now_ns() + 10'000'000'000u;
        while (!bench::file_exists(wait_file)) {
            if (bench::now_ns() > deadline) bench::die(prog, "nobody created " + wait_file + " within 10 s");
            bench::write_all(prog, fd, hello);
            usleep(5000);  // a bench probe interval, not synchronisation: the file decides
        }
    }

    const bench::frame_template tpl(prog, "bench/data", id, frame_size);
    std::string buf;
    buf.reserve(batch * (tpl.bytes.size() + 8));
    const std::uint64_t start = bench::now_ns();
    if (rate == 0) {
        for (std::uint64_t i = 0; i < count;) {
            buf.clear();
            const std::uint64_t t = bench::now_ns();
            for (std::size_t k = 0; k < batch && i < count; ++k, ++i) tpl.append(buf, i, t);
            bench::write_all(prog, fd, buf);
        }
    } else {
        bench::send_paced(prog, fd, tpl, count, rate);
    }
    const double secs = static_cast<double>(bench::now_ns() - start) / 1e9;
    if (!wait_file.empty()) bench::write_all(prog, fd, bench::frame("bench/end", id, 0, 0, 0));
    close(fd);
    std::printf("sent=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(count), secs,
                static_cast<double>(count) / secs);
    return 0;
}
