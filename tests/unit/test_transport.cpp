// Transport: bus_server, subscriber and publisher on one event_loop in one process. Each test gets
// its own sock_dir; every wait runs the loop until a condition or its deadline; the loop must end with no handle
// left. Raw libuv peers below play the parts the library does not (pushers, a raw pub reader, a
// bus that sends garbage).
#include <doctest/doctest.h>

#include "support.hpp"
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "net/client.hpp"
#include "wire/frame.hpp"
#include "net/loop.hpp"
#include "net/server.hpp"

using namespace tagbus;
using namespace test_support;
using namespace std::chrono_literals;

namespace {







struct recorder {
    std::vector<std::string> bodies;
    std::vector<link_state> states;
    std::vector<failure> errors;
    std::size_t batches = 0;
    std::function<void()> after_body;
    subscriber_handlers handlers() {
        subscriber_handlers h;
        h.on_body = [this](std::string_view b) {
            bodies.emplace_back(b);
            if (after_body) after_body();
        };
        h.on_batch_end = [this] { ++batches; };
        h.on_state = [this](link_state s, const failure* e) {
            states.push_back(s);
            if (e) errors.push_back(*e);
        };
        return h;
    }
};

subscriber_options sub_opts(const endpoint& pub) {
    subscriber_options o;
    o.pub = pub;
    o.backoff_min_ms = 5;
    o.backoff_max_ms = 40;
    return o;
}

server_options srv_opts(const bus_endpoints& eps, log_sink& log) {
    server_options o;
    o.endpoints = eps;
    o.log = log.fn();
    return o;
}

union raw_handle {
    uv_pipe_t pipe;
    uv_tcp_t tcp;
};

int raw_connect(uv_loop_t* loop, raw_handle& h, void* data, uv_connect_t* req, const endpoint& ep, uv_connect_cb cb) {
    req->data = data;
    if (!ep.tcp) {
        uv_pipe_init(loop, &h.pipe, 0);
        h.pipe.data = data;
        uv_pipe_connect(req, &h.pipe, ep.path.c_str(), cb);
        return 0;
    }
    uv_tcp_init(loop, &h.tcp);
    h.tcp.data = data;
    sockaddr_in addr{};
    uv_ip4_addr(ep.host.c_str(), ep.port, &addr);
    return uv_tcp_connect(req, &h.tcp, reinterpret_cast<sockaddr*>(&addr), cb);
}

struct push_result {
    bool done = false;
    int error = 0;
};

/// A publisher written with raw libuv: writes `chunks` one write at a time (so frames are split
/// wherever the chunk boundaries fall), then closes. Frees itself in its close callback.
struct pusher {
    raw_handle h{};
    uv_connect_t creq{};
    uv_write_t wreq{};
    uv_buf_t buf{};
    std::vector<std::string> chunks;
    std::size_t next = 0;
    std::shared_ptr<push_result> res = std::make_shared<push_result>();

    void finish(int err) {
        res->error = err;
        uv_close(reinterpret_cast<uv_handle_t*>(&h), [](uv_handle_t* hh) {
            auto* p = static_cast<pusher*>(hh->data);
            p->res->done = true;
            delete p;
        });
    }
    void write_next() {
        if (next == chunks.size()) return finish(0);
        buf = uv_buf_init(chunks[next].data(), static_cast<unsigned>(chunks[next].size()));
        ++next;
        wreq.data = this;
        uv_write(&wreq, reinterpret_cast<uv_stream_t*>(&h), &buf, 1, [](uv_write_t* r, int st) {
            auto* p = static_cast<pusher*>(r->data);
            if (st < 0) return p->finish(st);
            p->write_next();
        });
    }
};

std::shared_ptr<push_result> push(event_loop& loop, const endpoint& ep, std::vector<std::string> chunks) {
    auto* p = new pusher;
    p->chunks = std::move(chunks);
    auto res = p->res;
    raw_connect(uv(loop), p->h, p, &p->creq, ep, [](uv_connect_t* r, int st) {
        auto* p = static_cast<pusher*>(r->data);
        if (st < 0) return p->finish(st);
        p->write_next();
    });
    return res;
}

/// Cuts `bytes` into pieces of 1..max_piece bytes.
std::vector<std::string> split(const std::string& bytes, std::mt19937& rng, std::size_t max_piece) {
    std::vector<std::string> out;
    std::uniform_int_distribution<std::size_t> len(1, max_piece);
    for (std::size_t at = 0; at < bytes.size();) {
        std::size_t n = std::min(len(rng), bytes.size() - at);
        out.push_back(bytes.substr(at, n));
        at += n;
    }
    return out;
}

/// A pub-side peer that keeps every byte it receives (to check the exact bytes on the wire).
struct raw_reader {
    raw_handle h{};
    uv_connect_t creq{};
    std::string bytes;
    bool connected = false;
    char buf[65536];

