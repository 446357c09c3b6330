// event-busd: a Salt-compatible event bus (SALT-WIRE §4) for machines without Salt, or for tests:
// publishers write to the pull socket, every event goes out to every subscriber on the pub socket.
// Readiness for scripts: the start line is printed and the pidfile written only once both sockets
// are bound and accept connections. A minion bus forwards fire_master events to the master bus of
// the same host (the library's forwarder) when one is configured.
#include <grp.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "service.hpp"
#include "tagbus/bus.hpp"

using namespace tagbus;

namespace {

constexpr std::string_view tool = "event-busd";

/// --group NAME (or a numeric gid): the sockets become 0660 for that group.
result<std::optional<unsigned>> resolve_group(const std::optional<std::string>& name) {
    if (!name) return std::optional<unsigned>{};
    if (const group* g = getgrnam(name->c_str())) return std::optional<unsigned>{g->gr_gid};
    unsigned gid = 0;
    const char* end = name->data() + name->size();
    if (!name->empty()) {
        auto [ptr, ec] = std::from_chars(name->data(), end, gid);
        if (ec == std::errc{} && ptr == end) return std::optional<unsigned>{gid};
    }
    return fail(errc::invalid, "unknown group '" + *name + "'");
}

/// Written whole or not at all (temporary file, then rename): a script polling for the pidfile
/// never reads a half-written pid.
result<void> write_pidfile(const std::string& path) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) return fail(errc::io, "cannot write pidfile " + path + ": " + std::strerror(errno));
    const bool written = std::fprintf(f, "%ld\n", static_cast<long>(getpid())) > 0;
    const int saved = errno;
    if (std::fclose(f) != 0 || !written) {
        std::remove(tmp.c_str());
        return fail(errc::io, "cannot write pidfile " + path + ": " + std::strerror(written ? errno : saved));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        std::remove(tmp.c_str());
        return fail(errc::io, "cannot write pidfile " + path + ": " + std::strerror(err));
    }
    return {};
}

/// A plain number of bytes, at least 1, for --max-subscriber-buffer, --max-input-buffer and
/// --max-frame.
result<std::size_t> parse_bytes(std::string_view flag, const std::string& text) {
    std::size_t n = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (ec != std::errc{} || ptr != end || n == 0)
        return fail(errc::invalid, "invalid " + std::string(flag) + " '" + text + "' (expected a number of bytes, at least 1)");
    return n;
}

struct busd_flags {
    cli::connection_options conn;
    std::optional<std::string> group, pidfile, queue, max_buffer, max_input, max_frame, partial_timeout, pub_framing;
    std::optional<std::string> master_sock_dir;
    bool no_forward = false;
};

void add_options(CLI::App& app, busd_flags& f) {
    cli::setup_app(app);
    cli::add_connection_options(app, f.conn, false);
    // The pull side reads both framings; this picks what subscribers get. It is the bus's own
    // setting: TAGBUS_FRAMING and `framing:` say how our tools write to a pull socket, never this.
    auto* pf = app.add_option("--pub-framing", f.pub_framing, "pub framing: legacy (default) or prefixed")
                   ->type_name("F");
    app.add_option("--framing", f.pub_framing, "older name of --pub-framing")->type_name("F")->excludes(pf);
    app.add_option("--group", f.group, "sockets 0660 for this group")->type_name("NAME");
    app.add_option("--pidfile", f.pidfile, "write the pid here once ready")->type_name("FILE");
    app.add_option("--max-subscriber-buffer", f.max_buffer, "drop a subscriber this far behind")
        ->type_name("BYTES");
    app.add_option("--max-input-buffer", f.max_input, "unfinished frames held for all publishers")
        ->type_name("BYTES");
    app.add_option("--max-frame", f.max_frame, "drop a publisher sending a larger frame")->type_name("BYTES");
    app.add_option("--partial-frame-timeout", f.partial_timeout, "drop a publisher stalled mid-frame")
        ->type_name("SECONDS");
    app.add_option("--master-sock-dir", f.master_sock_dir, "minion: master bus to forward to")->type_name("DIR");
    app.add_flag("--no-forward", f.no_forward, "minion: keep fire_master events local");
    app.add_option("--forward-queue", f.queue, "minion: kept while master is away")->type_name("N");
}

