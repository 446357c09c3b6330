// The public C++ API against the real event-busd (a child process) over real sockets: destination,
// fire_event with delivery confirmed, and the listener's get_event semantics, row by row as
// SALT-WIRE §5 states them. Only public headers are included (and libuv's, for the listener on a
// program's own loop): this is what a program sees.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <uv.h>

#include "tagbus/tagbus.hpp"

using namespace tagbus;
using namespace std::chrono_literals;
using clk = std::chrono::steady_clock;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tbapiXXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
        std::filesystem::create_directory(path + "/etc");
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

/// A sock_dir and an empty config folder of the test's own.
destination_options options_in(const temp_dir& dir) {
    destination_options o;
    o.sock_dir = dir.path + "/sock";
    o.config_dir = dir.path + "/etc";
    return o;
}

/// event-busd on `sock_dir`, started and ready (its "started" line read from stderr).
struct busd {
    pid_t pid = -1;
    busd(const std::string& sock_dir, const std::string& config_dir, std::vector<std::string> extra = {}) {
        const char* exe = std::getenv("TAGBUS_BUSD");
        REQUIRE_MESSAGE(exe != nullptr, "TAGBUS_BUSD names the event-busd to test");
        int err[2];
        REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
        std::vector<std::string> args{exe, "--sock-dir", sock_dir, "-c", config_dir};
        if (extra.empty()) extra = {"--node", "master"};
        args.insert(args.end(), extra.begin(), extra.end());
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::dup2(err[1], 2);
            ::execv(exe, argv.data());
            ::_exit(127);
        }
        ::close(err[1]);
        std::string line;
        const auto deadline = clk::now() + 10s;
        while (line.find('\n') == std::string::npos && clk::now() < deadline) {
            pollfd p{err[0], POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            char buf[256];
            const ssize_t n = ::read(err[0], buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, static_cast<std::size_t>(n));
        }
        ::close(err[0]);
        REQUIRE_MESSAGE(line.find("event-busd: started the") != std::string::npos, line);
    }
    void kill() {
        if (pid <= 0) return;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        pid = -1;
    }
    ~busd() { kill(); }
};

struct fixture {
    temp_dir dir;
    std::string sock_dir = dir.path + "/sock";
    std::optional<busd> bus{std::in_place, sock_dir, dir.path + "/etc"};
    destination dest = [&] {
        auto d = destination::resolve(options_in(dir));
        REQUIRE(d);
        return *d;
    }();

    void fire(std::string_view tag, value data = value(map_t{})) {
        auto r = fire_event(dest, tag, data);
        REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    }

    /// Until the bus has registered the listener (a subscriber connected a moment ago may not be
    /// accepted yet): fires probes until one comes back. Returns how many it took.
    void sync(listener& l) {
        const auto deadline = clk::now() + 10s;
        for (int n = 0; clk::now() < deadline; ++n) {
            fire("sync/" + std::to_string(n));
            auto e = l.get_event(200ms, "sync/");
            REQUIRE(e);
            if (*e) {
                // Drain the probes that are still on their way.
                while (true) {
                    auto more = l.get_event(50ms, "sync/");
                    REQUIRE(more);
                    if (!*more) break;
                }
                return;
            }
        }
        FAIL("the listener never saw a probe event");
    }

    listener open() {
        auto l = listener::open(dest);
        REQUIRE(l);
        sync(*l);
        return std::move(*l);
    }
};

const value* get(const value& m, std::string_view key) {
    const auto* map = std::get_if<map_t>(&m.v);
    if (!map) return nullptr;
    for (const auto& kv : *map)
        if (const auto* k = kv.key.str(); k && *k == key) return &kv.val;
    return nullptr;
}

/// data[key], which must be there.
const value& field(const value& m, std::string_view key) {
    const value* v = get(m, key);
    REQUIRE_MESSAGE(v != nullptr, key);
    return *v;
}

/// The destination of the minion bus "web1" in `minion_dir`, with the fixture's config folder.
destination minion_dest(const fixture& f, const std::string& minion_dir) {
    destination_options mo;
    mo.node = node_kind::minion;
    mo.sock_dir = minion_dir;
    mo.config_dir = f.dir.path + "/etc";
    mo.id = "web1";
    auto d = destination::resolve(mo);
    REQUIRE(d);
    return *d;
}

std::string tag_of(const result<std::optional<event>>& r) {
    REQUIRE(r);
    return *r ? (*r)->tag : std::string("(none)");
}

/// Writes one event body to the bus's pull socket in Salt's legacy framing, {"head": {}, "body":
/// <bin>}, byte by byte as msgpack-python packs it: what a writer outside the library can send.
void push_raw(const std::string& sock_dir, const std::string& body) {
    REQUIRE(body.size() < 256);
    std::string frame = "\x82\xa4" "head" "\x80\xa4" "body" "\xc4";
    frame += static_cast<char>(body.size());
    frame += body;
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string path = sock_dir + "/master_event_pull.ipc";
    std::memcpy(addr.sun_path, path.c_str(), path.size());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::write(fd, frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
    ::shutdown(fd, SHUT_WR);
    char c;
    (void)::read(fd, &c, 1);  // the bus closes its end once it has read the frame
    ::close(fd);
}

}  // namespace