    static raw_reader* open(event_loop& loop, const endpoint& ep) {
        auto* r = new raw_reader;
        raw_connect(uv(loop), r->h, r, &r->creq, ep, [](uv_connect_t* req, int st) {
            auto* r = static_cast<raw_reader*>(req->data);
            CHECK(st == 0);
            r->connected = st == 0;
            if (st < 0) return;
            uv_read_start(
                reinterpret_cast<uv_stream_t*>(&r->h),
                [](uv_handle_t* hh, std::size_t, uv_buf_t* b) {
                    auto* r = static_cast<raw_reader*>(hh->data);
                    *b = uv_buf_init(r->buf, sizeof r->buf);
                },
                [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
                    if (n > 0) static_cast<raw_reader*>(s->data)->bytes.append(b->base, static_cast<std::size_t>(n));
                });
        });
        return r;
    }
    void close() {
        uv_close(reinterpret_cast<uv_handle_t*>(&h), [](uv_handle_t* hh) { delete static_cast<raw_reader*>(hh->data); });
    }
};

std::string body_for(int publisher, int i) {
    // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive) on "p" + to_string().
    std::string b = "p";
    b += std::to_string(publisher);
    b += '/';
    b += std::to_string(i);
    b += "\n\n";
    // Lengths cover bin8, bin16 and (once) bin32, so frames span many reads too.
    std::size_t extra = i == 1000 ? 100000 : static_cast<std::size_t>((i * 37) % 700);
    b.append(extra, static_cast<char>('a' + i % 26));
    return b;
}

mode_t mode_of(const std::string& path) {
    struct stat st {};
    REQUIRE(stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

/// Leaves a socket file at `path` that nobody listens on, as a crashed bus does.
void make_stale_socket(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
}

/// A loopback TCP socket bound to an ephemeral port, kept open so two probes differ.
struct port_probe {
    int fd = -1;
    std::uint16_t port = 0;
    port_probe() {
        fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        socklen_t len = sizeof addr;
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
        port = ntohs(addr.sin_port);
    }
    ~port_probe() { release(); }
    void release() {
        if (fd >= 0) ::close(fd);
        fd = -1;
    }
};

endpoint tcp_endpoint(std::uint16_t port) {
    endpoint e;
    e.tcp = true;
    e.host = "127.0.0.1";
    e.port = port;
    return e;
}

}  // namespace

TEST_CASE("event_loop: timers fire in order, cancel works from anywhere, signals arrive") {
    event_loop loop;
    std::vector<int> fired;
    event_loop::timer_id late = 0;
    loop.after(20, [&] { fired.push_back(20); });
    auto cancelled = loop.after(5, [&] { fired.push_back(-1); });
    loop.after(1, [&] {
        fired.push_back(1);
        loop.cancel(late);
    });
    late = loop.after(10, [&] { fired.push_back(-2); });
    loop.cancel(cancelled);
    loop.cancel(cancelled);  // twice is harmless
    bool got_signal = false;
    loop.on_signal(SIGUSR1, [&] { got_signal = true; });
    raise(SIGUSR1);
    REQUIRE(run_until(loop, [&] { return fired.size() == 2 && got_signal; }));
    CHECK(fired == std::vector<int>{1, 20});
}

TEST_CASE("fan-out: every frame reaches every subscriber in order, whatever the pull framing and splits") {
    for (framing out : {framing::legacy, framing::prefixed}) {
        INFO("pub framing " << to_string(out));
        temp_dir dir;
        event_loop loop;
        log_sink log;
        {
            std::vector<std::string> hooked;
            auto opts = srv_opts(unix_endpoints(dir.path), log);
            opts.pub_framing = out;
            opts.on_event = [&](std::string_view b) { hooked.emplace_back(b); };
            bus_server server(loop, opts);
            REQUIRE(server.start());
            recorder a, b;
            subscriber sa(loop, sub_opts(opts.endpoints.pub), a.handlers());
            subscriber sb(loop, sub_opts(opts.endpoints.pub), b.handlers());
            sa.start();
            sb.start();
            auto* raw = raw_reader::open(loop, opts.endpoints.pub);
            REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 3 && a.states.size() == 1; }));

            std::mt19937 rng(42);
            std::string in, expected;
            std::vector<std::string> bodies;
            const std::size_t n = 3000;
            for (std::size_t i = 0; i < n; ++i) {
                bodies.push_back(body_for(0, static_cast<int>(i)));
                append_frame(in, bodies.back(), rng() % 2 ? framing::legacy : framing::prefixed);
                append_frame(expected, bodies.back(), out);
            }
            auto res = push(loop, opts.endpoints.pull, split(in, rng, 3000));
            REQUIRE(run_until(loop, [&] {
                return res->done && a.bodies.size() == n && b.bodies.size() == n && raw->bytes.size() >= expected.size();
            }));
            CHECK(res->error == 0);
            CHECK(a.bodies == bodies);
            CHECK(b.bodies == bodies);
            CHECK(hooked == bodies);
            CHECK(raw->bytes == expected);  // Salt 3006/3007 re-frame with head {}
            CHECK(a.states == std::vector{link_state::connected});
            CHECK(a.batches > 0);
            CHECK(server.stats().events == n);
            CHECK(log.warnings.empty());
            raw->close();
        }
        check_closed(loop);
    }
}

