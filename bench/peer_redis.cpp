// bench-redis: Redis pub/sub peer for the relay and fan-out figures (hiredis from Debian).
//   bench-redis pub PORT CHANNEL COUNT ID [RATE]
//   bench-redis sub PORT CHANNEL PUBLISHERS COUNT READY_FILE [TIMEOUT_S]
//   bench-redis lat PORT CHANNEL RATE SECONDS
// pub pipelines PUBLISH commands in batches of 256 (RATE 0) or sends one per RATE tick;
// sub creates READY_FILE once SUBSCRIBE is confirmed, then verifies order and completeness;
// lat subscribes, then publishes RATE/s from another connection and prints latency percentiles
// (send time carried in the payload), as bench-latency does for the bus.
#include <hiredis/hiredis.h>

#include <thread>

#include "peer_payload.hpp"

namespace {
constexpr const char* prog = "bench-redis";
constexpr std::uint64_t batch = 256;

redisContext* connect(int port) {
    redisContext* c = redisConnect("127.0.0.1", port);
    if (c == nullptr || c->err)
        bench::die(prog, std::string("cannot connect to redis: ") + (c ? c->errstr : "out of memory"));
    return c;
}

void reply_or_die(redisContext* c) {
    void* r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK) bench::die(prog, std::string("lost redis: ") + c->errstr);
    freeReplyObject(r);
}

int pub_main(int port, const char* chan, std::uint64_t count, std::uint64_t id, std::uint64_t rate) {
    redisContext* c = connect(port);
    std::string msg;
    const std::uint64_t start = bench::now_ns();
    for (std::uint64_t i = 0; i < count;) {
        const std::uint64_t n = rate ? 1 : std::min(batch, count - i);
        for (std::uint64_t k = 0; k < n; ++k, ++i) {
            bench::pace(start, rate, i);
            bench::payload(msg, id, i, bench::now_ns());
            redisAppendCommand(c, "PUBLISH %s %b", chan, msg.data(), msg.size());
        }
        for (std::uint64_t k = 0; k < n; ++k) reply_or_die(c);
    }
    const double secs = static_cast<double>(bench::now_ns() - start) / 1e9;
    redisFree(c);
    std::printf("sent=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(count), secs,
                static_cast<double>(count) / secs);
    return 0;
}

int sub_main(int port, const char* chan, std::uint64_t pubs, std::uint64_t count, const char* ready,
             std::uint64_t timeout_s) {
    redisContext* c = connect(port);
    const timeval tv{static_cast<time_t>(timeout_s), 0};
    redisSetTimeout(c, tv);
    redisReply* r = static_cast<redisReply*>(redisCommand(c, "SUBSCRIBE %s", chan));
    if (r == nullptr) bench::die(prog, std::string("cannot subscribe: ") + c->errstr);
    freeReplyObject(r);
    bench::touch(prog, ready);
    bench::counter cnt(pubs, count);
    while (!cnt.done()) {
        void* v = nullptr;
        if (redisGetReply(c, &v) != REDIS_OK) break;  // the timeout ends the run
        auto* m = static_cast<redisReply*>(v);
        if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING)
            cnt.add(std::string_view(m->element[2]->str, m->element[2]->len));
        freeReplyObject(m);
    }
    redisFree(c);
    return cnt.report();
}
int lat_main(int port, const char* chan, std::uint64_t rate, std::uint64_t seconds) {
    const std::uint64_t count = rate * seconds;
    redisContext* sub = connect(port);
    const timeval tv{2, 0};  // a lost message ends the receiver 2 s after the last one
    redisSetTimeout(sub, tv);
    redisReply* r = static_cast<redisReply*>(redisCommand(sub, "SUBSCRIBE %s", chan));
    if (r == nullptr) bench::die(prog, std::string("cannot subscribe: ") + sub->errstr);
    freeReplyObject(r);
    std::vector<double> lat;
    lat.reserve(count);
    std::thread rx([&] {
        while (lat.size() < count) {
            void* v = nullptr;
            if (redisGetReply(sub, &v) != REDIS_OK) return;
            const std::uint64_t now = bench::now_ns();
            auto* m = static_cast<redisReply*>(v);
            if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING) {
                const auto p = bench::parse_payload(std::string_view(m->element[2]->str, m->element[2]->len));
                if (p.ok) lat.push_back(static_cast<double>(now - p.t) / 1000.0);
            }
            freeReplyObject(m);
        }
    });
    redisContext* pub = connect(port);
    std::string msg;
    const std::uint64_t start = bench::now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        bench::pace(start, rate, i);
        bench::payload(msg, 0, i, bench::now_ns());
        redisAppendCommand(pub, "PUBLISH %s %b", chan, msg.data(), msg.size());
        reply_or_die(pub);
    }
    rx.join();
    redisFree(pub);
    redisFree(sub);
    return bench::report_latency(lat, count);
}
}  // namespace

int main(int argc, char** argv) {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    if (mode == "pub" && (argc == 6 || argc == 7))
        return pub_main(bench::number<int>(prog, argv[2]), argv[3], bench::number<std::uint64_t>(prog, argv[4]),
                        bench::number<std::uint64_t>(prog, argv[5]),
                        argc == 7 ? bench::number<std::uint64_t>(prog, argv[6]) : 0);
    if (mode == "sub" && (argc == 7 || argc == 8))
        return sub_main(bench::number<int>(prog, argv[2]), argv[3], bench::number<std::uint64_t>(prog, argv[4]),
                        bench::number<std::uint64_t>(prog, argv[5]), argv[6],
                        argc == 8 ? bench::number<std::uint64_t>(prog, argv[7]) : 60);
    if (mode == "lat" && argc == 6)
        return lat_main(bench::number<int>(prog, argv[2]), argv[3], bench::number<std::uint64_t>(prog, argv[4]),
                        bench::number<std::uint64_t>(prog, argv[5]));
    std::fprintf(stderr,
                 "usage: bench-redis pub PORT CHANNEL COUNT ID [RATE] | sub PORT CHANNEL PUBLISHERS COUNT "
                 "READY_FILE [TIMEOUT_S] | lat PORT CHANNEL RATE SECONDS\n");
    return 2;
}