TEST_CASE("destination: resolution and describe()") {
    temp_dir dir;
    destination_options o = options_in(dir);
    auto d = destination::resolve(o);
    REQUIRE(d);
    CHECK(d->node() == node_kind::master);
    CHECK(d->sock_dir() == dir.path + "/sock");
    CHECK(d->max_event_size() == 1048576);
    CHECK(d->describe() == "node master, sock_dir " + dir.path + "/sock (from the program)\npub " + dir.path +
                               "/sock/master_event_pub.ipc, pull " + dir.path + "/sock/master_event_pull.ipc");
    o.framing = "bogus";
    auto bad = destination::resolve(o);
    REQUIRE(!bad);
    CHECK(bad.error().code == errc::invalid);
    o.framing.reset();
    o.config_dir = dir.path + "/missing";
    auto missing = destination::resolve(o);
    REQUIRE(!missing);
    CHECK(missing.error().code == errc::config);

    // A sock_dir others may write to is refused; the message says how to get out, in the words
    // the caller chose (the library names no flag unless told to).
    o.config_dir = dir.path + "/etc";
    o.sock_dir = dir.path + "/open";
    std::filesystem::create_directory(*o.sock_dir);
    std::filesystem::permissions(*o.sock_dir, std::filesystem::perms::all);
    auto open = destination::resolve(o);
    REQUIRE(!open);
    CHECK(open.error().code == errc::config);
    CHECK(open.error().message == "unsafe sock_dir " + dir.path +
                                      "/open: others may write to it (mode 0777, no sticky bit); remove it or choose "
                                      "another sock_dir");
    o.choose_other_sock_dir = "pick one in settings.ini";
    auto told = destination::resolve(o);
    REQUIRE(!told);
    CHECK(told.error().message.ends_with("; remove it or pick one in settings.ini"));
}

TEST_CASE("fire_event: no bus is errc::unavailable with the errno, a bad tag errc::data; nothing throws") {
    temp_dir dir;
    auto d = destination::resolve(options_in(dir));
    REQUIRE(d);
    auto r = fire_event(*d, "a/b", value(map_t{}), fire_options{500ms});
    REQUIRE(!r);
    CHECK(r.error().code == errc::unavailable);
    CHECK(r.error().sys_errno == ENOENT);
    CHECK(r.error().message.find("master_event_pull.ipc") != std::string::npos);
    auto empty = fire_event(*d, "", value(map_t{}));
    REQUIRE(!empty);
    CHECK(empty.error().code == errc::data);
    auto not_map = fire_event(*d, "a", value(array_t{}));
    REQUIRE(!not_map);
    CHECK(not_map.error().code == errc::data);
}

TEST_CASE("get_event returns the event fired, with Salt's _stamp added to the data") {
    fixture f;
    auto l = f.open();
    map_t data;
    data.push_back(member{value("foo"), value("bar")});
    f.fire("myco/test", value(data));
    auto r = l.get_event(5s, "myco/");
    REQUIRE(r);
    REQUIRE(*r);
    CHECK((*r)->tag == "myco/test");
    CHECK(field((*r)->data, "foo") == value("bar"));
    CHECK(field((*r)->data, "_stamp").str() != nullptr);
}

TEST_CASE("an event that cannot be decoded is nullopt, as Salt's None, counted with its reason; the next one is read") {
    fixture f;
    auto l = f.open();
    CHECK(l.undecodable() == 0);
    push_raw(f.sock_dir, std::string("bad/event\n\n" "\xc1", 12));  // 0xc1: never valid msgpack
    f.fire("good/event");
    auto bad = l.get_event(5s, "bad/");
    REQUIRE(bad);
    CHECK(!*bad);
    CHECK(!l.interrupted());
    CHECK(l.undecodable() == 1);
    CHECK(l.undecodable_reason() == "event data is not valid msgpack: invalid msgpack byte 0xc1 at offset 0");
    CHECK(tag_of(l.get_event(5s, "good/")) == "good/event");
    CHECK(l.undecodable() == 1);
}

TEST_CASE("fire_options::stamp false: the data goes with the _stamp it has, or none") {
    fixture f;
    auto l = f.open();
    fire_options o;
    o.stamp = false;
    map_t recorded{member{value("a"), value(1)}, member{value("_stamp"), value("2001-02-03T04:05:06.000007")}};
    REQUIRE(fire_event(f.dest, "kept/one", value(recorded), o));
    auto s = sender::open(f.dest, o);
    REQUIRE(s);
    REQUIRE(s->fire("kept/two", value(map_t{member{value("b"), value(2)}})));
    REQUIRE(s->close());
    auto one = l.get_event(5s, "kept/one");
    REQUIRE(one);
    REQUIRE(*one);
    CHECK((*one)->data == value(recorded));
    auto two = l.get_event(5s, "kept/two");
    REQUIRE(two);
    REQUIRE(*two);
    CHECK((*two)->data == value(map_t{member{value("b"), value(2)}}));
}

