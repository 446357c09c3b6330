// YAML as Salt loads it (SaltYamlSafeLoader over PyYAML's YAML 1.1 SafeLoader), built on yaml-cpp:
// YAML 1.1 implicit types (yes/no/on/off booleans, 0x/0b/base-60 integers, .inf/.nan), except that
// timestamps stay strings and integers with leading zeros are decimal. Sans-I/O.
#pragma once

#include <string_view>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// Loads one YAML document into a value, as salt.utils.yaml.safe_load does. Empty text is null.
/// Errors (errc::data) carry yaml-cpp's line/column: "invalid YAML at line 2, column 3: ...".
result<value> salt_yaml_load(std::string_view text);

/// As above. Integers beyond 64 bits (Python ints are unbounded) come back as their decimal text;
/// `big_int` tells whether the document itself is such an integer, so that callers that must
/// tell str from int (salt.utils.args.yamlify_arg) can.
result<value> salt_yaml_load(std::string_view text, bool& big_int);

}  // namespace tagbus
