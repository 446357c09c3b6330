// The bus: accept publishers on the pull socket and fan every event out to every subscriber on the
// pub socket (SALT-WIRE §4). All server socket code lives here; event-busd is a thin main().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>
#include <string_view>

#include "wire/frame.hpp"
#include "net/loop.hpp"
#include "host/paths.hpp"
#include "tagbus/log.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {


/// Default bound on what one subscriber may have queued but not yet written (16 MiB).
inline constexpr std::size_t default_max_subscriber_buffer = 16u << 20;
/// Default bound on the unfinished frames all publishers together may have the bus hold: twice
/// the default frame limit, so one publisher sending a frame of the largest size is never cut.
inline constexpr std::size_t default_max_input_buffer = 2 * default_max_frame;
/// Default time a publisher's unfinished frame may go without a byte of progress (10 s).
inline constexpr std::uint64_t default_partial_frame_timeout_ms = 10000;

struct server_options {
    bus_endpoints endpoints;
    std::optional<unsigned> group;       ///< gid: sockets 0660 and chgrp'd; otherwise 0600
    framing pub_framing = framing::legacy;
    std::size_t max_frame = default_max_frame;
    /// A subscriber with more than this many bytes queued but not yet written is dropped (with a
    /// warning), so a slow one never holds back the others. When every subscriber has more than
    /// half of it queued, the bus stops reading publishers until one is down to a quarter.
    /// Keep it well above twice one read's worth (64 KiB, or one whole larger frame), which lands
    /// on every subscriber at once: below that even a subscriber that keeps up may be dropped.
    std::size_t max_subscriber_buffer = default_max_subscriber_buffer;
    /// While publishers are paused, a subscriber that writes nothing at all for this long is
    /// dropped (with a warning): it could never reach max_subscriber_buffer, and would otherwise
    /// hold every publisher for good.
    std::uint64_t stall_timeout_ms = 2000;
    /// A publisher holding an unfinished frame that sends no byte for this long is dropped (with
    /// a warning naming it and the bytes held): a stopped sender must not pin its partial frame
    /// for good. Time while publishers are paused (back-pressure) does not count. 0: never.
    std::uint64_t partial_frame_timeout_ms = default_partial_frame_timeout_ms;
    /// When the unfinished frames of all publishers together hold more than this many bytes, the
    /// publisher holding the most is dropped (with a warning), then the next, until they are
    /// under it.
    std::size_t max_input_buffer = default_max_input_buffer;
    /// Every log line (never printed by the library): warning for a publisher dropped for a bad,
    /// oversized or stalled frame or for holding the most when max_input_buffer is passed, for a
    /// subscriber dropped for a full buffer, and for connections refused at the open files limit
    /// (once per episode, then a warning when accepting again with the count refused), error for
    /// a connection dropped because handling it threw, info for a subscriber that
    /// went away and for publishers paused or resumed, debug for connects.
    std::function<void(log_level, std::string_view)> log;
    /// Listening sockets handed over by a service manager (socket activation), taken instead of
    /// binding: each must be a listening Unix stream socket bound to the pub or the pull path, and
    /// both must be there. The server owns them from start() on (closed on failure too) and
    /// neither creates nor removes their files, which belong to whoever bound them.
    std::vector<int> listen_fds;
    /// Called with each event body after it has been queued to every subscriber (minion forwarding).
    /// It may call stop(), but neither callback may destroy the server.
    std::function<void(std::string_view body)> on_event;
};

struct server_stats {
    std::uint64_t events = 0;
    std::uint64_t publishers = 0;   ///< connected now
    std::uint64_t subscribers = 0;  ///< connected now
    /// Publishers dropped for malformed, oversized or stalled frames or over max_input_buffer,
    /// subscribers for a full buffer or a stall.
    std::uint64_t dropped_connections = 0;
    /// Connections accepted and closed at once because the process was out of file descriptors.
    std::uint64_t refused_connections = 0;
    /// Bytes of unfinished frames held for all publishers now.
    std::uint64_t input_buffered = 0;
};

class bus_server {
public:
    bus_server(event_loop& loop, server_options opts);
    ~bus_server();
    bus_server(const bus_server&) = delete;
    bus_server& operator=(const bus_server&) = delete;

    /// Creates sock_dir (0750, with parents) if missing; with `group`, each folder it creates
    /// belongs to that group, and an existing sock_dir that looks like one created before without
    /// it (ours, 0750, of our own group) is given it. Refuses when a live bus answers on the pub
    /// or pull socket (errc::unavailable: "a bus is already running on X"), replaces stale
    /// socket files (never a file that is not a socket, never through a symbolic link), binds
    /// pull then pub, each with its mode (0600, or 0660 and the group for both with `group`)
    /// before it appears at its path, listening (bound in a private folder next to it and renamed
    /// into place; the process's umask is never touched, so a program's other threads are not
    /// affected). Errors name the path and the reason: a busy address is errc::unavailable
    /// ("cannot bind X: Address already in use"); every file-system problem, permissions
    /// included, is errc::io ("cannot create directory X: Permission denied"). On error no
    /// socket of this server is left bound. Keeps one spare descriptor: at the open files limit
    /// a new connection is accepted and closed at once (refused) instead of waiting unseen.
    result<void> start();
    /// Closes every connection and the listeners, and removes the socket files it created.
    void stop();
    server_stats stats() const;

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