TEST_CASE("destination_options::opts: a program's Salt options are read instead of the config files") {
    temp_dir dir;
    {
        std::ofstream master(dir.path + "/etc/master");
        master << "sock_dir: /from/the/file\nipc_mode: ipc\n";
        std::ofstream minion(dir.path + "/etc/minion");
        minion << "id: from-the-file\n";
    }
    destination_options o;
    o.config_dir = dir.path + "/etc";
    o.opts = map_t{member{value("sock_dir"), value(dir.path + "/opts")}, member{value("ipc_mode"), value("tcp")},
                   member{value("tcp_master_pub_port"), value(14512)}, member{value("tcp_master_pull_port"), value(14513)},
                   member{value("max_event_size"), value(4096)}};
    auto m = destination::resolve(o);
    REQUIRE(m);
    CHECK(m->sock_dir() == dir.path + "/opts");
    CHECK(m->pub_address() == "tcp://127.0.0.1:14512");
    CHECK(m->pull_address() == "tcp://127.0.0.1:14513");
    CHECK(m->max_event_size() == 4096);
    // A minion's socket names from the id and hash_type in the options (hashlib.md5(b"web1"): e694aa37ab...).
    o.node = node_kind::minion;
    o.opts = map_t{member{value("sock_dir"), value(dir.path + "/opts")}, member{value("id"), value("web1")},
                   member{value("hash_type"), value("md5")}};
    auto mi = destination::resolve(o);
    REQUIRE(mi);
    CHECK(mi->pub_address() == dir.path + "/opts/minion_event_e694aa37ab_pub.ipc");
    // A bad value is named as in a file, with the options for where it came from.
    o.opts = map_t{member{value("hash_type"), value("nope")}};
    auto bad = destination::resolve(o);
    REQUIRE(!bad);
    CHECK(bad.error().code == errc::config);
    CHECK(bad.error().message == "invalid hash_type 'nope' in the options (expected a hashlib name such as sha256)");
}

TEST_CASE("match types, as SALT-WIRE §5's table") {
    struct row {
        const char* search;
        match_type type;
        const char* tag;
        bool match;
    };
    const row rows[] = {
        {"", match_type::startswith, "a/b/c", true},  // an empty search tag matches everything
        {"a/b", match_type::startswith, "a/b/c", true},
        {"b/c", match_type::startswith, "a/b/c", false},
        {"b/c", match_type::endswith, "a/b/c", true},
        {"a/b", match_type::endswith, "a/b/c", false},
        {"/b/", match_type::find, "a/b/c", true},
        {"x", match_type::find, "a/b/c", false},
        {"a/b", match_type::regex, "a/b/c", true},   // anchored at the start only
        {"b/c", match_type::regex, "a/b/c", false},  // not a search
        {"a/.*/c", match_type::regex, "a/b/c", true},
        {"a/*", match_type::fnmatch, "a/b/c", true},  // '*' crosses '/'
        {"a/?", match_type::fnmatch, "a/b/c", false},  // the whole tag
        {"A/*", match_type::fnmatch, "a/b/c", false},  // case-sensitive
    };
    fixture f;
    auto l = f.open();
    // The marker fired after each tag is kept (subscribed): once it is pending, the tag's event,
    // which came before it, has been looked at by get_event.
    REQUIRE(l.subscribe("end/"));
    for (const auto& r : rows) {
        CAPTURE(r.search);
        CAPTURE(static_cast<int>(r.type));
        f.fire(r.tag);
        f.fire("end/marker");
        if (r.match) {
            CHECK(tag_of(l.get_event(5s, r.search, r.type)) == r.tag);
        } else {
            const auto deadline = clk::now() + 10s;
            while (l.pending() == 0 && clk::now() < deadline) CHECK(tag_of(l.get_event(100ms, r.search, r.type)) == "(none)");
        }
        CHECK(tag_of(l.get_event(5s, "end/")) == "end/marker");
        CHECK(l.pending() == 0);
    }
}

TEST_CASE("an invalid regex is errc::invalid") {
    fixture f;
    auto l = f.open();
    auto r = l.get_event(100ms, "a(", match_type::regex);
    REQUIRE(!r);
    CHECK(r.error().code == errc::invalid);
    CHECK(!l.subscribe("(?<name>x)", match_type::regex));
}

TEST_CASE("a non-matching event is dropped unless a subscription matches it; subscribed ones wait in the pending queue") {
    fixture f;
    auto l = f.open();
    f.fire("x/1");
    f.fire("y/1");
    CHECK(tag_of(l.get_event(5s, "y/")) == "y/1");
    CHECK(l.pending() == 0);
    CHECK(tag_of(l.get_event(0ms, "x/", match_type::startswith, true)) == "(none)");  // x/1 was dropped

    REQUIRE(l.subscribe("x/"));
    f.fire("x/2");
    f.fire("z/1");
    f.fire("y/2");
    CHECK(tag_of(l.get_event(5s, "y/")) == "y/2");
    CHECK(l.pending() == 1);  // x/2 kept, z/1 dropped
    // The pending queue is looked at first, even with no_block.
    CHECK(tag_of(l.get_event(0ms, "x/", match_type::startswith, true)) == "x/2");
    CHECK(l.pending() == 0);

    f.fire("x/3");
    f.fire("y/3");
    CHECK(tag_of(l.get_event(5s, "y/")) == "y/3");
    CHECK(l.pending() == 1);
    l.unsubscribe("x/");  // clears what no subscription matches any more
    CHECK(l.pending() == 0);
}

