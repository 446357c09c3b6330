// Issue 13's figures: events/s into a JetStream stream through event-bridge out, and the engine's
// own ceiling on this machine, a plain libnats asynchronous JetStream publisher sending the same
// messages (the same Salt bodies, subjects and headers, the same window).
//
//   bench-bridge peer URL STREAM COUNT REPLICAS WINDOW
//       (re)creates STREAM (subjects STREAM.>, file storage, REPLICAS), publishes COUNT messages
//       with js_PublishMsgAsync, at most WINDOW unacknowledged, waits for every acknowledgment.
//   bench-bridge replay URL STREAM COUNT
//       reads COUNT messages from the start of STREAM with an ordered consumer and a callback that
//       only counts them: the engine's own replay ceiling, beside `state-event --from`.
//   bench-bridge bridge URL STREAM SOCK_DIR COUNT
//       fires COUNT events into the bus at SOCK_DIR (sender::fire, pipelined) and waits until
//       STREAM (which a running event-bridge out fills) holds COUNT more messages.
// Both print "sent=N seconds=S rate=R" (R: messages stored per second, first send to last ack).
#include <nats/nats.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "bench_common.hpp"
#include "tagbus/destination.hpp"
#include "tagbus/fire.hpp"

namespace {

constexpr const char* prog = "bench-bridge";

void check(natsStatus s, const char* what) {
    if (s != NATS_OK) bench::die(prog, std::string(what) + ": " + natsStatus_GetText(s) + " " + nats_GetLastError(nullptr));
}

// The data of bench-load's 200-byte frames, as bench-api fire sends them.
tagbus::value bench_data(std::uint64_t id) {
    const std::size_t pad = 200 - bench::frame("bench/data", id, bench::seq_base, bench::t_marker, 0).size() - 2;
    return tagbus::value{tagbus::map_t{{"pub", id}, {"seq", bench::seq_base}, {"t", bench::t_marker},
                                       {"pad", std::string(pad, 'x')}}};
}

struct conn {
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    explicit conn(const char* url, std::int64_t window) {
        natsOptions* o = nullptr;
        check(natsOptions_Create(&o), "options");
        check(natsOptions_SetURL(o, url), "url");
        check(natsConnection_Connect(&nc, o), "connect");
        natsOptions_Destroy(o);
        jsOptions jo;
        jsOptions_Init(&jo);
        jo.PublishAsync.MaxPending = window;
        check(natsConnection_JetStream(&js, nc, &jo), "jetstream");
    }
    ~conn() {
        jsCtx_Destroy(js);
        natsConnection_Destroy(nc);
    }
    std::uint64_t messages(const char* stream) {
        jsStreamInfo* si = nullptr;
        check(js_GetStreamInfo(&si, js, stream, nullptr, nullptr), "stream info");
        const std::uint64_t n = si->State.Msgs;
        jsStreamInfo_Destroy(si);
        return n;
    }
};

void report(std::uint64_t count, std::uint64_t start) {
    const double secs = static_cast<double>(bench::now_ns() - start) / 1e9;
    std::printf("sent=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(count), secs,
                static_cast<double>(count) / secs);
}

int peer(const char* url, const char* stream, std::uint64_t count, int replicas, std::int64_t window) {
    conn c(url, window);
    js_DeleteStream(c.js, stream, nullptr, nullptr);
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    const std::string subject_all = std::string(stream) + ".>", subject = std::string(stream) + ".src.bench.data";
    const char* subjects[] = {subject_all.c_str()};
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    jsStreamInfo* si = nullptr;
    check(js_AddStream(&si, c.js, &cfg, nullptr, nullptr), "add stream");
    jsStreamInfo_Destroy(si);

    // What the bridge publishes: the Salt body (stamped, packed) and its headers. The body is
    // built once, outside the timed loop: the peer at its best does nothing but publish.
    tagbus::value data = bench_data(1);
    auto b = tagbus::encode_body("bench/data", data, tagbus::default_max_event_size);
    if (!b) bench::die(prog, b.error().message);
    char id[64];
    const std::uint64_t start = bench::now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        natsMsg* msg = nullptr;
        check(natsMsg_Create(&msg, subject.c_str(), nullptr, b->data(), static_cast<int>(b->size())), "msg");
        std::snprintf(id, sizeof id, "src.peerrun.%llu", static_cast<unsigned long long>(i + 1));
        natsMsgHeader_Set(msg, "Nats-Msg-Id", id);
        natsMsgHeader_Set(msg, "Salt-Tag", "bench/data");
        natsMsgHeader_Set(msg, "Salt-Stamp", "2026-12-07T00:00:00.000001");
        check(js_PublishMsgAsync(c.js, &msg, nullptr), "publish");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    check(js_PublishAsyncComplete(c.js, &po), "complete");
    report(count, start);
    return 0;
}

int bridge(const char* url, const char* stream, const char* sock_dir, std::uint64_t count) {
    conn c(url, 1024);
    const std::uint64_t before = c.messages(stream);
    tagbus::destination_options o;
    o.node = tagbus::node_kind::master;
    o.sock_dir = sock_dir;
    auto dest = tagbus::destination::resolve(o);
    if (!dest) bench::die(prog, dest.error().message);
    tagbus::value data = bench_data(1);
    auto& m = std::get<tagbus::map_t>(data.v);
    const std::uint64_t start = bench::now_ns();
    auto s = tagbus::sender::open(*dest);
    if (!s) bench::die(prog, s.error().message);
    for (std::uint64_t i = 0; i < count; ++i) {
        m[1].val = tagbus::value(bench::seq_base + i);
        if (auto r = s->fire("bench/data", data); !r) bench::die(prog, r.error().message);
    }
    if (auto r = s->close(); !r) bench::die(prog, r.error().message);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
    while (c.messages(stream) < before + count) {
        if (std::chrono::steady_clock::now() > deadline) bench::die(prog, "the stream never got every event");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // polling the stream's count
    }
    report(count, start);
    return 0;
}

struct counter {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t n = 0;
    std::uint64_t want = 0;
};

void on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* c = static_cast<counter*>(closure);
    natsMsg_Destroy(msg);
    std::lock_guard lk(c->mu);
    if (++c->n % 1024 == 0 || c->n == c->want) c->cv.notify_all();
}

