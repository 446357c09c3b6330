#include "cli.hpp"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <set>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "api/destination_impl.hpp"
#include "render/output.hpp"
#include "tagbus/destination.hpp"
#include "tagbus/event.hpp"
#include "tagbus_version.h"

namespace tagbus::cli {

namespace {

// Which bus each tool talks to when nothing says otherwise, for the end of its --help (Salt's own
// defaults: salt-run state.event watches the master bus, salt-call event.fire fires on the minion's).
std::string default_route(const std::string& tool) {
    if (tool == "state-event") return "Default: the master bus (node=master); node=minion watches the minion bus.";
    if (tool == "event-fire")
        return "Default: the minion bus (node=minion), as salt-call event.fire;\nnode=master fires on the master bus.";
    if (tool == "event-send")
        return "Default: the minion bus, which forwards to the master bus;\nwithout one, the master bus directly.";
    if (tool == "event-busd") return "Default: the master bus (--node master).";
    return {};
}

}  // namespace

void setup_app(CLI::App& app) {
    app.set_version_flag("--version", app.get_name() + " (tagbus) " + TAGBUS_VERSION);
    if (auto route = default_route(app.get_name()); !route.empty()) app.footer(route + "\n");
    app.get_formatter()->column_width(30);
    // Salt's words (key=value and positionals) are collected verbatim and parsed by the library.
    app.allow_windows_style_options(false);
}

namespace {

// CLI11's formatter, plus the Salt words in the usage line and under their own heading.
class words_formatter : public CLI::Formatter {
public:
    explicit words_formatter(std::string description) : description_(std::move(description)) {}
    std::string make_usage(const CLI::App* app, std::string name) const override {
        std::string u = CLI::Formatter::make_usage(app, std::move(name));
        if (!u.empty() && u.back() == '\n') u.pop_back();
        return u + " [WORD...]\n\n" + description_ + "\n";
    }

private:
    std::string description_;
};

}  // namespace

void add_words(CLI::App& app, const std::string& description) {
    auto f = std::make_shared<words_formatter>(description);
    f->column_width(30);
    app.formatter(f);
    app.allow_extras();
}

namespace {

// CLI11's messages ("--tagmatch: At Most 1 required but received 2") in the project's words.
std::string in_our_words(std::string what) {
    auto after = [&](std::string_view head) { return what.substr(head.size()); };
    for (std::string_view head : {"The following argument was not expected: ", "The following arguments were not expected: "})
        if (what.starts_with(head)) {
            std::string rest = after(head);
            const bool many = head.find("arguments") != std::string_view::npos;
            return std::string(rest.starts_with('-') ? "unknown option" : "unexpected argument") + (many ? "s " : " ") +
                   rest;
        }
    if (what.starts_with("Could not convert: ")) {
        std::string rest = after("Could not convert: ");
        if (auto eq = rest.find(" = "); eq != std::string::npos)
            return "invalid " + rest.substr(0, eq) + " '" + rest.substr(eq + 3) + "' (expected a number)";
    }
    if (auto colon = what.find(": "); colon != std::string::npos && what.starts_with('-')) {
        const std::string opt = what.substr(0, colon), rest = what.substr(colon + 2);
        if (rest.starts_with("At Most ")) return opt + " given more than once (it takes one value)";
        if (rest.starts_with("1 required ") && rest.ends_with(" missing"))
            return opt + " needs a value (" + rest.substr(11, rest.size() - 11 - 8) + ")";
    }
    return what;
}

}  // namespace

std::optional<int> parse(CLI::App& app, int argc, char** argv, std::vector<std::string>* words) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        std::cout << app.help();
        return 0;
    } catch (const CLI::CallForAllHelp&) {
        std::cout << app.help("", CLI::AppFormatMode::All);
        return 0;
    } catch (const CLI::CallForVersion&) {
        std::cout << app.version() << '\n';
        return 0;
    } catch (const CLI::ParseError& e) {
        // CLI11's own codes (100-127) are never exit codes: every parse error is a usage error.
        return usage(app.get_name(), in_our_words(e.what()));
    }
    if (words) {
        bool options_end = false;
        for (auto& w : app.remaining()) {
            if (!options_end && w == "--") {
                options_end = true;
            } else if (!options_end && w.size() > 1 && w[0] == '-') {
                return usage(app.get_name(), "unknown option " + w);
            } else {
                words->push_back(std::move(w));
            }
        }
    }
    return std::nullopt;
}

