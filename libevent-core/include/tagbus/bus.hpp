// The bus itself: event-busd's server (SALT-WIRE §4) as a class, so that a program or a test can
// run a Salt-compatible event bus in-process.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tagbus/destination.hpp"
#include "tagbus/export.hpp"
#include "tagbus/log.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

struct bus_options {
    /// A group id: the sockets become 0660 for it (else 0600).
    std::optional<unsigned> group;
    /// How subscribers get events: "legacy" (Salt's) or "prefixed" (errc::invalid otherwise).
    /// The pull side reads both.
    std::string pub_framing = "legacy";
    /// A subscriber with more than this queued is dropped, so a slow one never holds the others.
    std::size_t max_subscriber_buffer = std::size_t{16} << 20;
    /// Unfinished frames held for all publishers together; past it the largest holder is dropped.
    std::size_t max_input_buffer = std::size_t{128} << 20;
    /// A publisher sending a larger frame is dropped.
    std::size_t max_frame = std::size_t{64} << 20;
    /// A publisher stalled this long in the middle of a frame is dropped (0: never).
    std::chrono::milliseconds partial_frame_timeout{10000};
    /// A minion bus forwards `fire_master` requests to this host's master bus (see
    /// forward_address) unless this is false.
    bool forward = true;
    std::optional<std::string> master_sock_dir;  ///< the master bus to forward to, over its config
    std::size_t forward_queue = 10000;           ///< events kept while the master bus is away
    /// Socket activation: listening sockets a service manager bound (systemd's LISTEN_FDS), served
    /// instead of binding. Each must be a listening Unix stream socket bound to the destination's
    /// pub or pull path, and both must be there (errc::config otherwise, naming the descriptor and
    /// the paths expected). The bus owns them from open() on, closes them when it fails too, and
    /// neither creates nor removes their files: they stay, and clients queue, while the bus
    /// restarts.
    std::vector<int> listen_fds;
    /// SIGTERM, SIGINT...: each makes run() return (watched from open() on). Empty: none.
    std::vector<int> stop_signals;
    /// The server's log lines (the library prints nothing): warnings for connections dropped by
    /// the limits above, info for subscribers leaving and publishers paused, debug for connects.
    std::function<void(log_level, std::string_view)> log;
    /// The forwarder's: info when it connects to the master bus or loses it, warning for events
    /// dropped while it was away.
    std::function<void(log_level, std::string_view)> forward_log;
};

/// Where a minion bus on `where` forwards its `fire_master` requests: the pull socket of the
/// master bus named by options.master_sock_dir, else of the one in the master config of the same
/// config folder; nothing for a master bus, with forward off, or when no master is configured
/// (such a bus keeps the requests). Errors: an unreadable or invalid master config (errc::config).
TAGBUS_API result<std::optional<std::string>> forward_address(const destination& where, const bus_options& options);

class TAGBUS_API bus {
public:
    /// Binds the destination's pub and pull sockets (creating sock_dir, replacing stale socket
    /// files, refusing when a live bus answers there: errc::unavailable) and is ready when it
    /// returns: clients may connect at once. Events are served only while run() runs.
    static result<bus> open(const destination& where, bus_options options = {});
    bus(bus&&) noexcept;
    bus& operator=(bus&&) noexcept;
    /// Stops serving and removes the socket files.
    ~bus();

    /// Serves until stop() or a stop signal; then closes every connection and removes the socket
    /// files. Call it from one thread.
    result<void> run();
    /// Makes run() return soon. Safe from any thread and from a signal handler.
    void stop();
    /// The sockets, for a start line: "pub /x/master_event_pub.ipc, pull /x/master_event_pull.ipc".
    std::string describe() const;

private:
    bus();
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
