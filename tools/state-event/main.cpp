// state-event: watch the bus like `salt-run state.event`, byte for byte, plus what scripts need.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "net/client.hpp"
#include "tagbus/event.hpp"
#include "salt/match.hpp"
#include "render/output.hpp"
#include "watch.hpp"
#include "nats_cli.hpp"
#include "engine/subject.hpp"

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
    // --from: a JetStream stream instead of the bus
    std::optional<std::string> from, stream, since;
    std::optional<std::uint64_t> seq;
    bool all = false;
    std::string prefix = "salt";
    cli::nats_options nats;
};

// --since: a duration back from now ("10m", "2h30m") or a UTC time ("2026-12-06T10:00:00[Z]").
result<std::int64_t> since_ns(const std::string& text) {
    if (auto d = engine::parse_duration_ns(text)) {
        const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        return now - *d;
    }
    std::tm tm{};
    const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == nullptr) end = strptime(text.c_str(), "%Y-%m-%d %H:%M:%S", &tm);
    double frac = 0;
    if (end != nullptr && *end == '.') {
        char* e2 = nullptr;
        frac = std::strtod(end, &e2);
        end = e2;
    }
    if (end != nullptr && *end == 'Z') ++end;
    if (end == nullptr || *end != '\0')
        return failure{errc::invalid, "invalid --since '" + text + "' (expected a duration such as 10m or 2h, or a UTC time such as 2026-12-06T10:00:00)"};
    return static_cast<std::int64_t>(timegm(&tm)) * 1000000000LL + static_cast<std::int64_t>(frac * 1e9);
}

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
    auto* replay = app.add_option_group("Replay", "events from a NATS JetStream stream (event-bridge out) instead of the bus");
    replay->add_option("--from", o.from, "NATS server(s): nats://HOST:PORT[,...]")->type_name("URL");
    replay->add_option("--stream", o.stream, "the stream to read")->type_name("NAME");
    replay->add_option("--since", o.since, "history from DURATION ago (10m) or a UTC time")->type_name("WHEN");
    replay->add_option("--seq", o.seq, "history from stream sequence N")->type_name("N");
    replay->add_flag("--all", o.all, "the whole history");
    replay->add_option("--prefix", o.prefix, "subject prefix [salt]")->type_name("PREFIX");
    cli::add_nats_options(app, o.nats, false);
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
    if (o.from) {
        if (!o.stream) return cli::usage(tool, "--from needs --stream NAME");
        if ((o.since ? 1 : 0) + (o.seq ? 1 : 0) + (o.all ? 1 : 0) > 1)
            return cli::usage(tool, "give one of --since, --seq and --all");
        if (auto r = check_subject_prefix(o.prefix); !r) return cli::usage(tool, "invalid --prefix: " + r.error().message);
        watch_settings::replay r;
        o.nats.servers.clear();
        std::string list = *o.from;
        for (std::size_t at = 0; at <= list.size();) {
            std::size_t comma = list.find(',', at);
            if (comma == std::string::npos) comma = list.size();
            if (comma > at) o.nats.servers.push_back(list.substr(at, comma - at));
            at = comma + 1;
        }
        auto nc = cli::nats_connect_options(o.nats, "state-event");
        if (!nc) return cli::fail(tool, nc.error());
        r.nats = *nc;
        r.prefix = o.prefix;
        r.consume.stream = *o.stream;
        r.consume.headers = false;
        r.consume.start.how = engine::start_position::kind::new_only;
        if (o.all) r.consume.start.how = engine::start_position::kind::all;
        if (o.seq) {
            if (*o.seq == 0) return cli::usage(tool, "--seq counts from 1");
            r.consume.start.how = engine::start_position::kind::sequence;
            r.consume.start.sequence = *o.seq;
        }
        if (o.since) {
            auto t = since_ns(*o.since);
            if (!t) return cli::usage(tool, t.error().message);
            r.consume.start.how = engine::start_position::kind::time;
            r.consume.start.time_ns = *t;
        }
        ws.from = std::move(r);
        signal(SIGPIPE, SIG_IGN);
        return run_watch(tool, ws, endpoint{});
    }
    if (o.stream || o.since || o.seq || o.all)
        return cli::usage(tool, "--stream, --since, --seq and --all go with --from nats://HOST:PORT");

    auto target = cli::connect_target(tool, ws.conn, node_kind::master);
    if (!target) return cli::fail(tool, target.error());
    signal(SIGPIPE, SIG_IGN);
    return run_watch(tool, ws, target->second.pub);
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
