// Firing events: event.fire's effect from a program, with delivery confirmed.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "tagbus/destination.hpp"
#include "tagbus/event.hpp"
#include "tagbus/export.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

struct fire_options {
    /// Bounds the connect and every wait for the bus, counted as time without progress.
    std::chrono::milliseconds timeout{5000};
    /// Whether each event gets its `_stamp` (the time it is fired), as Salt's fire_event does.
    /// false: the data is sent with the `_stamp` it already has, or none (a program that stamped
    /// it itself, a replay of recorded events). Lines (sender::fire_line) are always stamped.
    bool stamp = true;
};

/// Fires one event on the destination's bus (its pull socket), as salt.utils.event's fire_event
/// does: the data is packed as Salt packs it (a map over max_event_size is trimmed as Salt trims
/// it), framed as the destination says. Success means the bus has read the event: the connection
/// is half-closed and the call waits until the bus closes its end. Errors: errc::data for an
/// empty tag or one holding "\n\n"; errc::unavailable when the bus is not there or went away;
/// errc::timeout when it made no progress within the timeout. Never throws.
TAGBUS_API result<void> fire_event(const destination& to, std::string_view tag, const value& data,
                                   const fire_options& options = {});

/// event.fire_master's daemon route: fires Salt's `fire_master` request on a minion's bus
/// ({"data", "tag", "events": null, "pretag": null}), which the minion daemon (Salt's, or an
/// event-busd minion bus that forwards) sends on to its master, where `tag` appears with `data`.
/// Success means the minion's bus read the request. `to` must be a minion's destination
/// (errc::invalid otherwise); other errors as fire_event.
TAGBUS_API result<void> fire_master(const destination& to, std::string_view tag, const value& data,
                                    const fire_options& options = {});

/// Many events over one connection, pipelined: fire() packs an event as fire_event does and queues
/// it, returning at once; the queue goes out in writes of 64 KiB, and fire() waits for the socket
/// only while 1 MiB is unwritten (the bus is slow or paused for a slow subscriber). Only close()
/// confirms delivery: it half-closes the connection and waits until the bus has read everything.
/// fire_event's error contract holds for every call; a call after a failure repeats the failure.
/// One sender is used by one thread at a time.
class TAGBUS_API sender {
public:
    /// Connects to the destination's pull socket within options.timeout, which also bounds
    /// every later wait for the bus (as time without progress). Errors: as fire_event's connect.
    static result<sender> open(const destination& to, const fire_options& options = {});
    sender(sender&&) noexcept;
    sender& operator=(sender&&) noexcept;
    /// Closes as close() does when the sender is still open (the result is lost: call close()
    /// to know it); may block up to the timeout.
    ~sender();

    /// Queues one event: `data` (a map) with its _stamp, trimmed to max_event_size as Salt trims
    /// it (`trimmed`, when given, says what was trimmed). errc::data for an empty tag, a tag with
    /// "\n\n", or data that is not a map; nothing is queued then and the sender goes on.
    result<void> fire(std::string_view tag, const value& data, trim_report* trimmed = nullptr);
    /// Queues the event of one line as state-event prints it (SALT-WIRE §8): "TAG<TAB>JSON" or
    /// {"tag": ..., "data": ...} without its newline, read as Python's json.loads reads it, and
    /// stamped now (a recorded _stamp is replaced). errc::data naming what is wrong with the line;
    /// nothing is queued then and the sender goes on.
    result<void> fire_line(std::string_view line, trim_report* trimmed = nullptr);
    /// The body of the event queued last: the tag, a blank line and the msgpack data (decode_body).
    std::string_view last_body() const;
    /// How many events were queued.
    std::uint64_t count() const;

    /// Writes what is queued now and waits until the socket has taken it (a live feed uses this
    /// when its input runs dry, so that nothing waits for more).
    result<void> flush();
    /// Flushes, then waits until `when` (pacing), noticing a bus that goes away meanwhile.
    result<void> pause_until(std::chrono::steady_clock::time_point when);
    /// While a call waits for the bus, `hook` is called about every 250 ms (a progress display).
    void on_wait(std::function<void()> hook);
    /// Flushes, half-closes, and waits until the bus has read everything and closed its end: only
    /// then is delivery confirmed. Afterwards every call fails (errc::internal).
    result<void> close();

private:
    sender();
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
