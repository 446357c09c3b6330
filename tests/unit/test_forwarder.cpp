// forwarder: a minion's fire_master events reaching a master bus (a bus_server in a temporary
// sock_dir) on the same event_loop. The master's on_event hook records what its bus received, so
// nothing depends on a subscriber connecting in time. Every wait runs the loop until a condition
// holds or its deadline passes; at the end no handle may be left on the loop.
#include <doctest/doctest.h>

#include "support.hpp"
#include <unistd.h>
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tagbus/event.hpp"
#include "net/forwarder.hpp"
#include "wire/frame.hpp"
#include "render/json.hpp"
#include "net/loop.hpp"
#include "salt/master_event.hpp"
#include "net/server.hpp"

using namespace tagbus;
using namespace test_support;

namespace {

// Every line the forwarder logs, with its level.
struct log_lines {
    std::vector<std::pair<log_level, std::string>> lines;
    std::function<void(log_level, std::string_view)> fn() {
        return [this](log_level level, std::string_view m) { lines.emplace_back(level, std::string(m)); };
    }
    bool has(const std::string& line) const {
        for (const auto& [level, m] : lines) {
            if (m == line) return true;
        }
        return false;
    }
    std::string all() const {
        std::string out;
        for (const auto& [level, m] : lines) out += m + "\n";
        return out;
    }
};


bus_endpoints master_endpoints(const std::string& dir) {
    bus_endpoints e;
    e.pub.path = dir + "/master_event_pub.ipc";
    e.pull.path = dir + "/master_event_pull.ipc";
    return e;
}





/// The master bus: a bus_server whose on_event hook keeps every body it receives.
struct master_bus {
    log_lines log;
    std::vector<std::string> bodies;
    std::unique_ptr<bus_server> server;
    void start(event_loop& loop, const bus_endpoints& eps) {
        server_options o;
        o.endpoints = eps;
        o.log = log.fn();
        o.on_event = [this](std::string_view b) { bodies.emplace_back(b); };
        server = std::make_unique<bus_server>(loop, std::move(o));
        REQUIRE(server->start().has_value());
    }
    void stop() { server.reset(); }
};


// SALT-WIRE §8: the master-bus frame for route A, id web01, tag myco/deploy, data {"ok": true}.
const std::string salt_wire_8_frame = unhex(
    "82 a4 68 65 61 64 80 a4 62 6f 64 79 c4 6d 6d 79 63 6f 2f 64 65 70 6c 6f 79 0a 0a 86 a2 69 64 a5"
    "77 65 62 30 31 a3 63 6d 64 ad 5f 6d 69 6e 69 6f 6e 5f 65 76 65 6e 74 a6 70 72 65 74 61 67 c0 a4"
    "64 61 74 61 81 a2 6f 6b c3 a3 74 61 67 ab 6d 79 63 6f 2f 64 65 70 6c 6f 79 a6 5f 73 74 61 6d 70"
    "ba 32 30 32 34 2d 30 35 2d 30 31 54 31 32 3a 33 34 3a 35 37 2e 30 30 30 31 32 33");

value json(std::string_view text) {
    auto v = parse_json(text);
    REQUIRE_MESSAGE(v.has_value(), std::string(text));
    return std::move(*v);
}

/// A minion-bus body as event.fire_master's daemon route fires it (with the outer _stamp).
std::string fire_master_body(std::string_view data_json, std::string_view tag) {
    value req(fire_master_request(json(data_json), tag));
    auto b = encode_body(fire_master_tag, req, default_max_event_size);
    REQUIRE(b.has_value());
    return *b;
}

std::string fire_master_body_raw(std::string_view tag, std::string_view request_json) {
    value req = json(request_json);
    auto b = encode_body(tag, req, default_max_event_size);
    REQUIRE(b.has_value());
    return *b;
}

/// "tag <data as JSON>" for a master-bus body, after checking and removing the _stamp its firing
/// appended last.
std::string show(std::string_view body) {
    auto e = decode_body(body);
    REQUIRE(e.has_value());
    auto* m = e->data.map();
    REQUIRE(m != nullptr);
    REQUIRE(!m->empty());
    CHECK(m->back().key == value("_stamp"));
    CHECK(m->back().val.str() != nullptr);
    m->pop_back();
    std::string out = e->tag + " ";
    (void)render_json(e->data, out);
    return out;
}

std::vector<std::string> show_all(const std::vector<std::string>& bodies) {
    std::vector<std::string> out;
    for (const auto& b : bodies) out.push_back(show(b));
    return out;
}

std::string load_line(const std::string& tag, const std::string& data_json) {
    return tag + R"( {"id": "web01", "cmd": "_minion_event", "pretag": null, "data": )" + data_json + R"(, "tag": ")" +
           tag + R"("})";
}

