// The blocking publisher (event-fire's and event-send's client): success only once the bus has
// read everything and closed its end, the no-progress timeout, a busy bus, and the trim report a
// tool warns with. The bus side is either a real bus_server on an event_loop (the publisher then
// runs on a thread of its own, since it blocks) or a raw POSIX listener with scripted behaviour.
#include <doctest/doctest.h>

#include "support.hpp"
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "net/client.hpp"
#include "tagbus/event.hpp"
#include "wire/frame.hpp"
#include "net/loop.hpp"
#include "net/server.hpp"

using namespace tagbus;
using namespace test_support;
using namespace std::chrono_literals;

namespace {

/// A listening Unix socket that a test scripts by hand (accepts, reads, closes as it is told).
struct raw_listener {
    int fd = -1;
    explicit raw_listener(const std::string& path, int backlog = 8) {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(fd >= 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(listen(fd, backlog) == 0);
    }
    ~raw_listener() { ::close(fd); }
    raw_listener(const raw_listener&) = delete;
    raw_listener& operator=(const raw_listener&) = delete;

    int accept_one() const {
        pollfd p{fd, POLLIN, 0};
        REQUIRE(poll(&p, 1, 10000) == 1);
        return ::accept(fd, nullptr, nullptr);
    }
};

/// Reads `c` until EOF (or the deadline); returns the bytes.
std::string read_to_eof(int c) {
    std::string got;
    char buf[65536];
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < end) {
        pollfd p{c, POLLIN, 0};
        if (poll(&p, 1, 100) != 1) continue;
        const ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
}

std::string frames(int n, std::size_t body_size = 100) {
    std::string out;
    for (int i = 0; i < n; ++i) append_frame(out, "t/" + std::to_string(i) + "\n\n" + std::string(body_size, 'x'), framing::legacy);
    return out;
}

}  // namespace

TEST_CASE("publisher: close() succeeds once the bus has read everything and closed its end") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        server_options opts;
        opts.endpoints = eps;
        opts.log = log.fn();
        bus_server server(loop, opts);
        REQUIRE(server.start());
        std::vector<std::string> bodies;
        subscriber_options so;
        so.pub = eps.pub;
        subscriber_handlers h;
        h.on_body = [&](std::string_view b) { bodies.emplace_back(b); };
        subscriber sub(loop, so, h);
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        // The publisher blocks until the bus closes its end, so it runs beside the bus's loop.
        std::atomic<bool> done{false};
        std::optional<failure> err;
        std::thread t([&] {
            auto pub = publisher::connect(eps.pull, 5000ms);
            if (!pub) {
                err = pub.error();
            } else {
                std::string f;
                for (int i = 0; i < 3; ++i) append_frame(f, "pub/" + std::to_string(i), framing::legacy);
                if (auto r = pub->send(f); !r) err = r.error();
                else if (auto c = pub->close(5000ms); !c) err = c.error();
            }
            done = true;
        });
        const bool finished = run_until(loop, [&] { return done.load() && bodies.size() == 3; });
        t.join();
        REQUIRE(finished);
        CHECK(!err);
        CHECK(bodies == std::vector<std::string>{"pub/0", "pub/1", "pub/2"});
        CHECK(log.warnings.empty());
    }
    check_closed(loop);
}

TEST_CASE("a subscriber handler that throws stops the loop and run() rethrows, never through libuv") {
    temp_dir dir;
    event_loop loop;
    log_sink log;
    {
        auto eps = unix_endpoints(dir.path);
        server_options opts;
        opts.endpoints = eps;
        opts.log = log.fn();
        bus_server server(loop, opts);
        REQUIRE(server.start());
        subscriber_options so;
        so.pub = eps.pub;
        subscriber_handlers h;
        h.on_body = [](std::string_view) { throw std::runtime_error("handler failed"); };
        subscriber sub(loop, so, h);
        sub.start();
        REQUIRE(run_until(loop, [&] { return server.stats().subscribers == 1; }));
        std::atomic<bool> done{false};
        std::thread t([&] {
            if (auto pub = publisher::connect(eps.pull, 5000ms)) {
                std::string f;
                append_frame(f, "boom", framing::legacy);
                (void)pub->send(f);
                (void)pub->close(5000ms);
            }
            done = true;
        });
        bool thrown = false;
        const auto deadline = loop.after(10000, [&] { loop.stop(); });
        try {
            loop.run();
        } catch (const std::runtime_error& e) {
            thrown = std::string(e.what()) == "handler failed";
        }
        loop.cancel(deadline);
        sub.stop();
        const bool finished = run_until(loop, [&] { return done.load(); });
        t.join();
        CHECK(thrown);
        CHECK(finished);
    }
    check_closed(loop);
}

