// Tag matching: Salt's expr_match (state.event's tagmatch) and get_event's match types. Sans-I/O.
// Tags are UTF-8 text; matching works on code points (invalid bytes count as one each).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tagbus/match.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

/// Python's fnmatch.fnmatchcase: `*` any run (crossing '/' and newlines), `?` one code point,
/// `[seq]` / `[!seq]` with ranges, an unclosed '[' literal, backslash literal, no braces.
bool fnmatch(std::string_view name, std::string_view pattern);

/// salt.utils.stringutils.expr_match: the glob over the whole tag, OR re.match(r"\A" + expr + r"\Z")
/// with Python 3.11's re syntax and semantics (checked and rewritten, run by PCRE2 with UTF + UCP).
/// A regex Python's re.compile refuses simply never matches: a global flag such as (?i) (never at
/// the start once \A is prepended), a possessive repeat after a repeat, \K, recursion, (*VERB),
/// \Q..\E, (?<name>..), a look-behind that is not fixed-width. Not supported: \N{NAME} (taken as
/// invalid) and repeat counts above 65535 (PCRE2's limit).
class tag_matcher {
public:
    explicit tag_matcher(std::string_view expr);
    ~tag_matcher();
    tag_matcher(tag_matcher&&) noexcept;
    tag_matcher& operator=(tag_matcher&&) noexcept;
    bool operator()(std::string_view tag) const;
    bool regex_valid() const;

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

// match_type: tagbus/match.hpp

/// "startswith" | "endswith" | "find" | "regex" | "fnmatch"; anything else is an error
/// (errc::invalid): "unknown match type 'foo' (expected startswith, endswith, find, regex or fnmatch)".
result<match_type> parse_match_type(std::string_view word);

/// get_event(tag=..., match_type=...): startswith (empty matches all), endswith, find (contains),
/// regex (re.match: anchored at the start only), fnmatch (whole tag). An invalid regex is an error
/// at construction (make_event_matcher), unlike expr_match.
class event_matcher {
public:
    ~event_matcher();
    event_matcher(event_matcher&&) noexcept;
    event_matcher& operator=(event_matcher&&) noexcept;
    bool operator()(std::string_view tag) const;

private:
    friend result<event_matcher> make_event_matcher(match_type, std::string_view);
    event_matcher();
    struct impl;
    std::unique_ptr<impl> p_;
};

result<event_matcher> make_event_matcher(match_type type, std::string_view search_tag);

}  // namespace tagbus
