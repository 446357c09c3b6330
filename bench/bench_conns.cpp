// bench-conns: event-busd at scale, many subscribers held and many publishers served at once.
//   bench-conns PUB_SOCKET PULL_SOCKET SUBSCRIBERS PUBLISHERS EVENTS_PER_PUBLISHER [TIMEOUT_S]
// 1. Raises its own RLIMIT_NOFILE and opens SUBSCRIBERS connections to the pub socket.
// 2. Proves the bus has registered every one: fires bench/conns/probe/<pid> on the pull socket
//    every few milliseconds until each subscriber has received a probe.
// 3. Opens PUBLISHERS connections to the pull socket; a writer thread sends each publisher's
//    EVENTS_PER_PUBLISHER bench/data events round-robin, a few events per write, while the main
//    thread reads every subscriber (one epoll set).
// 4. Every subscriber must get exactly PUBLISHERS x EVENTS_PER_PUBLISHER data events whose
//    (publisher, seq) pairs sum to the expected total; a sample of subscribers also checks each
//    publisher's seq in order with no gap.
// Prints one line: connect_s from the first connect until every subscriber is registered,
// seconds from the first publisher's connect until every subscriber has every event, delivered
// and rate counting events received over all subscribers. Exit 0 only when every subscriber got
// every event; 1 otherwise (loss, reorder, a dropped connection or the deadline: TIMEOUT_S
// seconds, default 120, for each phase).
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include <csignal>
#include <string>
#include <thread>

#include "bench_common.hpp"

namespace {

constexpr const char* prog = "bench-conns";
// Events per write: publishers interleave at a fine grain, as many small clients would.
constexpr std::uint64_t events_per_write = 4;
constexpr std::size_t frame_size = 120;
// Subscribers whose every publisher's order is checked (the others are checked by count and sum).
constexpr std::size_t order_samples = 16;
// Between two probes while waiting for the bus to register every subscriber.
constexpr std::uint64_t probe_interval_ns = 5'000'000;
// Reads per subscriber are small: 10,000 decoders each keep a buffer of the largest read.
constexpr std::size_t read_size = 16 * 1024;

struct subscriber {
    int fd = -1;
    tagbus::frame_decoder dec;
    bool probed = false;
    std::uint64_t data = 0;
    std::uint64_t sum = 0;  // of pub * EVENTS_PER_PUBLISHER + seq over the data events received
    int sample = -1;        // index into the order check's expected-seq tables, or -1
};

void raise_open_files(std::uint64_t need) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        bench::die(prog, std::string("cannot read RLIMIT_NOFILE: ") + std::strerror(errno));
    lim.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &lim) != 0)
        bench::die(prog, std::string("cannot raise RLIMIT_NOFILE: ") + std::strerror(errno));
    if (lim.rlim_cur < need)
        bench::die(prog, "RLIMIT_NOFILE hard limit " + std::to_string(lim.rlim_cur) + " is below the " +
                             std::to_string(need) + " descriptors this run needs");
}