TEST_CASE("many publishers interleave; each one's frames stay in order") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        std::mt19937 rng(7);
        const int pubs = 8, per = 400;
        std::vector<std::shared_ptr<push_result>> results;
        for (int k = 0; k < pubs; ++k) {
            std::string s;
            for (int i = 0; i < per; ++i) append_frame(s, body_for(k, i), k % 2 ? framing::prefixed : framing::legacy);
            results.push_back(push(loop, eps.pull, split(s, rng, 500)));
        }
        REQUIRE(run_until(loop, [&] { return r.bodies.size() == std::size_t(pubs * per); }));
        std::map<int, int> next;
        bool ordered = true;
        for (const auto& b : r.bodies) {
            int k = std::stoi(b.substr(1));
            int i = std::stoi(b.substr(b.find('/') + 1));
            ordered = ordered && i == next[k];
            next[k] = i + 1;
        }
        CHECK(ordered);
        CHECK(next.size() == std::size_t(pubs));
        REQUIRE(run_until(loop, [&] {
            for (auto& res : results) {
                if (!res->done) return false;
            }
            return server.stats().publishers == 0;
        }));
        for (auto& res : results) CHECK(res->error == 0);
        CHECK(log.warnings.empty());
    }
    check_closed(loop);
}

TEST_CASE("a publisher sending garbage is dropped; its earlier frames and other publishers' arrive") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        std::string bad, good;
        append_frame(bad, "g/0", framing::legacy);
        append_frame(bad, "g/1", framing::prefixed);
        bad.append("\0\0\0\5hello", 9);  // a prefixed frame that is no map
        std::vector<std::string> want;
        for (int i = 0; i < 200; ++i) {
            want.push_back("b/" + std::to_string(i));
            append_frame(good, want.back(), framing::legacy);
        }
        std::mt19937 rng(3);
        push(loop, eps.pull, {bad});
        auto g = push(loop, eps.pull, split(good, rng, 64));
        REQUIRE(run_until(loop, [&] { return r.bodies.size() == 202 && g->done; }));
        std::vector<std::string> from_good, from_bad;
        for (const auto& b : r.bodies) (b[0] == 'b' ? from_good : from_bad).push_back(b);
        CHECK(from_good == want);
        CHECK(from_bad == std::vector<std::string>{"g/0", "g/1"});
        CHECK(server.stats().dropped_connections == 1);
        REQUIRE(log.warnings.size() == 1);
        CHECK(log.warnings[0].starts_with("dropping publisher #"));
        CHECK(log.warnings[0].find(" on " + eps.pull.path + ": ") != std::string::npos);
        CHECK(r.states == std::vector{link_state::connected});
    }
    check_closed(loop);
}

TEST_CASE("an oversized frame drops its publisher") {
    for (framing f : {framing::legacy, framing::prefixed}) {
        INFO("framing " << to_string(f));
        temp_dir dir;
        event_loop loop;
        log_sink log;
        {
            auto eps = unix_endpoints(dir.path);
            auto opts = srv_opts(eps, log);
            opts.max_frame = 1024;
            bus_server server(loop, opts);
            REQUIRE(server.start());
            recorder r;
            subscriber sub(loop, sub_opts(eps.pub), r.handlers());
            sub.start();
            REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
            std::string s;
            append_frame(s, "ok/0", f);
            append_frame(s, std::string(5000, 'x'), f);
            append_frame(s, "ok/1", f);
            push(loop, eps.pull, {s});
            REQUIRE(run_until(loop, [&] { return server.stats().dropped_connections == 1; }));
            REQUIRE(run_until(loop, [&] { return r.bodies.size() == 1; }));
            CHECK(r.bodies[0] == "ok/0");
            REQUIRE(log.warnings.size() == 1);
            CHECK(log.warnings[0].find("exceeds the 1024-byte limit") != std::string::npos);
        }
        check_closed(loop);
    }
}

TEST_CASE("a subscriber reports lost once, reconnects when the bus is back, and gets new events") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        auto first = std::make_unique<bus_server>(loop, srv_opts(eps, log));
        REQUIRE(first->start());
        sub.start();
        REQUIRE(run_until(loop, [&] { return r.states.size() == 1 && first->stats().subscribers == 1; }));
        first.reset();
        CHECK(!std::filesystem::exists(eps.pub.path));
        CHECK(!std::filesystem::exists(eps.pull.path));
        REQUIRE(run_until(loop, [&] { return r.states.size() == 2; }));
        CHECK(r.states[1] == link_state::lost);
        REQUIRE(r.errors.size() == 1);
        CHECK(r.errors[0].code == errc::unavailable);
        CHECK(r.errors[0].message == "lost connection to " + eps.pub.path + ": the bus closed the connection");
        // Some reconnect attempts fail (no socket) before the bus comes back.
        bool waited = false;
        loop.after(60, [&] { waited = true; });
        REQUIRE(run_until(loop, [&] { return waited; }));
        bus_server second(loop, srv_opts(eps, log));
        REQUIRE(second.start());
        REQUIRE(run_until(loop, [&] { return r.states.size() == 3 && second.stats().subscribers == 1; }));
        CHECK(r.states == std::vector{link_state::connected, link_state::lost, link_state::reconnected});
        std::string s;
        append_frame(s, "back", framing::legacy);
        push(loop, eps.pull, {s});
        REQUIRE(run_until(loop, [&] { return r.bodies.size() == 1; }));
        CHECK(r.bodies[0] == "back");
        CHECK(log.warnings.empty());
    }
    check_closed(loop);
}

