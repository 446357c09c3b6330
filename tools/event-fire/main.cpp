// event-fire: fire an event on the local bus like `salt-call event.fire DATA TAG`.
#include <chrono>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "fire.hpp"

using namespace tagbus;

namespace {

constexpr std::string_view tool = "event-fire";

// The event pacing and bus words, read into what fire_lines / fire_one take. Returns an exit code
// on a bad value.
std::optional<int> read_words(const cli::bound_words& b, const std::optional<std::string>& timeout, bool lines,
                              cli::connection_options& conn, std::chrono::milliseconds& budget) {
    // Salt's timeout= is in milliseconds (fire_event's unit); --timeout is in seconds like
    // state-event's. Either bounds time without progress. A replay's default is longer: a bus
    // that pauses publishers for a slow subscriber reads nothing for seconds at a time.
    budget = std::chrono::milliseconds{lines ? 10000 : 1000};
    if (timeout) {
        auto t = cli::parse_seconds("--timeout", *timeout);
        if (!t) return cli::fail(tool, t.error());
        budget = std::chrono::milliseconds(static_cast<long long>(*t * 1000.0 + 0.5));
    } else if (const auto& w = b["timeout"]; w && !w->is_nil()) {
        auto ms = timeout_word_ms(*w);
        if (!ms) return cli::fail(tool, ms.error());
        budget = *ms;
    }
    for (const char* key : {"sock_dir", "node"}) {
        const auto& w = b[key];
        if (!w || w->is_nil()) continue;
        auto s = cli::word_string(key, *w);
        if (!s) return cli::fail(tool, s.error());
        (std::string_view(key) == "sock_dir" ? conn.sock_dir : conn.node) = *s;
    }
    return std::nullopt;
}

// --lines and its companions against the words; returns an exit code on a usage error.
std::optional<int> check_replay(const cli::bound_words& b, bool lines, const std::optional<std::string>& rate,
                                replay_options& replay) {
    if (lines && (b["data"] || b["tag"])) return cli::usage(tool, "--lines reads events from stdin; give no DATA or TAG");
    for (auto [given, flag] : {std::pair{replay.progress, "--progress"}, {rate.has_value(), "--rate"},
                               {replay.realtime, "--realtime"}, {replay.skip_bad_lines, "--skip-bad-lines"}})
        if (given && !lines) return cli::usage(tool, std::string(flag) + " applies to --lines only");
    if (rate && replay.realtime) return cli::usage(tool, "--rate and --realtime both pace the replay; give one");
    if (rate) {
        auto r = parse_rate(*rate);
        if (!r) return cli::fail(tool, r.error());
        replay.rate = *r;
    }
    if (!lines && !b["data"]) return cli::usage(tool, "missing DATA (a YAML or JSON map) and TAG");
    if (!lines && !b["tag"]) return cli::usage(tool, "missing TAG after DATA");
    return std::nullopt;
}

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

    // event.fire(data, tag, timeout=None), plus the words our tools share with state-event.
    const salt_args args = parse_salt_args(words);
    if (auto hint = split_words_hint(tool, args.raw_positional)) return cli::usage(tool, *hint);
    auto b = cli::bind_words(args, {{"data"}, {"tag"}, {"timeout", timeout.has_value(), "--timeout"},
                                    {"sock_dir", conn.sock_dir.has_value(), "--sock-dir"},
                                    {"node", conn.node.has_value(), "--node"}});
    if (!b) return cli::fail(tool, b.error());
    std::chrono::milliseconds budget;
    if (auto code = read_words(*b, timeout, lines, conn, budget)) return *code;
    if (auto code = check_replay(*b, lines, rate, replay)) return *code;

    auto dest = cli::resolve_destination(tool, conn, node_kind::minion);
    if (!dest) return cli::fail(tool, dest.error());
    const fire_target ft{std::move(*dest), budget, conn.verbose};
    if (lines) return fire_lines(tool, ft, replay, 0);
    auto ev = make_event(tool, *(*b)["data"], b->text("data"), *(*b)["tag"], b->text("tag"));
    if (!ev) return cli::fail(tool, ev.error());
    return fire_one(tool, ft, *ev);
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
