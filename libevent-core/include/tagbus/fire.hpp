// Firing events: event.fire's effect from a program, with delivery confirmed.
#pragma once

#include <chrono>
#include <string_view>

#include "tagbus/destination.hpp"
#include "tagbus/export.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

struct fire_options {
    /// Bounds the connect and every wait for the bus, counted as time without progress.
    std::chrono::milliseconds timeout{5000};
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

}  // namespace tagbus