TEST_CASE("first connect: unavailable without wait_for_bus; connects later with it") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        recorder gone, patient;
        subscriber s1(loop, sub_opts(eps.pub), gone.handlers());
        auto o = sub_opts(eps.pub);
        o.wait_for_bus = true;
        subscriber s2(loop, o, patient.handlers());
        s1.start();
        s2.start();
        REQUIRE(run_until(loop, [&] { return gone.states.size() == 1; }));
        CHECK(gone.states[0] == link_state::unavailable);
        REQUIRE(gone.errors.size() == 1);
        CHECK(gone.errors[0].code == errc::unavailable);
        CHECK(gone.errors[0].message == "cannot connect to " + eps.pub.path + ": No such file or directory");
        bool waited = false;
        loop.after(40, [&] { waited = true; });
        REQUIRE(run_until(loop, [&] { return waited; }));
        CHECK(patient.states.empty());
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        REQUIRE(run_until(loop, [&] { return patient.states.size() == 1; }));
        CHECK(patient.states[0] == link_state::connected);
        CHECK(gone.states.size() == 1);  // a stopped subscriber does not retry
        CHECK(server.stats().subscribers <= 1);
    }
    check_closed(loop);
}

TEST_CASE("stop() inside on_body ends the callbacks") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        recorder r, all;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        subscriber witness(loop, sub_opts(eps.pub), all.handlers());
        r.after_body = [&] {
            if (r.bodies.size() == 5) sub.stop();
        };
        sub.start();
        witness.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 2; }));
        std::string s;
        for (int i = 0; i < 20; ++i) append_frame(s, "n/" + std::to_string(i), framing::legacy);
        push(loop, eps.pull, {s});  // one write: the 20 frames arrive in one read
        REQUIRE(run_until(loop, [&] { return all.bodies.size() == 20 && server.stats().subscribers == 1; }));
        CHECK(r.bodies.size() == 5);
        CHECK(r.states == std::vector{link_state::connected});
    }
    check_closed(loop);
}

TEST_CASE("start refuses a live bus, replaces stale sockets and leaves other files alone") {
    temp_dir dir;
    event_loop loop;
    log_sink log, log2;
    {
        auto eps = unix_endpoints(dir.path);
        make_stale_socket(eps.pub.path);
        make_stale_socket(eps.pull.path);
        bus_server first(loop, srv_opts(eps, log));
        REQUIRE(first.start());
        bus_server second(loop, srv_opts(eps, log2));
        auto r = second.start();
        REQUIRE(!r);
        CHECK(r.error().code == errc::unavailable);
        CHECK(r.error().message == "a bus is already running on " + eps.pub.path);
        second.stop();  // it created nothing, so it removes nothing
        CHECK(std::filesystem::exists(eps.pub.path));
        CHECK(std::filesystem::exists(eps.pull.path));
        recorder rec;
        subscriber sub(loop, sub_opts(eps.pub), rec.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return rec.states.size() == 1; }));
        CHECK(rec.states[0] == link_state::connected);
    }
    {
        auto eps = unix_endpoints(dir.path);
        std::FILE* f = std::fopen(eps.pull.path.c_str(), "w");
        REQUIRE(f != nullptr);
        std::fclose(f);
        bus_server server(loop, srv_opts(eps, log));
        auto r = server.start();
        REQUIRE(!r);
        CHECK(r.error().code == errc::io);
        CHECK(r.error().message == "cannot bind " + eps.pull.path + ": a file that is not a socket is in the way");
        CHECK(std::filesystem::is_regular_file(eps.pull.path));
    }
    {
        auto eps = unix_endpoints(dir.path + "/file/sub");
        bus_server server(loop, srv_opts(eps, log));
        std::FILE* f = std::fopen((dir.path + "/file").c_str(), "w");
        std::fclose(f);
        auto r = server.start();
        REQUIRE(!r);
        CHECK(r.error().code == errc::io);
        CHECK(r.error().message == "cannot create directory " + dir.path + "/file: Not a directory");
    }
    check_closed(loop);
    CHECK(log.warnings.empty());
}

TEST_CASE("sockets are 0600, or 0660 with the group; sock_dir is created 0750; stop removes them") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path + "/a/b");
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        CHECK(mode_of(dir.path + "/a") == 0750);
        CHECK(mode_of(dir.path + "/a/b") == 0750);
        CHECK(mode_of(eps.pub.path) == 0600);
        CHECK(mode_of(eps.pull.path) == 0600);
        server.stop();
        CHECK(!std::filesystem::exists(eps.pub.path));
        CHECK(!std::filesystem::exists(eps.pull.path));
    }
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        opts.group = static_cast<unsigned>(getgid());
        const mode_t old = umask(0);  // the socket mode must not depend on the caller's umask
        bus_server server(loop, opts);
        REQUIRE(server.start());
        CHECK(umask(old) == 0);
        for (const auto* path : {&eps.pub.path, &eps.pull.path}) {
            struct stat st {};
            REQUIRE(stat(path->c_str(), &st) == 0);
            CHECK(S_ISSOCK(st.st_mode));
            CHECK((st.st_mode & 07777) == 0660);
            CHECK(st.st_gid == getgid());
        }
    }
    check_closed(loop);
}

namespace {

/// A listening Unix socket at `path`, as a service manager binds it (socket activation).
int listening_at(const std::string& path) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(fd, 16) == 0);
    return fd;
}

bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

}  // namespace

