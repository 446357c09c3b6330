// event-send's words: salt-call event.send's arguments read from the command line as Salt reads
// them. The data map and the route are the library's (tagbus/send.hpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

/// The tag from its word: a string, or the text as typed when YAML made it a number or boolean;
/// checked as Salt checks a tag to fire (errc::data).
tagbus::result<std::string> tag_from_word(const tagbus::value& v, const std::string& text);

/// A map-valued argument (DATA, preload) from its word: a map or nil, else errc::data naming
/// `what`, with the parser's message when the text looks like JSON/YAML that did not parse.
tagbus::result<tagbus::value> map_from_word(tagbus::value v, const std::string& text, std::string_view what);

/// DATA from its word: a map (or nil) is stored in `data`. Anything else is ignored as Salt's
/// event.send ignores it (SALT-WIRE §8 step 6): `data` becomes nil and the warning to print is
/// returned: "ignoring DATA: it is a list, not a map (Salt's event.send ignores it too and sends
/// the event without it)", or "ignoring DATA: cannot parse DATA: invalid YAML ... (...)".
std::optional<std::string> data_from_word(tagbus::value v, const std::string& text, tagbus::value& data);

/// The comma-separated NAMES of --with-env=NAMES / --with-grains=KEYS as a list word; "true" (the
/// flag given bare) is True, as with_env=True.
tagbus::value flag_list(const std::string& text);