std::uint64_t deadline_after(std::uint64_t timeout_s) { return bench::now_ns() + timeout_s * 1'000'000'000u; }

/// A connection to `path`. Non-blocking first; a full listen backlog (EAGAIN on a Unix socket) is
/// waited out by one blocking connect bounded by SO_SNDTIMEO, which the kernel wakes as soon as
/// the bus accepts: no sleep, no spin. Returns the descriptor in the mode asked for; counts waits.
int connect_to(const std::string& path, bool nonblocking, std::uint64_t deadline, std::uint64_t& backlog_waits) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) bench::die(prog, std::string("cannot create socket: ") + std::strerror(errno));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) bench::die(prog, "socket path too long: " + path);
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    auto* addr = reinterpret_cast<sockaddr*>(&sa);
    int err = connect(fd, addr, sizeof sa) == 0 ? 0 : errno;
    const bool wait = err == EAGAIN;
    if (wait || !nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (wait) {
        ++backlog_waits;
        const std::uint64_t now = bench::now_ns();
        const std::uint64_t left = deadline > now ? deadline - now : 1000;
        timeval tv{static_cast<time_t>(left / 1'000'000'000u), static_cast<suseconds_t>(left % 1'000'000'000u / 1000)};
        if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        err = connect(fd, addr, sizeof sa) == 0 ? 0 : errno;
        if (err == EAGAIN) err = ETIMEDOUT;  // the listen backlog stayed full until the deadline
        const timeval none{};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
        if (nonblocking) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    if (err != 0) bench::die(prog, "cannot connect to " + path + ": " + std::strerror(err));
    return fd;
}

double seconds(std::uint64_t from, std::uint64_t to) { return static_cast<double>(to - from) / 1e9; }

/// Everything the reader needs to know about one run.
struct run {
    std::uint64_t subs = 0, pubs = 0, per_pub = 0, timeout_s = 120;
    std::string pub_path, pull_path;
    std::vector<subscriber> subscribers;
    std::vector<std::vector<std::uint64_t>> next;  // per sample, per publisher: the seq expected
    std::string probe_tag;
    std::uint64_t registered = 0, complete = 0, errors = 0, delivered = 0, backlog_waits = 0, probes = 0;
    int ep = -1;
    std::string rbuf = std::string(read_size, '\0');

    std::uint64_t want() const { return pubs * per_pub; }
    void error(const std::string& what) {
        if (errors++ < 5) std::fprintf(stderr, "%s: %s\n", prog, what.c_str());
    }
    void on_frame(std::size_t k, std::string_view body);
    void read_ready(std::size_t k);
    void wait_once(int timeout_ms);
    void connect_subscribers();
    void await_registration();
    void publish_and_receive();
    void check_sums();
};

void run::on_frame(std::size_t k, std::string_view body) {
    subscriber& s = subscribers[k];
    auto parts = tagbus::split_body(body);
    if (!parts) return error("subscriber " + std::to_string(k) + ": " + parts.error().message);
    const auto [tag, packed] = *parts;
    if (tag != "bench/data") {
        if (!s.probed && tag == probe_tag) {
            s.probed = true;
            ++registered;
        }
        return;  // later probes, or someone else's events on the bus
    }
    bench::bench_fields f;
    if (!bench::fields(packed, f)) return error("a bench/data event without pub, seq and t");
    const std::uint64_t seq = f.seq - bench::seq_base;
    if (f.pub >= pubs || f.seq < bench::seq_base || seq >= per_pub)
        return error("subscriber " + std::to_string(k) + ": event from no publisher of this run");
    ++delivered;
    s.sum += f.pub * per_pub + seq;
    if (++s.data == want()) ++complete;
    if (s.data > want()) error("subscriber " + std::to_string(k) + ": more events than were sent");
    if (s.sample < 0) return;
    auto& expect = next[static_cast<std::size_t>(s.sample)][f.pub];
    if (seq != expect)
        error("subscriber " + std::to_string(k) + ", publisher " + std::to_string(f.pub) + ": expected seq " +
              std::to_string(expect) + ", got " + std::to_string(seq));
    expect = seq + 1;
}

void run::read_ready(std::size_t k) {
    subscriber& s = subscribers[k];
    for (;;) {
        const ssize_t n = read(s.fd, rbuf.data(), rbuf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n <= 0) {
            error("subscriber " + std::to_string(k) + ": the bus closed the connection" +
                  (n < 0 ? std::string(": ") + std::strerror(errno) : std::string()));
            epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
            return;
        }
        s.dec.feed(std::string_view(rbuf.data(), static_cast<std::size_t>(n)));
        std::string_view body;
        while (s.dec.next(body)) on_frame(k, body);
        if (s.dec.error() != nullptr) {
            error("subscriber " + std::to_string(k) + ": " + s.dec.error()->message);
            epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
            return;
        }
        if (static_cast<std::size_t>(n) < rbuf.size()) return;
    }
}

/// One epoll_wait, bounded by timeout_ms, and the reads it reports.
void run::wait_once(int timeout_ms) {
    epoll_event evs[512];
    const int n = epoll_wait(ep, evs, 512, timeout_ms);
    if (n < 0 && errno != EINTR) bench::die(prog, std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) read_ready(evs[i].data.u32);
}

int ms_until(std::uint64_t t) {
    const std::uint64_t now = bench::now_ns();
    return t > now ? static_cast<int>((t - now) / 1'000'000u) + 1 : 0;
}

/// The writer thread: every publisher's events, round-robin, events_per_write per write. Blocking
/// writes are safe because the main thread keeps reading every subscriber meanwhile.
void write_all_events(const run& r, const std::vector<int>& fds, std::string& error) {
    std::vector<bench::frame_template> tpl;
    tpl.reserve(r.pubs);
    for (std::uint64_t p = 0; p < r.pubs; ++p) tpl.emplace_back(prog, "bench/data", p, frame_size);
    std::string buf;
    for (std::uint64_t seq = 0; seq < r.per_pub; seq += events_per_write) {
        const std::uint64_t end = std::min(seq + events_per_write, r.per_pub);
        for (std::uint64_t p = 0; p < r.pubs; ++p) {
            buf.clear();
            for (std::uint64_t s = seq; s < end; ++s) tpl[p].append(buf, s, bench::now_ns());
            for (std::string_view left = buf; !left.empty();) {
                const ssize_t n = write(fds[p], left.data(), left.size());
                if (n < 0 && errno == EINTR) continue;
                if (n < 0) {
                    error = "publisher " + std::to_string(p) + ": cannot write: " + std::strerror(errno);
                    return;
                }
                left.remove_prefix(static_cast<std::size_t>(n));
            }
        }
    }
}

void run::connect_subscribers() {
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) bench::die(prog, std::string("epoll_create1: ") + std::strerror(errno));
    const std::size_t samples = std::min<std::uint64_t>(order_samples, subs);
    subscribers.resize(subs);
    for (std::size_t i = 0; i < samples; ++i) {
        const std::size_t k = samples == 1 ? 0 : i * (subs - 1) / (samples - 1);
        subscribers[k].sample = static_cast<int>(i);
    }
    next.assign(samples, std::vector<std::uint64_t>(pubs, 0));
    const std::uint64_t deadline = deadline_after(timeout_s);
    for (std::size_t k = 0; k < subs; ++k) {
        subscribers[k].fd = connect_to(pub_path, true, deadline, backlog_waits);
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<std::uint32_t>(k);
        if (epoll_ctl(ep, EPOLL_CTL_ADD, subscribers[k].fd, &ev) != 0)
            bench::die(prog, std::string("epoll_ctl: ") + std::strerror(errno));
    }
}