TEST_CASE("the wait is not restarted by non-matching events, and no_block does not wait") {
    fixture f;
    auto l = f.open();
    REQUIRE(l.subscribe("noise/"));  // kept, so that the test can tell they arrived during the wait
    std::atomic<bool> stop{false};
    std::thread noise([&] {
        // Back to back: each fire_event returns once the bus has read its event.
        while (!stop) (void)fire_event(f.dest, "noise/x", value(map_t{}));
    });
    const auto t0 = clk::now();
    auto r = l.get_event(400ms, "never/");
    const auto took = clk::now() - t0;
    stop = true;
    noise.join();
    REQUIRE(r);
    CHECK(!*r);
    CHECK(l.pending() > 0);  // non-matching events did arrive while it waited
    CHECK(took >= 400ms);
    CHECK(took < 5s);  // with the wait restarted at each event it would never end while noise goes on
    const auto t1 = clk::now();
    auto nb = l.get_event(10s, "never/", match_type::startswith, true);
    REQUIRE(nb);
    CHECK(!*nb);
    CHECK(clk::now() - t1 < 5s);
}

TEST_CASE("interrupt() from another thread ends a wait that would last forever; iter_events ends with it") {
    fixture f;
    auto l = f.open();
    // Before the wait: the next get_event returns at once.
    l.interrupt();
    auto early = l.get_event(0ms, "never/");  // 0: forever
    REQUIRE(early);
    CHECK(!*early);
    CHECK(l.interrupted());
    auto timed_out = l.get_event(10ms, "never/");
    REQUIRE(timed_out);
    CHECK(!*timed_out);
    CHECK(!l.interrupted());  // a wait that ran out is not an interruption
    // From another thread, before or during the wait (both orders must end it).
    std::thread t([&] { l.interrupt(); });
    auto r = l.get_event(0ms, "never/");
    t.join();
    REQUIRE(r);
    CHECK(!*r);

    f.fire("job/1");
    f.fire("job/2");
    std::vector<std::string> seen;
    for (const auto& ev : l.iter_events("job/*", match_type::fnmatch)) {
        seen.push_back(ev.tag);
        if (seen.size() == 2) l.interrupt();
    }
    CHECK(seen == std::vector<std::string>{"job/1", "job/2"});
}

TEST_CASE("poll_fd: an outside loop waits on it; it turns readable when an event or interrupt() comes") {
    fixture f;
    auto l = f.open();
    const int fd = l.poll_fd();
    REQUIRE(fd >= 0);
    auto readable = [fd](int ms) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
    };
    // Drain what the connect left, as a caller does: no_block until it gives nothing.
    for (int i = 0; i < 100; ++i) {
        auto r = l.get_event(0ms, "", match_type::startswith, true);
        REQUIRE(r);
        if (!*r) break;
    }
    CHECK(!readable(0));
    CHECK(l.poll_timeout() != 0);  // nothing due: no busy loop
    f.fire("outside/1");
    REQUIRE(readable(5000));
    std::optional<event> got;
    for (int i = 0; i < 100 && !got; ++i) {  // the frame may take more than one turn to arrive whole
        auto r = l.get_event(0ms, "outside/", match_type::startswith, true);
        REQUIRE(r);
        if (*r) got = std::move(**r);
        else REQUIRE(readable(5000));
    }
    REQUIRE(got);
    CHECK(got->tag == "outside/1");
    std::thread t([&] { l.interrupt(); });
    t.join();
    CHECK(readable(5000));
    auto r = l.get_event(0ms, "never/", match_type::startswith, true);
    REQUIRE(r);
    CHECK(!*r);
    CHECK(l.interrupted());
}

TEST_CASE("a lost bus: get_event returns within its wait, reconnects when the bus is back, counts the gap, clears the pending queue") {
    fixture f;
    auto l = f.open();
    REQUIRE(l.subscribe("kept/"));
    f.fire("kept/1");
    f.fire("other/1");
    CHECK(tag_of(l.get_event(5s, "other/")) == "other/1");
    CHECK(l.pending() == 1);
    CHECK(l.gaps() == 0);

    f.bus->kill();
    const auto t0 = clk::now();
    CHECK(tag_of(l.get_event(300ms, "x/")) == "(none)");
    CHECK(clk::now() - t0 < 5s);
    CHECK(!l.connected());
    CHECK(l.pending() == 0);

    f.bus.emplace(f.sock_dir, f.dir.path + "/etc");
    const auto deadline = clk::now() + 10s;
    while (!l.connected() && clk::now() < deadline) (void)l.get_event(100ms, "x/");
    REQUIRE(l.connected());
    CHECK(l.gaps() == 1);
    f.sync(l);
    f.fire("after/1");
    CHECK(tag_of(l.get_event(5s, "after/")) == "after/1");
}

