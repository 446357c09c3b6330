#include "send.hpp"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <string_view>

#include "cli.hpp"
#include "net/client.hpp"
#include "tagbus/event.hpp"
#include "host/grains.hpp"
#include "salt/master_event.hpp"
#include "render/output.hpp"
#include "host/paths.hpp"
#include "salt/yaml.hpp"
#include "py/py.hpp"

extern char** environ;

using namespace tagbus;

std::vector<std::pair<std::string, std::string>> process_environ() {
    std::vector<std::pair<std::string, std::string>> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view entry(*e);
        auto eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return out;
}

std::string make_jid(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
    std::time_t secs = static_cast<std::time_t>(us / 1000000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[96];  // room for any int, so the format cannot truncate
    std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d%02d%02d%06ld", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long>(us % 1000000));
    return buf;
}

result<std::string> tag_from_word(const value& v, const std::string& text) {
    std::string tag;
    if (const auto* s = v.str()) tag = *s;
    else if (v.map() || v.array()) return fail(errc::data, "TAG must be a string, not " + std::string(cli::kind_name(v)));
    else tag = text;  // `2024` or `True`: a tag is text, so take it as typed
    if (auto r = check_tag(tag); !r) return r.error();
    return tag;
}

result<value> map_from_word(value v, const std::string& text, std::string_view what) {
    if (v.is_nil() || v.map()) return v;
    // yamlify keeps unparseable YAML as the original string; say why it did not parse.
    if (v.str() && !text.empty() && (text[0] == '{' || text[0] == '[')) {
        auto parsed = salt_yaml_load(text);
        if (!parsed) return fail(errc::data, "cannot parse " + std::string(what) + ": " + parsed.error().message);
    }
    return fail(errc::data, std::string(what) + " must be a map, not " + std::string(cli::kind_name(v)));
}

std::optional<std::string> data_from_word(value v, const std::string& text, value& data) {
    auto m = map_from_word(std::move(v), text, "DATA");
    if (m) {
        data = std::move(*m);
        return std::nullopt;
    }
    data = value();
    std::string why = m.error().message;
    if (why.starts_with("DATA must be a map, not ")) why = "it is " + why.substr(24) + ", not a map";
    return "ignoring DATA: " + why + " (Salt's event.send ignores it too and sends the event without it)";
}

value flag_list(const std::string& text) {
    if (text == "true") return true;
    array_t names;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        if (comma > start) names.emplace_back(text.substr(start, comma - start));
        start = comma + 1;
    }
    return names;
}

namespace {

// dict[key] = val: a key already there keeps its position (Python dicts), a new one goes last.
void put(map_t& m, value key, value val) {
    for (auto& mem : m)
        if (mem.key == key) {
            mem.val = std::move(val);
            return;
        }
    m.push_back({std::move(key), std::move(val)});
}

// The str items of a list argument (`k in keys` never matches anything else for str keys).
std::vector<std::string> names_of(const value& list) {
    std::vector<std::string> out;
    for (const auto& item : *list.array())
        if (const auto* s = item.str()) out.push_back(*s);
    return out;
}

const value* option(const map_t* options, std::string_view key) {
    if (options == nullptr) return nullptr;
    for (const auto& mem : *options)
        if (mem.key.str() && *mem.key.str() == key) return &mem.val;
    return nullptr;
}

}  // namespace

result<map_t> build_data(const send_call& call, const send_sources& src) {
    map_t data;
    // Salt takes a list as "only these names" and any other true value as "all".
    if (truthy(call.with_env)) {
        map_t env;
        std::vector<std::string> keep;
        if (call.with_env.array()) keep = names_of(call.with_env);
        for (const auto& [name, val] : src.environ) {
            bool wanted = !call.with_env.array();
            for (const auto& k : keep) wanted = wanted || k == name;
            if (wanted) put(env, name, val);
        }
        put(data, "environ", std::move(env));
    }
    if (truthy(call.with_grains)) {
        auto all = src.grains();
        if (!all) return all.error();
        put(data, "grains", call.with_grains.array() ? select_grains(*all, names_of(call.with_grains)) : std::move(*all));
    }
    if (truthy(call.with_pillar))
        return fail(errc::unavailable, "cannot add pillar data: with_pillar needs the pillar a Salt minion "
                                         "compiles with its master, which tagbus cannot do");
    if (truthy(call.with_env_opts)) {
        const value* saltenv = option(src.options, "saltenv");
        const value* pillarenv = option(src.options, "pillarenv");
        // The minion's options hold both as None unless the config sets them (3006 sends nulls).
        put(data, "saltenv", saltenv ? *saltenv : value());
        put(data, "pillarenv", pillarenv ? *pillarenv : value());
    }
    for (const auto& [k, v] : call.kwargs) put(data, k, v);
    // salt-call passes these as keywords after the user's, so they land in **kwargs too.
    if (src.pub_keys) {
        put(data, "__pub_fun", "event.send");
        put(data, "__pub_pid", src.pid);
        put(data, "__pub_jid", make_jid(src.now));
        put(data, "__pub_tgt", "salt-call");
    }
    if (const auto* m = call.data.map())
        for (const auto& mem : *m) put(data, mem.key, mem.val);
    return data;
}

result<map_t> host_grains(const bus_config& minion, const std::string& config_dir) {
    grains_request req;
    req.id = minion.id;
    req.config_dir = config_dir;
    req.config_grains = option(&minion.options, "grains");
    return collect_grains(req);
}