TEST_CASE("socket activation: handed-over sockets are served in either order, checked, and their files kept") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    auto eps = unix_endpoints(dir.path);
    SUBCASE("served; the files stay after stop") {
        auto opts = srv_opts(eps, log);
        opts.listen_fds = {listening_at(eps.pull.path), listening_at(eps.pub.path)};
        opts.listen_fds = {opts.listen_fds[1], opts.listen_fds[0]};  // pub first: order does not matter
        {
            bus_server server(loop, opts);
            REQUIRE(server.start());
            recorder rec;
            subscriber sub(loop, sub_opts(eps.pub), rec.handlers());
            sub.start();
            REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
            // A plain blocking client: the listen queue takes its connection and bytes at once.
            const int pusher = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_un addr{};
            addr.sun_family = AF_UNIX;
            std::strncpy(addr.sun_path, eps.pull.path.c_str(), sizeof addr.sun_path - 1);
            REQUIRE(connect(pusher, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
            std::string frame;
            append_frame(frame, "activated", framing::legacy);
            REQUIRE(write(pusher, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
            REQUIRE(run_until(loop, [&] { return rec.bodies.size() == 1; }));
            CHECK(rec.bodies[0] == "activated");
            close(pusher);
            sub.stop();
        }
        check_closed(loop);  // the listeners' descriptors are closed with their handles
        CHECK(std::filesystem::exists(eps.pub.path));
        CHECK(std::filesystem::exists(eps.pull.path));
        for (int fd : opts.listen_fds) CHECK(!is_open(fd));
    }
    SUBCASE("refused, and every descriptor closed") {
        const int pull = listening_at(eps.pull.path);
        std::string expected;
        std::vector<int> fds;
        const std::string want = " (ListenStream= must name " + eps.pub.path + " and " + eps.pull.path + ")";
        SUBCASE("one missing") {
            fds = {pull};
            expected = "socket activation: no descriptor for the pub socket " + eps.pub.path + want;
        }
        SUBCASE("the same socket twice") {
            fds = {pull, dup(pull)};
            expected = "socket activation: descriptors " + std::to_string(fds[0]) + " and " + std::to_string(fds[1]) +
                       " are both the pull socket " + eps.pull.path + " (ListenStream= must name " + eps.pub.path +
                       " and " + eps.pull.path + " once each)";
        }
        SUBCASE("another path") {
            const int other = listening_at(dir.path + "/other.ipc");
            fds = {pull, other};
            expected = "socket activation: descriptor " + std::to_string(other) + " is bound to " + dir.path +
                       "/other.ipc, which is neither the pub socket " + eps.pub.path + " nor the pull socket " +
                       eps.pull.path + want;
        }
        SUBCASE("not listening") {
            const int idle = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            fds = {pull, idle};
            expected = "socket activation: descriptor " + std::to_string(idle) +
                       " is not a listening Unix stream socket; ListenStream= must name " + eps.pub.path + " and " +
                       eps.pull.path;
        }
        SUBCASE("not a socket") {
            int p[2];
            REQUIRE(pipe(p) == 0);
            close(p[1]);
            fds = {p[0], pull};
            expected = "socket activation: descriptor " + std::to_string(p[0]) +
                       " is not a socket (Socket operation on non-socket); ListenStream= must name " + eps.pub.path +
                       " and " + eps.pull.path;
        }
        auto opts = srv_opts(eps, log);
        opts.listen_fds = fds;
        bus_server server(loop, opts);
        auto r = server.start();
        REQUIRE(!r);
        CHECK(r.error().code == errc::config);
        CHECK(r.error().message == expected);
        for (int fd : fds) CHECK(!is_open(fd));
        CHECK(std::filesystem::exists(eps.pull.path));  // not the bus's to remove
    }
    SUBCASE("a server that is never started closes them when it goes") {
        auto opts = srv_opts(eps, log);
        opts.listen_fds = {listening_at(eps.pull.path), listening_at(eps.pub.path)};
        { bus_server server(loop, opts); }
        for (int fd : opts.listen_fds) CHECK(!is_open(fd));
    }
    check_closed(loop);
}

TEST_CASE("publisher: connect errors name the endpoint; timeout is tempfail") {
    temp_dir dir;
    auto eps = unix_endpoints(dir.path);
    auto missing = publisher::connect(eps.pull, 1000ms);
    REQUIRE(!missing);
    CHECK(missing.error().code == errc::unavailable);
    CHECK(missing.error().message == "cannot connect to " + eps.pull.path + ": No such file or directory");

    make_stale_socket(eps.pull.path);
    auto refused = publisher::connect(eps.pull, 1000ms);
    REQUIRE(!refused);
    CHECK(refused.error().code == errc::unavailable);
    CHECK(refused.error().message == "cannot connect to " + eps.pull.path + ": Connection refused");

    port_probe closed;
    closed.release();
    auto tcp_refused = publisher::connect(tcp_endpoint(closed.port), 1000ms);
    REQUIRE(!tcp_refused);
    CHECK(tcp_refused.error().message ==
          "cannot connect to tcp://127.0.0.1:" + std::to_string(closed.port) + ": Connection refused");

    // A listener whose accept queue is full drops further SYNs, so a connect hangs until timeout.
    port_probe full;
    REQUIRE(listen(full.fd, 0) == 0);
    std::vector<int> fillers;
    for (int i = 0; i < 4; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(full.port);
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
    }
    auto slow = publisher::connect(tcp_endpoint(full.port), 200ms);
    REQUIRE(!slow);
    CHECK(slow.error().code == errc::timeout);
    CHECK(slow.error().message == "timed out connecting to tcp://127.0.0.1:" + std::to_string(full.port) + " after 200 ms");
    for (int fd : fillers) ::close(fd);
}

TEST_CASE("publisher: frames sent before close() reach the subscribers, and close() returns once the bus read them") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        // The blocking publisher runs on its own thread: its close() half-closes and waits for the
        // bus (this loop) to read everything and close its end.
        std::atomic<int> outcome{0};  // 1: every call as expected; -1: one was not
        std::thread t([&] {
            auto pub = publisher::connect(eps.pull, 5000ms);
            bool ok = static_cast<bool>(pub);
            for (int i = 0; ok && i < 3; ++i) {
                std::string frame;
                append_frame(frame, "pub/" + std::to_string(i), i == 1 ? framing::prefixed : framing::legacy);
                ok = static_cast<bool>(pub->send(frame));
            }
            ok = ok && pub->close(5000ms) && !pub->send("x");
            outcome = ok ? 1 : -1;
        });
        const bool done = run_until(loop, [&] { return outcome != 0 && r.bodies.size() == 3; });
        t.join();
        CHECK(done);
        CHECK(outcome == 1);
        CHECK(r.bodies == std::vector<std::string>{"pub/0", "pub/1", "pub/2"});
        CHECK(log.warnings.empty());
    }
    check_closed(loop);
}

TEST_CASE("TCP mode on loopback: fan-out works and a taken port is refused") {
    event_loop loop;
    log_sink log, log2;
    {
        port_probe p1, p2;  // two distinct free ports; released just before the bus binds them
        bus_endpoints eps{tcp_endpoint(p1.port), tcp_endpoint(p2.port)};
        p1.release();
        p2.release();
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        std::string s;
        for (int i = 0; i < 100; ++i) append_frame(s, "tcp/" + std::to_string(i), framing::prefixed);
        std::mt19937 rng(5);
        push(loop, eps.pull, split(s, rng, 100));
        REQUIRE(run_until(loop, [&] { return r.bodies.size() == 100; }));
        CHECK(r.bodies.front() == "tcp/0");
        CHECK(r.bodies.back() == "tcp/99");

        bus_server second(loop, srv_opts(eps, log2));
        auto err = second.start();
        REQUIRE(!err);
        CHECK(err.error().code == errc::unavailable);
        CHECK(err.error().message == "cannot bind " + eps.pull.describe() + ": Address already in use");
        CHECK(log.warnings.empty());
    }
    check_closed(loop);
}

namespace {

/// A fake bus that answers every subscriber with one good frame and then garbage.
struct garbage_bus {
    uv_pipe_t listener{};
    std::string bytes;
    static void on_conn(uv_stream_t* server, int) {
        auto* self = static_cast<garbage_bus*>(server->data);
        auto* c = new uv_pipe_t;
        uv_pipe_init(server->loop, c, 0);
        uv_accept(server, reinterpret_cast<uv_stream_t*>(c));
        auto* w = new uv_write_t;
        w->data = c;
        uv_buf_t buf = uv_buf_init(self->bytes.data(), static_cast<unsigned>(self->bytes.size()));
        uv_write(w, reinterpret_cast<uv_stream_t*>(c), &buf, 1, [](uv_write_t* req, int) {
            uv_close(static_cast<uv_handle_t*>(req->data), [](uv_handle_t* h) { delete reinterpret_cast<uv_pipe_t*>(h); });
            delete req;
        });
    }
};

}  // namespace

TEST_CASE("a subscriber treats a malformed frame as a lost connection (errc::data)") {
    temp_dir dir;
    event_loop loop;
    {
        auto eps = unix_endpoints(dir.path);
        garbage_bus bus;
        append_frame(bus.bytes, "fine", framing::legacy);
        bus.bytes += "\xc1garbage";
        uv_pipe_init(uv(loop), &bus.listener, 0);
        bus.listener.data = &bus;
        REQUIRE(uv_pipe_bind(&bus.listener, eps.pub.path.c_str()) == 0);
        REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&bus.listener), 8, garbage_bus::on_conn) == 0);
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return r.states.size() >= 2; }));
        sub.stop();
        CHECK(r.states[0] == link_state::connected);
        CHECK(r.states[1] == link_state::lost);
        CHECK(r.bodies.at(0) == "fine");
        CHECK(r.batches >= 1);
        REQUIRE(!r.errors.empty());
        CHECK(r.errors[0].code == errc::data);
        CHECK(r.errors[0].message.starts_with("lost connection to " + eps.pub.path + ": "));
        uv_close(reinterpret_cast<uv_handle_t*>(&bus.listener), nullptr);
        // Connections the fake bus accepted close on their own once written.
        REQUIRE(run_until(loop, [&] {
            int n = 0;
            uv_walk(uv(loop), [](uv_handle_t* h, void* c) { *static_cast<int*>(c) += h->type == UV_NAMED_PIPE; }, &n);
            return n == 0;
        }));
    }
    check_closed(loop);
}

