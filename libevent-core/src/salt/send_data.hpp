// event.send's data map (SALT-WIRE §8), as Salt's event.send builds it, from what the caller gives
// and what the host supplies. Sans-I/O: the environment and the grains come in from the caller.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// event.send(tag, data=None, preload=None, with_env=False, with_grains=False, with_pillar=False,
/// with_env_opts=False, **kwargs) after binding; a nil value stands for an argument not given.
struct send_call {
    value data;     ///< a map, or nil
    value with_env, with_grains, with_pillar, with_env_opts;
    std::vector<std::pair<std::string, value>> kwargs;  ///< extra keywords, in the order given
};

/// What the data map is built from besides the call: the host, as event.send sees it.
struct send_sources {
    std::vector<std::pair<std::string, std::string>> environ;  ///< in environ order
    std::function<result<map_t>()> grains;                     ///< asked only for with_grains
    const map_t* options = nullptr;  ///< the minion config's keys (saltenv, pillarenv)
    bool pub_keys = true;            ///< add salt-call's __pub_* keywords
    long pid = 0;
    std::chrono::system_clock::time_point now;  ///< for __pub_jid
};

/// Keeps only `keys`, in the order of `all` (Salt filters its grains dict); a missing key is left out.
map_t select_grains(const map_t& all, const std::vector<std::string>& keys);

/// A salt-call JID for a UTC time: 20 digits, YYYYMMDDhhmmssffffff.
std::string make_jid(std::chrono::system_clock::time_point t);

/// event.send's data map in Salt's order: environ, grains, (pillar: refused), saltenv/pillarenv,
/// keywords, __pub_* keywords, then DATA merged over it. A list for with_env / with_grains keeps
/// only those names; any other true value means all. Errors: with_pillar (errc::unavailable),
/// grains that cannot be collected.
result<map_t> build_send_data(const send_call& call, const send_sources& src);

}  // namespace tagbus
