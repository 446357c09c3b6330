// Shared helpers for the bench programs: clocks, blocking Unix-socket I/O and the benchmark event.
// Bench code may use raw POSIX sockets (STYLE.md keeps them out of the tools, not out of bench/).
#pragma once

#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "tagbus/event.hpp"
#include "wire/frame.hpp"
#include "tagbus/value.hpp"

namespace bench {

inline std::uint64_t now_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u + static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] inline void die(const char* prog, const std::string& what) {
    std::fprintf(stderr, "%s: %s\n", prog, what.c_str());
    std::exit(2);
}

template <typename T>
T number(const char* prog, std::string_view s) {
    T v{};
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || p != s.data() + s.size()) die(prog, "not a number: '" + std::string(s) + "'");
    return v;
}

inline int connect_unix(const char* prog, const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) die(prog, std::string("cannot create socket: ") + std::strerror(errno));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) die(prog, "socket path too long: " + path);
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
        die(prog, "cannot connect to " + path + ": " + std::strerror(errno));
    return fd;
}

inline void write_all(const char* prog, int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            die(prog, std::string("cannot write: ") + std::strerror(errno));
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
}

inline bool file_exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

inline void touch(const char* prog, const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) die(prog, "cannot create " + path + ": " + std::strerror(errno));
    std::fclose(f);
}

/// One frame of `tag` with data {"pub": id, "seq": seq, "t": t_ns, "pad": "..."}.
inline std::string frame(std::string_view tag, std::uint64_t id, std::uint64_t seq, std::uint64_t t_ns,
                         std::size_t pad) {
    tagbus::value data{tagbus::map_t{{"pub", id}, {"seq", seq}, {"t", t_ns}, {"pad", std::string(pad, 'x')}}};
    auto body = tagbus::encode_body(tag, data, tagbus::default_max_event_size, false);
    std::string out;
    tagbus::append_frame(out, *body, tagbus::framing::legacy);
    return out;
}

/// Sequence numbers and timestamps start above 2^32 so msgpack always packs them as uint64
/// (0xcf + 8 bytes): every frame then has the same layout and a template can be patched in place
/// instead of re-encoding each event (the load generator must not be the bottleneck).
inline constexpr std::uint64_t seq_base = std::uint64_t{1} << 33;
inline constexpr std::uint64_t t_marker = (std::uint64_t{1} << 62) + 12345;

struct frame_template {
    std::string bytes;
    std::size_t seq_at = 0;
    std::size_t t_at = 0;

    frame_template(const char* prog, std::string_view tag, std::uint64_t id, std::size_t frame_size) {
        bytes = frame(tag, id, seq_base, t_marker, 0);
        const std::size_t pad = frame_size > bytes.size() + 2 ? frame_size - bytes.size() - 2 : 0;
        bytes = frame(tag, id, seq_base, t_marker, pad);
        seq_at = find_u64(prog, seq_base);
        t_at = find_u64(prog, t_marker);
    }
    std::size_t find_u64(const char* prog, std::uint64_t v) const {
        char pat[9];
        pat[0] = static_cast<char>(0xcf);
        for (int i = 0; i < 8; ++i) pat[1 + i] = static_cast<char>(v >> (56 - 8 * i));
        auto at = bytes.find(std::string_view(pat, 9));
        if (at == std::string::npos) die(prog, "frame template has no uint64 field");
        return at + 1;
    }
    static void put(char* p, std::uint64_t v) {
        for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (56 - 8 * i));
    }
    /// Appends the frame for sequence number `seq` (0-based) sent at `t_ns`.
    void append(std::string& out, std::uint64_t seq, std::uint64_t t_ns) const {
        const std::size_t at = out.size();
        out += bytes;
        put(out.data() + at + seq_at, seq_base + seq);
        put(out.data() + at + t_at, t_ns);
    }
};

