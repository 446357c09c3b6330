// The bus: accept publishers on the pull socket and fan every event out to every subscriber on the
// pub socket (SALT-WIRE §4). All server socket code lives here; event-busd is a thin main().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tagbus/frame.hpp"
#include "tagbus/loop.hpp"
#include "tagbus/paths.hpp"
#include "tagbus/result.hpp"

namespace tagbus {

enum class log_level { error, warning, info, debug };

struct server_options {
    bus_endpoints endpoints;
    std::optional<unsigned> group;       ///< gid: sockets 0660 and chgrp'd; otherwise 0600
    framing pub_framing = framing::legacy;
    std::size_t max_frame = default_max_frame;
    /// Every log line (never printed by the library): warning for a publisher dropped for a bad or
    /// oversized frame, info for a subscriber that went away, debug for connects.
    std::function<void(log_level, std::string_view)> log;
    /// Called with each event body after it has been queued to every subscriber (minion forwarding).
    /// It may call stop(), but neither callback may destroy the server.
    std::function<void(std::string_view body)> on_event;
};

struct server_stats {
    std::uint64_t events = 0;
    std::uint64_t publishers = 0;   ///< connected now
    std::uint64_t subscribers = 0;  ///< connected now
    std::uint64_t dropped_connections = 0;  ///< publishers dropped for malformed or oversized frames
};

class bus_server {
public:
    bus_server(event_loop& loop, server_options opts);
    ~bus_server();
    bus_server(const bus_server&) = delete;
    bus_server& operator=(const bus_server&) = delete;

    /// Creates sock_dir (0750, with parents) if missing, refuses when a live bus answers on the pub
    /// or pull socket (status::unavailable: "a bus is already running on X"), replaces stale socket
    /// files (never a file that is not a socket), binds pull then pub under umask 0177 and sets
    /// their mode (0600, or 0660 and the group for both with `group`). Errors name the path and the
    /// reason: a busy address is status::unavailable ("cannot bind X: Address already in use");
    /// every file-system problem, permissions included, is status::io ("cannot create directory
    /// X: Permission denied"). On error no socket of this server is left bound.
    result<void> start();
    /// Closes every connection and the listeners, and removes the socket files it created.
    void stop();
    server_stats stats() const;

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
