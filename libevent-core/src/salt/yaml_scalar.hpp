// PyYAML's implicit scalar resolvers and constructors (YAML 1.1, with Salt's overrides), for
// the loader in yaml.cpp (private to the library).
#pragma once

#include <string>
#include <string_view>

#include "tagbus/value.hpp"

namespace tagbus::inline v0::detail {

// Resolvers: whether a plain scalar is PyYAML's int, float or null.
bool looks_int(std::string_view s);
bool looks_float(std::string_view s);
bool looks_null(std::string_view s);
// 1 for PyYAML's true words (yes, On, TRUE...), 0 for its false words, -1 for anything else.
int bool_word(std::string_view s);

// Constructors: false when Python would raise (the caller reports where).
bool construct_int(std::string_view text, value& out);
bool construct_float(std::string_view text, value& out);
// SaltYamlSafeLoader.construct_scalar for str: u'...' / u"..." is evaluated as Python would.
bool salt_str(std::string_view text, std::string& out);

}  // namespace tagbus::detail