int replay(const char* url, const char* stream, std::uint64_t count) {
    const std::uint64_t start = bench::now_ns();
    conn c(url, 1024);
    counter k;
    k.want = count;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverAll;
    natsSubscription* sub = nullptr;
    check(js_Subscribe(&sub, c.js, ">", on_msg, &k, nullptr, &so, nullptr), "subscribe");
    natsSubscription_SetPendingLimits(sub, -1, -1);
    {
        std::unique_lock lk(k.mu);
        if (!k.cv.wait_for(lk, std::chrono::seconds(300), [&] { return k.n >= count; }))
            bench::die(prog, "the stream did not deliver every message");
    }
    report(count, start);
    natsSubscription_Unsubscribe(sub);
    natsSubscription_Destroy(sub);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (mode == "peer" && argc == 7)
        return peer(argv[2], argv[3], bench::number<std::uint64_t>(prog, argv[4]), bench::number<int>(prog, argv[5]),
                    bench::number<std::int64_t>(prog, argv[6]));
    if (mode == "replay" && argc == 5) return replay(argv[2], argv[3], bench::number<std::uint64_t>(prog, argv[4]));
    if (mode == "bridge" && argc == 6) return bridge(argv[2], argv[3], argv[4], bench::number<std::uint64_t>(prog, argv[5]));
    bench::die(prog, "usage: bench-bridge peer URL STREAM COUNT REPLICAS WINDOW | bridge URL STREAM SOCK_DIR COUNT");
}
