// event-send's work: event.send's data map (SALT-WIRE §8) and the route to the master, decided as
// Salt decides it: the local minion bus when masterless, else the minion bus's `fire_master`
// request, else this host's master bus with what salt-call's direct route puts there.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "salt/args.hpp"
#include "host/config.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

/// event.send(tag, data=None, preload=None, with_env=False, with_grains=False, with_pillar=False,
/// with_env_opts=False, **kwargs) after binding; a nil value stands for an argument not given.
struct send_call {
    std::string tag;
    tagbus::value data;  ///< a map, or nil
    tagbus::value preload;  ///< a map, or nil
    tagbus::value with_env, with_grains, with_pillar, with_env_opts;
    std::vector<std::pair<std::string, tagbus::value>> kwargs;  ///< extra keywords, in the order given
};

/// What the data map is built from besides the call: the host, as event.send sees it.
struct send_sources {
    std::vector<std::pair<std::string, std::string>> environ;  ///< in environ order
    std::function<tagbus::result<tagbus::map_t>()> grains;     ///< asked only for with_grains
    const tagbus::map_t* options = nullptr;  ///< the minion config's keys (saltenv, pillarenv)
    bool pub_keys = true;                    ///< add salt-call's __pub_* keywords
    long pid = 0;
    std::chrono::system_clock::time_point now;  ///< for __pub_jid
};

/// The process environment, in environ order.
std::vector<std::pair<std::string, std::string>> process_environ();

/// A salt-call JID for a UTC time: 20 digits, YYYYMMDDhhmmssffffff.
std::string make_jid(std::chrono::system_clock::time_point t);

/// The tag from its word: a string, or the text as typed when YAML made it a number or boolean;
/// checked as Salt checks a tag to fire (errc::data).
tagbus::result<std::string> tag_from_word(const tagbus::value& v, const std::string& text);

/// A map-valued argument (DATA, preload) from its word: a map or nil, else errc::data naming
/// `what`, with the parser's message when the text looks like JSON/YAML that did not parse.
tagbus::result<tagbus::value> map_from_word(tagbus::value v, const std::string& text, std::string_view what);

/// DATA from its word: a map (or nil) is stored in `data`. Anything else is ignored as Salt's
/// event.send ignores it (SALT-WIRE §8 step 6): `data` becomes nil and the warning to print is
/// returned: "ignoring DATA: it is a list, not a map (Salt's event.send ignores it too and sends
/// the event without it)", or "ignoring DATA: cannot parse DATA: invalid YAML ... (...)".
std::optional<std::string> data_from_word(tagbus::value v, const std::string& text, tagbus::value& data);

/// The comma-separated NAMES of --with-env=NAMES / --with-grains=KEYS as a list word; "true" (the
/// flag given bare) is True, as with_env=True.
tagbus::value flag_list(const std::string& text);

/// event.send's data map in Salt's order: environ, grains, (pillar: refused), saltenv/pillarenv,
/// keywords, __pub_* keywords, then DATA merged over it. Errors: with_pillar (errc::unavailable),
/// grains that cannot be collected.
tagbus::result<tagbus::map_t> build_data(const send_call& call, const send_sources& src);

/// The grains of this host as event.send's with_grains sees them (`grains:` config and the
/// <config_dir>/grains file merged over the core grains).
tagbus::result<tagbus::map_t> host_grains(const tagbus::bus_config& minion, const std::string& config_dir);

struct route_options {
    tagbus::config_request master;  ///< how to find this host's master bus (route 3)
    std::chrono::milliseconds budget{1000};
    bool local = false;  ///< --local: masterless, as salt-call --local
    bool verbose = false;
};

/// Sends `data` under `call.tag` by the first route that is there; returns the exit code.
int send_event(std::string_view tool, const send_call& call, tagbus::map_t data, const tagbus::bus_config& minion,
               const route_options& opts);