forwarder_options fwd_opts(const bus_endpoints& master, log_lines& log, std::size_t max_queue = 10000) {
    forwarder_options o;
    o.master_pull = master.pull;
    o.id = "web01";
    o.max_queue = max_queue;
    o.log = log.fn();
    return o;
}

}  // namespace

TEST_CASE("forwarded events reach the master bus in order, as Salt's master fires them") {
    temp_dir dir;
    auto eps = master_endpoints(dir.path);
    event_loop loop;
    log_lines log;
    master_bus master;
    {
        master.start(loop, eps);
        forwarder fwd(loop, fwd_opts(eps, log));
        std::vector<std::string> want;
        for (int i = 0; i < 50; ++i) {
            const std::string tag = "myco/ev/" + std::to_string(i);
            const std::string data = R"({"i": )" + std::to_string(i) + "}";
            fwd.offer(fire_master_body(data, tag));
            want.push_back(load_line(tag, data));
            if (i == 10) {
                // Not forwarded: other tags, a request Salt sends nothing for, a bad request.
                fwd.offer(fire_master_body_raw("myco/other", R"({"data": {}, "tag": "x", "events": null, "pretag": null})"));
                fwd.offer(fire_master_body_raw("fire_master", R"({"data": {}, "tag": null, "events": null, "pretag": null})"));
                fwd.offer(fire_master_body_raw("fire_master", R"({"data": {}, "tag": 5, "events": null, "pretag": null})"));
                fwd.offer("fire_master without a blank line");
            }
        }
        // Any tag starting with fire_master is a request (Salt's tag.startswith); the batch form.
        fwd.offer(fire_master_body_raw(
            "fire_master_batch",
            R"({"data": null, "tag": null, "pretag": "myco", "events": [{"tag": "b/1", "data": {"x": 1}}, {"tag": "b/2", "y": 2}]})"));
        want.push_back(R"(b/1 {"x": 1})");
        want.push_back(R"(myco/b/1 {"x": 1})");
        want.push_back(R"(b/2 {"tag": "b/2", "y": 2})");
        want.push_back(R"(myco/b/2 {"tag": "b/2", "y": 2})");
        REQUIRE(run_until(loop, [&] { return master.bodies.size() >= want.size() && fwd.queued() == 0; }));
        CHECK(show_all(master.bodies) == want);
        CHECK(fwd.dropped() == 0);
        CHECK(log.has("connected to the master bus at " + eps.pull.describe()));
        CHECK(log.has(R"(cannot forward a fire_master event: fire_master request "tag" must be a string, not an integer)"));
        CHECK(log.lines.size() == 3);  // connected, the bad request, the empty one (debug)
        INFO(log.all());
        CHECK(master.log.lines.size() >= 1);
        fwd.stop();
        master.stop();
    }
    check_closed(loop);
}

TEST_CASE("the frame Salt's master bus gets: SALT-WIRE §8, in the master's framing") {
    for (framing f : {framing::legacy, framing::prefixed}) {
        INFO(to_string(f));
        temp_dir dir;
        auto eps = master_endpoints(dir.path);
        event_loop loop;
        log_lines log;
        // A raw listener on the master's pull path keeps the exact bytes written to it.
        struct raw_listener {
            uv_pipe_t server{};
            uv_pipe_t conn{};
            bool accepted = false;
            std::string bytes;
            char buf[65536];
        } raw;
        uv_pipe_init(uv(loop), &raw.server, 0);
        raw.server.data = &raw;
        REQUIRE(uv_pipe_bind(&raw.server, eps.pull.path.c_str()) == 0);
        REQUIRE(uv_listen(reinterpret_cast<uv_stream_t*>(&raw.server), 8, [](uv_stream_t* s, int st) {
                    REQUIRE(st == 0);
                    auto* r = static_cast<raw_listener*>(s->data);
                    uv_pipe_init(s->loop, &r->conn, 0);
                    r->conn.data = r;
                    REQUIRE(uv_accept(s, reinterpret_cast<uv_stream_t*>(&r->conn)) == 0);
                    r->accepted = true;
                    uv_read_start(
                        reinterpret_cast<uv_stream_t*>(&r->conn),
                        [](uv_handle_t* h, std::size_t, uv_buf_t* b) {
                            auto* r = static_cast<raw_listener*>(h->data);
                            *b = uv_buf_init(r->buf, sizeof r->buf);
                        },
                        [](uv_stream_t* c, ssize_t n, const uv_buf_t* b) {
                            if (n > 0) static_cast<raw_listener*>(c->data)->bytes.append(b->base, static_cast<std::size_t>(n));
                        });
                }) == 0);
        {
            auto opts = fwd_opts(eps, log);
            opts.pull_framing = f;
            forwarder fwd(loop, std::move(opts));
            fwd.offer(fire_master_body(R"({"ok": true})", "myco/deploy"));
            const std::size_t prefix = f == framing::prefixed ? 4 : 0;
            frame_decoder dec;
            std::string_view body;
            std::size_t fed = 0;
            REQUIRE(run_until(loop, [&] {
                dec.feed(std::string_view(raw.bytes).substr(fed));
                fed = raw.bytes.size();
                return dec.next(body);
            }));
            const std::string frame = raw.bytes.substr(prefix);
            CHECK(dec.pending() == 0);
            CHECK(dec.last_framing() == f);
            CHECK(show(body) == load_line("myco/deploy", R"({"ok": true})"));
            if (f == framing::prefixed) {
                const auto n = static_cast<std::uint32_t>(frame.size());
                CHECK(raw.bytes.substr(0, 4) == std::string{char(n >> 24), char(n >> 16), char(n >> 8), char(n)});
            }
            // Byte for byte SALT-WIRE §8's frame, but for the stamp's time (when it has microseconds,
            // the stamp has the example's length).
            const std::string stamp = *decode_body(body)->data.map()->back().val.str();
            if (stamp.size() == 26) {
                CHECK(frame == salt_wire_8_frame.substr(0, salt_wire_8_frame.size() - 26) + stamp);
            }
            fwd.stop();
        }
        uv_close(reinterpret_cast<uv_handle_t*>(&raw.server), nullptr);
        if (raw.accepted) uv_close(reinterpret_cast<uv_handle_t*>(&raw.conn), nullptr);
        check_closed(loop);
    }
}

