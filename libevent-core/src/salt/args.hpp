// Salt CLI words (SALT-WIRE §6): key=value detection, yamlify_arg's conversion rules, and binding
// words to a function's parameters as Python does. Sans-I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// Step 1: a keyword word is NAME=VALUE with NAME = (Unicode letter | _) (letter | digit | _ . -)*,
/// '=' not followed by '=', and no newline anywhere. Returns {name, value text} or nothing.
std::optional<std::pair<std::string_view, std::string_view>> split_kwarg(std::string_view word);

/// Step 2: salt.utils.args.yamlify_arg — the YAML conversion with Salt's keep-the-string rules.
value yamlify(std::string_view text);

/// A command line in Salt's form: positionals and keywords, both already yamlified (unless the
/// keyword is in no_parse), keyword order as given. `raw_positional[i]` is positional i's text.
struct salt_args {
    std::vector<value> positional;
    std::vector<std::string> raw_positional;
    std::vector<std::pair<std::string, value>> keywords;
    std::vector<std::string> raw_keywords;  ///< the value text of each keyword, as typed
};

/// Steps 1, 2 and 4: words classified and yamlified, then reparse_positionals.
salt_args parse_salt_args(const std::vector<std::string>& words, const std::vector<std::string>& no_parse = {});

/// Step 4, the executing side's re-parse: every positional that is still a string is classified
/// again, so the word 'a=b' (quoted, YAML-unquoted to a=b) is the keyword a = yamlify("b"). Those
/// keywords come first in positional order; the original keywords are set over them (a repeated
/// name keeps its first place and takes the last value).
salt_args reparse_positionals(salt_args args);

/// Binds parsed words to a Python-style signature `params` (in order), as a call f(*args, **kwargs)
/// would: positionals fill params in order, keywords by name. Result[i] is the value for params[i]
/// or nothing when not given. Errors (errc::invalid), Python's wording:
/// "takes at most 6 arguments (7 given)", "unexpected keyword argument 'foo'",
/// "got multiple values for argument 'count'". When `extra_keywords` is non-null, unknown keywords
/// go there instead of being an error (a function with **kwargs).
result<std::vector<std::optional<value>>> bind_params(const salt_args& args, const std::vector<std::string>& params,
                                                      std::vector<std::pair<std::string, value>>* extra_keywords = nullptr);

}  // namespace tagbus