namespace {

struct target {
    endpoint pull;
    framing pull_framing;
};

void describe_sent(std::string_view tool, const endpoint& pull, std::string_view body) {
    auto ev = decode_body(body);
    if (!ev) return;
    std::string line = "sent to " + pull.describe() + ": ";
    format_event(ev->tag, ev->data, output_options{}, line);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    cli::say(tool, line);
}

// Encodes (stamping at send time) and writes the events over a connected publisher.
int deliver(std::string_view tool, publisher& pub, const target& t, std::vector<master_event> events,
            std::size_t max_event_size, const route_options& opts) {
    std::vector<std::string> bodies;
    std::string frames;
    for (auto& ev : events) {
        trim_report trimmed;
        auto body = encode_body(ev.tag, ev.data, max_event_size, true, &trimmed);
        if (!body) return cli::fail(tool, body.error());
        if (trimmed.over) cli::say(tool, "warning: " + describe_trim(ev.tag, trimmed));
        append_frame(frames, *body, t.pull_framing);
        bodies.push_back(std::move(*body));
    }
    if (auto r = pub.send(frames); !r) return cli::fail(tool, r.error());
    if (auto r = pub.close(opts.budget); !r) return cli::fail(tool, r.error());
    if (opts.verbose)
        for (const auto& b : bodies) describe_sent(tool, t.pull, b);
    return 0;
}

result<target> master_target(std::string_view tool, const route_options& opts, std::size_t& max_event_size) {
    auto cfg = resolve_config(opts.master, environment::process());
    if (!cfg) return cfg.error();
    auto eps = bus_paths(*cfg);
    if (!eps) return eps.error();
    if (auto r = cli::use_target(*cfg, *eps); !r) return r.error();
    if (opts.verbose)
        cli::say(tool, "master sock_dir " + cfg->sock_dir + " (from " + cfg->sock_dir_source + ")");
    max_event_size = cfg->max_event_size;
    return target{eps->pull, cfg->pull_framing};
}

}  // namespace

int send_event(std::string_view tool, const send_call& call, map_t data, const bus_config& minion,
               const route_options& opts) {
    auto eps = bus_paths(minion);
    if (!eps) return cli::fail(tool, eps.error());
    if (auto r = cli::use_target(minion, *eps); !r) return cli::fail(tool, r.error());
    if (opts.verbose)
        cli::say(tool, "minion id " + minion.id + ", minion sock_dir " + minion.sock_dir + " (from " +
                           minion.sock_dir_source + ")");
    const target local{eps->pull, minion.pull_framing};

    // (1) Masterless: event.send falls back to event.fire on the minion's own bus.
    if ((opts.local || minion.masterless) && !minion.use_master_when_local) {
        const char* why = opts.local ? "--local" : "masterless minion config";
        auto pub = publisher::connect(local.pull, opts.budget);
        if (!pub) {
            auto f = pub.error();
            f.message = "cannot fire on the local minion bus (" + std::string(why) + "): " + f.message;
            return cli::fail(tool, f);
        }
        if (opts.verbose) cli::say(tool, "route: local minion bus " + local.pull.describe() + " (" + why + ")");
        return deliver(tool, *pub, local, {{call.tag, value(std::move(data))}}, minion.max_event_size, opts);
    }

    std::vector<failure> tried;
    // (2) The minion daemon forwards a `fire_master` request, as event.fire_master does inside it.
    // A preload is only honoured by the direct route, so Salt takes that one when there is one.
    if (!truthy(call.preload)) {
        auto pub = publisher::connect(local.pull, opts.budget);
        if (pub) {
            if (opts.verbose) cli::say(tool, "route: minion bus " + local.pull.describe() + " (fire_master)");
            return deliver(tool, *pub, local,
                           {{std::string(fire_master_tag), fire_master_request(value(std::move(data)), call.tag)}},
                           minion.max_event_size, opts);
        }
        if (opts.verbose) cli::say(tool, "no minion bus: " + pub.error().message);
        tried.push_back(pub.error());
    }

    // (3) The direct route: what salt-call's request makes the master fire, put on its bus here.
    std::size_t master_max = 0;
    auto master = master_target(tool, opts, master_max);
    if (!master) return cli::fail(tool, master.error());
    auto events = route_b_events(minion.id, call.tag, value(std::move(data)), call.preload);
    if (!events) return cli::fail(tool, events.error());
    auto pub = publisher::connect(master->pull, opts.budget);
    if (pub) {
        if (opts.verbose) cli::say(tool, "route: master bus " + master->pull.describe() + " (direct)");
        return deliver(tool, *pub, *master, std::move(*events), master_max, opts);
    }
    tried.push_back(pub.error());

    // Every message names the socket it tried; a preload only ever goes the direct way.
    failure f{errc::unavailable, tried.size() == 1 ? "no route to the master (a preload goes to the master bus only): "
                                                     : "no route to the master: "};
    for (std::size_t i = 0; i < tried.size(); ++i) {
        // A bus that is there but too slow to accept is worth retrying.
        if (tried[i].code == errc::timeout) f.code = errc::timeout;
        f.message += std::string(i ? "; " : "") + (i + 1 == tried.size() ? "master bus: " : "minion bus: ") +
                     tried[i].message;
    }
    return cli::fail(tool, f);
}
