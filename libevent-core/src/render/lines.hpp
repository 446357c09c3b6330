// The two line forms state-event prints and event-fire --lines reads back (SALT-WIRE §8):
// "TAG<TAB>JSON" and the JSON-lines object {"tag": ..., "data": ...}. Sans-I/O.
#pragma once

#include <string>
#include <string_view>

#include "tagbus/event.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// Parses one line (without its "\n") into TAG and DATA. A line with a TAB is TAG<TAB>JSON, even
/// when the tag starts with '{'; a line without one must be a JSON object with a string "tag" and
/// a "data" (json.dumps escapes a TAB, so such an object never holds a raw one).
/// Errors (errc::data): the JSON parser's, "expected an object with \"tag\" and \"data\"",
/// "expected TAG<TAB>JSON (state-event's output)".
result<void> parse_event_line(std::string_view line, std::string& tag, value& data);

/// The event body of one line: what encode_body(tag, data, max_event_size, true, report) makes of
/// parse_event_line's TAG and DATA, stamped now, into `body` (replaced). A TAG<TAB>{...} line is
/// packed straight from its text (pack_json_stamped) when that can be done and needs no trimming.
/// Errors: parse_event_line's and encode_body's.
result<void> line_body(std::string_view line, std::size_t max_event_size, std::string& body, trim_report* report);

}  // namespace tagbus
