// How an event travels from a minion to the master's bus (SALT-WIRE §4 "Minion bus specials", §8):
// the `fire_master` request on the minion bus, the load the minion sends, and the events the
// master fires for it. Sans-I/O: tools and the daemon do the sending.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// Tag of the minion-bus event the minion daemon forwards to its master.
inline constexpr std::string_view fire_master_tag = "fire_master";

/// Data of a `fire_master` event, in Salt's order: {"data": data, "tag": tag, "events": null,
/// "pretag": null} (event.fire_master's daemon route; the firing adds _stamp).
map_t fire_master_request(value data, std::string_view tag);

/// One event for the master bus (the firing adds _stamp).
struct master_event {
    std::string tag;
    value data;
};

/// The daemon route (A): what the master's bus shows for a `fire_master` request `request`
/// (the minion-bus event's data) sent by minion `id`. The minion builds its load
/// {id, cmd: "_minion_event", pretag, tok, events | (data, tag)} as Salt's _fire_master does
/// (no tag: nothing is sent; data empty or missing with a tag: data {}), the master drops tok and
/// fires the load under its tag, or, for the batch form, each item's data under its tag and again
/// under "<pretag>/<tag>" when pretag is set. An empty result means Salt sends nothing.
/// Error (errc::data) when the request is not a map or its fields have the wrong types.
result<std::vector<master_event>> route_a_events(std::string_view id, const value& request);

/// The direct route (B, salt-call event.fire_master / event.send): the load
/// {id, tag, data, cmd: "_minion_event"} with `preload` (a map, or nil) merged over it, handled by
/// the master as in route A (batch form when the load has "events").
result<std::vector<master_event>> route_b_events(std::string_view id, std::string_view tag, value data,
                                                 const value& preload);

}  // namespace tagbus