namespace {

/// A pub-side peer that connects and never reads: a plain socket outside the loop, its receive
/// buffer shrunk (for a Unix stream socket the bus's send buffer still holds ~200 KiB; past that,
/// bytes wait in the bus). The caller closes it.
int idle_subscriber(const std::string& path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    int small = 4096;
    CHECK(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    return fd;
}

/// `n` small events (a few hundred bytes each): no frame comes near half a test's buffer bound.
std::vector<std::string> small_bodies(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
        std::string b = "s/";
        b += std::to_string(i);
        b.append(200 + static_cast<std::size_t>(i % 300), static_cast<char>('a' + i % 26));
        out.push_back(std::move(b));
    }
    return out;
}

/// The bodies as one stream of legacy frames, as a publisher would write them.
std::string legacy_stream(const std::vector<std::string>& bodies) {
    std::string s;
    for (const auto& b : bodies) append_frame(s, b, framing::legacy);
    return s;
}

bool logged(const log_sink& log, std::string_view prefix) {
    for (const auto& m : log.all) {
        if (m.starts_with(prefix)) return true;
    }
    return false;
}

}  // namespace

TEST_CASE("a subscriber that never reads is dropped past max_subscriber_buffer; a reading one gets everything") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        // Small, but above twice one read's block (64 KiB): a subscriber that keeps up is then
        // never dropped, since publishers pause before it can have a full bound waiting.
        opts.max_subscriber_buffer = 256 * 1024;
        bus_server server(loop, opts);
        REQUIRE(server.start());
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        int idle = idle_subscriber(eps.pub.path);
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 2 && r.states.size() == 1; }));
        auto want = small_bodies(8000);  // about 3 MiB: far more than the bound and the kernel hold
        auto res = push(loop, eps.pull, {legacy_stream(want)});
        REQUIRE(run_until(loop, [&] { return res->done && r.bodies.size() == want.size(); }));
        CHECK(res->error == 0);
        CHECK(r.bodies == want);
        CHECK(r.states == std::vector{link_state::connected});
        CHECK(server.stats().dropped_connections == 1);
        CHECK(server.stats().subscribers == 1);
        REQUIRE(log.warnings.size() == 1);
        const std::string& w = log.warnings[0];
        const std::string head = "dropping subscriber #";
        const std::string peer = " (pid " + std::to_string(getpid()) + "): ";
        const std::string tail = " bytes queued exceed --max-subscriber-buffer 262144";
        CHECK(w.starts_with(head));
        REQUIRE(w.find(peer) != std::string::npos);
        REQUIRE(w.ends_with(tail));
        const std::size_t at = w.find(peer) + peer.size();
        const std::string count = w.substr(at, w.size() - tail.size() - at);
        CHECK(count.find_first_not_of("0123456789") == std::string::npos);
        CHECK(std::stoull(count) > 262144u);
        ::close(idle);
    }
    check_closed(loop);
}

