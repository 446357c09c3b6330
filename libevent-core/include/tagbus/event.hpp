// Event bodies (SALT-WIRE §3): UTF-8(tag) "\n\n" msgpack(data), the `_stamp`, ext types 78/79, and
// Salt's max_event_size trimming. Sans-I/O.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "tagbus/export.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

inline constexpr std::size_t default_max_event_size = 1048576;

/// A decoded event. `tag` holds the raw bytes before the first "\n\n" (not checked for UTF-8).
struct event {
    std::string tag;
    value data;
};

/// Splits a body at its first "\n\n" without decoding the data.
/// Error (errc::data) when there is no "\n\n": "event body has no blank line after the tag".
TAGBUS_API result<std::pair<std::string_view, std::string_view>> split_body(std::string_view body);

/// Decodes a whole body. Data that is not valid msgpack is an error naming the offset.
TAGBUS_API result<event> decode_body(std::string_view body);

/// Checks a tag for firing: non-empty and without "\n\n". Errors: "tag is empty",
/// "tag contains a blank line (\"\\n\\n\")" (errc::data).
TAGBUS_API result<void> check_tag(std::string_view tag);

/// Salt's `_stamp` text for a UTC time: "2024-05-01T12:34:56.789012", or "2024-05-01T12:34:56" when
/// the microseconds are exactly zero (Python's datetime.isoformat()).
TAGBUS_API std::string format_stamp(std::chrono::system_clock::time_point t);

/// Sets data["_stamp"]: appended after the caller's keys, or replacing the value in place when the
/// map already has a str key "_stamp". `data` must be a map.
TAGBUS_API void set_stamp(map_t& data, std::chrono::system_clock::time_point t);

/// What trimming did to an event that was over max_event_size, so a tool can say so.
struct trim_report {
    struct trimmed_value {
        std::string key;   ///< the path of the value: "a.b" for key "b" of the map under key "a"
        std::size_t size;  ///< its packed (msgpack) size in bytes before it was replaced
    };
    bool over = false;           ///< the data was over max_event_size (and trimming was tried)
    std::size_t size = 0;        ///< the data's size as Salt measures it: packed bytes + 33
    std::size_t size_after = 0;  ///< the same measure after trimming
    std::size_t max_event_size = 0;
    std::vector<trimmed_value> trimmed;  ///< in the order Salt replaced them; empty: nothing trimmable
};

/// One line for a warning: "event 'TAG' is N bytes, over max_event_size M: trimmed key 'a.b'
/// (X bytes) to \"VALUE_TRIMMED\"" (several keys: "trimmed keys 'a' (X bytes), 'b' (Y bytes) to
/// ..."), or "...: no value could be trimmed; sent at N bytes" when Salt's passes found nothing.
TAGBUS_API std::string describe_trim(std::string_view tag, const trim_report& r);

/// Salt's trimming (SALT-WIRE §3 "Size cap and trimming"), emulating its CPython size measurement.
/// Returns true when the data was changed. `report` (optional) receives what was trimmed.
TAGBUS_API bool trim_to_max_event_size(map_t& data, std::size_t max_event_size, trim_report* report = nullptr);

/// Builds a body from a tag and data as Salt's fire_event does: checks the tag, requires a map
/// (error "event data must be a map, not a list" etc.), adds `_stamp` (unless `stamp` is false),
/// trims to max_event_size, packs. `data` is modified as Salt modifies the caller's map.
/// `report` (optional) receives what trimming did; `report->over` says whether the tool should warn.
TAGBUS_API result<std::string> encode_body(std::string_view tag, value& data, std::size_t max_event_size,
                                bool stamp = true, trim_report* report = nullptr);

/// Ext type 78 (datetime): payload "YYYYMMDDTHH:MM:SS.ffffff". Returns the ISO text Salt prints,
/// "2024-05-01T12:00:00.123456" or without the fraction when it is zero; error when malformed.
TAGBUS_API result<std::string> ext78_isoformat(std::string_view payload);

}  // namespace tagbus