/// The bench fields of an event's packed data, read without building a value tree (a subscriber
/// that allocates per event would measure itself rather than the bus). Keys other than pub, seq
/// and t are skipped with tagbus::scan; false when the data is not a map of string keys or a
/// field is missing or not an unsigned integer.
struct bench_fields {
    std::uint64_t pub = 0, seq = 0, t = 0;
};
inline bool read_uint(std::string_view in, std::size_t& at, std::uint64_t& out) {
    if (at >= in.size()) return false;
    const auto b = static_cast<unsigned char>(in[at]);
    std::size_t n = 0;
    if (b < 0x80) {
        out = b;
        ++at;
        return true;
    }
    switch (b) {
        case 0xcc:
            n = 1;
            break;
        case 0xcd:
            n = 2;
            break;
        case 0xce:
            n = 4;
            break;
        case 0xcf:
            n = 8;
            break;
        default:
            return false;
    }
    if (in.size() - at < 1 + n) return false;
    out = 0;
    for (std::size_t i = 1; i <= n; ++i) out = (out << 8) | static_cast<unsigned char>(in[at + i]);
    at += 1 + n;
    return true;
}
inline bool fields(std::string_view in, bench_fields& f) {
    if (in.empty()) return false;
    const auto h = static_cast<unsigned char>(in[0]);
    if ((h & 0xf0) != 0x80) return false;  // the bench's data is a fixmap
    std::size_t at = 1;
    int found = 0;
    for (unsigned k = 0; k < (h & 0x0fu); ++k) {
        if (at >= in.size()) return false;
        const auto kb = static_cast<unsigned char>(in[at]);
        if ((kb & 0xe0) != 0xa0) return false;  // fixstr keys only
        const std::size_t klen = kb & 0x1fu;
        if (in.size() - at < 1 + klen) return false;
        const std::string_view key = in.substr(at + 1, klen);
        at += 1 + klen;
        std::uint64_t* slot = key == "pub" ? &f.pub : key == "seq" ? &f.seq : key == "t" ? &f.t : nullptr;
        if (slot != nullptr) {
            if (!read_uint(in, at, *slot)) return false;
            ++found;
            continue;
        }
        std::size_t need = 0;
        auto used = tagbus::scan(in.substr(at), need);
        if (!used || *used == 0) return false;
        at += *used;
    }
    return found == 3 && at == in.size();
}

/// Sleeps (bench pacing only) until event i of a RATE/s schedule begun at `start` is due. An
/// absolute-time sleep with 1 ns timer slack: a paced sender must neither spin (it would take a
/// core from the processes being measured) nor wake up to 50 µs late (the default slack).
inline void pace(std::uint64_t start, std::uint64_t rate, std::uint64_t i) {
    if (rate == 0) return;
    static const bool slack_set = prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL) == 0;
    (void)slack_set;
    const auto due = start + static_cast<std::uint64_t>(1e9 / static_cast<double>(rate) * static_cast<double>(i));
    const timespec ts{static_cast<time_t>(due / 1'000'000'000u), static_cast<long>(due % 1'000'000'000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
}

inline double percentile(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
    return v[i];
}

/// Sends `count` template frames on `fd`, one write each, at `rate` events/s (each stamped with
/// its send time): the paced publisher of bench-load and bench-latency.
inline void send_paced(const char* prog, int fd, const frame_template& tpl, std::uint64_t count, std::uint64_t rate) {
    std::string buf;
    const std::uint64_t start = now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        pace(start, rate, i);
        buf.clear();
        tpl.append(buf, i, now_ns());
        write_all(prog, fd, buf);
    }
}

/// Prints the latency line every latency program shares; exit status 1 when events were lost.
inline int report_latency(std::vector<double>& lat_us, std::uint64_t sent) {
    const std::size_t got = lat_us.size();
    const double p50 = percentile(lat_us, 0.50), p99 = percentile(lat_us, 0.99), p999 = percentile(lat_us, 0.999);
    std::printf("sent=%llu received=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f\n", static_cast<unsigned long long>(sent),
                got, p50, p99, p999);
    return got == sent ? 0 : 1;
}

}  // namespace bench
