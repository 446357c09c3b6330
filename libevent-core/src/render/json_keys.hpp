// Internal to the json module: Python's dict-key semantics (which keys are equal, how sorted()
// orders them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

#include "tagbus/value.hpp"
#include "wire/utf8.hpp"

namespace tagbus::inline v0::detail {

// Index of an alternative in value::storage, so a switch on index() reads as type names.
template <typename T, typename... Ts>
constexpr std::size_t index_in(const std::variant<Ts...>*) {
    constexpr bool match[] = {std::is_same_v<T, Ts>...};
    for (std::size_t i = 0; i < sizeof...(Ts); ++i)
        if (match[i]) return i;
    return sizeof...(Ts);
}
template <typename T>
inline constexpr std::size_t kind = index_in<T>(static_cast<const value::storage*>(nullptr));

// A key reduced to what Python's == looks at: 1, 1.0 and True are one integer; -0.0 is 0; str
// and bytes differ until Salt's decode step (stage 2), after which a bin key is text too.
struct canon {
    enum kind_t : std::uint8_t { nil, integer, real, nan, text, bytes, ext } kind = nil;
    bool neg = false;
    std::uint64_t num = 0;  // integer magnitude, real bit pattern, ext type
    std::string_view data;

    bool operator==(const canon& o) const {
        return kind == o.kind && kind != nan && neg == o.neg && num == o.num && data == o.data;
    }
};

struct canon_hash {
    std::size_t operator()(const canon& c) const {
        std::size_t h = std::hash<std::string_view>{}(c.data);
        h ^= std::hash<std::uint64_t>{}(c.num) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        return h ^ (static_cast<std::size_t>(c.kind) << 1) ^ static_cast<std::size_t>(c.neg);
    }
};


// A number as Python compares it: ints and floats exactly, never through a lossy conversion.
struct pynum {
    bool is_int = true, neg = false;
    std::uint64_t mag = 0;
    double d = 0;
};

// Sort classes. Python can only order keys within one class (None only on its own); across
// classes sorted() raises TypeError, and we fall back to this class order.
enum key_class : std::uint8_t { cls_number, cls_nil, cls_text, cls_ext };

// A dict item after the collapse: the first key's spelling, the last value.
struct entry {
    const value* key;
    const value* val;
    std::string_view text;  // text keys: the str Python would sort
    pynum num;
    key_class cls;
};

// Stage 1 is msgpack-python's dict (bytes != str); `decoded` is Salt's rebuilt one (bin, the
// payload of an ext other than 78/79/-1, and a datetime's ISO text are text). A datetime key's
// entry carries its ISO text in `text`.
canon canon_of(const entry& e, bool decoded);

// Sorts dict items as sorted(d.items()) does; true when the keys mix classes Python cannot
// compare (json.dumps raises TypeError there), ordered then numbers, null, text, ext.
// `decoded` keeps the backslashreplace texts that undecodable keys sort by.
bool sort_entries(entry* lo, entry* hi, std::forward_list<std::string>& decoded);

}  // namespace tagbus::detail