TEST_CASE("fire_master: through a minion bus that forwards, the event reaches the master's bus as Salt's master fires it") {
    fixture f;  // the master bus
    const std::string minion_dir = f.dir.path + "/minion";
    busd minion(minion_dir, f.dir.path + "/etc",
                {"--node", "minion", "--id", "web1", "--master-sock-dir", f.sock_dir});
    const destination to_minion = minion_dest(f, minion_dir);
    auto l = f.open();
    map_t data;
    data.push_back(member{value("k"), value(1)});
    auto r = fire_master(to_minion, "app/x", value(data));
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    auto ev = l.get_event(10s, "app/");
    REQUIRE(ev);
    REQUIRE(*ev);
    CHECK((*ev)->tag == "app/x");
    CHECK(field((*ev)->data, "id") == value("web1"));
    CHECK(field(field((*ev)->data, "data"), "k") == value(1));

    auto wrong = fire_master(f.dest, "app/x", value(data));
    REQUIRE(!wrong);
    CHECK(wrong.error().code == errc::invalid);
}

TEST_CASE("sender: pipelined events arrive complete and in order; close() confirms; errors leave it usable") {
    fixture f;
    auto l = f.open();
    auto s = sender::open(f.dest);
    REQUIRE(s);
    constexpr int n = 20000;  // several 64 KiB writes
    for (int i = 0; i < n; ++i) {
        map_t data;
        data.push_back(member{value("seq"), value(i)});
        if (i == 1) data.push_back(member{value("_stamp"), value("replaced")});
        REQUIRE(s->fire("pipe/" + std::to_string(i % 3), value(data)));
    }
    // A line in each form, and the errors that queue nothing.
    REQUIRE(s->fire_line("pipe/line\t{\"seq\": 20000, \"n\": [1, 2.5, null]}"));
    CHECK(decode_body(s->last_body())->tag == "pipe/line");
    REQUIRE(s->fire_line("{\"tag\": \"pipe/json\", \"data\": {\"seq\": 20001}}"));
    auto bad = s->fire_line("pipe/x\t{\"seq\": ");
    REQUIRE(!bad);
    CHECK(bad.error().code == errc::data);
    auto empty = s->fire("", value(map_t{}));
    REQUIRE(!empty);
    CHECK(empty.error().code == errc::data);
    CHECK(s->count() == n + 2);
    auto closed = s->close();
    REQUIRE_MESSAGE(closed, (closed ? "" : closed.error().message));
    auto after = s->fire("pipe/late", value(map_t{}));
    REQUIRE(!after);
    CHECK(after.error().code == errc::internal);

    for (int i = 0; i < n + 2; ++i) {
        auto r = l.get_event(5s, "pipe/");
        REQUIRE(r);
        REQUIRE_MESSAGE(*r, "event " << i << " did not arrive");
        CHECK(field((*r)->data, "seq") == value(i));
        const value& stamp = field((*r)->data, "_stamp");
        REQUIRE(stamp.str());
        CHECK(stamp.str()->size() >= 19);
        if (i == 1) CHECK(std::get<map_t>((*r)->data.v).size() == 2);  // replaced where it was
        if (i == n) CHECK(field((*r)->data, "n") == value(array_t{value(1), value(2.5), value()}));
    }
    auto none = l.get_event(0ms, "pipe/", match_type::startswith, true);  // no_block: nothing more came
    REQUIRE(none);
    CHECK(!*none);
}

TEST_CASE("sender: no bus is errc::unavailable; a bus that goes away fails the sender, not the program") {
    temp_dir dir;
    auto d = destination::resolve(options_in(dir));
    REQUIRE(d);
    auto none = sender::open(*d, fire_options{300ms});
    REQUIRE(!none);
    CHECK(none.error().code == errc::unavailable);

    fixture f;
    auto s = sender::open(f.dest, fire_options{2000ms});
    REQUIRE(s);
    REQUIRE(s->fire("gone/0", value(map_t{})));
    REQUIRE(s->flush());
    f.bus.reset();  // event-busd stops
    result<void> r;
    for (int i = 0; i < 1000000 && r; ++i) r = s->fire("gone/x", value(map_t{}));
    if (r) r = s->close();
    REQUIRE(!r);
    CHECK(r.error().code == errc::unavailable);
}

