// The msgpack value model shared by every concern, and its msgpack codec.
//
// Salt packs event data with msgpack-python (use_bin_type=True); the model keeps every distinction
// that can reach the wire or the rendered JSON: str vs bin, float32 vs float64, negative vs
// non-negative integers, map order, non-string and duplicate map keys, ext types (78 datetime,
// 79 Salt sentinel, -1 msgpack timestamp, any other).
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "tagbus/export.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

struct value;
struct member;

using array_t = std::vector<value>;
using map_t = std::vector<member>;  ///< insertion order kept; the decoder keeps duplicate keys too

struct bin_t {
    std::string bytes;
    bool operator==(const bin_t&) const = default;
};

struct ext_t {
    std::int8_t type = 0;
    std::string data;
    bool operator==(const ext_t&) const = default;
};

/// A msgpack value. Integers are normalised: a non-negative integer is always `std::uint64_t`,
/// a negative one always `std::int64_t`, whatever msgpack format carried it.
struct TAGBUS_API value {
    using storage = std::variant<std::monostate, bool, std::int64_t, std::uint64_t, float, double, std::string,
                                 bin_t, array_t, map_t, ext_t>;
    storage v;

    // Declared here, defined below once `member` is complete: map_t is a vector of members, and
    // a constructor's body needs the variant's destructor (clang instantiates it right away).
    value();
    value(std::nullptr_t);
    value(bool b);
    template <std::signed_integral I>
        requires(!std::same_as<I, bool> && !std::same_as<I, char>)
    value(I i);
    template <std::unsigned_integral U>
        requires(!std::same_as<U, bool>)
    value(U u);
    value(float f);
    value(double d);
    value(const char* s);
    value(std::string s);
    value(std::string_view s);
    value(bin_t b);
    value(array_t a);
    value(map_t m);
    value(ext_t e);

    bool is_nil() const { return v.index() == 0; }
    const std::string* str() const { return std::get_if<std::string>(&v); }
    const map_t* map() const { return std::get_if<map_t>(&v); }
    map_t* map() { return std::get_if<map_t>(&v); }
    const array_t* array() const { return std::get_if<array_t>(&v); }

    /// Structural equality (same alternative, same contents, same order); not Python equality.
    bool operator==(const value& o) const;
};

struct member {
    value key;
    value val;
    bool operator==(const member&) const = default;
};

inline value::value() = default;
inline value::value(std::nullptr_t) {}
inline value::value(bool b) : v(b) {}
template <std::signed_integral I>
    requires(!std::same_as<I, bool> && !std::same_as<I, char>)
value::value(I i) {
    if (i < 0) v = static_cast<std::int64_t>(i);
    else v = static_cast<std::uint64_t>(i);
}
template <std::unsigned_integral U>
    requires(!std::same_as<U, bool>)
value::value(U u) : v(static_cast<std::uint64_t>(u)) {}
inline value::value(float f) : v(f) {}
inline value::value(double d) : v(d) {}
inline value::value(const char* s) : v(std::string(s)) {}
inline value::value(std::string s) : v(std::move(s)) {}
inline value::value(std::string_view s) : v(std::string(s)) {}
inline value::value(bin_t b) : v(std::move(b)) {}
inline value::value(array_t a) : v(std::move(a)) {}
inline value::value(map_t m) : v(std::move(m)) {}
inline value::value(ext_t e) : v(std::move(e)) {}

/// What a value is, for messages: "None", "a boolean", "an integer", "a float", "a string",
/// "bytes", "a list", "a map", "an ext value" (Python's words, as Salt users know them).
TAGBUS_API std::string_view kind_name(const value& v);

/// Appends the msgpack encoding of `v` to `out`, as msgpack-python packs with use_bin_type=True:
/// the smallest format for every integer and length, float64 for double, float32 for float,
/// str for std::string, bin for bin_t, fixext/ext8.. for ext_t, maps in their stored order.
TAGBUS_API void pack(const value& v, std::string& out);
TAGBUS_API std::string pack(const value& v);

/// Decodes exactly one msgpack object from the start of `in` and stores how many bytes it used in
/// `used`. Every msgpack format is accepted (including str8 / bin / ext / float32 / nested maps
/// with any key types). Errors (errc::data) name the offset: "truncated msgpack at byte 12",
/// "invalid msgpack byte 0xc1 at offset 3", "msgpack nesting deeper than 512".
TAGBUS_API result<value> unpack(std::string_view in, std::size_t& used);
/// As above, but trailing bytes after the object are an error ("3 trailing bytes after msgpack").
TAGBUS_API result<value> unpack(std::string_view in);

/// Scans (without building values) the msgpack object at the start of `in`.
/// Returns its size in bytes when it is complete; 0 when more bytes are needed, with `need` set to
/// a lower bound of the total size required (so a caller can wait for that many bytes and not
/// rescan a large bin payload byte by byte); an error when the bytes cannot start a valid object.
TAGBUS_API result<std::size_t> scan(std::string_view in, std::size_t& need);

namespace detail {

/// Where a resumable scan stopped: the bytes of complete items so far and how many items are
/// still owed (the top-level object counts as one; a container adds its elements).
struct scan_state {
    std::size_t offset = 0;
    std::uint64_t pending = 1;
    /// After a scan that needs more bytes: how many must be buffered before scanning on can
    /// learn anything new (the item at `offset` whole, or its header). `need` also counts one byte
    /// for each owed item, which makes it a bound for size limits but too far to wait for: the
    /// next header may announce a size over the limit long before that (a caller fed piecemeal
    /// must fail where one fed the whole stream fails).
    std::size_t progress_at = 0;
};

/// scan() that continues from `st` instead of rescanning from the start, so a caller fed a large
/// object in small pieces does linear work in total. `in` must start with the same bytes on every
/// call for one object; reset `st` for the next object.
TAGBUS_API result<std::size_t> scan_resume(std::string_view in, scan_state& st, std::size_t& need);

}  // namespace detail

}  // namespace tagbus