TEST_CASE("master bus down at first: events wait in the queue and all arrive, in order, once it is up") {
    temp_dir dir;
    auto eps = master_endpoints(dir.path);
    event_loop loop;
    log_lines log;
    master_bus master;
    {
        forwarder fwd(loop, fwd_opts(eps, log));
        std::vector<std::string> want;
        for (int i = 0; i < 20; ++i) {
            const std::string data = R"({"n": )" + std::to_string(i) + "}";
            fwd.offer(fire_master_body(data, "q/" + std::to_string(i)));
            want.push_back(load_line("q/" + std::to_string(i), data));
        }
        const std::string lost = "cannot connect to " + eps.pull.describe() +
                                 ": No such file or directory; queueing fire_master events (at most 10000) until the "
                                 "master bus is back";
        REQUIRE(run_until(loop, [&] { return log.has(lost); }));
        CHECK(fwd.queued() == 20);
        // A few retries go by (50 ms doubling) before the master starts.
        bool waited = false;
        loop.after(200, [&] { waited = true; });
        REQUIRE(run_until(loop, [&] { return waited; }));
        CHECK(log.lines.size() == 1);  // one line per outage, not one per retry
        CHECK(fwd.queued() == 20);
        master.start(loop, eps);
        REQUIRE(run_until(loop, [&] { return master.bodies.size() >= want.size() && fwd.queued() == 0; }));
        CHECK(show_all(master.bodies) == want);
        CHECK(log.has("connected to the master bus at " + eps.pull.describe() + ": sending 20 fire_master events queued while it was away"));
        CHECK(fwd.dropped() == 0);
        fwd.stop();
        master.stop();
    }
    check_closed(loop);
}

TEST_CASE("master bus restarts: the outage is logged once and events offered meanwhile arrive") {
    temp_dir dir;
    auto eps = master_endpoints(dir.path);
    event_loop loop;
    log_lines log;
    master_bus first;
    master_bus second;
    {
        first.start(loop, eps);
        forwarder fwd(loop, fwd_opts(eps, log));
        fwd.offer(fire_master_body(R"({"a": 1})", "r/1"));
        REQUIRE(run_until(loop, [&] { return first.bodies.size() == 1; }));
        first.stop();
        const std::string lost = "lost connection to " + eps.pull.describe() +
                                 ": the bus closed the connection; queueing fire_master events (at most 10000) until the "
                                 "master bus is back";
        REQUIRE(run_until(loop, [&] { return log.has(lost); }));
        fwd.offer(fire_master_body(R"({"a": 2})", "r/2"));
        fwd.offer(fire_master_body(R"({"a": 3})", "r/3"));
        bool waited = false;
        loop.after(120, [&] { waited = true; });
        REQUIRE(run_until(loop, [&] { return waited; }));
        CHECK(fwd.queued() == 2);
        second.start(loop, eps);
        REQUIRE(run_until(loop, [&] { return second.bodies.size() == 2 && fwd.queued() == 0; }));
        CHECK(show_all(first.bodies) == std::vector<std::string>{load_line("r/1", R"({"a": 1})")});
        CHECK(show_all(second.bodies) ==
              std::vector<std::string>{load_line("r/2", R"({"a": 2})"), load_line("r/3", R"({"a": 3})")});
        INFO(log.all());
        CHECK(log.lines.size() == 3);  // connected, lost, connected again
        CHECK(log.lines[2].second == "connected to the master bus at " + eps.pull.describe() +
                                         ": sending 2 fire_master events queued while it was away");
        fwd.stop();
        second.stop();
    }
    check_closed(loop);
}