TEST_CASE("back-pressure: publishers wait while every subscriber is behind, and go on when none is left") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        opts.max_subscriber_buffer = 1024 * 1024;
        bus_server server(loop, opts);
        REQUIRE(server.start());
        int idle = idle_subscriber(eps.pub.path);
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        auto bodies = small_bodies(16000);  // about 6 MiB
        auto res = push(loop, eps.pull, {legacy_stream(bodies)});
        // The only subscriber passes half the bound (512 KiB) long before the whole bound.
        REQUIRE(run_until(loop, [&] { return logged(log, "pausing 1 publisher(s): every subscriber has more than 524288 bytes queued"); }));
        const auto paused_at = server.stats().events;
        CHECK(paused_at < bodies.size());
        // Paused means paused: nothing more is read while the subscriber stays behind.
        bool waited = false;
        loop.after(50, [&] { waited = true; });
        REQUIRE(run_until(loop, [&] { return waited; }));
        CHECK(server.stats().events == paused_at);
        CHECK(!res->done);
        CHECK(server.stats().dropped_connections == 0);
        CHECK(!logged(log, "resuming"));
        // Without subscribers the bus drops events again, as Salt does, and reads everything.
        ::close(idle);
        REQUIRE(run_until(loop, [&] { return res->done && server.stats().events == bodies.size(); }));
        CHECK(res->error == 0);
        CHECK(logged(log, "resuming 1 publisher(s)"));
        CHECK(server.stats().subscribers == 0);
        CHECK(server.stats().dropped_connections == 0);
        CHECK(log.warnings.empty());
    }
    check_closed(loop);
}

TEST_CASE("back-pressure: a subscriber that writes nothing while publishers wait is dropped after stall_timeout_ms") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        opts.max_subscriber_buffer = 1024 * 1024;
        opts.stall_timeout_ms = 100;
        bus_server server(loop, opts);
        REQUIRE(server.start());
        int idle = idle_subscriber(eps.pub.path);
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        auto bodies = small_bodies(16000);  // about 6 MiB: the lone subscriber pauses publishers
        auto res = push(loop, eps.pull, {legacy_stream(bodies)});
        // Paused, then the idle one (never reading, its socket still open) is dropped and the
        // publisher is read to the end: the bus is not held by a stalled reader.
        REQUIRE(run_until(loop, [&] { return res->done && server.stats().events == bodies.size(); }));
        CHECK(res->error == 0);
        CHECK(logged(log, "pausing 1 publisher(s)"));
        CHECK(logged(log, "resuming 1 publisher(s)"));
        CHECK(server.stats().dropped_connections == 1);
        CHECK(server.stats().subscribers == 0);
        REQUIRE(log.warnings.size() == 1);
        const std::string& w = log.warnings[0];
        CHECK(w.starts_with("dropping subscriber #1 (pid " + std::to_string(getpid()) +
                            "): no write progress for 100 ms while publishers wait ("));
        CHECK(w.ends_with(" bytes queued)"));
        ::close(idle);
    }
    check_closed(loop);
}