TEST_CASE("publisher: exit 0 means the bus read it") {
    temp_dir dir;
    const std::string path = dir.path + "/pull.ipc";
    endpoint ep;
    ep.path = path;

    SUBCASE("a bus that reads to EOF and closes: success, every byte read") {
        raw_listener l(path);
        std::string got;
        std::thread bus([&] {
            int c = l.accept_one();
            got = read_to_eof(c);
            ::close(c);
        });
        auto pub = publisher::connect(ep, 2000ms);
        REQUIRE(pub);
        const std::string f = frames(2000);  // several coalesced writes
        CHECK(pub->send(f));
        CHECK(pub->close(2000ms));
        bus.join();
        CHECK(got == f);
    }

    SUBCASE("a bus that never reads: tempfail after the timeout without progress, never success") {
        raw_listener l(path);  // the connection waits in the backlog and is never read
        auto pub = publisher::connect(ep, 200ms);
        REQUIRE(pub);
        CHECK(pub->send(frames(3)));
        auto r = pub->close(200ms);
        REQUIRE(!r);
        CHECK(r.error().code == errc::timeout);
        CHECK(r.error().message.starts_with("timed out waiting for " + path +
                                            " to read what was sent: no progress for 200 ms (about "));
    }

    SUBCASE("a bus that reads everything but does not close: tempfail, saying so") {
        raw_listener l(path);
        std::atomic<bool> release{false};
        std::thread bus([&] {
            int c = l.accept_one();
            read_to_eof(c);
            while (!release) {
                pollfd p{c, 0, 0};
                poll(&p, 1, 10);  // holds the connection open until the publisher gave up
            }
            ::close(c);
        });
        auto pub = publisher::connect(ep, 200ms);
        REQUIRE(pub);
        CHECK(pub->send(frames(3)));
        auto r = pub->close(200ms);
        release = true;
        bus.join();
        REQUIRE(!r);
        CHECK(r.error().code == errc::timeout);
        CHECK(r.error().message == "timed out waiting for " + path +
                                       " to close the connection: it read everything but did not close within 200 ms");
    }

    SUBCASE("a bus that goes away without reading: unavailable") {
        raw_listener l(path);
        auto pub = publisher::connect(ep, 2000ms);
        REQUIRE(pub);
        CHECK(pub->send(frames(3)));
        ::close(l.accept_one());  // unread bytes: the publisher sees a reset or a broken pipe
        auto r = pub->close(2000ms);
        REQUIRE(!r);
        CHECK(r.error().code == errc::unavailable);
        CHECK(r.error().message.find(path) != std::string::npos);
    }
}

TEST_CASE("publisher: a bus that reads slowly is waited for beyond the timeout (it counts time without progress)") {
    temp_dir dir;
    endpoint ep;
    ep.path = dir.path + "/pull.ipc";
    raw_listener l(ep.path);
    std::string got;
    std::thread bus([&] {
        int c = l.accept_one();
        char buf[16384];
        for (;;) {
            // Pacing a slow reader (about 1.6 MB/s), not synchronisation: 16 KiB every 10 ms.
            pollfd p{c, 0, 0};
            poll(&p, 1, 10);
            const ssize_t n = ::read(c, buf, sizeof buf);
            if (n <= 0) break;
            got.append(buf, static_cast<std::size_t>(n));
        }
        ::close(c);
    });
    const std::string f = frames(10000, 300);  // about 3.2 MB: 2 s at that pace, 7 times the bound
    auto pub = publisher::connect(ep, 300ms);
    REQUIRE(pub);
    int waits = 0;
    pub->on_wait([&] { ++waits; });
    std::optional<failure> err;
    for (std::size_t at = 0; at < f.size() && !err; at += 4096)
        if (auto r = pub->send(std::string_view(f).substr(at, 4096)); !r) err = r.error();
    if (!err)
        if (auto r = pub->close(300ms); !r) err = r.error();
    bus.join();
    CHECK(!err);
    if (err) MESSAGE(err->message);
    CHECK(got == f);
    CHECK(waits > 0);
}

