// event-fire's work: turning words or lines into event bodies, and sending them.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tagbus/destination.hpp"
#include "tagbus/event.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

struct fire_target {
    tagbus::destination to;
    /// Connect within this; every later wait for the bus (a full socket, the bus reading the
    /// last frame and closing) fails after this long WITHOUT PROGRESS.
    std::chrono::milliseconds budget;
    bool verbose;
};

/// How a --lines replay goes.
struct replay_options {
    bool progress = false;        ///< a count and rate on stderr while it runs
    double rate = 0;              ///< events per second; 0: as fast as the bus takes them
    bool realtime = false;        ///< pace by the recorded `_stamp` gaps between lines
    bool skip_bad_lines = false;  ///< warn and go on instead of stopping at a bad line
};

/// Salt's timeout= word: milliseconds, a non-negative number.
tagbus::result<std::chrono::milliseconds> timeout_word_ms(const tagbus::value& v);

/// --rate's text: events per second, a finite number above 0 (usage error otherwise).
tagbus::result<double> parse_rate(std::string_view text);

/// When DATA's first word opens a `{` or `[` that later words close, the shell split an unquoted
/// YAML map: the usage message saying how to quote it ("DATA looks split by the shell; quote it:
/// event-fire '{data: 1}' tag"). Nothing when the words look fine.
std::optional<std::string> split_words_hint(std::string_view tool, const std::vector<std::string>& raw_positional);

/// Checks DATA (a map) and TAG. A tag word that YAML made a number or boolean is used as typed
/// ("2024"), since a tag is text. TAG and DATA given the other way round is a usage error saying
/// which order the tool takes.
tagbus::result<tagbus::event> make_event(std::string_view tool, tagbus::value data, const std::string& data_text,
                                         const tagbus::value& tag, const std::string& tag_text);

/// Fires the event, waits until the bus has read it; returns the exit code.
int fire_one(std::string_view tool, const fire_target& t, const tagbus::event& ev);

/// Reads "TAG<TAB>JSON" lines (state-event's output) or {"tag": ..., "data": ...} lines
/// (state-event --json-lines) from the file descriptor `in` and fires each over one connection;
/// returns the exit code.
int fire_lines(std::string_view tool, const fire_target& t, const replay_options& r, int in);