// The flags as bus options, checked against the node; an exit code when one is bad.
std::optional<int> read_options(const busd_flags& f, const destination& where, bus_options& o) {
    auto gid = resolve_group(f.group);
    if (!gid) return cli::fail(tool, gid.error());
    o.group = *gid;
    if (where.node() != node_kind::minion && (f.master_sock_dir || f.no_forward || f.queue))
        return cli::usage(tool, "--master-sock-dir, --no-forward and --forward-queue need --node minion");
    if (f.no_forward && f.master_sock_dir) return cli::usage(tool, "--no-forward and --master-sock-dir contradict each other");
    if (f.queue) {
        const char* end = f.queue->data() + f.queue->size();
        auto [ptr, ec] = std::from_chars(f.queue->data(), end, o.forward_queue);
        if (ec != std::errc{} || ptr != end || o.forward_queue == 0)
            return cli::usage(tool, "invalid --forward-queue '" + *f.queue + "' (expected a number of events, at least 1)");
    }
    for (auto [flag, text, dest] : {std::tuple{"--max-subscriber-buffer", &f.max_buffer, &o.max_subscriber_buffer},
                                    std::tuple{"--max-input-buffer", &f.max_input, &o.max_input_buffer},
                                    std::tuple{"--max-frame", &f.max_frame, &o.max_frame}}) {
        if (!*text) continue;
        auto n = parse_bytes(flag, **text);
        if (!n) return cli::usage(tool, n.error().message);
        *dest = *n;
    }
    if (f.partial_timeout) {
        auto secs = cli::parse_seconds("--partial-frame-timeout", *f.partial_timeout);
        if (!secs) return cli::usage(tool, secs.error().message);
        o.partial_frame_timeout = std::chrono::milliseconds(static_cast<long long>(*secs * 1000.0 + 0.5));
    }
    if (f.pub_framing) {
        if (*f.pub_framing != "legacy" && *f.pub_framing != "prefixed")
            return cli::usage(tool, "invalid --pub-framing '" + *f.pub_framing + "' (expected legacy or prefixed)");
        o.pub_framing = *f.pub_framing;
    }
    o.forward = !f.no_forward;
    o.master_sock_dir = f.master_sock_dir;
    // Salt's minion sends fire_master requests to its master; a minion bus with no master to
    // send them to would drop them while event-send reports success. Say so up front.
    if (where.node() == node_kind::minion && o.forward) {
        auto master = forward_address(where, o);
        if (!master) return cli::fail(tool, master.error());
        if (!*master)
            return cli::fail(tool, failure{errc::config,
                                           "cannot forward fire_master events: no master bus is configured (no "
                                           "--master-sock-dir, no " + f.conn.config_dir.value_or("/etc/salt") +
                                               "/master); give --master-sock-dir DIR, write a master config, or "
                                               "pass --no-forward to keep them on this bus"});
    }
    const bool verbose = f.conn.verbose;
    o.log = [verbose](log_level level, std::string_view message) {
        if (level <= log_level::warning || verbose) cli::say(tool, message);
    };
    o.forward_log = [verbose](log_level level, std::string_view message) {
        if (level <= log_level::info || verbose) cli::say(tool, message);
    };
    o.stop_signals = {SIGTERM, SIGINT};  // watched before the start line: a script may signal at once
    return std::nullopt;
}

}  // namespace

static int tool_main(int argc, char** argv) {
    busd_flags f;
    CLI::App app{"Run an event bus compatible with Salt's: events fired on the pull socket go\n"
                 "to every subscriber of the pub socket.",
                 std::string(tool)};
    add_options(app, f);
    if (auto code = cli::parse(app, argc, argv)) return *code;
    auto where = cli::resolve_destination(tool, f.conn, node_kind::master);
    if (!where) return cli::fail(tool, where.error());
    bus_options o;
    if (auto code = read_options(f, *where, o)) return *code;

    // Socket activation (event-busd@.socket): the sockets systemd bound.
    auto handed = busd::listen_fds();
    if (!handed) return cli::fail(tool, handed.error());
    const bool activated = !handed->empty();
    o.listen_fds = std::move(*handed);

    // One descriptor per connection, for 10,000 subscribers plus their publishers and its files.
    const auto open_files_warning = cli::raise_open_files_limit(10000 + 1024, "10000 subscribers");
    auto b = bus::open(*where, std::move(o));
    if (!b) return cli::fail(tool, b.error());
    cli::say(tool, "started the " + std::string(to_string(where->node())) + " bus in " + where->sock_dir() + ": " +
                       b->describe() + (activated ? " (sockets from the service manager)" : ""));
    // Type=notify: the units that come after the bus start once it accepts connections. Nothing
    // happens without NOTIFY_SOCKET.
    if (auto r = busd::notify("READY=1"); !r) cli::say(tool, "warning: " + r.error().message);
    // After the start line, which scripts wait for as the first.
    if (open_files_warning) cli::say(tool, *open_files_warning);
    if (f.pidfile) {
        if (auto r = write_pidfile(*f.pidfile); !r) return cli::fail(tool, r.error());
    }
    auto served = b->run();
    if (auto r = busd::notify("STOPPING=1"); !r) cli::say(tool, "warning: " + r.error().message);
    if (f.pidfile) std::remove(f.pidfile->c_str());
    if (!served) return cli::fail(tool, served.error());
    if (f.conn.verbose) cli::say(tool, "stopped");
    return 0;
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
