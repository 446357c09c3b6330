// event-send: send an event to the master like `salt-call event.send TAG [DATA] ...`.
#include <chrono>
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli.hpp"
#include "send.hpp"
#include "render/json.hpp"
#include "salt/yaml.hpp"
#include "tagbus/send.hpp"

using namespace tagbus;

namespace {

constexpr std::string_view tool = "event-send";

struct send_flags {
    std::optional<std::string> with_env, with_grains, preload, timeout, sock_dir, master_sock_dir, config_dir, id;
    bool with_env_opts = false, local = false, no_pub_keys = false, list_grains = false, verbose = false;
};

void add_options(CLI::App& app, send_flags& fl) {
    cli::setup_app(app);
    cli::add_words(app, "WORDs, as salt-call event.send takes them:\n"
                        "  TAG [DATA] [with_env=True|[NAMES]] [with_grains=True|[KEYS]]\n"
                        "  [with_env_opts=True] [preload={...}] [KEY=VALUE...]");
    app.add_flag("--with-env", fl.with_env, "add environ: all, or only NAMES")->type_name("[=NAMES]");
    app.add_flag("--with-grains", fl.with_grains, "add grains: all, or only KEYS")->type_name("[=KEYS]");
    app.add_flag("--with-env-opts", fl.with_env_opts, "add saltenv and pillarenv");
    app.add_option("--preload", fl.preload, "map merged into the master's load")->type_name("MAP");
    app.add_flag("--local", fl.local, "masterless: fire on the minion bus");
    app.add_flag("--no-pub-keys", fl.no_pub_keys, "leave out salt-call's __pub_* keys");
    app.add_flag("--list-grains", fl.list_grains, "print this host's grains as JSON");
    app.add_option("--timeout", fl.timeout, "connect and send within SECONDS [1]")->type_name("SECONDS");
    app.add_option("--sock-dir", fl.sock_dir, "the minion's sock_dir")->type_name("DIR");
    app.add_option("--master-sock-dir", fl.master_sock_dir, "this host's master sock_dir")->type_name("DIR");
    app.add_option("-c,--config-dir", fl.config_dir, "Salt config folder [/etc/salt]")->type_name("DIR");
    app.add_option("--id", fl.id, "minion id [config, minion_id, FQDN]")->type_name("ID");
    app.add_flag("-v,--verbose", fl.verbose, "say which route and socket are used");
}

// event.send's arguments but the tag, from the words and the flags; an exit code when one is bad.
std::optional<int> read_call(const cli::bound_words& b, const send_flags& fl, send_options& call) {
    if (b["data"])
        if (auto warning = data_from_word(*b["data"], b.text("data"), call.data)) cli::say(tool, "warning: " + *warning);
    if (fl.preload || b["preload"]) {
        value v;
        if (fl.preload) {
            auto parsed = salt_yaml_load(*fl.preload);
            if (!parsed) return cli::fail(tool, {errc::data, "cannot parse --preload: " + parsed.error().message});
            v = std::move(*parsed);
        } else {
            v = *b["preload"];
        }
        auto preload = map_from_word(std::move(v), fl.preload ? "" : b.text("preload"), "preload");
        if (!preload) return cli::fail(tool, preload.error());
        call.preload = std::move(*preload);
    }
    call.with_env = b["with_env"] ? *b["with_env"] : fl.with_env ? flag_list(*fl.with_env) : value();
    call.with_grains = b["with_grains"] ? *b["with_grains"] : fl.with_grains ? flag_list(*fl.with_grains) : value();
    call.with_pillar = b["with_pillar"] ? *b["with_pillar"] : value();
    call.with_env_opts = b["with_env_opts"] ? *b["with_env_opts"] : value(fl.with_env_opts);
    call.kwargs = b.extra;
    call.pub_keys = !fl.no_pub_keys;
    call.local = fl.local;
    return std::nullopt;
}

// Reads the minion's configuration only: its sock_dir is not used, so not checked either.
int list_grains(const cli::connection_options& mc) {
    auto opts = cli::destination_options_for(mc, node_kind::minion);
    if (!opts) return cli::fail(tool, opts.error());
    auto all = grains(*opts);
    if (!all) return cli::fail(tool, all.error());
    std::string out;
    render_json(value(std::move(*all)), out, render_options{true, nullptr});
    out.push_back('\n');
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0)
        return cli::fail(tool, {errc::io, "cannot write standard output"});
    return 0;
}

}  // namespace

static int tool_main(int argc, char** argv) {
    send_flags fl;
    std::vector<std::string> words;
    CLI::App app{"Send an event to the Salt master like salt-call event.send.", std::string(tool)};
    add_options(app, fl);
    if (auto code = cli::parse(app, argc, argv, &words)) return *code;

    if (fl.list_grains && !words.empty()) return cli::usage(tool, "--list-grains takes no TAG or words");

    // event.send(tag, data=None, preload=None, with_env=False, with_grains=False, with_pillar=False,
    // with_env_opts=False, **kwargs): other keywords become data keys.
    const salt_args args = parse_salt_args(words);
    auto b = cli::bind_words(args, {{"tag"}, {"data"}, {"preload", fl.preload.has_value(), "--preload"},
                                    {"with_env", fl.with_env.has_value(), "--with-env"},
                                    {"with_grains", fl.with_grains.has_value(), "--with-grains"}, {"with_pillar"},
                                    {"with_env_opts", fl.with_env_opts, "--with-env-opts"}}, true);
    if (!b) return cli::fail(tool, b.error());
    std::chrono::milliseconds budget{1000};  // Salt's 1000 ms for bus pushes
    if (fl.timeout) {
        auto t = cli::parse_seconds("--timeout", *fl.timeout);
        if (!t) return cli::fail(tool, t.error());
        budget = std::chrono::milliseconds(static_cast<long long>(*t * 1000.0 + 0.5));
    }

    cli::connection_options mc;
    mc.node = "minion";
    mc.sock_dir = fl.sock_dir;
    mc.config_dir = fl.config_dir;
    mc.id = fl.id;
    if (fl.list_grains) return list_grains(mc);
    auto minion = cli::resolve_destination(tool, mc, node_kind::minion);
    if (!minion) return cli::fail(tool, minion.error());
    if (!(*b)["tag"]) return cli::usage(tool, "missing TAG");
    auto tag = tag_from_word(*(*b)["tag"], b->text("tag"));
    if (!tag) return cli::fail(tool, tag.error());
    send_options call;
    if (auto code = read_call(*b, fl, call)) return *code;
    call.timeout = budget;
    call.master = [&] {  // this host's master bus, for the direct route
        cli::connection_options master;
        master.node = "master";
        master.sock_dir = fl.master_sock_dir;
        master.config_dir = fl.config_dir;
        return cli::resolve_destination(tool, master, node_kind::master);
    };
    call.on_note = [&](send_note kind, std::string_view text) {
        if (kind == send_note::warning) cli::say(tool, "warning: " + std::string(text));
        else if (fl.verbose) cli::say(tool, text);
    };
    auto sent = send(*minion, *tag, call);
    if (!sent) return cli::fail(tool, sent.error());
    if (fl.verbose)
        for (const auto& body : sent->bodies) cli::say_sent(tool, sent->address, body);
    return 0;
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