TEST_CASE("send: event.send's data in Salt's order, through the minion bus to the master, notes for each step") {
    fixture f;  // the master bus
    const std::string minion_dir = f.dir.path + "/minion";
    busd minion(minion_dir, f.dir.path + "/etc", {"--node", "minion", "--id", "web1", "--master-sock-dir", f.sock_dir});
    const destination to = minion_dest(f, minion_dir);
    auto l = f.open();

    ::setenv("TAGBUS_TEST_SEND", "yes", 1);
    send_options o;
    map_t data;
    data.push_back(member{value("k"), value(1)});
    data.push_back(member{value("__pub_fun"), value("mine")});  // DATA goes over everything
    o.data = value(data);
    o.with_env = value(array_t{value("TAGBUS_TEST_SEND"), value("NOT_SET_ANYWHERE")});
    o.with_env_opts = true;
    o.kwargs = {{"extra", value("x")}};
    auto built = send_data(to, o);
    REQUIRE(built);
    std::vector<std::string> keys;
    for (const auto& m : *built) keys.push_back(*m.key.str());
    CHECK(keys == std::vector<std::string>{"environ", "saltenv", "pillarenv", "extra", "__pub_fun", "__pub_pid",
                                           "__pub_jid", "__pub_tgt", "k"});
    CHECK(field(value(*built), "environ") == value(map_t{member{value("TAGBUS_TEST_SEND"), value("yes")}}));
    CHECK(field(value(*built), "__pub_fun") == value("mine"));
    CHECK(field(value(*built), "__pub_jid").str()->size() == 20);

    std::vector<std::string> steps;
    o.pub_keys = false;
    o.on_note = [&](send_note kind, std::string_view text) {
        CHECK(kind == send_note::step);
        steps.emplace_back(text);
    };
    auto r = send(to, "app/sent", o);
    REQUIRE_MESSAGE(r, (r ? "" : r.error().message));
    CHECK(r->route == send_route::minion_bus);
    CHECK(r->address == to.pull_address());
    REQUIRE(r->bodies.size() == 1);
    CHECK(decode_body(r->bodies[0])->tag == "fire_master");
    REQUIRE(steps.size() == 2);
    CHECK(steps[0] == "minion id web1, minion sock_dir " + minion_dir + " (from the program)");
    CHECK(steps[1] == "route: minion bus " + to.pull_address() + " (fire_master)");
    auto ev = l.get_event(10s, "app/");
    REQUIRE(ev);
    REQUIRE(*ev);
    CHECK((*ev)->tag == "app/sent");
    CHECK(field((*ev)->data, "id") == value("web1"));
    CHECK(field(field((*ev)->data, "data"), "k") == value(1));
    CHECK(get(field((*ev)->data, "data"), "__pub_pid") == nullptr);

    // Errors: not a minion, a bad tag, data that is not a map, with_pillar.
    auto master_to = send(f.dest, "app/x");
    REQUIRE(!master_to);
    CHECK(master_to.error().code == errc::invalid);
    auto empty = send(to, "");
    REQUIRE(!empty);
    CHECK(empty.error().code == errc::data);
    send_options bad;
    bad.data = value(array_t{});
    auto not_map = send(to, "app/x", bad);
    REQUIRE(!not_map);
    CHECK(not_map.error().code == errc::data);
    send_options pillar;
    pillar.with_pillar = true;
    auto p = send(to, "app/x", pillar);
    REQUIRE(!p);
    CHECK(p.error().code == errc::unavailable);
}

TEST_CASE("send: masterless goes to the minion's own bus; a preload goes straight to the master bus; no route names both sockets") {
    fixture f;  // the master bus
    const std::string minion_dir = f.dir.path + "/minion";
    const destination to = minion_dest(f, minion_dir);
    send_options o;
    o.pub_keys = false;
    o.master = [&]() -> result<destination> { return f.dest; };

    // No minion bus: the direct route, on the master bus, as the master would fire it.
    auto l = f.open();
    o.preload = value(map_t{member{value("pre"), value(1)}});
    auto direct = send(to, "app/direct", o);
    REQUIRE_MESSAGE(direct, (direct ? "" : direct.error().message));
    CHECK(direct->route == send_route::master_bus);
    CHECK(direct->address == f.dest.pull_address());
    auto ev = l.get_event(10s, "app/direct");
    REQUIRE(ev);
    REQUIRE(*ev);
    CHECK(field((*ev)->data, "id") == value("web1"));

    // Masterless (local): only the minion's bus, which is not there.
    o.preload = value();
    o.local = true;
    auto local = send(to, "app/local", o);
    REQUIRE(!local);
    CHECK(local.error().code == errc::unavailable);
    CHECK(local.error().message.starts_with("cannot fire on the local minion bus (asked to send locally): "));
    busd minion(minion_dir, f.dir.path + "/etc", {"--node", "minion", "--id", "web1", "--no-forward"});
    auto ml = listener::open(to);
    REQUIRE(ml);
    // Until the minion bus has registered the listener: probes fired there until one comes back.
    for (int n = 0;; ++n) {
        REQUIRE(n < 100);
        REQUIRE(fire_event(to, "sync/" + std::to_string(n), value(map_t{})));
        auto probe = ml->get_event(100ms, "sync/");
        REQUIRE(probe);
        if (*probe) break;
    }
    auto fired = send(to, "app/local", o);
    REQUIRE_MESSAGE(fired, (fired ? "" : fired.error().message));
    CHECK(fired->route == send_route::local_bus);
    auto got = ml->get_event(10s, "app/local");
    REQUIRE(got);
    REQUIRE(*got);
    CHECK(get((*got)->data, "_stamp") != nullptr);

    // Neither bus: one message naming both sockets.
    f.bus.reset();
    minion.kill();
    o.local = false;
    auto none = send(to, "app/none", o);
    REQUIRE(!none);
    CHECK(none.error().code == errc::unavailable);
    CHECK(none.error().message.starts_with("no route to the master: minion bus: cannot connect to " + to.pull_address()));
    CHECK(none.error().message.find("; master bus: cannot connect to " + f.dest.pull_address()) != std::string::npos);
}

