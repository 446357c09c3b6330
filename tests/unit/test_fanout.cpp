// The fan-out hub's policy on its own, with sinks that are not sockets: what each sink is handed,
// the bound, pausing and resuming the producer, the stall check, and blocks outliving the hub.
// (The same policy under event-busd's sockets is in test_transport.)
#include <doctest/doctest.h>

#include <uv.h>

#include <chrono>
#include <string>
#include <vector>

#include "net/fanout.hpp"
#include "net/loop.hpp"

using namespace tagbus;
using clk = std::chrono::steady_clock;

namespace {

// A transport that takes whatever it is given and completes a write only when told to.
struct fake_sink : fanout_sink {
    std::vector<std::string> writes;  // the bytes of each write, concatenated
    std::size_t backlog = 0;          // what the "socket" has not sent yet
    bool refuse = false;
    bool write(const uv_buf_t* bufs, unsigned n) override {
        if (refuse) return false;
        std::string all;
        for (unsigned i = 0; i < n; ++i) all.append(bufs[i].base, bufs[i].len);
        writes.push_back(std::move(all));
        return true;
    }
    std::size_t transport_backlog() const override { return backlog; }
    void complete(int status = 0) { fanout_hub::written(this, status); }
};

struct recorder {
    std::vector<bool> pauses;
    std::vector<std::pair<fanout_sink*, fanout_drop>> drops;
    std::vector<std::size_t> drop_bytes;
};

fanout_options options(recorder& r, std::size_t max_buffer, std::uint64_t stall_ms = 2000) {
    fanout_options o;
    o.max_buffer = max_buffer;
    o.stall_timeout_ms = stall_ms;
    o.pause = [&r](bool p) { r.pauses.push_back(p); };
    o.evicted = [&r](fanout_sink* s, fanout_drop why, std::size_t bytes) {
        r.drops.emplace_back(s, why);
        r.drop_bytes.push_back(bytes);
    };
    return o;
}

void publish(fanout_hub& hub, const std::string& bytes) {
    auto* b = hub.acquire();
    b->bytes = bytes;
    hub.publish(b);
    hub.release(b);
}

uv_loop_t* native(event_loop& l) { return static_cast<uv_loop_t*>(l.native()); }

}  // namespace

TEST_CASE("every sink gets every block in order; what queues while a write is out goes in the next write") {
    event_loop loop;
    recorder r;
    fanout_hub hub(native(loop), options(r, 1 << 20));
    fake_sink a, b;
    hub.add(&a);
    hub.add(&b);
    publish(hub, "one;");
    // The first block goes out at once; the next two wait for that write and go in one write.
    publish(hub, "two;");
    publish(hub, "three;");
    CHECK(a.writes == std::vector<std::string>{"one;"});
    CHECK(a.unwritten() == 10);
    a.complete();
    CHECK(a.writes == std::vector<std::string>{"one;", "two;three;"});
    b.complete();
    b.complete();
    CHECK(b.writes == a.writes);
    CHECK(b.unwritten() == 0);
    CHECK(hub.size() == 2);
    CHECK(r.pauses.empty());
    CHECK(r.drops.empty());
}

TEST_CASE("a sink over the bound is dropped, the others go on; a sink that leaves frees its queue") {
    event_loop loop;
    recorder r;
    fanout_hub hub(native(loop), options(r, 100));
    fake_sink slow, fast, gone;
    slow.backlog = gone.backlog = 40;  // their sockets take nothing: the in-flight block stays unwritten
    hub.add(&slow);
    hub.add(&fast);
    hub.add(&gone);
    const std::string block(40, 'x');
    publish(hub, block);
    CHECK(slow.unwritten() == 40);
    CHECK(fast.unwritten() == 0);
    fast.complete();
    publish(hub, block);
    fast.complete();
    CHECK(gone.unwritten() == 80);
    hub.remove(&gone);  // it left: no drop reported, its queue is released
    CHECK(gone.unwritten() == 40);
    CHECK(hub.size() == 2);
    publish(hub, block);  // slow: 120 unwritten > 100
    REQUIRE(r.drops.size() == 1);
    CHECK(r.drops[0].first == &slow);
    CHECK(r.drops[0].second == fanout_drop::over_bound);
    CHECK(r.drop_bytes[0] == 120);
    CHECK(hub.size() == 1);
    fast.complete();
    CHECK(fast.writes.size() == 3);
    CHECK(r.pauses.empty());  // one slow sink never pauses the producer
    // The dropped sinks' in-flight writes complete later (their streams are closed): only their
    // blocks are released, and nothing else happens.
    slow.backlog = gone.backlog = 0;
    slow.complete(UV_ECANCELED);
    gone.complete(UV_ECANCELED);
    CHECK(slow.unwritten() == 0);
    CHECK(gone.unwritten() == 0);
    CHECK(slow.writes.size() == 1);
    CHECK(r.drops.size() == 1);
}

