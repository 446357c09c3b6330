// msgpack value <-> JSON text exactly as Salt's state.event prints it with Python's json.dumps
// (ensure_ascii=False; compact: ", " / ": " in received key order; pretty: indent 4, "," at line
// ends, keys sorted), including every case of SALT-WIRE §7 "Rendering edge cases". Sans-I/O.
#pragma once

#include <string>
#include <string_view>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// ANSI sequences wrapped around JSON tokens when colour is on (output owns the palette).
struct json_colors {
    std::string_view key, string, number, literal, reset;
};

struct render_options {
    bool pretty = false;                 ///< indent 4 + sort_keys, as state.event pretty=True
    const json_colors* colors = nullptr; ///< null: no escape sequences at all
};

/// Where Salt's own state.event would crash, we render anyway and report what was made printable.
enum render_issue : unsigned {
    issue_none = 0,
    issue_invalid_utf8 = 1u << 0,   ///< str/bin/key bytes not UTF-8: each bad byte written as \xNN text
    issue_ext79 = 1u << 1,          ///< Salt sentinel: rendered as its [name, value] payload
    issue_timestamp = 1u << 2,      ///< msgpack timestamp (ext -1): rendered as ISO-8601 text with "Z"
    // 1u << 3 is free: an ext other than 78/79/-1 prints as its payload text, as in Salt.
    issue_mixed_keys = 1u << 4,     ///< pretty sort of str and non-str keys (Python TypeError)
    issue_ext_key = 1u << 5,        ///< sentinel or timestamp as a map key (Python TypeError): its text
};

struct render_outcome {
    bool drop = false;      ///< Salt drops this event silently: a map/array used as a key, a malformed ext 78
    unsigned issues = 0;    ///< render_issue bits
};

/// Appends the JSON of `v` to `out`. When the outcome says drop, `out` is left as it was.
render_outcome render_json(const value& v, std::string& out, const render_options& opts = {});

/// Appends render_json's compact, uncoloured output for the msgpack object that is the whole of
/// `packed` straight from its bytes, and ORs render_issue bits into `issues`. Returns false,
/// leaving `out` as it was, for anything but the common case (ext 78/79/-1 values, keys that are
/// not distinct str, maps over 16 keys, data over 1 MiB, malformed, truncated or very deep data,
/// bytes after the object): decode and call render_json for those.
bool render_packed_json(std::string_view packed, std::string& out, unsigned& issues);

/// Whether render_packed_json answers for `packed`, found without writing anything: then the data
/// is one plain object that Salt decodes (never dropped). state-event quiet=True counts with it.
bool packed_json_plain(std::string_view packed);

/// Appends `s` as a JSON string literal (quotes included), json.dumps(ensure_ascii=False) style;
/// invalid UTF-8 bytes become the text \xNN (so the backslash itself is escaped). Returns false
/// when such bytes were present.
bool append_json_string(std::string& out, std::string_view s);

/// Parses JSON text as Python's json.loads does: NaN / Infinity / -Infinity accepted, integers of
/// any size (beyond 64 bits they become str of their digits, as Salt packs them), duplicate keys
/// collapse (first position, last value), whole text must be one value. Refused where Salt could
/// not pack the result anyway: an escaped lone surrogate ("\ud800"), nesting deeper than 512.
/// Errors (errc::data) carry line and column: "invalid JSON at line 1, column 7: ...".
result<value> parse_json(std::string_view text);

/// The common case of parse_json + set_stamp + pack straight from the text: appends to `out` the
/// msgpack bytes of the JSON object `text` with its top-level "_stamp" set to the string `stamp`
/// (replaced where it is, else added last). Returns false, leaving `out` as it was, for anything
/// else (NaN/Infinity, integers beyond 64 bits, floats that do not parse to a finite double,
/// escaped surrogates, duplicate keys, objects over 64 keys, nesting over 256, text that is not
/// JSON or not an object): parse_json gives the same bytes for those, or the error.
bool pack_json_stamped(std::string_view text, std::string_view stamp, std::string& out);

}  // namespace tagbus
