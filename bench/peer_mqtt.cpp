// bench-mqtt: MQTT QoS 0 peer for the relay and fan-out figures (libmosquitto from Debian).
//   bench-mqtt pub PORT TOPIC COUNT ID [RATE]
//   bench-mqtt sub PORT TOPIC PUBLISHERS COUNT READY_FILE [TIMEOUT_S]
//   bench-mqtt lat PORT TOPIC RATE SECONDS
// pub queues COUNT 200-byte messages as fast as libmosquitto takes them (its network thread
// writes them) or paced at RATE/s; sub creates READY_FILE once the broker acknowledged the
// subscription, then verifies order and completeness per publisher as bench-count does.
// lat subscribes (libmosquitto's network thread receives), then publishes RATE/s from a second
// client without a network thread (mosquitto_publish then writes at once) and prints latency
// percentiles, as bench-latency does for the bus.
#include <mosquitto.h>

#include <atomic>

#include "peer_payload.hpp"

namespace {
constexpr const char* prog = "bench-mqtt";

struct sub_state {
    bench::counter c;
    std::string topic, ready;
};

int pub_main(int port, const char* topic, std::uint64_t count, std::uint64_t id, std::uint64_t rate) {
    static std::atomic<std::uint64_t> published{0};
    mosquitto* m = mosquitto_new(nullptr, true, nullptr);
    mosquitto_publish_callback_set(m, [](mosquitto*, void*, int) { ++published; });
    if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
        bench::die(prog, "cannot connect to the broker");
    mosquitto_loop_start(m);
    std::string msg;
    const std::uint64_t start = bench::now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        bench::pace(start, rate, i);
        bench::payload(msg, id, i, bench::now_ns());
        if (mosquitto_publish(m, nullptr, topic, static_cast<int>(msg.size()), msg.data(), 0, false) !=
            MOSQ_ERR_SUCCESS)
            bench::die(prog, "cannot publish");
    }
    // Bounded wait (60 s) for the network thread to write everything.
    for (int i = 0; i < 60000 && published < count; ++i) usleep(1000);
    const double secs = static_cast<double>(bench::now_ns() - start) / 1e9;
    mosquitto_disconnect(m);
    mosquitto_loop_stop(m, false);
    mosquitto_destroy(m);
    std::printf("sent=%llu seconds=%.6f rate=%.0f\n", static_cast<unsigned long long>(published.load()), secs,
                static_cast<double>(count) / secs);
    return published == count ? 0 : 1;
}

