// bench-sse: many server-sent-event clients of event-api at once (issue 12), one thread, epoll.
//   bench-sse PORT PATH CLIENTS COUNT READY_FILE TIMEOUT_S
// Opens CLIENTS HTTP/1.1 connections to 127.0.0.1:PORT and sends `GET PATH` on each. Once every
// client has its response head and first bytes (event-api has registered the stream), creates
// READY_FILE (bench-load, run with WAIT_FILE = READY_FILE, then fires). Each client then reads
// bench/data events (chunked transfer decoded, SSE lines parsed, the JSON's seq checked to rise
// by one) until it has COUNT. With a paced bench-load, whose events carry CLOCK_MONOTONIC in "t",
// the first-byte latency of every event is recorded. Prints: clients, received, seconds (first
// event to last), rate (all clients together), min_client_rate, p50_us/p99_us (paced only).
// COUNT 1 with 10,000 clients is the "held" check: every idle client must get the one event.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-sse";

struct client {
    int fd = -1;
    std::string in;        // bytes read, not parsed yet
    bool head_done = false;
    bool ready = false;    // head and first chunk seen
    std::size_t chunk_left = 0;
    std::size_t crlf_left = 0;
    bool in_chunk = false;
    std::string line;      // SSE line being assembled
    bool want_data = false;  // the last tag: line was bench/data
    std::uint64_t got = 0, next_seq = 0, first_ns = 0, last_ns = 0;
    bool done = false;
};