TEST_CASE("bus: a bus in-process serves fire_event and listeners; stop() from another thread ends run() and removes the sockets") {
    temp_dir dir;
    auto where = destination::resolve(options_in(dir));
    REQUIRE(where);
    auto b = bus::open(*where);
    REQUIRE_MESSAGE(b, (b ? "" : b.error().message));
    CHECK(b->describe() == "pub " + where->pub_address() + ", pull " + where->pull_address());
    // Ready when open() returns: a second bus on the same sock_dir is refused.
    auto again = bus::open(*where);
    REQUIRE(!again);
    CHECK(again.error().code == errc::unavailable);

    result<void> served = fail(errc::internal, "run() did not return");
    std::thread t([&] { served = b->run(); });
    {
        auto l = listener::open(*where);
        REQUIRE(l);
        for (int n = 0;; ++n) {  // until the bus has registered the listener
            REQUIRE(n < 100);
            REQUIRE(fire_event(*where, "sync/" + std::to_string(n), value(map_t{})));
            auto probe = l->get_event(100ms, "sync/");
            REQUIRE(probe);
            if (*probe) break;
        }
        REQUIRE(fire_event(*where, "in/process", value(map_t{member{value("k"), value(7)}})));
        auto ev = l->get_event(5s, "in/");
        REQUIRE(ev);
        REQUIRE(*ev);
        CHECK(field((*ev)->data, "k") == value(7));
    }
    b->stop();
    t.join();
    CHECK(served);
    CHECK(!std::filesystem::exists(where->pub_address()));
    CHECK(!std::filesystem::exists(where->pull_address()));
    auto gone = fire_event(*where, "after/stop", value(map_t{}), fire_options{300ms});
    REQUIRE(!gone);
    CHECK(gone.error().code == errc::unavailable);
}

