// event-fire: fire an event on the local bus like `salt-call event.fire DATA TAG`.
#include <chrono>

#include "cli.hpp"
#include "fire.hpp"

using namespace tagbus;

namespace {

constexpr std::string_view tool = "event-fire";

// event.fire(data, tag, timeout=None), plus the words our tools share with state-event.
const std::vector<std::string> params = {"data", "tag", "timeout", "sock_dir", "node"};

}  // namespace

static int tool_main(int argc, char** argv) {
    cli::connection_options conn;
    std::vector<std::string> words;
    std::optional<std::string> timeout;
    std::optional<std::string> rate;
    bool lines = false;
    replay_options replay;
    CLI::App app{"Fire an event on Salt's local event bus like salt-call event.fire.", std::string(tool)};
    cli::setup_app(app);
    cli::add_words(app, "WORDs, as salt-call event.fire takes them:\n"
                        "  DATA TAG [timeout=MS] [sock_dir=DIR] [node=master|minion]");
    app.add_option("--timeout", timeout, "give up when the bus makes no progress for SECONDS\n"
                                  "[1; 10 with --lines]")
        ->type_name("SECONDS");
    app.add_flag("--lines", lines, "fire 'TAG<TAB>JSON' or JSON lines from stdin");
    app.add_flag("--progress", replay.progress, "with --lines: show a count and rate on stderr");
    app.add_option("--rate", rate, "with --lines: send N events a second")->type_name("N");
    app.add_flag("--realtime", replay.realtime, "with --lines: keep the recorded _stamp gaps");
    app.add_flag("--skip-bad-lines", replay.skip_bad_lines, "with --lines: warn about a bad line and go on");
    cli::add_connection_options(app, conn, true);
    if (auto code = cli::parse(app, argc, argv, &words)) return *code;

    salt_args args = parse_salt_args(words);
    if (auto hint = split_words_hint(tool, args.raw_positional)) return cli::usage(tool, *hint);
    auto bound = bind_params(args, params);
    if (!bound) return cli::fail(tool, bound.error());
    auto& b = *bound;
    const std::pair<bool, const char*> flags[] = {{false, ""}, {false, ""}, {timeout.has_value(), "--timeout"},
                                                  {conn.sock_dir.has_value(), "--sock-dir"},
                                                  {conn.node.has_value(), "--node"}};
    for (std::size_t i = 2; i < params.size(); ++i)
        if (auto r = cli::not_both(b[i].has_value(), flags[i].first, params[i], flags[i].second); !r)
            return cli::fail(tool, r.error());

    // Salt's timeout= is in milliseconds (fire_event's unit); --timeout is in seconds like
    // state-event's. Either bounds time without progress. A replay's default is longer: a bus
    // that pauses publishers for a slow subscriber reads nothing for seconds at a time.
    std::chrono::milliseconds budget{lines ? 10000 : 1000};
    if (timeout) {
        auto t = cli::parse_seconds("--timeout", *timeout);
        if (!t) return cli::fail(tool, t.error());
        budget = std::chrono::milliseconds(static_cast<long long>(*t * 1000.0 + 0.5));
    } else if (b[2] && !b[2]->is_nil()) {
        auto ms = timeout_word_ms(*b[2]);
        if (!ms) return cli::fail(tool, ms.error());
        budget = *ms;
    }
    for (int i : {3, 4}) {
        if (!b[i] || b[i]->is_nil()) continue;
        auto s = cli::word_string(params[i], *b[i]);
        if (!s) return cli::fail(tool, s.error());
        (i == 3 ? conn.sock_dir : conn.node) = *s;
    }

    if (lines && (b[0] || b[1])) return cli::usage(tool, "--lines reads events from stdin; give no DATA or TAG");
    for (auto [given, flag] : {std::pair{replay.progress, "--progress"}, {rate.has_value(), "--rate"},
                               {replay.realtime, "--realtime"}, {replay.skip_bad_lines, "--skip-bad-lines"}})
        if (given && !lines) return cli::usage(tool, std::string(flag) + " applies to --lines only");
    if (rate && replay.realtime) return cli::usage(tool, "--rate and --realtime both pace the replay; give one");
    if (rate) {
        auto r = parse_rate(*rate);
        if (!r) return cli::fail(tool, r.error());
        replay.rate = *r;
    }
    if (!lines && !b[0]) return cli::usage(tool, "missing DATA (a YAML or JSON map) and TAG");
    if (!lines && !b[1]) return cli::usage(tool, "missing TAG after DATA");

    auto dest = cli::resolve_destination(tool, conn, node_kind::minion);
    if (!dest) return cli::fail(tool, dest.error());
    const fire_target ft{std::move(*dest), budget, conn.verbose};
    if (lines) return fire_lines(tool, ft, replay, 0);
    auto ev = make_event(tool, *b[0], word_text(args, "data", 0), *b[1], word_text(args, "tag", 1));
    if (!ev) return cli::fail(tool, ev.error());
    return fire_one(tool, ft, *ev);
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
