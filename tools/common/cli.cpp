#include "cli.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "tagbus_version.h"

namespace tagbus::cli {

void setup_app(CLI::App& app) {
    app.set_version_flag("--version", app.get_name() + " (tagbus) " + TAGBUS_VERSION);
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
        return usage(app.get_name(), e.what());
    }
    if (words) {
        bool options_end = false;
        for (auto& w : app.remaining()) {
            if (!options_end && w == "--") {
                options_end = true;
            } else if (!options_end && w.size() > 1 && w[0] == '-') {
                return usage(app.get_name(), "The following argument was not expected: " + w);
            } else {
                words->push_back(std::move(w));
            }
        }
    }
    return std::nullopt;
}

void say(std::string_view tool, std::string_view message) {
    std::string line;
    line.reserve(tool.size() + message.size() + 3);
    line.append(tool).append(": ").append(message).push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

int fail(std::string_view tool, const failure& f) {
    say(tool, f.message);
    if (f.code == status::usage) {
        std::string hint = "Try '" + std::string(tool) + " --help'.\n";
        std::fwrite(hint.data(), 1, hint.size(), stderr);
    }
    return exit_code(f.code);
}

int usage(std::string_view tool, std::string_view message) { return fail(tool, {status::usage, std::string(message)}); }

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

result<std::pair<bus_config, bus_endpoints>> connect_target(std::string_view tool, const connection_options& o,
                                                             node_kind default_node) {
    config_request req;
    req.node = default_node;
    if (o.node) {
        auto n = parse_node(*o.node);
        if (!n) return n.error();
        req.node = *n;
    }
    req.sock_dir = o.sock_dir;
    req.config_dir = o.config_dir;
    req.id = o.id;
    req.framing = o.framing;
    req.ipc_mode = o.ipc_mode;
    auto cfg = resolve_config(req, environment::process());
    if (!cfg) return cfg.error();
    auto ep = bus_paths(*cfg);
    if (!ep) return ep.error();
    if (o.verbose) {
        say(tool, "node " + std::string(to_string(cfg->node)) + ", sock_dir " + cfg->sock_dir + " (from " +
                      cfg->sock_dir_source + ")");
        say(tool, "pub " + ep->pub.describe() + ", pull " + ep->pull.describe());
    }
    return std::pair{std::move(*cfg), std::move(*ep)};
}

result<void> not_both(bool word_given, bool flag_given, std::string_view key, std::string_view flag) {
    if (word_given && flag_given)
        return fail(status::usage, std::string(key) + " given twice: as " + std::string(key) + "= and as " +
                                       std::string(flag));
    return {};
}

result<std::string> word_string(std::string_view key, const value& v) {
    if (const auto* s = v.str()) return *s;
    return fail(status::usage, std::string(key) + " must be a string, not " + std::string(kind_name(v)));
}

result<double> parse_seconds(std::string_view flag, std::string_view text) {
    double d = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(d) || d < 0)
        return fail(status::usage, "invalid " + std::string(flag) + " '" + std::string(text) +
                                       "' (expected seconds, e.g. 2 or 0.5)");
    return d;
}

}  // namespace tagbus::cli
