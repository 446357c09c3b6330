// The JSON string writer behind append_json_string, for renderers that write into a buffer they
// have sized themselves (private to the library).
#pragma once

#include <cstddef>
#include <string_view>

namespace tagbus::inline v0::detail {

/// The most write_json_string writes for `n` bytes: a C0 control takes six (\u00XX), an invalid
/// byte five (\\xNN), plus the quotes.
constexpr std::size_t json_string_bound(std::size_t n) { return 6 * n + 2; }

/// Writes `s` quoted and escaped as append_json_string does, at `w`, which has room for
/// json_string_bound(s.size()) bytes; returns the end. Clears `valid` on invalid UTF-8.
char* write_json_string(char* w, std::string_view s, bool& valid);

}  // namespace tagbus::detail
