// event-bridge: the bus beyond one machine, through NATS JetStream (issue 13).
//   event-bridge out ...   the bus's events into a stream
//   event-bridge in ...    a stream's events into the bus
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <CLI/CLI.hpp>

#include "api/destination_impl.hpp"
#include "bridge.hpp"
#include "tagbus_version.h"
#include "cli.hpp"
#include "engine/subject.hpp"
#include "host/hostname.hpp"
#include "nats_cli.hpp"
#include "salt/args.hpp"

using namespace tagbus;
using namespace tagbus::bridge;

namespace {

// Salt's words for the bus (node=, sock_dir=) over the flags; the rest positional.
result<std::vector<std::string>> take_bus_words(const std::vector<std::string>& words, cli::connection_options& conn) {
    const salt_args args = parse_salt_args(words);
    for (std::size_t i = 0; i < args.keywords.size(); ++i) {
        const auto& [k, v] = args.keywords[i];
        if (k == "node" || k == "sock_dir") {
            auto s = cli::word_string(k, v);
            if (!s) return s.error();
            (k == "node" ? conn.node : conn.sock_dir) = *s;
        } else {
            return failure{errc::invalid, "unknown word '" + k + "=' (event-bridge takes node= and sock_dir=)"};
        }
    }
    return args.raw_positional;
}

std::string default_source_id(const destination& d) { return d.id().empty() ? host_fqdn() : d.id(); }

std::string default_state_dir() {
    if (const char* s = std::getenv("STATE_DIRECTORY"); s && *s) return s;  // systemd's StateDirectory=
    if (geteuid() == 0) return "/var/lib/tagbus";
    if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/tagbus";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/tagbus";
    return "/tmp";
}

const std::string help_footer =
    "\nSubjects are PREFIX.SOURCE-ID.TAG with each '/' of the tag a '.', and bytes\n"
    "outside [A-Za-z0-9_-] written ~XX. See event-bridge(8).";

int main_out(int argc, char** argv) {
    out_settings s;
    cli::nats_options nats;
    cli::connection_options conn;
    std::vector<std::string> words;
    std::string stream, max_age, max_bytes, spool_max, window_text;
    std::optional<std::string> source_id, spool;
    int replicas = 1;
    double drain_timeout = 10;
    CLI::App app{"Publish the bus's events into a NATS JetStream stream.", "event-bridge out"};
    cli::setup_app(app);
    app.footer(help_footer);
    cli::add_words(app, "TAGMATCHes (Salt's globs or regexes; default all),\n  node=master|minion, sock_dir=DIR");
    app.add_option("--stream", stream, "stream name (created when missing)")->type_name("NAME")->required();
    app.add_option("--replicas", replicas, "copies of a new stream [1]")->type_name("N")->check(CLI::Range(1, 5));
    app.add_option("--max-age", max_age, "a new stream keeps events this long")->type_name("DURATION");
    app.add_option("--max-bytes", max_bytes, "a new stream keeps this many bytes")->type_name("SIZE");
    app.add_option("--prefix", s.prefix, "subject prefix [salt]")->type_name("PREFIX");
    app.add_option("--source-id", source_id, "this bus's name in subjects [minion id\nor host name]")->type_name("ID");
    app.add_option("--spool", spool, "spool folder [$STATE_DIRECTORY/spool under\nsystemd, else in memory: lost on exit]")->type_name("DIR");
    app.add_option("--spool-max", spool_max, "spool bound [1G on disk, 256M in memory]")->type_name("SIZE");
    app.add_option("--format", s.format, "payload: salt (the body) or json [salt]")->type_name("FORMAT");
    app.add_option("--window", s.window, "unacknowledged publishes at most [8192]")->type_name("N")->check(CLI::Range(1, 1 << 20));
    app.add_option("--drain-timeout", drain_timeout, "on SIGTERM, wait this long for NATS [10]")->type_name("SECONDS")->check(CLI::Range(0.0, 3600.0));
    cli::add_nats_options(app, nats);
    cli::add_connection_options(app, conn, false);
    if (auto code = cli::parse(app, argc, argv, &words)) return *code;
    s.verbose = conn.verbose;

    auto patterns = take_bus_words(words, conn);
    if (!patterns) return cli::usage(tool, patterns.error().message);
    s.tagmatch = *patterns;
    if (s.format != "salt" && s.format != "json") return cli::usage(tool, "invalid --format '" + s.format + "' (expected salt or json)");
    if (auto r = check_subject_prefix(s.prefix); !r) return cli::usage(tool, "invalid --prefix: " + r.error().message);
    if (!max_age.empty()) {
        auto ns = engine::parse_duration_ns(max_age);
        if (!ns) return cli::usage(tool, "--max-age: " + ns.error().message);
        s.stream.max_age_ns = *ns;
    }
    if (!max_bytes.empty()) {
        auto b = engine::parse_size(max_bytes);
        if (!b) return cli::usage(tool, "--max-bytes: " + b.error().message);
        s.stream.max_bytes = *b;
    }
    // Under systemd (event-bridge@.service's StateDirectory=) the spool is on disk there by default.
    if (const char* sd = std::getenv("STATE_DIRECTORY"); !spool && sd && *sd) spool = std::string(sd) + "/spool";
    s.spool_max = spool ? 1ull << 30 : 256ull << 20;
    if (!spool_max.empty()) {
        auto b = engine::parse_size(spool_max);
        if (!b) return cli::usage(tool, "--spool-max: " + b.error().message);
        if (*b < 65536) return cli::usage(tool, "--spool-max " + spool_max + " is too small (at least 64K)");
        s.spool_max = static_cast<std::uint64_t>(*b);
    }
    if (spool) s.spool_dir = *spool;
    s.drain_timeout_ms = static_cast<std::int64_t>(drain_timeout * 1000);
    s.stream.name = stream;
    s.stream.replicas = replicas;
    s.stream.subjects = {s.prefix + ".>"};
    if (auto r = check_subject_prefix(stream); !r || stream.find('.') != std::string::npos)
        return cli::usage(tool, "invalid --stream '" + stream + "' (letters, digits, '-' and '_')");

    auto dest = cli::resolve_destination(tool, conn, node_kind::master);
    if (!dest) return cli::fail(tool, dest.error());
    s.source_id = source_id ? *source_id : default_source_id(*dest);
    if (s.source_id.empty()) return cli::usage(tool, "--source-id is empty");
    auto nc = cli::nats_connect_options(nats, "event-bridge out " + s.source_id);
    if (!nc) return cli::fail(tool, nc.error());
    s.nats = *nc;
    s.nats.publisher = true;
    const auto& t = dest->details();
    return run_out(s, t.eps.pub, t.cfg.sock_dir);
}

int main_in(int argc, char** argv) {
    in_settings s;
    cli::nats_options nats;
    cli::connection_options conn;
    std::vector<std::string> words;
    std::optional<std::string> source_id, state_dir;
    CLI::App app{"Fire a NATS JetStream stream's events into the bus.", "event-bridge in"};
    cli::setup_app(app);
    app.footer(help_footer);
    cli::add_words(app, "node=master|minion, sock_dir=DIR");
    app.add_option("--stream", s.stream, "stream name")->type_name("NAME")->required();
    app.add_option("--durable", s.durable, "durable consumer name (kept by NATS)")->type_name("NAME")->required();
    app.add_option("--from", s.subjects, "subject filter [PREFIX.>]")->type_name("SUBJECT");
    app.add_option("--prefix", s.prefix, "subject prefix [salt]")->type_name("PREFIX");
    app.add_option("--source-id", source_id, "this bus's name: its own events are\nnot fired back [minion id or host name]")->type_name("ID");
    app.add_option("--state-dir", state_dir, "where fired message ids are kept\n[/var/lib/tagbus as root]")->type_name("DIR");
    app.add_option("--batch", s.batch, "events fired per connection [512]")->type_name("N")->check(CLI::Range(1, 65536));
    cli::add_nats_options(app, nats);
    cli::add_connection_options(app, conn, true);
    if (auto code = cli::parse(app, argc, argv, &words)) return *code;
    s.verbose = conn.verbose;
    auto rest = take_bus_words(words, conn);
    if (!rest) return cli::usage(tool, rest.error().message);
    if (!rest->empty()) return cli::usage(tool, "unexpected word '" + rest->front() + "' (subjects go with --from)");
    if (auto r = check_subject_prefix(s.prefix); !r) return cli::usage(tool, "invalid --prefix: " + r.error().message);
    if (s.subjects.size() > 1) return cli::usage(tool, "give one --from (NATS 2.9 consumers take one filter; salt.> covers all)");
    auto dest = cli::resolve_destination(tool, conn, node_kind::master);
    if (!dest) return cli::fail(tool, dest.error());
    s.source_id = source_id ? *source_id : default_source_id(*dest);
    s.state_dir = state_dir ? *state_dir : default_state_dir();
    auto nc = cli::nats_connect_options(nats, "event-bridge in " + s.source_id);
    if (!nc) return cli::fail(tool, nc.error());
    s.nats = *nc;
    const auto& t = dest->details();
    return run_in(s, t.eps.pull, t.cfg.pull_framing, t.cfg.sock_dir);
}

int tool_main(int argc, char** argv) {
    const std::string usage_text =
        "Usage: event-bridge out --server URL --stream NAME [OPTION...] [TAGMATCH...]\n"
        "       event-bridge in --server URL --stream NAME --durable NAME [OPTION...]\n"
        "Carry Salt's event bus to and from NATS JetStream.\n"
        "  out   publish the bus's events into a stream\n"
        "  in    fire a stream's events into the bus\n"
        "Options:\n"
        "  -h, --help    this text; `event-bridge out --help` and\n"
        "                `event-bridge in --help` list the options of each\n"
        "  --version     the version\n";
    if (argc < 2) return cli::usage(tool, "out or in is required");
    const std::string_view what = argv[1];
    if (what == "out") return main_out(argc - 1, argv + 1);
    if (what == "in") return main_in(argc - 1, argv + 1);
    if (what == "-h" || what == "--help") {
        std::cout << usage_text;
        return 0;
    }
    if (what == "--version") {
        std::cout << "event-bridge (tagbus) " << TAGBUS_VERSION << '\n';
        return 0;
    }
    if (what.size() > 1 && what[0] == '-') return cli::usage(tool, "unknown option " + std::string(what));
    return cli::usage(tool, "unknown direction '" + std::string(what) + "' (expected out or in)");
}

}  // namespace

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
