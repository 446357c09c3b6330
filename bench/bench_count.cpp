// bench-count: a counting subscriber on the bus's pub socket.
//   bench-count PUB_SOCKET PULL_SOCKET PUBLISHERS COUNT READY_FILE [TIMEOUT_S]
// Subscribes, proves the bus has registered it (fires bench/hello/<pid> on the pull socket until it
// comes back), creates READY_FILE, then expects COUNT bench/data events from each publisher id
// 0..PUBLISHERS-1, each publisher's seq in order with no gap. Prints the receive rate from the first
// to the last data event. Exit 0: all received in order; 1: loss, reorder or timeout.
#include <string>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-count";
}

int main(int argc, char** argv) {
    if (argc < 6 || argc > 7)
        bench::die(prog, "usage: bench-count PUB_SOCKET PULL_SOCKET PUBLISHERS COUNT READY_FILE [TIMEOUT_S]");
    const auto pubs = bench::number<std::uint64_t>(prog, argv[3]);
    const auto count = bench::number<std::uint64_t>(prog, argv[4]);
    const std::string ready = argv[5];
    const auto timeout_s = argc > 6 ? bench::number<std::uint64_t>(prog, argv[6]) : 60;

    const int sub = bench::connect_unix(prog, argv[1]);
    const int pull = bench::connect_unix(prog, argv[2]);
    const std::string hello_tag = "bench/hello/" + std::to_string(getpid());
    const std::string hello = bench::frame(hello_tag, 0, 0, 0, 0);

    tagbus::frame_decoder dec;
    std::vector<std::uint64_t> next(pubs, 0);
    std::uint64_t total = 0, errors = 0, first_ns = 0, last_ns = 0;
    const std::uint64_t want = pubs * count;
    bool synced = false;
    std::uint64_t last_hello = 0;
    const std::uint64_t deadline = bench::now_ns() + timeout_s * 1'000'000'000u;
    std::string rbuf(1 << 18, '\0');

    while (total < want) {
        const std::uint64_t now = bench::now_ns();
        if (now > deadline) break;
        if (!synced && now - last_hello > 2'000'000) {
            bench::write_all(prog, pull, hello);
            last_hello = now;
        }
        pollfd p{sub, POLLIN, 0};
        if (poll(&p, 1, synced ? 100 : 2) <= 0) continue;
        const ssize_t n = read(sub, rbuf.data(), rbuf.size());
        if (n == 0) bench::die(prog, "the bus closed the connection");
        if (n < 0) {
            if (errno == EINTR) continue;
            bench::die(prog, std::string("cannot read: ") + std::strerror(errno));
        }
        dec.feed(std::string_view(rbuf.data(), static_cast<std::size_t>(n)));
        std::string_view body;
        while (dec.next(body)) {
            auto parts = tagbus::split_body(body);
            if (!parts) bench::die(prog, parts.error().message);
            const auto [tag, packed] = *parts;
            if (tag == "bench/data") {
                bench::bench_fields f;
                if (!bench::fields(packed, f)) bench::die(prog, "a bench/data event without pub, seq and t");
                const std::uint64_t pub = f.pub, seq = f.seq;
                if (pub >= pubs || seq < bench::seq_base) {
                    ++errors;
                    continue;
                }
                const auto s = seq - bench::seq_base;
                if (s != next[static_cast<std::size_t>(pub)]) {
                    if (errors == 0)
                        std::fprintf(stderr, "%s: publisher %llu: expected seq %llu, got %llu\n", prog,
                                     static_cast<unsigned long long>(pub),
                                     static_cast<unsigned long long>(next[static_cast<std::size_t>(pub)]),
                                     static_cast<unsigned long long>(s));
                    ++errors;
                }
                next[static_cast<std::size_t>(pub)] = s + 1;
                if (total++ == 0) first_ns = bench::now_ns();
            } else if (!synced && tag == hello_tag) {
                synced = true;
                bench::touch(prog, ready);
            }
        }
        if (dec.error() != nullptr) bench::die(prog, dec.error()->message);
        last_ns = bench::now_ns();
    }
    const double secs = total > 1 ? static_cast<double>(last_ns - first_ns) / 1e9 : 0;
    std::printf("received=%llu expected=%llu errors=%llu seconds=%.6f rate=%.0f\n",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(want),
                static_cast<unsigned long long>(errors), secs, secs > 0 ? static_cast<double>(total) / secs : 0);
    return total == want && errors == 0 ? 0 : 1;
}
