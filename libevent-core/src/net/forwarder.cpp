// forwarder: what a Salt minion daemon does with `fire_master` events on its bus (route A of
// SALT-WIRE §8), for a master bus on the same host. Each request becomes the master events Salt's
// master would fire (route_a_events), encoded as the master's fire_event encodes them (_stamp,
// max_event_size trimming) and framed for the master's pull socket. The events of one request
// travel as one queue entry, so a full queue drops whole requests, never half a batch.
//
// Salt drops the request when the minion is not connected to its master; we keep up to
// max_queue requests instead, and every one we drop is counted in a log line.
#include "net/forwarder.hpp"

#include <unistd.h>

#include <optional>
#include <string>
#include <utility>

#include "net/client.hpp"
#include "tagbus/event.hpp"
#include "salt/master_event.hpp"
#include "host/paths.hpp"

namespace tagbus::inline v0 {

namespace detail {
namespace {

// Drops are logged at once, then at most one line per interval with the count since the last.
constexpr std::uint64_t drop_log_interval_ms = 1000;

std::string events_word(std::size_t n) {
    return std::to_string(n) + (n == 1 ? " fire_master event" : " fire_master events");
}

}  // namespace
}  // namespace detail

struct forwarder::impl {
    event_loop& loop;
    forwarder_options opts;
    async_publisher pub;
    std::size_t dropped = 0;
    std::size_t unlogged_drops = 0;
    std::optional<event_loop::timer_id> drop_timer;
    bool stopped = false;
    bool away = false;  // an outage was logged: the next connect says what it sends from the queue

    impl(event_loop& l, forwarder_options o)
        : loop(l), opts(std::move(o)),
          pub(l, async_publisher_options{opts.master_pull, opts.max_queue},
              [this](link_state s, const failure* err) { on_state(s, err); }) {}

    void log(log_level level, const std::string& message) const {
        if (opts.log) opts.log(level, message);
    }

    void on_state(link_state s, const failure* err) {
        if (s == link_state::connected) {
            std::string line = "connected to the master bus at " + opts.master_pull.describe();
            if (std::size_t n = pub.queued(); n > 0 && away) {
                line += ": sending " + detail::events_word(n) + " queued while it was away";
            }
            away = false;
            log(log_level::info, line);
        } else if (err != nullptr) {
            away = true;
            log(log_level::warning, err->message + "; queueing fire_master events (at most " +
                                        std::to_string(opts.max_queue) + ") until the master bus is back");
        }
    }

    void log_drops() {
        if (unlogged_drops == 0) return;
        // Connected and full means the master bus takes events more slowly than they come.
        const char* why = pub.connected() ? " is not keeping up" : " is unreachable";
        log(log_level::error, "dropped " + detail::events_word(unlogged_drops) + ": the master bus at " +
                                  opts.master_pull.describe() + why + " and the queue of " +
                                  std::to_string(opts.max_queue) + " is full");
        unlogged_drops = 0;
    }

    void note_drop() {
        ++dropped;
        ++unlogged_drops;
        if (drop_timer) return;
        log_drops();
        arm_drop_timer();
    }

    void arm_drop_timer() {
        drop_timer = loop.after(detail::drop_log_interval_ms, [this] {
            drop_timer.reset();
            if (unlogged_drops == 0) return;
            log_drops();
            arm_drop_timer();
        });
    }

    void offer(std::string_view body) {
        if (stopped || !body.starts_with(fire_master_tag)) return;
        auto parts = split_body(body);
        if (!parts) return;  // no tag at all: the minion cannot read it either
        if (!parts->first.starts_with(fire_master_tag)) return;  // Salt's tag.startswith("fire_master")
        auto request = unpack(parts->second);
        if (!request) return refuse(request.error().message);
        auto events = route_a_events(opts.id, *request);
        if (!events) return refuse(events.error().message);
        if (events->empty()) {
            log(log_level::debug, "a fire_master event with neither tag nor events: Salt sends nothing");
            return;
        }
        std::string frames;
        for (auto& e : *events) {
            trim_report trimmed;
            auto b = encode_body(e.tag, e.data, opts.max_event_size, true, &trimmed);
            if (!b) return refuse(b.error().message);
            if (trimmed.over) log(log_level::warning, describe_trim(e.tag, trimmed));
            append_frame(frames, *b, opts.pull_framing);
        }
        if (!pub.send(std::move(frames))) note_drop();
    }

    void refuse(const std::string& why) const { log(log_level::warning, "cannot forward a fire_master event: " + why); }

    void stop() {
        if (stopped) return;
        stopped = true;
        if (drop_timer) loop.cancel(*drop_timer);
        drop_timer.reset();
        log_drops();
        if (std::size_t n = pub.queued(); n > 0) {
            log(log_level::warning, "stopping with " + detail::events_word(n) + " not forwarded to the master bus at " +
                                        opts.master_pull.describe());
        }
        pub.stop();
    }
};

result<std::optional<forwarder_options>> forward_target(const bus_config& minion, const forward_request& req,
                                                        const environment& env) {
    if (minion.node != node_kind::minion || req.off) return std::optional<forwarder_options>{};
    config_request master;
    master.node = node_kind::master;
    master.sock_dir = req.master_sock_dir;
    master.config_dir = req.config_dir;
    auto cfg = resolve_config(master, env);
    if (!cfg) return cfg.error();
    if (!req.master_sock_dir && cfg->config_file.empty()) return std::optional<forwarder_options>{};
    auto eps = bus_paths(*cfg);
    if (!eps) return eps.error();
    // The master bus's folder is held to the same rule as every client's (nobody else's, no
    // symlink): a squatted folder would receive every forwarded event.
    if (auto r = check_sock_dir(*cfg, static_cast<unsigned>(::getuid())); !r) return r.error();
    forwarder_options o;
    o.master_pull = eps->pull;
    o.pull_framing = cfg->pull_framing;
    o.id = minion.id;
    o.max_queue = req.max_queue;
    o.max_event_size = cfg->max_event_size;
    return std::optional<forwarder_options>{std::move(o)};
}

forwarder::forwarder(event_loop& loop, forwarder_options opts) : p_(std::make_unique<impl>(loop, std::move(opts))) {}

forwarder::~forwarder() { p_->stop(); }

void forwarder::offer(std::string_view body) { p_->offer(body); }

std::size_t forwarder::queued() const { return p_->pub.queued(); }

std::size_t forwarder::dropped() const { return p_->dropped; }

void forwarder::stop() { p_->stop(); }

}  // namespace tagbus