TEST_CASE("a full queue drops new events and says so, at most one line a second") {
    temp_dir dir;
    auto eps = master_endpoints(dir.path);
    event_loop loop;
    log_lines log;
    master_bus master;
    {
        forwarder fwd(loop, fwd_opts(eps, log, 5));
        for (int i = 0; i < 8; ++i) fwd.offer(fire_master_body("{}", "d/" + std::to_string(i)));
        CHECK(fwd.queued() == 5);
        CHECK(fwd.dropped() == 3);
        const std::string tail = ": the master bus at " + eps.pull.describe() + " is unreachable and the queue of 5 is full";
        // The first drop is told at once, the two after it when the second is over.
        CHECK(log.has("dropped 1 fire_master event" + tail));
        REQUIRE(run_until(loop, [&] { return log.has("dropped 2 fire_master events" + tail); }));
        INFO(log.all());
        CHECK(log.lines.size() == 3);  // + cannot connect
        CHECK(log.lines[0].first == log_level::error);
        master.start(loop, eps);
        REQUIRE(run_until(loop, [&] { return master.bodies.size() == 5 && fwd.queued() == 0; }));
        std::vector<std::string> want;
        for (int i = 0; i < 5; ++i) want.push_back(load_line("d/" + std::to_string(i), "{}"));
        CHECK(show_all(master.bodies) == want);
        fwd.stop();
        master.stop();
    }
    check_closed(loop);
}

TEST_CASE("stop() with events still queued says how many are lost") {
    temp_dir dir;
    auto eps = master_endpoints(dir.path);
    event_loop loop;
    log_lines log;
    {
        forwarder fwd(loop, fwd_opts(eps, log));
        fwd.offer(fire_master_body("{}", "s/1"));
        fwd.offer(fire_master_body("{}", "s/2"));
        fwd.stop();
        CHECK(log.lines.back().second ==
              "stopping with 2 fire_master events not forwarded to the master bus at " + eps.pull.describe());
        fwd.offer(fire_master_body("{}", "s/3"));  // ignored once stopped
        CHECK(fwd.queued() == 0);
    }
    check_closed(loop);
}

TEST_CASE("forward_target: on with --master-sock-dir or a master config file, off otherwise") {
    temp_dir dir;
    environment env;
    env.getenv = [](const char*) { return std::optional<std::string>{}; };
    env.is_dir = [](const std::string&) { return false; };
    env.fqdn = [] { return std::string("host.example"); };
    env.uid = 1000;
    bus_config minion;
    minion.node = node_kind::minion;
    minion.id = "web01";
    forward_request req;
    req.config_dir = dir.path;

    auto none = forward_target(minion, req, env);
    REQUIRE(none.has_value());
    CHECK_FALSE(none->has_value());  // no master configured

    req.master_sock_dir = dir.path + "/m";
    auto given = forward_target(minion, req, env);
    REQUIRE(given.has_value());
    REQUIRE(given->has_value());
    CHECK((*given)->master_pull.path == dir.path + "/m/master_event_pull.ipc");
    CHECK((*given)->id == "web01");
    CHECK((*given)->max_queue == 10000);

    req.master_sock_dir.reset();
    {
        std::FILE* f = std::fopen((dir.path + "/master").c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs("sock_dir: /tmp/tb-master-x\nipc_mode: tcp\ntcp_master_pull_port: 4999\nframing: prefixed\n"
                   "max_event_size: 2000\n",
                   f);
        std::fclose(f);
    }
    req.max_queue = 7;
    auto from_file = forward_target(minion, req, env);
    REQUIRE(from_file.has_value());
    REQUIRE(from_file->has_value());
    CHECK((*from_file)->master_pull.describe() == "tcp://127.0.0.1:4999");
    CHECK((*from_file)->pull_framing == framing::prefixed);
    CHECK((*from_file)->max_event_size == 2000);
    CHECK((*from_file)->max_queue == 7);

    req.off = true;
    auto off = forward_target(minion, req, env);
    REQUIRE(off.has_value());
    CHECK_FALSE(off->has_value());

    req.off = false;
    bus_config master = minion;
    master.node = node_kind::master;
    auto on_master = forward_target(master, req, env);
    REQUIRE(on_master.has_value());
    CHECK_FALSE(on_master->has_value());  // a master bus never forwards

    {
        std::FILE* f = std::fopen((dir.path + "/master").c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs("ipc_mode: carrier-pigeon\n", f);
        std::fclose(f);
    }
    auto bad = forward_target(minion, req, env);
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().code == errc::config);
}