int sub_main(int port, const char* topic, std::uint64_t pubs, std::uint64_t count, const char* ready,
             std::uint64_t timeout_s) {
    sub_state st{bench::counter(pubs, count), topic, ready};
    mosquitto* m = mosquitto_new(nullptr, true, &st);
    mosquitto_connect_callback_set(m, [](mosquitto* m, void* u, int) {
        mosquitto_subscribe(m, nullptr, static_cast<sub_state*>(u)->topic.c_str(), 0);
    });
    mosquitto_subscribe_callback_set(
        m, [](mosquitto*, void* u, int, int, const int*) { bench::touch(prog, static_cast<sub_state*>(u)->ready); });
    mosquitto_message_callback_set(m, [](mosquitto*, void* u, const mosquitto_message* msg) {
        static_cast<sub_state*>(u)->c.add(
            std::string_view(static_cast<const char*>(msg->payload), static_cast<std::size_t>(msg->payloadlen)));
    });
    if (mosquitto_connect(m, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
        bench::die(prog, "cannot connect to the broker");
    const std::uint64_t deadline = bench::now_ns() + timeout_s * 1'000'000'000u;
    while (!st.c.done() && bench::now_ns() < deadline)
        if (mosquitto_loop(m, 100, 1000) != MOSQ_ERR_SUCCESS) bench::die(prog, "lost the broker");
    mosquitto_destroy(m);
    return st.c.report();
}
struct lat_state {
    std::string topic;
    std::atomic<bool> subscribed{false};
    std::atomic<std::uint64_t> received{0};
    std::vector<double> lat;
};

int lat_main(int port, const char* topic, std::uint64_t rate, std::uint64_t seconds) {
    const std::uint64_t count = rate * seconds;
    lat_state st;
    st.topic = topic;
    st.lat.reserve(count);
    mosquitto* sub = mosquitto_new(nullptr, true, &st);
    mosquitto_connect_callback_set(sub, [](mosquitto* m, void* u, int) {
        mosquitto_subscribe(m, nullptr, static_cast<lat_state*>(u)->topic.c_str(), 0);
    });
    mosquitto_subscribe_callback_set(
        sub, [](mosquitto*, void* u, int, int, const int*) { static_cast<lat_state*>(u)->subscribed = true; });
    mosquitto_message_callback_set(sub, [](mosquitto*, void* u, const mosquitto_message* msg) {
        const std::uint64_t now = bench::now_ns();
        auto* s = static_cast<lat_state*>(u);
        const auto p = bench::parse_payload(
            std::string_view(static_cast<const char*>(msg->payload), static_cast<std::size_t>(msg->payloadlen)));
        if (p.ok) s->lat.push_back(static_cast<double>(now - p.t) / 1000.0);
        ++s->received;
    });
    mosquitto_int_option(sub, MOSQ_OPT_TCP_NODELAY, 1);  // no Nagle delay on a latency run
    if (mosquitto_connect(sub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
        bench::die(prog, "cannot connect to the broker");
    mosquitto_loop_start(sub);
    for (int i = 0; i < 5000 && !st.subscribed; ++i) usleep(1000);  // bounded: 5 s
    if (!st.subscribed) bench::die(prog, "the broker did not confirm the subscription within 5 s");

    mosquitto* pub = mosquitto_new(nullptr, true, nullptr);
    mosquitto_int_option(pub, MOSQ_OPT_TCP_NODELAY, 1);
    if (mosquitto_connect(pub, "127.0.0.1", port, 60) != MOSQ_ERR_SUCCESS)
        bench::die(prog, "cannot connect to the broker");
    std::string msg;
    const std::uint64_t start = bench::now_ns();
    for (std::uint64_t i = 0; i < count; ++i) {
        bench::pace(start, rate, i);
        bench::payload(msg, 0, i, bench::now_ns());
        if (mosquitto_publish(pub, nullptr, topic, static_cast<int>(msg.size()), msg.data(), 0, false) !=
            MOSQ_ERR_SUCCESS)
            bench::die(prog, "cannot publish");
        mosquitto_loop(pub, 0, 1);  // reads the broker's CONNACK and keeps the client serviced
    }
    // Bounded wait (2 s) for the last messages.
    for (int i = 0; i < 2000 && st.received < count; ++i) usleep(1000);
    mosquitto_disconnect(sub);
    mosquitto_loop_stop(sub, false);
    mosquitto_destroy(sub);
    mosquitto_destroy(pub);
    return bench::report_latency(st.lat, count);
}
}  // namespace

int main(int argc, char** argv) {
    const std::string_view mode = argc > 1 ? argv[1] : "";
    mosquitto_lib_init();
    int rc = 2;
    if (mode == "pub" && (argc == 6 || argc == 7))
        rc = pub_main(bench::number<int>(prog, argv[2]), argv[3], bench::number<std::uint64_t>(prog, argv[4]),
                      bench::number<std::uint64_t>(prog, argv[5]),
                      argc == 7 ? bench::number<std::uint64_t>(prog, argv[6]) : 0);
    else if (mode == "sub" && (argc == 7 || argc == 8))
        rc = sub_main(bench::number<int>(prog, argv[2]), argv[3], bench::number<std::uint64_t>(prog, argv[4]),
                      bench::number<std::uint64_t>(prog, argv[5]), argv[6],
                      argc == 8 ? bench::number<std::uint64_t>(prog, argv[7]) : 60);
    else if (mode == "lat" && argc == 6)
        rc = lat_main(bench::number<int>(prog, argv[2]), argv[3], bench::number<std::uint64_t>(prog, argv[4]),
                      bench::number<std::uint64_t>(prog, argv[5]));
    else
        std::fprintf(stderr,
                     "usage: bench-mqtt pub PORT TOPIC COUNT ID [RATE] | sub PORT TOPIC PUBLISHERS COUNT "
                     "READY_FILE [TIMEOUT_S] | lat PORT TOPIC RATE SECONDS\n");
    mosquitto_lib_cleanup();
    return rc;
}
