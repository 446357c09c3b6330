// Looking into packed msgpack without decoding it: a bridge needs one key of a body it passes on
// unchanged. Sans-I/O.
#pragma once

#include <optional>
#include <string_view>

namespace tagbus::inline v0 {

/// Skips one msgpack value at `p` (nesting at most `depth` deep); false when it is malformed or
/// runs past `end`.
bool skip_packed(const char*& p, const char* end, unsigned depth = 64);

/// The str value of the str key `key` in the top-level map `packed` (the last one, as a decoder
/// that lets later keys win), or nullopt: not a map, no such key, not a str, malformed.
std::optional<std::string_view> packed_map_str(std::string_view packed, std::string_view key);

}  // namespace tagbus