namespace {

// The buses this process meant to reach (use_target), so that fail() can say how to fix a failed
// connection without every call site knowing the configuration.
struct known_target {
    bus_config cfg;
    bus_endpoints eps;
};

std::vector<known_target>& targets() {
    static std::vector<known_target> t;
    return t;
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

std::string folder_of(const std::string& path) {
    auto slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
}

// "owner root, group salt, mode 0660", or why it cannot be told.
std::string ownership(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::string("cannot be checked: ") + std::strerror(errno);
    std::string owner = std::to_string(st.st_uid), group = std::to_string(st.st_gid);
    if (const passwd* pw = ::getpwuid(st.st_uid)) owner = pw->pw_name;
    if (const ::group* gr = ::getgrgid(st.st_gid)) group = gr->gr_name;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return "owner " + owner + ", group " + group + ", mode " + mode;
}

// The minion id hashes whose sockets are in `dir` ("minion_event_<hash>_pub.ipc").
std::set<std::string> minion_hashes(const std::string& dir) {
    std::set<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    constexpr std::string_view prefix = "minion_event_";
    while (const dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (!name.starts_with(prefix)) continue;
        name.remove_prefix(prefix.size());
        for (std::string_view end : {"_pub.ipc", "_pull.ipc"})
            if (name.ends_with(end)) out.emplace(name.substr(0, name.size() - end.size()));
    }
    ::closedir(d);
    return out;
}

std::string no_bus_fix(std::string_view tool, const known_target& t) {
    const bus_config& c = t.cfg;
    const bool minion = c.node == node_kind::minion;
    if (minion) {
        std::string ours = t.eps.pub.path.substr(t.eps.pub.path.find_last_of('/') + 1);
        ours = ours.substr(13, ours.size() - 13 - 8);  // minion_event_<hash>_pub.ipc
        auto found = minion_hashes(c.sock_dir);
        found.erase(ours);
        if (!found.empty()) {
            std::string list;
            for (const auto& h : found) list += (list.empty() ? "" : ", ") + h;
            return "no minion bus for id '" + c.id + "' (from " + (c.id_source.empty() ? "nowhere" : c.id_source) +
                   ", hash " + ours + ") is there, but " + c.sock_dir + " has the sockets of " +
                   (found.size() == 1 ? "minion " : "minions ") + list +
                   ": give that minion's id with --id, or its config folder with -c";
        }
    }
    std::string start = "start `event-busd --node " + std::string(to_string(c.node));
    // With what made this tool look there, so that the bus started binds the same sockets.
    if (c.sock_dir_source == "command line") start += " --sock-dir " + c.sock_dir;
    if (const auto dir = folder_of(c.config_file); !c.config_file.empty() && dir != "/etc/salt") start += " -c " + dir;
    if (minion && c.id_source == "command line") start += " --id " + c.id;
    // A minion bus forwards fire_master events to the master bus named by the master config; with
    // none it refuses to start unless told not to forward (event-send's own route needs a master:
    // its message says so when it gets there).
    struct stat master_conf {};
    if (minion && tool != "event-send" && ::stat(((c.config_file.empty() ? std::string("/etc/salt") : folder_of(c.config_file)) + "/master").c_str(),
                         &master_conf) != 0)
        start += " --no-forward";
    std::string fix = "no bus is running there: " + start + "`";
    if (tool != "event-send") fix += std::string(", or use node=") + (minion ? "master" : "minion");
    // A non-root user's default folder is not root's: a bus root started with defaults is elsewhere.
    struct stat st {};
    if (::getuid() != 0 && c.sock_dir_source == "tagbus default" && ::lstat(default_private_dir(0).c_str(), &st) == 0)
        fix += "; a bus root started without --sock-dir is in " + default_private_dir(0) + "/" +
               std::string(to_string(c.node)) + ", which only root can reach (root can share one with "
               "`event-busd --sock-dir DIR --group GROUP`)";
    return fix;
}

std::string denied_fix(const std::string& socket) {
    const std::string dir = folder_of(socket);
    return "the socket has " + ownership(socket) + ", its folder " + dir + " has " + ownership(dir) +
           ": the bus's owner can start it with `event-busd --group GROUP` for a group you are in";
}

// How to fix a failed connection to a remembered bus; empty when the failure is something else.
std::string fix_for(std::string_view tool, const failure& f) {
    if (f.code != errc::unavailable) return {};
    for (const auto& t : targets())
        for (const endpoint* e : {&t.eps.pub, &t.eps.pull}) {
            if (e->tcp || !contains(f.message, e->path + ": ")) continue;
            if (contains(f.message, "ermission denied")) return denied_fix(e->path);
            if (contains(f.message, "o such file or directory") || contains(f.message, "onnection refused") ||
                contains(f.message, "the bus never appeared"))
                return no_bus_fix(tool, t);
        }
    return {};
}

}  // namespace

result<void> use_target(const bus_config& cfg, const bus_endpoints& eps) {
    if (auto r = check_sock_dir(cfg, static_cast<unsigned>(::getuid())); !r)
        return fail(r.error().code, r.error().message + "; remove it or choose another with --sock-dir");
    targets().push_back({cfg, eps});
    return {};
}

int exit_code(errc kind) {
    exit_status s = exit_status::software;
    switch (kind) {
        case errc::invalid: s = exit_status::usage; break;
        case errc::data: s = exit_status::data; break;
        case errc::unavailable: s = exit_status::unavailable; break;
        case errc::internal: s = exit_status::software; break;
        case errc::io: s = exit_status::io; break;
        case errc::timeout: s = exit_status::tempfail; break;
        case errc::config: s = exit_status::config; break;
    }
    return static_cast<int>(s);
}

int guarded_main(std::string_view tool, int (*body)(int, char**), int argc, char** argv) {
    try {
        return body(argc, argv);
    } catch (const std::exception& e) {
        say(tool, std::string("internal error: ") + e.what());
    } catch (...) {
        say(tool, "internal error: an exception of unknown type");
    }
    return exit_code(errc::internal);
}

void say(std::string_view tool, std::string_view message) {
    std::string line;
    line.reserve(tool.size() + message.size() + 3);
    line.append(tool).append(": ").append(message).push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

int fail(std::string_view tool, const failure& f) {
    if (std::string fix = fix_for(tool, f); !fix.empty())
        say(tool, f.message + "; " + fix);
    else
        say(tool, f.message);
    if (f.code == errc::invalid) {
        std::string hint = "Try '" + std::string(tool) + " --help'.\n";
        std::fwrite(hint.data(), 1, hint.size(), stderr);
    }
    return exit_code(f.code);
}

int usage(std::string_view tool, std::string_view message) { return fail(tool, {errc::invalid, std::string(message)}); }

void add_connection_options(CLI::App& app, connection_options& o, bool with_framing) {
    app.add_option("--node", o.node, "master or minion bus (as node=)")->type_name("NODE");
    app.add_option("--sock-dir", o.sock_dir, "Salt's sock_dir (as sock_dir=)")->type_name("DIR");
    app.add_option("-c,--config-dir", o.config_dir, "Salt config folder [/etc/salt]")->type_name("DIR");
    app.add_option("--id", o.id, "minion id for minion socket names")->type_name("ID");
    app.add_option("--ipc-mode", o.ipc_mode, "ipc (Unix sockets) or tcp")->type_name("MODE");
    if (with_framing)
        app.add_option("--framing", o.framing, "pull framing: legacy or prefixed")->type_name("F");
    app.add_flag("-v,--verbose", o.verbose, "say which sock_dir and socket are used");
}

result<destination_options> destination_options_for(const connection_options& o, node_kind default_node) {
    destination_options d;
    d.node = default_node;
    if (o.node) {
        auto n = parse_node(*o.node);
        if (!n) return n.error();
        d.node = *n;
    }
    d.sock_dir = o.sock_dir;
    d.config_dir = o.config_dir;
    d.id = o.id;
    d.framing = o.framing;
    d.ipc_mode = o.ipc_mode;
    d.given_by = "command line";
    d.choose_other_sock_dir = "choose another with --sock-dir";  // the library names no flag
    return d;
}

result<destination> resolve_destination(std::string_view tool, const connection_options& o, node_kind default_node) {
    auto d = destination_options_for(o, default_node);
    if (!d) return d.error();
    auto dest = destination::resolve(*d);
    if (!dest) return dest.error();
    const auto& t = dest->details();
    targets().push_back({t.cfg, t.eps});
    if (o.verbose) {
        const std::string lines = dest->describe();
        const auto nl = lines.find('\n');
        say(tool, lines.substr(0, nl));
        say(tool, lines.substr(nl + 1));
    }
    return dest;
}

result<std::pair<bus_config, bus_endpoints>> connect_target(std::string_view tool, const connection_options& o,
                                                             node_kind default_node) {
    auto dest = resolve_destination(tool, o, default_node);
    if (!dest) return dest.error();
    const auto& t = dest->details();
    return std::pair{t.cfg, t.eps};
}

void say_sent(std::string_view tool, const std::string& address, std::string_view body) {
    auto ev = decode_body(body);
    if (!ev) return;
    std::string line = "sent to " + address + ": ";
    format_event(ev->tag, ev->data, output_options{}, line);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    say(tool, line);
}

const std::optional<value>& bound_words::operator[](std::string_view name) const {
    for (std::size_t i = 0; i < params_.size(); ++i)
        if (params_[i].name == name) return values_[i];
    throw std::logic_error("no parameter " + std::string(name));  // a tool's own mistake
}

std::string bound_words::text(std::string_view name) const {
    for (std::size_t k = 0; k < args_->keywords.size(); ++k)
        if (args_->keywords[k].first == name) return args_->raw_keywords[k];
    for (std::size_t i = 0; i < params_.size(); ++i)
        if (params_[i].name == name) return i < args_->raw_positional.size() ? args_->raw_positional[i] : std::string();
    return {};
}

result<bound_words> bind_words(const salt_args& args, const std::vector<word_param>& params, bool kwargs) {
    std::vector<std::string> names;
    for (const auto& p : params) names.push_back(p.name);
    bound_words b;
    auto bound = bind_params(args, names, kwargs ? &b.extra : nullptr);
    if (!bound) return bound.error();
    for (std::size_t i = 0; i < params.size(); ++i)
        if ((*bound)[i] && params[i].flag_given)
            return fail(errc::invalid, params[i].name + " given twice: as " + params[i].name + "= and as " +
                                           params[i].flag);
    b.args_ = &args;
    b.params_ = params;
    b.values_ = std::move(*bound);
    return b;
}

result<std::string> word_string(std::string_view key, const value& v) {
    if (const auto* s = v.str()) return *s;
    return fail(errc::invalid, std::string(key) + " must be a string, not " + std::string(kind_name(v)));
}

result<double> parse_seconds(std::string_view flag, std::string_view text) {
    double d = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(d) || d < 0)
        return fail(errc::invalid, "invalid " + std::string(flag) + " '" + std::string(text) +
                                       "' (expected seconds, e.g. 2 or 0.5)");
    return d;
}

std::optional<std::string> raise_open_files_limit(unsigned long wanted, std::string_view what) {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return "cannot read the open files limit: " + std::string(std::strerror(errno));
    std::string why;
    if (lim.rlim_cur < lim.rlim_max) {
        const rlimit raised{lim.rlim_max, lim.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
            lim = raised;
        } else {
            why = " (cannot raise it to the hard limit " + std::to_string(lim.rlim_max) + ": " + std::strerror(errno) + ")";
        }
    }
    if (lim.rlim_cur >= wanted) return std::nullopt;
    return "the open files limit (RLIMIT_NOFILE) is " + std::to_string(lim.rlim_cur) + why + ": fewer than " +
           std::string(what) + " can connect";
}

}  // namespace tagbus::cli