bool number_after(std::string_view s, std::string_view key, std::uint64_t& out) {
    const std::size_t at = s.find(key);
    if (at == std::string_view::npos) return false;
    const char* b = s.data() + at + key.size();
    auto [p, ec] = std::from_chars(b, s.data() + s.size(), out);
    return ec == std::errc{};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) bench::die(prog, "usage: bench-sse PORT PATH CLIENTS COUNT READY_FILE TIMEOUT_S");
    const auto port = bench::number<std::uint64_t>(prog, argv[1]);
    const std::string path = argv[2];
    const auto nclients = bench::number<std::uint64_t>(prog, argv[3]);
    const auto count = bench::number<std::uint64_t>(prog, argv[4]);
    const std::string ready_file = argv[5];
    const auto timeout_s = bench::number<std::uint64_t>(prog, argv[6]);
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);

    const int ep = epoll_create1(0);
    std::vector<client> cs(nclients);
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
    for (std::size_t i = 0; i < cs.size(); ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) bench::die(prog, std::string("socket: ") + std::strerror(errno));
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            bench::die(prog, "connect " + std::to_string(i) + ": " + std::strerror(errno));
        bench::write_all(prog, fd, request);
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        cs[i].fd = fd;
    }
    std::vector<double> lat_us;
    lat_us.reserve(count > 1 ? count * std::min<std::uint64_t>(nclients, 4) : 16);
    std::uint64_t ready = 0, done = 0;
    const std::uint64_t deadline = bench::now_ns() + timeout_s * 1000000000ull;
    std::vector<epoll_event> evs(1024);
    std::string buf(1 << 16, '\0');
    auto on_line = [&](client& c, std::string_view l) {
        if (l.substr(0, 5) == "tag: ") {
            c.want_data = l.substr(5) == "bench/data";
        } else if (l.substr(0, 6) == "data: " && c.want_data && !c.done) {
            const std::uint64_t now = bench::now_ns();
            std::uint64_t seq = 0, t = 0;
            if (!number_after(l, "\"seq\": ", seq)) bench::die(prog, "an event without seq");
            if (c.got == 0) c.next_seq = seq;
            if (seq != c.next_seq) bench::die(prog, "a client got an event out of order, or lost one");
            ++c.next_seq;
            if (number_after(l, "\"t\": ", t) && t != bench::t_marker && t < now && lat_us.size() < lat_us.capacity())
                lat_us.push_back(static_cast<double>(now - t) / 1000.0);
            if (c.got++ == 0) c.first_ns = now;
            c.last_ns = now;
            if (c.got == count) {
                c.done = true;
                ++done;
            }
        }
    };
    // SSE lines, one memchr a line; a line cut by a read waits in c.line.
    auto feed_sse = [&](client& c, std::string_view data) {
        while (!data.empty()) {
            const void* nl = std::memchr(data.data(), '\n', data.size());
            if (nl == nullptr) {
                c.line.append(data);
                return;
            }
            const std::size_t len = static_cast<std::size_t>(static_cast<const char*>(nl) - data.data());
            if (c.line.empty()) {
                on_line(c, data.substr(0, len));
            } else {
                c.line.append(data.substr(0, len));
                on_line(c, c.line);
                c.line.clear();
            }
            data.remove_prefix(len + 1);
        }
    };
    while (done < cs.size()) {
        if (bench::now_ns() > deadline)
            bench::die(prog, "timed out: " + std::to_string(ready) + " clients ready, " + std::to_string(done) + " done of " +
                                 std::to_string(cs.size()));
        const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 100);
        for (int k = 0; k < n; ++k) {
            client& c = cs[evs[k].data.u64];
            for (;;) {
                const ssize_t r = read(c.fd, buf.data(), buf.size());
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (r <= 0) bench::die(prog, "a stream ended (the server dropped a client?)");
                c.in.append(buf.data(), static_cast<std::size_t>(r));
                // HTTP head, then chunked transfer coding
                std::size_t at = 0;
                if (!c.head_done) {
                    const std::size_t end = c.in.find("\r\n\r\n");
                    if (end == std::string::npos) continue;
                    if (c.in.compare(0, 12, "HTTP/1.1 200") != 0) bench::die(prog, "not 200: " + c.in.substr(0, c.in.find('\r')));
                    c.head_done = true;
                    at = end + 4;
                }
                for (;;) {
                    if (c.crlf_left > 0) {  // the CRLF that ends a chunk
                        const std::size_t take = std::min(c.crlf_left, c.in.size() - at);
                        at += take;
                        c.crlf_left -= take;
                        if (c.crlf_left > 0) break;
                        continue;
                    }
                    if (!c.in_chunk) {
                        const std::size_t eol = c.in.find("\r\n", at);
                        if (eol == std::string::npos) break;
                        std::size_t size = 0;
                        auto [p, ec] = std::from_chars(c.in.data() + at, c.in.data() + eol, size, 16);
                        if (ec != std::errc{}) bench::die(prog, "bad chunk size");
                        if (size == 0) bench::die(prog, "the server ended a stream");
                        c.chunk_left = size;
                        c.in_chunk = true;
                        at = eol + 2;
                    }
                    const std::size_t take = std::min(c.chunk_left, c.in.size() - at);
                    feed_sse(c, std::string_view(c.in).substr(at, take));
                    if (!c.ready && take > 0) {
                        c.ready = true;
                        if (++ready == cs.size()) bench::touch(prog, ready_file);
                    }
                    at += take;
                    c.chunk_left -= take;
                    if (c.chunk_left > 0) break;
                    c.in_chunk = false;
                    c.crlf_left = 2;
                }
                c.in.erase(0, at);
            }
        }
    }
    std::uint64_t first = ~0ull, last = 0, total = 0;
    double min_rate = -1;
    for (const auto& c : cs) {
        first = std::min(first, c.first_ns);
        last = std::max(last, c.last_ns);
        total += c.got;
        if (c.got > 1 && c.last_ns > c.first_ns) {
            const double r = static_cast<double>(c.got - 1) / (static_cast<double>(c.last_ns - c.first_ns) / 1e9);
            if (min_rate < 0 || r < min_rate) min_rate = r;
        }
    }
    const double secs = static_cast<double>(last - first) / 1e9;
    std::printf("clients=%zu received=%llu seconds=%.6f rate=%.0f min_client_rate=%.0f", cs.size(),
                static_cast<unsigned long long>(total), secs, secs > 0 ? static_cast<double>(total) / secs : 0.0,
                min_rate < 0 ? 0.0 : min_rate);
    if (!lat_us.empty())
        std::printf(" p50_us=%.1f p99_us=%.1f", bench::percentile(lat_us, 0.50), bench::percentile(lat_us, 0.99));
    std::printf("\n");
    return 0;
}