/// Connected is not registered: the bus may not have accepted a connection yet. A probe fired
/// after every subscriber has one proves it.
void run::await_registration() {
    const std::uint64_t deadline = deadline_after(timeout_s);
    const int fd = connect_to(pull_path, false, deadline, backlog_waits);
    probe_tag = "bench/conns/probe/" + std::to_string(getpid());
    std::uint64_t next_probe = 0;
    while (registered < subs && errors == 0) {
        const std::uint64_t now = bench::now_ns();
        if (now > deadline) break;
        if (now >= next_probe) {
            bench::write_all(prog, fd, bench::frame(probe_tag, 0, probes++, now, 0));
            next_probe = now + probe_interval_ns;
        }
        wait_once(ms_until(next_probe));
    }
    close(fd);
    if (registered < subs)
        error("only " + std::to_string(registered) + " of " + std::to_string(subs) + " subscribers registered");
}

void run::publish_and_receive() {
    const std::uint64_t deadline = deadline_after(timeout_s);
    std::vector<int> fds;
    for (std::uint64_t p = 0; p < pubs; ++p) {
        fds.push_back(connect_to(pull_path, false, deadline, backlog_waits));
        // A bus that stops reading cannot hold the writer past the deadline.
        const timeval tv{static_cast<time_t>(timeout_s), 0};
        setsockopt(fds.back(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    std::string write_error;  // set by the writer thread, read after join()
    std::thread writer([this, &fds, &write_error] { write_all_events(*this, fds, write_error); });
    while (complete < subs && errors == 0 && bench::now_ns() < deadline) wait_once(ms_until(deadline));
    // On failure the writer may be blocked on a publisher the bus no longer reads.
    if (complete < subs)
        for (int fd : fds) shutdown(fd, SHUT_WR);
    writer.join();
    if (!write_error.empty()) error(write_error);
    for (int fd : fds) close(fd);
    if (complete < subs)
        error(std::to_string(complete) + " of " + std::to_string(subs) + " subscribers got every event in time");
}

/// Count and order were checked as events arrived; the sum catches a duplicate hiding a loss.
void run::check_sums() {
    const std::uint64_t n = want();
    for (std::size_t k = 0; k < subs; ++k) {
        const auto& s = subscribers[k];
        if (s.data == n && s.sum != n * (n - 1) / 2)
            error("subscriber " + std::to_string(k) + ": events lost and duplicated");
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 6 || argc > 7)
        bench::die(prog,
                   "usage: bench-conns PUB_SOCKET PULL_SOCKET SUBSCRIBERS PUBLISHERS EVENTS_PER_PUBLISHER [TIMEOUT_S]");
    run r;
    r.pub_path = argv[1];
    r.pull_path = argv[2];
    r.subs = bench::number<std::uint64_t>(prog, argv[3]);
    r.pubs = bench::number<std::uint64_t>(prog, argv[4]);
    r.per_pub = bench::number<std::uint64_t>(prog, argv[5]);
    if (argc > 6) r.timeout_s = bench::number<std::uint64_t>(prog, argv[6]);
    if (r.subs == 0 || r.pubs == 0 || r.per_pub == 0)
        bench::die(prog, "SUBSCRIBERS, PUBLISHERS and EVENTS must be > 0");
    raise_open_files(r.subs + r.pubs + 64);
    std::signal(SIGPIPE, SIG_IGN);  // a dropped publisher is an error to report, not a death

    const std::uint64_t t_connect = bench::now_ns();
    r.connect_subscribers();
    r.await_registration();
    const std::uint64_t t_data = bench::now_ns();
    if (r.errors == 0) r.publish_and_receive();
    const std::uint64_t t_done = bench::now_ns();
    r.check_sums();

    const double secs = seconds(t_data, t_done);
    std::printf(
        "subscribers=%llu publishers=%llu events=%llu connect_s=%.3f backlog_waits=%llu probes=%llu "
        "delivered=%llu expected=%llu errors=%llu seconds=%.3f rate=%.0f\n",
        static_cast<unsigned long long>(r.subs), static_cast<unsigned long long>(r.pubs),
        static_cast<unsigned long long>(r.want()), seconds(t_connect, t_data),
        static_cast<unsigned long long>(r.backlog_waits), static_cast<unsigned long long>(r.probes),
        static_cast<unsigned long long>(r.delivered), static_cast<unsigned long long>(r.want() * r.subs),
        static_cast<unsigned long long>(r.errors), secs, secs > 0 ? static_cast<double>(r.delivered) / secs : 0);
    return r.errors == 0 && r.complete == r.subs ? 0 : 1;
}
