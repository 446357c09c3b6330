// The two line forms state-event prints and event-fire --lines reads back (SALT-WIRE §8):
// "TAG<TAB>JSON" and the JSON-lines object {"tag": ..., "data": ...}. Sans-I/O.
#pragma once

#include <string>
#include <string_view>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// Parses one line (without its "\n") into TAG and DATA. A line with a TAB is TAG<TAB>JSON, even
/// when the tag starts with '{'; a line without one must be a JSON object with a string "tag" and
/// a "data" (json.dumps escapes a TAB, so such an object never holds a raw one).
/// Errors (errc::data): the JSON parser's, "expected an object with \"tag\" and \"data\"",
/// "expected TAG<TAB>JSON (state-event's output)".
result<void> parse_event_line(std::string_view line, std::string& tag, value& data);

}  // namespace tagbus
