// What state-event prints for each event: Salt's "tag TAB json" (compact or pretty), optional
// colour for terminals, or JSON lines. Sans-I/O: appends to a caller's buffer.
#pragma once

#include <string>
#include <string_view>

#include "render/json.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

enum class output_format { salt, json_lines };

struct output_options {
    output_format format = output_format::salt;
    bool pretty = false;  ///< salt format only: indent 4, sorted keys
    bool color = false;   ///< ANSI colours (tag, keys, strings, numbers, literals)
};

/// Appends one event's output line(s), LF-terminated. When Salt would drop the event, nothing is
/// appended and the outcome says drop.
render_outcome format_event(std::string_view tag, const value& data, const output_options& opts, std::string& out);

/// format_event for packed (msgpack) data, as a subscriber receives it. Compact and JSON-lines
/// output without colour are rendered from the bytes without decoding them into a value; every
/// other case decodes first. Error (errc::data) when the data is not msgpack, as from unpack.
result<render_outcome> format_packed_event(std::string_view tag, std::string_view packed, const output_options& opts,
                                           std::string& out);

/// One sentence naming what was made printable, for a warning: "non-UTF-8 bytes shown as \xNN".
std::string describe_issues(unsigned issues);

}  // namespace tagbus
