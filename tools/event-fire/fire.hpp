// event-fire's work: turning words or lines into event bodies, and sending them.
#pragma once

#include <chrono>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "tagbus/args.hpp"
#include "tagbus/frame.hpp"
#include "tagbus/paths.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

struct fire_target {
    tagbus::endpoint pull;
    tagbus::framing framing;
    std::size_t max_event_size;
    std::chrono::milliseconds budget;  ///< connect, and later flush, each within this
    bool verbose;
};

/// The text of a bound word as typed: keyword `name=` if given, else positional `position`.
std::string word_text(const tagbus::salt_args& args, std::string_view name, std::size_t position);

/// Salt's timeout= word: milliseconds, a non-negative number.
tagbus::result<std::chrono::milliseconds> timeout_word_ms(const tagbus::value& v);

/// Checks DATA (a map) and TAG, stamps and packs the body. A tag word that YAML made a number or
/// boolean is used as typed ("2024"), since a tag is text.
tagbus::result<std::string> make_body(tagbus::value data, const std::string& data_text, const tagbus::value& tag,
                                      const std::string& tag_text, std::size_t max_event_size);

/// Connects, sends every body in order, flushes; returns the exit code.
int fire_bodies(std::string_view tool, const fire_target& t, const std::vector<std::string>& bodies);

/// Reads "TAG<TAB>JSON" lines (state-event's output) or {"tag": ..., "data": ...} lines
/// (state-event --json-lines) and fires each over one connection; returns the exit code.
int fire_lines(std::string_view tool, const fire_target& t, std::istream& in);
