// A stream message as a Salt event body (issue 13): what event-bridge in fires and what a replay
// reads. Sans-I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "engine/stream.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0::engine {

/// Why `payload` is not a whole Salt event body (a tag, a blank line, one msgpack map and nothing
/// after it), or nullopt when it is.
std::optional<std::string> salt_body_problem(std::string_view payload);

/// The body a message stands for: the payload itself for Salt's format (checked), or the body
/// built from a JSON one ({"tag": TEXT, "data": {...}}, its _stamp kept; the tag from the subject
/// under `prefix` when the JSON has none). Errors (errc::data) say what the message is not:
/// "not a Salt event body (its data is not a map)", "not a JSON event: ...", "unknown Salt-Format 'x'".
result<std::string> event_body(const incoming& m, std::string_view prefix);

}  // namespace tagbus::engine
