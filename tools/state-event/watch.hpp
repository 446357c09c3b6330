// state-event's settings (from Salt words and flags) and its watch loop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli.hpp"
#include "salt/match.hpp"
#include "render/output.hpp"
#include "host/paths.hpp"
#include "engine/stream.hpp"

struct watch_settings {
    std::optional<tagbus::tag_matcher> matcher;  ///< empty: the tagmatch was not a string, nothing matches
    // Salt's count: N >= 1 stops after N matches, 0 after 1, negative never; a float count is
    // decremented as Python would (2.5 never reaches 0 and runs forever).
    bool count_is_float = false;
    long long count = -1;
    double fcount = -1;
    bool quiet = false;
    tagbus::output_options output;
    std::optional<std::uint64_t> timeout_ms;  ///< --timeout, in milliseconds
    bool wait_for_bus = false;
    tagbus::cli::connection_options conn;
    /// --from nats://...: events from a JetStream stream instead of the bus's socket.
    struct replay {
        tagbus::engine::connect_options nats;
        tagbus::engine::consume_options consume;
        std::string prefix = "salt";
    };
    std::optional<replay> from;
};

/// Binds Salt's words (state.event's signature) and the flags into settings.
tagbus::result<watch_settings> build_watch(const std::vector<std::string>& words,
                                           const std::optional<std::string>& tagmatch_flag,
                                           const std::optional<long long>& count_flag, bool quiet_flag,
                                           bool pretty_flag, const tagbus::cli::connection_options& conn);

/// Watches the bus until the count is reached, the timeout passes or a signal arrives.
/// Returns the exit code.
int run_watch(std::string_view tool, const watch_settings& ws, const tagbus::endpoint& pub);
