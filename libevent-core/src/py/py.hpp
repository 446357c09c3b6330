// Python's semantics, written once: what Salt's Python code does to a value or a string that a
// C++ reading would do differently. Sans-I/O.
#pragma once

#include <string>
#include <string_view>

#include "tagbus/value.hpp"

namespace tagbus {

/// Python truthiness (bool(x)): false for None, False, 0, 0.0, and empty str, bytes, list, dict;
/// ext values (a datetime, a namedtuple once decoded) are objects, and true.
bool truthy(const value& v);

/// str.isspace() for one code point (Unicode White_Space plus the ASCII separators 0x1C-0x1F).
bool py_isspace(char32_t c);

/// str.strip(): removes leading and trailing Unicode whitespace (str.isspace()).
std::string_view py_strip(std::string_view s);

/// repr() of a float as json.dumps writes it: the shortest round-trip digits, exponent form
/// outside 1e-4 <= |d| < 1e16, "NaN", "Infinity", "-Infinity".
void append_py_float(std::string& out, double d);

}  // namespace tagbus