TEST_CASE("publisher: an exception from the wait hook is an error, not a crash") {
    temp_dir dir;
    endpoint ep;
    ep.path = dir.path + "/pull.ipc";
    raw_listener l(ep.path);  // never read: send() must wait, and the hook runs
    auto pub = publisher::connect(ep, 2000ms);
    REQUIRE(pub);
    pub->on_wait([] { throw std::runtime_error("hook failed"); });
    std::optional<failure> err;
    const std::string chunk(64 * 1024, 'x');
    for (int i = 0; i < 200 && !err; ++i)
        if (auto r = pub->send(chunk); !r) err = r.error();
    REQUIRE(err);
    CHECK(err->code == errc::internal);
    CHECK(err->message == "internal error while writing to " + ep.path + ": hook failed");
}

TEST_CASE("publisher: a bus whose listen backlog is full is busy (tempfail), not unavailable") {
    temp_dir dir;
    endpoint ep;
    ep.path = dir.path + "/pull.ipc";
    raw_listener l(ep.path, 0);  // a stopped bus: nothing accepts
    std::vector<int> fillers;
    for (int i = 0; i < 64; ++i) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        ep.path.copy(addr.sun_path, sizeof addr.sun_path - 1);
        const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        fillers.push_back(fd);
        if (rc != 0 && errno == EAGAIN) break;
    }
    auto pub = publisher::connect(ep, 200ms);
    REQUIRE(!pub);
    CHECK(pub.error().code == errc::timeout);
    CHECK(pub.error().message == "cannot connect to " + ep.path +
                                    ": the bus is busy: its listen backlog stayed full for 200 ms (is the bus process "
                                    "stopped or overloaded?); try again later");
    for (int fd : fillers) ::close(fd);
}

TEST_CASE("encode_body reports what trimming replaced, for a tool's warning") {
    map_t inner;
    inner.push_back({value("c"), value(std::string(700, 'y'))});
    inner.push_back({value("e"), value(std::uint64_t{1})});
    map_t m;
    m.push_back({value("a"), value(std::string(600, 'x'))});
    m.push_back({value("b"), value(std::move(inner))});
    m.push_back({value("d"), value(std::uint64_t{1})});
    value data(std::move(m));
    trim_report r;
    auto body = encode_body("big", data, 1000, false, &r);
    REQUIRE(body);
    CHECK(r.over);
    CHECK(r.max_event_size == 1000);
    CHECK(r.size == pack(value(map_t{{value("a"), value(std::string(600, 'x'))},
                                     {value("b"), value(map_t{{value("c"), value(std::string(700, 'y'))},
                                                              {value("e"), value(std::uint64_t{1})}})},
                                     {value("d"), value(std::uint64_t{1})}}))
                          .size() +
                      33);
    REQUIRE(r.trimmed.size() == 2);
    CHECK(r.trimmed[0].key == "a");
    CHECK(r.trimmed[0].size == 603);  // packed: a str16 header (3 bytes) and the 600
    CHECK(r.trimmed[1].key == "b.c");
    CHECK(r.trimmed[1].size == 703);
    CHECK(r.size_after < 1000);
    CHECK(describe_trim("big", r) == "event 'big' is " + std::to_string(r.size) +
                                         " bytes, over max_event_size 1000: trimmed keys 'a' (603 bytes), 'b.c' (703 "
                                         "bytes) to \"VALUE_TRIMMED\"");

    SUBCASE("an event under the cap reports nothing") {
        value small(map_t{{value("a"), value(std::uint64_t{1})}});
        trim_report none;
        REQUIRE(encode_body("t", small, 1000, false, &none));
        CHECK(!none.over);
        CHECK(none.trimmed.empty());
    }
    SUBCASE("an oversized event with nothing to trim says so") {
        // Many None values: each is 16 bytes to CPython, under even the last pass's 10% of 200.
        map_t flat;
        for (int i = 0; i < 100; ++i) flat.push_back({value(std::to_string(i)), value()});
        value d(std::move(flat));
        trim_report nothing;
        REQUIRE(encode_body("t", d, 200, false, &nothing));
        CHECK(nothing.over);
        CHECK(nothing.trimmed.empty());
        CHECK(describe_trim("t", nothing).ends_with(": no value could be trimmed; sent at " +
                                                    std::to_string(nothing.size_after) + " bytes"));
    }
}
