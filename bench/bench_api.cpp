// bench-api: the installed C++ API's own figures (libtagbus(3)), on the bench's 200-byte events.
//   bench-api listen SOCK_DIR COUNT READY_FILE
//       listener::get_event("bench/data") until COUNT events have come, each decoded to a value,
//       its seq checked against the order sent. Readiness: it answers bench-load's bench/hello
//       (run with WAIT_FILE = READY_FILE) by creating READY_FILE. Rate: first event to last.
//   bench-api fire SOCK_DIR COUNT ID
//       sender::fire COUNT events {pub: ID, seq, t, pad} (one map, its seq updated per event and t
//       per 256, as a program would), then close(), which returns once the bus has read them all.
//       Rate: COUNT over the whole time, the close included. bench-count checks what arrives.
// The config folder is SOCK_DIR's parent (the bench's own, without a master file).
#include <filesystem>

#include "bench_common.hpp"
#include "tagbus/tagbus.hpp"

namespace {
constexpr const char* prog = "bench-api";

tagbus::destination dest_for(const std::string& sock_dir) {
    tagbus::destination_options o;
    o.node = tagbus::node_kind::master;
    o.sock_dir = sock_dir;
    o.config_dir = std::filesystem::path(sock_dir).parent_path().string();
    auto d = tagbus::destination::resolve(o);
    if (!d) bench::die(prog, d.error().message);
    return *d;
}

const tagbus::value* field(const tagbus::value& data, std::string_view key) {
    if (const auto* m = data.map())
        for (const auto& kv : *m)
            if (const auto* k = kv.key.str(); k && *k == key) return &kv.val;
    return nullptr;
}

int listen(const std::string& sock_dir, std::uint64_t count, const std::string& ready) {
    auto l = tagbus::listener::open(dest_for(sock_dir));
    if (!l) bench::die(prog, l.error().message);
    const std::uint64_t deadline = bench::now_ns() + 10'000'000'000u;
    for (;;) {
        auto e = l->get_event(std::chrono::milliseconds(100), "bench/hello");
        if (!e) bench::die(prog, e.error().message);
        if (*e) break;
        if (bench::now_ns() > deadline) bench::die(prog, "no bench/hello within 10 s");
    }
    bench::touch(prog, ready);
    std::uint64_t got = 0, first_ns = 0, last_ns = 0;
    while (got < count) {
        auto e = l->get_event(std::chrono::seconds(30), "bench/data");
        if (!e) bench::die(prog, e.error().message);
        if (!*e) bench::die(prog, "no event for 30 s after " + std::to_string(got));
        const tagbus::value* seq = field((*e)->data, "seq");
        const auto* u = seq ? std::get_if<std::uint64_t>(&seq->v) : nullptr;
        if (!u || *u != bench::seq_base + got)
            bench::die(prog, "event " + std::to_string(got) + " out of order or without seq");
        last_ns = bench::now_ns();
        if (got++ == 0) first_ns = last_ns;
    }
    const double secs = static_cast<double>(last_ns - first_ns) / 1e9;
    std::printf("received=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(got), secs,
                secs > 0 ? static_cast<double>(got - 1) / secs : 0);
    return 0;
}

int fire(const std::string& sock_dir, std::uint64_t count, std::uint64_t id) {
    const auto dest = dest_for(sock_dir);
    // The data of bench-load's 200-byte frames.
    const std::size_t pad = 200 - bench::frame("bench/data", id, bench::seq_base, bench::t_marker, 0).size() - 2;
    tagbus::value data{tagbus::map_t{{"pub", id}, {"seq", bench::seq_base}, {"t", bench::t_marker},
                                     {"pad", std::string(pad, 'x')}}};
    auto& m = std::get<tagbus::map_t>(data.v);
    const std::uint64_t start = bench::now_ns();
    auto s = tagbus::sender::open(dest);
    if (!s) bench::die(prog, s.error().message);
    for (std::uint64_t i = 0; i < count; ++i) {
        m[1].val = tagbus::value(bench::seq_base + i);
        if (i % 256 == 0) m[2].val = tagbus::value(bench::now_ns());  // per batch, as bench-load
        if (auto r = s->fire("bench/data", data); !r) bench::die(prog, r.error().message);
    }
    if (auto r = s->close(); !r) bench::die(prog, r.error().message);
    const double secs = static_cast<double>(bench::now_ns() - start) / 1e9;
    std::printf("sent=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(count), secs,
                static_cast<double>(count) / secs);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc == 5 && std::string_view(argv[1]) == "listen")
        return listen(argv[2], bench::number<std::uint64_t>(prog, argv[3]), argv[4]);
    if (argc == 5 && std::string_view(argv[1]) == "fire")
        return fire(argv[2], bench::number<std::uint64_t>(prog, argv[3]), bench::number<std::uint64_t>(prog, argv[4]));
    bench::die(prog, "usage: bench-api listen SOCK_DIR COUNT READY_FILE | bench-api fire SOCK_DIR COUNT ID");
}