TEST_CASE("the producer pauses when every sink is over half the bound, and goes on at a quarter or with a new sink") {
    event_loop loop;
    recorder r;
    fanout_hub hub(native(loop), options(r, 100));
    fake_sink a, b;
    hub.add(&a);
    hub.add(&b);
    publish(hub, std::string(30, 'x'));  // in flight for both
    publish(hub, std::string(30, 'x'));  // queued: 30 each, not over half
    CHECK(!hub.paused());
    publish(hub, std::string(30, 'x'));  // 60 each: over half
    CHECK(hub.paused());
    CHECK(r.pauses == std::vector<bool>{true});
    a.complete();  // the two queued blocks now in flight, 0 queued: at a quarter
    CHECK(!hub.paused());
    CHECK(r.pauses == std::vector<bool>{true, false});

    // Paused again; a new sink (nothing queued) lets it go on.
    b.complete();  // b too has its two queued blocks in flight now
    publish(hub, std::string(60, 'y'));  // 60 queued for each
    REQUIRE(hub.paused());
    fake_sink c;
    hub.add(&c);
    CHECK(!hub.paused());
    CHECK(r.pauses == std::vector<bool>{true, false, true, false});
    CHECK(r.drops.empty());
    // The last sink to leave lets it go on too.
    a.complete();
    b.complete();
    publish(hub, std::string(60, 'z'));  // 60 queued for a and b
    REQUIRE(!hub.paused());  // c is at 0 (in flight, taken by its socket)
    hub.remove(&c);
    CHECK(hub.paused());
    hub.remove(&a);
    hub.remove(&b);
    CHECK(!hub.paused());
    CHECK(r.pauses == std::vector<bool>{true, false, true, false, true, false});
}

TEST_CASE("resuming takes a sink down to a quarter of the bound, not just below half") {
    event_loop loop;
    recorder r;
    fanout_hub hub(native(loop), options(r, 100));
    fake_sink a, b;
    a.backlog = b.backlog = 60;  // their sockets hold the whole block
    hub.add(&a);
    hub.add(&b);
    publish(hub, std::string(60, 'x'));
    REQUIRE(hub.paused());
    publish(hub, std::string(30, 'x'));  // queued behind it: 90 each
    a.backlog = 30;  // the first write done, the second (30) held by the socket
    a.complete();
    CHECK(a.unwritten() == 30);
    CHECK(hub.paused());
    a.backlog = 25;
    a.complete();
    CHECK(a.unwritten() == 25);
    CHECK(!hub.paused());
    CHECK(r.pauses == std::vector<bool>{true, false});
}

TEST_CASE("while paused, a sink with no progress for the stall timeout is dropped; one that made progress is not") {
    event_loop loop;
    recorder r;
    fanout_hub hub(native(loop), options(r, 100, 50));
    fake_sink stuck, slow;
    stuck.backlog = slow.backlog = 60;  // neither socket has taken anything yet
    hub.add(&stuck);
    hub.add(&slow);
    publish(hub, std::string(60, 'x'));
    REQUIRE(hub.paused());
    slow.backlog = 40;  // slow's reader took some: progress, though not enough to resume
    const auto deadline = clk::now() + std::chrono::seconds(10);
    while (r.drops.empty() && clk::now() < deadline) {
        loop.after(5, [&loop] { loop.stop(); });
        loop.run();
    }
    REQUIRE(r.drops.size() == 1);
    CHECK(r.drops[0].first == &stuck);
    CHECK(r.drops[0].second == fanout_drop::stalled);
    CHECK(r.drop_bytes[0] == 60);
    CHECK(hub.size() == 1);
    CHECK(hub.paused());
    slow.backlog = 0;
    slow.complete();
    CHECK(!hub.paused());
    CHECK(r.pauses == std::vector<bool>{true, false});
    stuck.complete(UV_ECANCELED);
}

TEST_CASE("a refused write releases its blocks; blocks in flight outlive the hub") {
    event_loop loop;
    recorder r;
    fake_sink refusing, later;
    {
        fanout_hub hub(native(loop), options(r, 1 << 20));
        refusing.refuse = true;
        later.backlog = 7;
        hub.add(&refusing);
        hub.add(&later);
        publish(hub, "a block");
        CHECK(refusing.unwritten() == 0);
        CHECK(refusing.writes.empty());
        CHECK(later.unwritten() == 7);
        hub.remove(&refusing);
    }  // the hub goes with `later` still writing: the block is later's alone now
    CHECK(later.writes == std::vector<std::string>{"a block"});
    later.backlog = 0;
    later.complete(UV_ECANCELED);  // ASan: nothing leaks, nothing is freed twice
    CHECK(later.unwritten() == 0);
}

TEST_CASE("a sink destroyed while the hub still holds it leaves the hub") {
    event_loop loop;
    recorder r;
    fanout_hub hub(native(loop), options(r, 1 << 20));
    {
        fake_sink brief;
        hub.add(&brief);
        publish(hub, "queued");
        publish(hub, "twice");
        CHECK(hub.size() == 1);
    }
    CHECK(hub.size() == 0);
    publish(hub, "to nobody");
    CHECK(r.drops.empty());
}
