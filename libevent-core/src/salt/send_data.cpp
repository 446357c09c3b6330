#include "salt/send_data.hpp"

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <string_view>

#include "py/py.hpp"

namespace tagbus::inline v0 {

map_t select_grains(const map_t& all, const std::vector<std::string>& keys) {
    map_t out;
    for (const auto& m : all)
        if (const auto* k = m.key.str(); k && std::find(keys.begin(), keys.end(), *k) != keys.end()) out.push_back(m);
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

result<map_t> build_send_data(const send_call& call, const send_sources& src) {
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

}  // namespace tagbus