TEST_CASE("bus: bad options, and where a minion bus forwards") {
    temp_dir dir;
    auto where = destination::resolve(options_in(dir));
    REQUIRE(where);
    // Sockets handed over (socket activation) are the bus's from open() on: closed when it fails.
    auto handed_over = [] {
        std::vector<int> fds;
        for (int i = 0; i < 2; ++i) fds.push_back(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        return fds;
    };
    auto all_closed = [](const std::vector<int>& fds) {
        return std::all_of(fds.begin(), fds.end(), [](int fd) { return fcntl(fd, F_GETFD) == -1; });
    };
    bus_options bad;
    bad.pub_framing = "zip";
    bad.listen_fds = handed_over();
    const auto bad_fds = bad.listen_fds;
    auto b = bus::open(*where, bad);
    REQUIRE(!b);
    CHECK(b.error().code == errc::invalid);
    CHECK(all_closed(bad_fds));

    auto none = forward_address(*where, {});  // a master bus forwards nowhere
    REQUIRE(none);
    CHECK(!*none);
    destination_options mo = options_in(dir);
    mo.node = node_kind::minion;
    mo.id = "web1";
    auto minion = destination::resolve(mo);
    REQUIRE(minion);
    auto unconfigured = forward_address(*minion, {});  // no master config, no master sock_dir
    REQUIRE(unconfigured);
    CHECK(!*unconfigured);
    bus_options to_master;
    to_master.master_sock_dir = dir.path + "/master";
    auto master = forward_address(*minion, to_master);
    REQUIRE(master);
    REQUIRE(*master);
    CHECK(**master == dir.path + "/master/master_event_pull.ipc");
    to_master.forward = false;
    auto off = forward_address(*minion, to_master);
    REQUIRE(off);
    CHECK(!*off);

    // An invalid master config: the minion bus cannot tell where to forward, and says why.
    {
        std::ofstream(dir.path + "/etc/master") << "sock_dir: [\n";
    }
    bus_options activated;
    activated.listen_fds = handed_over();
    const auto activated_fds = activated.listen_fds;
    auto broken = bus::open(*minion, activated);
    REQUIRE(!broken);
    CHECK(broken.error().code == errc::config);
    CHECK(broken.error().message.find(dir.path + "/etc/master") != std::string::npos);
    CHECK(all_closed(activated_fds));
}

TEST_CASE("async_listener: events on the caller's libuv loop, in order; close() lets the loop end with every handle closed") {
    fixture f;
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    struct state {
        fixture* f;
        std::optional<async_listener> l;
        std::vector<std::string> tags;
        std::vector<link_event> links;
        bool probed = false;
        int probes = 0;
        uv_timer_t timer{};
    } st{};
    st.f = &f;
    auto l = async_listener::open(&loop, f.dest, "async/", match_type::startswith,
                                  async_handlers{[&](const event& ev) {
                                                     if (ev.tag == "async/probe") {
                                                         st.probed = true;
                                                         return;
                                                     }
                                                     st.tags.push_back(ev.tag);
                                                     if (st.tags.size() == 3) st.l->close();
                                                 },
                                                 [&](link_event e, const failure*) { st.links.push_back(e); }, nullptr});
    REQUIRE(l);
    st.l.emplace(std::move(*l));
    auto bad = async_listener::open(&loop, f.dest, "(", match_type::regex, {});
    REQUIRE(!bad);
    CHECK(bad.error().code == errc::invalid);
    // A timer on the same loop: probes until the bus has registered the listener, then three
    // events (fire_event blocks, but the bus is another process).
    uv_timer_init(&loop, &st.timer);
    st.timer.data = &st;
    uv_timer_start(
        &st.timer,
        [](uv_timer_t* t) {
            // CHECK, not REQUIRE: nothing may throw through libuv's frames.
            auto& s = *static_cast<state*>(t->data);
            if (!s.probed && ++s.probes < 500) {
                CHECK(fire_event(s.f->dest, "async/probe", value(map_t{})));
                return;
            }
            CHECK(s.probed);
            for (int i = 0; i < 3; ++i) CHECK(fire_event(s.f->dest, "async/" + std::to_string(i), value(map_t{})));
            CHECK(fire_event(s.f->dest, "other/x", value(map_t{})));
            uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
            if (!s.probed) s.l->close();
        },
        0, 20);
    const auto deadline = clk::now() + 10s;
    // Runs until nothing is left: the timer closed itself, the listener closed after 3 events.
    while (uv_run(&loop, UV_RUN_ONCE) != 0) REQUIRE(clk::now() < deadline);
    CHECK(st.tags == std::vector<std::string>{"async/0", "async/1", "async/2"});
    REQUIRE(!st.links.empty());
    CHECK(st.links.front() == link_event::connected);
    st.l.reset();
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("async_listener: a lost bus is reported, reconnected to when it is back, and events flow again") {
    fixture f;
    uv_loop_t loop;
    REQUIRE(uv_loop_init(&loop) == 0);
    std::vector<link_event> links;
    std::vector<std::string> tags;
    auto l = async_listener::open(&loop, f.dest, "async/", match_type::startswith,
                                  async_handlers{[&](const event& ev) { tags.push_back(ev.tag); },
                                                 [&](link_event e, const failure*) { links.push_back(e); }, nullptr});
    REQUIRE(l);
    const auto deadline = clk::now() + 20s;
    auto has = [&](link_event e) { return std::find(links.begin(), links.end(), e) != links.end(); };
    // Fires `tag` every 20 ms from the loop until an event with it has come.
    auto probe_until_seen = [&](const std::string& tag) {
        uv_timer_t timer;
        uv_timer_init(&loop, &timer);
        struct ctx {
            const destination* dest;
            std::string tag;
        } c{&f.dest, tag};
        timer.data = &c;
        uv_timer_start(
            &timer,
            [](uv_timer_t* t) {
                auto* c = static_cast<ctx*>(t->data);
                CHECK(fire_event(*c->dest, c->tag, value(map_t{})));  // CHECK: nothing may throw through libuv
            },
            0, 20);
        while (std::find(tags.begin(), tags.end(), tag) == tags.end() && clk::now() < deadline)
            uv_run(&loop, UV_RUN_ONCE);
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
        uv_run(&loop, UV_RUN_NOWAIT);  // the timer's close callback
        CHECK(std::find(tags.begin(), tags.end(), tag) != tags.end());
    };
    probe_until_seen("async/before");
    REQUIRE(links == std::vector<link_event>{link_event::connected});

    // Runs the loop until `e` was reported. A 10 ms tick keeps uv_run(UV_RUN_ONCE) returning: in
    // libuv 1.44 a turn that starts with a due timer (the listener's own) goes on to block in poll.
    auto run_until = [&](link_event e) {
        uv_timer_t tick;
        uv_timer_init(&loop, &tick);
        uv_timer_start(&tick, [](uv_timer_t*) {}, 10, 10);
        while (!has(e) && clk::now() < deadline) uv_run(&loop, UV_RUN_ONCE);
        uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
        uv_run(&loop, UV_RUN_NOWAIT);  // the tick's close callback
    };
    f.bus.reset();  // event-busd stops: the listener hears it
    run_until(link_event::lost);
    REQUIRE(has(link_event::lost));
    f.bus.emplace(f.sock_dir, f.dir.path + "/etc");  // back: reconnected within the 1 s backoff
    run_until(link_event::reconnected);
    REQUIRE(links == std::vector<link_event>{link_event::connected, link_event::lost, link_event::reconnected});
    probe_until_seen("async/after");

    l->close();
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0) REQUIRE(clk::now() < deadline);
    CHECK(uv_loop_close(&loop) == 0);
}
