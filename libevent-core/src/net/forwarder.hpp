// The minion daemon's forwarding of `fire_master` events to the master's bus on the same host
// (SALT-WIRE §4, §8 route A), with a bounded queue while the master bus is away.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "host/config.hpp"
#include "wire/frame.hpp"
#include "net/loop.hpp"
#include "host/paths.hpp"
#include "net/server.hpp"

namespace tagbus::inline v0 {

struct forwarder_options {
    endpoint master_pull;                      ///< the master bus's pull socket
    framing pull_framing = framing::legacy;    ///< how to frame what we write there
    std::string id;                            ///< this minion's id (the load's "id")
    std::size_t max_queue = 10000;             ///< events kept while the master bus is away
    std::size_t max_event_size = 1048576;      ///< the master's max_event_size (trimming)
    std::function<void(log_level, std::string_view)> log;  ///< drops, reconnects (never printed here)
};

/// The command line's say on forwarding (event-busd --master-sock-dir, --no-forward, -c).
struct forward_request {
    std::optional<std::string> master_sock_dir;  ///< the master bus's sock_dir, over its config
    std::optional<std::string> config_dir;       ///< where the master's config is (the minion's -c)
    bool off = false;
    std::size_t max_queue = 10000;
};

/// Where a minion bus forwards its fire_master events: the master bus of this host, found as the
/// other tools find it (resolve_config for node master: its sock_dir, ipc_mode, ports, framing and
/// max_event_size). On for a minion bus when master_sock_dir is given or the master's config file
/// exists; nothing (off) for a master bus, with `off`, or when no master is configured. The load's
/// id is the minion's. Errors are resolve_config's and bus_paths'.
result<std::optional<forwarder_options>> forward_target(const bus_config& minion, const forward_request& req,
                                                        const environment& env);

/// Log lines (levels in brackets; SOCKET is the master's pull endpoint):
/// [info] "connected to the master bus at SOCKET" (+ ": sending N fire_master events queued while
/// it was away" after an outage); [warning] "<cannot connect to SOCKET: reason | lost connection
/// to SOCKET: reason>; queueing fire_master events (at most M) until the master bus is back", once
/// per outage; [error] "dropped N fire_master events: the master bus at SOCKET is unreachable (or:
/// is not keeping up) and the queue of M is full", the first drop at once, then at most one line a
/// second; [warning] "cannot forward a fire_master event: <reason>" for a request Salt could not
/// forward; [warning] "stopping with N fire_master events not forwarded to the master bus at
/// SOCKET"; [debug] a request with neither tag nor events.
class forwarder {
public:
    forwarder(event_loop& loop, forwarder_options opts);
    /// stop(), with its log lines.
    ~forwarder();
    forwarder(const forwarder&) = delete;
    forwarder& operator=(const forwarder&) = delete;

    /// Offers one minion-bus event body; those tagged fire_master* are turned into master events
    /// (route_a_events) and queued for the master bus, all events of one request as one entry
    /// (the queue holds requests, so a batch is never cut). Others are ignored, as is every body
    /// after stop(). Connects at the first request; reconnects with backoff (50 ms doubling to 1 s)
    /// while requests wait.
    void offer(std::string_view body);
    /// fire_master requests queued and not yet written; requests dropped so far because the queue
    /// was full.
    std::size_t queued() const;
    std::size_t dropped() const;
    /// Stops reconnecting and closes the connection; queued requests are lost (and counted in a log line).
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