namespace {

/// A plain blocking Unix-socket client: connect() completes into the listener's backlog without
/// the loop running, and small writes land in the socket buffer.
struct raw_client {
    int fd = -1;
    explicit raw_client(const std::string& path) {
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, path.c_str(), path.size());
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~raw_client() { ::close(fd); }
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;
    void send(std::string_view bytes) const { REQUIRE(::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size())); }
    /// True once the bus closed its end (EOF or a reset), without blocking.
    bool closed_by_bus() const {
        char c;
        const ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }
};

std::string frame_of(std::string_view body) {
    std::string f;
    append_frame(f, body, framing::legacy);
    return f;
}

}  // namespace

TEST_CASE("a publisher stalled in the middle of a frame is dropped after partial_frame_timeout_ms; others are not") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        opts.partial_frame_timeout_ms = 50;
        bus_server server(loop, opts);
        REQUIRE(server.start());
        const std::string frame = frame_of("stalled/" + std::string(300, 'x'));
        raw_client stalled(eps.pull.path);
        stalled.send(frame.substr(0, 100));
        raw_client idle(eps.pull.path);  // whole frames, then nothing: never dropped for that
        idle.send(frame_of("whole"));
        REQUIRE(run_until(loop, [&] { return stalled.closed_by_bus(); }));
        CHECK(log.warnings == std::vector<std::string>{"dropping publisher #1 (pid " + std::to_string(getpid()) +
                                                       "): an unfinished frame (100 bytes held) made no progress for "
                                                       "50 ms (--partial-frame-timeout)"});
        CHECK(server.stats().publishers == 1);
        CHECK(server.stats().input_buffered == 0);
        CHECK(server.stats().events == 1);
        CHECK(!idle.closed_by_bus());
    }
    check_closed(loop);
}

TEST_CASE("over max_input_buffer the publisher holding the most unfinished bytes is dropped first") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        opts.max_input_buffer = 1000;
        bus_server server(loop, opts);
        REQUIRE(server.start());
        const std::string frame = frame_of(std::string(900, 'y'));
        raw_client small(eps.pull.path);
        small.send(frame.substr(0, 300));
        REQUIRE(run_until(loop, [&] { return server.stats().input_buffered == 300; }));
        raw_client large(eps.pull.path);
        large.send(frame.substr(0, 800));
        REQUIRE(run_until(loop, [&] { return large.closed_by_bus(); }));
        CHECK(log.warnings == std::vector<std::string>{"dropping publisher #2 (pid " + std::to_string(getpid()) +
                                                       "): it holds 800 bytes of an unfinished frame, and publishers "
                                                       "hold 1100 in all, over --max-input-buffer 1000"});
        CHECK(server.stats().input_buffered == 300);
        // The one kept finishes its frame (900 bytes and a little envelope fit under the cap).
        small.send(frame.substr(300));
        REQUIRE(run_until(loop, [&] { return server.stats().events == 1; }));
        CHECK(server.stats().input_buffered == 0);
        CHECK(!small.closed_by_bus());
    }
    check_closed(loop);
}

TEST_CASE("a publisher that half-closes has every frame delivered, then the bus closes its end") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        bus_server server(loop, srv_opts(eps, log));
        REQUIRE(server.start());
        recorder r;
        subscriber sub(loop, sub_opts(eps.pub), r.handlers());
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        raw_client pub(eps.pull.path);
        pub.send(frame_of("hc/1") + frame_of("hc/2") + frame_of("hc/3").substr(0, 5));
        ::shutdown(pub.fd, SHUT_WR);
        REQUIRE(run_until(loop, [&] { return pub.closed_by_bus() && r.bodies.size() == 2; }));
        CHECK(r.bodies == std::vector<std::string>{"hc/1", "hc/2"});
        CHECK(log.warnings == std::vector<std::string>{"publisher #2 (pid " + std::to_string(getpid()) +
                                                       ") closed in the middle of a frame (5 bytes discarded)"});
    }
    check_closed(loop);
}

TEST_CASE("an exception in a callback never crosses libuv: on_event's is logged, a timer's comes out of run()") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        auto opts = srv_opts(eps, log);
        int seen = 0;
        opts.on_event = [&seen](std::string_view body) {
            ++seen;
            if (body == "throw") throw std::runtime_error("boom");
        };
        bus_server server(loop, opts);
        REQUIRE(server.start());
        raw_client pub(eps.pull.path);
        pub.send(frame_of("throw") + frame_of("after"));
        REQUIRE(run_until(loop, [&] { return seen == 2; }));
        CHECK(log.warnings == std::vector<std::string>{"cannot hand an event on: boom"});
        CHECK(server.stats().publishers == 1);
        loop.after(0, [] { throw std::runtime_error("from a timer"); });
        CHECK_THROWS_WITH_AS(loop.run(), "from a timer", std::runtime_error);
    }
    check_closed(loop);
}
