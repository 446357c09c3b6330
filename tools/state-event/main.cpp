// state-event: watch the bus like `salt-run state.event`, byte for byte, plus what scripts need.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>

#include "cli.hpp"
#include "net/client.hpp"
#include "tagbus/event.hpp"
#include "salt/match.hpp"
#include "render/output.hpp"
#include "watch.hpp"

using namespace tagbus;

namespace {

constexpr std::string_view tool = "state-event";

struct options {
    cli::connection_options conn;
    std::vector<std::string> words;
    std::optional<std::string> tagmatch;  // -t: raw text, no YAML conversion
    std::optional<long long> count;
    bool quiet = false, pretty = false, json_lines = false, wait_for_bus = false;
    std::optional<std::string> timeout;
    std::string color = "auto";
};

}  // namespace

static int tool_main(int argc, char** argv) {
    options o;
    CLI::App app{"Watch Salt's event bus like salt-run state.event.", std::string(tool)};
    cli::setup_app(app);
    cli::add_words(app, "WORDs, as salt-run state.event takes them:\n"
                        "  [TAGMATCH] [count=N] [quiet=True] [pretty=True]\n"
                        "  [sock_dir=DIR] [node=master|minion]");
    app.add_option("-t,--tagmatch", o.tagmatch, "glob or regex, taken literally")->type_name("PATTERN");
    app.add_option("-n,--count", o.count, "stop after N matches (as count=)")->type_name("N");
    app.add_flag("-q,--quiet", o.quiet, "print nothing (as quiet=True)");
    app.add_flag("-p,--pretty", o.pretty, "indented, sorted JSON (as pretty=True)");
    app.add_flag("-j,--json-lines", o.json_lines, "one {\"tag\", \"data\"} object a line");
    app.add_option("--color", o.color, "auto, always or never")->type_name("WHEN");
    app.add_option("--timeout", o.timeout, "give up after SECONDS (exit 1)")->type_name("SECONDS");
    app.add_flag("--wait-for-bus", o.wait_for_bus, "wait for the bus instead of exit 69");
    cli::add_connection_options(app, o.conn, false);
    if (auto code = cli::parse(app, argc, argv, &o.words)) return *code;

    auto w = build_watch(o.words, o.tagmatch, o.count, o.quiet, o.pretty, o.conn);
    if (!w) return cli::fail(tool, w.error());
    watch_settings& ws = *w;
    if (o.color != "auto" && o.color != "always" && o.color != "never")
        return cli::usage(tool, "invalid --color '" + o.color + "' (expected auto, always or never)");
    const char* no_color = std::getenv("NO_COLOR");
    ws.output.format = o.json_lines ? output_format::json_lines : output_format::salt;
    ws.output.color = !o.json_lines && (o.color == "always" ||
                                        (o.color == "auto" && isatty(1) && !(no_color && *no_color)));
    if (o.timeout) {
        auto t = cli::parse_seconds("--timeout", *o.timeout);
        if (!t) return cli::fail(tool, t.error());
        ws.timeout_ms = static_cast<std::uint64_t>(*t * 1000.0 + 0.5);
    }
    ws.wait_for_bus = o.wait_for_bus;

    auto target = cli::connect_target(tool, ws.conn, node_kind::master);
    if (!target) return cli::fail(tool, target.error());
    signal(SIGPIPE, SIG_IGN);
    return run_watch(tool, ws, target->second.pub);
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
