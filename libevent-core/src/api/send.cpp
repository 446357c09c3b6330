// send: event.send's data and routes (SALT-WIRE §8) over the library's own destination and sender.
#include "tagbus/send.hpp"

#include <unistd.h>

#include <exception>

#include "api/destination_impl.hpp"
#include "host/grains.hpp"
#include "py/py.hpp"
#include "salt/master_event.hpp"
#include "salt/send_data.hpp"
#include "tagbus/fire.hpp"

namespace tagbus::inline v0 {
namespace {

void note(const send_options& o, send_note kind, const std::string& text) {
    if (o.on_note) o.on_note(kind, text);
}

// Fires `events` over an open sender and waits until the bus has read them.
result<send_result> deliver(sender& s, send_route route, const destination& to,
                            const std::vector<master_event>& events, const send_options& o) {
    send_result out{route, to.pull_address(), {}};
    for (const auto& ev : events) {
        trim_report trimmed;
        if (auto r = s.fire(ev.tag, ev.data, &trimmed); !r) return r.error();
        if (trimmed.over) note(o, send_note::warning, describe_trim(ev.tag, trimmed));
        out.bodies.emplace_back(s.last_body());
    }
    if (auto r = s.close(); !r) return r.error();
    return out;
}

result<void> check_map(const value& v, std::string_view what) {
    if (v.is_nil() || v.map()) return {};
    return fail(errc::data, std::string(what) + " must be a map, not " + std::string(kind_name(v)));
}

}  // namespace

result<map_t> grains(const destination& minion) try {
    const auto& d = minion.details();
    return minion_grains(d.cfg, d.config_folder());
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while collecting grains: ") + e.what());
}

result<map_t> grains(const destination_options& minion) try {
    auto cfg = resolve_config(to_config_request(minion), environment::process());
    if (!cfg) return cfg.error();
    return minion_grains(*cfg, minion.config_dir.value_or("/etc/salt"));
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while collecting grains: ") + e.what());
}

result<map_t> send_data(const destination& minion, const send_options& o) try {
    if (auto r = check_map(o.data, "data"); !r) return r.error();
    const auto& d = minion.details();
    send_call call{o.data, o.with_env, o.with_grains, o.with_pillar, o.with_env_opts, o.kwargs};
    send_sources src;
    if (truthy(o.with_env)) src.environ = environment::variables();
    src.grains = [&] { return minion_grains(d.cfg, d.config_folder()); };
    src.options = &d.cfg.options;
    src.pub_keys = o.pub_keys;
    src.pid = static_cast<long>(::getpid());
    src.now = std::chrono::system_clock::now();
    return build_send_data(call, src);
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while building event.send's data: ") + e.what());
}

result<send_result> send(const destination& minion, std::string_view tag, const send_options& o) try {
    if (minion.node() != node_kind::minion)
        return fail(errc::invalid, "event.send goes through a minion's bus, and " + minion.sock_dir() + " is a master's");
    if (auto r = check_tag(tag); !r) return r.error();
    if (auto r = check_map(o.preload, "preload"); !r) return r.error();
    auto data = send_data(minion, o);
    if (!data) return data.error();
    const auto& cfg = minion.details().cfg;
    note(o, send_note::step, "minion id " + cfg.id + ", minion sock_dir " + cfg.sock_dir + " (from " +
                                 cfg.sock_dir_source + ")");
    const fire_options fo{o.timeout};

    // (1) Masterless: event.send falls back to event.fire on the minion's own bus.
    if ((o.local || cfg.masterless) && !cfg.use_master_when_local) {
        const std::string why = o.local ? "asked to send locally" : "masterless minion config";
        auto s = sender::open(minion, fo);
        if (!s) {
            failure f = s.error();
            f.message = "cannot fire on the local minion bus (" + why + "): " + f.message;
            return f;
        }
        note(o, send_note::step, "route: local minion bus " + minion.pull_address() + " (" + why + ")");
        return deliver(*s, send_route::local_bus, minion, {{std::string(tag), value(std::move(*data))}}, o);
    }

    std::vector<failure> tried;
    // (2) The minion daemon forwards a `fire_master` request, as event.fire_master does inside it.
    // A preload is only honoured by the direct route, so Salt takes that one when there is one.
    if (!truthy(o.preload)) {
        auto s = sender::open(minion, fo);
        if (s) {
            note(o, send_note::step, "route: minion bus " + minion.pull_address() + " (fire_master)");
            return deliver(*s, send_route::minion_bus, minion,
                           {{std::string(fire_master_tag), fire_master_request(value(std::move(*data)), tag)}}, o);
        }
        note(o, send_note::step, "no minion bus: " + s.error().message);
        tried.push_back(s.error());
    }

    // (3) The direct route: what salt-call's request makes the master fire, put on its bus here.
    destination_options mo;
    mo.node = node_kind::master;
    mo.config_dir = minion.details().config_dir;
    auto master = o.master ? o.master() : destination::resolve(mo);
    if (!master) return master.error();
    note(o, send_note::step, "master sock_dir " + master->sock_dir() + " (from " + master->sock_dir_source() + ")");
    auto events = route_b_events(cfg.id, tag, value(std::move(*data)), o.preload);
    if (!events) return events.error();
    auto s = sender::open(*master, fo);
    if (s) {
        note(o, send_note::step, "route: master bus " + master->pull_address() + " (direct)");
        return deliver(*s, send_route::master_bus, *master, *events, o);
    }
    tried.push_back(s.error());

    // Every message names the socket it tried; a preload only ever goes the direct way.
    failure f{errc::unavailable, tried.size() == 1 ? "no route to the master (a preload goes to the master bus only): "
                                                     : "no route to the master: "};
    for (std::size_t i = 0; i < tried.size(); ++i) {
        // A bus that is there but too slow to accept is worth retrying.
        if (tried[i].code == errc::timeout) f.code = errc::timeout;
        f.message += std::string(i ? "; " : "") + (i + 1 == tried.size() ? "master bus: " : "minion bus: ") +
                     tried[i].message;
    }
    return f;
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while sending an event: ") + e.what());
}

}  // namespace tagbus
