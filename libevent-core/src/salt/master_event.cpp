// master_event: Salt 3006's two ways an event reaches the master's bus, as pure functions.
//
// The minion (route A, minion.py handle_event + _fire_master) builds a load from the `fire_master`
// request; salt-call (route B, modules/event.py fire_master) builds it from its arguments. The
// master (master.py _minion_event → masterapi _minion_event) drops `tok` and fires either the whole
// load under its tag, or each item of `events` (and again under "<pretag>/<tag>"). Where Salt
// would raise in the middle of that (a KeyError, fire_event's "Empty tag."), we refuse the whole
// request up front, so a caller never sends half of a batch.
#include "salt/master_event.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include "salt/args.hpp"
#include "tagbus/event.hpp"
#include "py/py.hpp"

namespace tagbus::inline v0 {

namespace detail {
namespace {

const value* find(const map_t& m, std::string_view key) {
    for (const auto& kv : m) {
        if (const auto* k = kv.key.str(); k && *k == key) return &kv.val;
    }
    return nullptr;
}

/// dict.update: an existing key keeps its place and takes the new value; a new key goes last.
void update(map_t& m, const map_t& over) {
    for (const auto& kv : over) {
        auto it = std::find_if(m.begin(), m.end(), [&](const member& x) { return x.key == kv.key; });
        if (it != m.end()) {
            it->val = kv.val;
        } else {
            m.push_back(kv);
        }
    }
}

/// A tag as Salt's fire_event takes it: str, or bytes (to_bytes passes them through).
std::optional<std::string> tag_text(const value& v) {
    if (const auto* s = v.str()) return *s;
    if (const auto* b = std::get_if<bin_t>(&v.v)) return b->bytes;
    return std::nullopt;
}

std::string quoted(std::string_view key) {
    std::string out(1, '"');
    out.append(key).push_back('"');
    return out;
}

/// fire_event's checks on a tag (non-empty, no blank line), with `where` naming the field.
result<std::string> checked_tag(const value& v, const std::string& where) {
    auto text = tag_text(v);
    if (!text) return fail(errc::data, where + " must be a string, not " + std::string(kind_name(v)));
    if (auto r = check_tag(*text); !r) return fail(errc::data, where + ": " + r.error().message);
    return std::move(*text);
}

/// tagify(tag, base=pretag): the non-empty parts joined with "/".
std::string tagify(const std::string& pretag, const std::string& tag) {
    if (pretag.empty()) return tag;
    if (tag.empty()) return pretag;
    return pretag + "/" + tag;
}

/// The master's _minion_event for a load already stripped of `tok`; `what` names where a bad
/// field came from in messages ("fire_master request", "preload").
result<std::vector<master_event>> master_fire(map_t load, const std::string& what) {
    std::vector<master_event> out;
    const value* events = find(load, "events");
    if (events == nullptr) {
        // The whole load is the event data; route A and B always carry "tag" and "data" here.
        const value* tag = find(load, "tag");
        if (tag == nullptr || find(load, "data") == nullptr) return out;
        auto t = checked_tag(*tag, what + " " + quoted("tag"));
        if (!t) return t.error();
        out.push_back({std::move(*t), value(std::move(load))});
        return out;
    }
    const auto* items = events->array();
    if (items == nullptr) {
        return fail(errc::data, what + " " + quoted("events") + " must be a list, not " + std::string(kind_name(*events)));
    }
    std::optional<std::string> pretag;
    if (const value* p = find(load, "pretag"); p && !p->is_nil()) {
        pretag = tag_text(*p);
        if (!pretag) {
            return fail(errc::data, what + " " + quoted("pretag") + " must be a string or None, not " +
                                          std::string(kind_name(*p)));
        }
    }
    for (std::size_t i = 0; i < items->size(); ++i) {
        const std::string where = what + " events[" + std::to_string(i) + "]";
        const auto* item = (*items)[i].map();
        if (item == nullptr) {
            return fail(errc::data, where + " must be a map, not " + std::string(kind_name((*items)[i])));
        }
        const value* tag = find(*item, "tag");
        if (tag == nullptr) return fail(errc::data, where + " has no " + quoted("tag"));
        auto t = checked_tag(*tag, where + " " + quoted("tag"));
        if (!t) return t.error();
        const value* data = find(*item, "data");
        value event_data = data ? *data : value(*item);
        if (event_data.map() == nullptr) {
            return fail(errc::data, where + " " + quoted("data") + " must be a map, not " +
                                          std::string(kind_name(event_data)));
        }
        out.push_back({*t, event_data});
        if (pretag) out.push_back({tagify(*pretag, *t), std::move(event_data)});
    }
    return out;
}

}  // namespace
}  // namespace detail

map_t fire_master_request(value data, std::string_view tag) {
    map_t m;
    m.push_back({"data", std::move(data)});
    m.push_back({"tag", std::string(tag)});
    m.push_back({"events", nullptr});
    m.push_back({"pretag", nullptr});
    return m;
}

result<std::vector<master_event>> route_a_events(std::string_view id, const value& request) {
    const std::string what = "fire_master request";
    const auto* req = request.map();
    if (req == nullptr) return fail(errc::data, what + " must be a map, not " + std::string(kind_name(request)));
    // handle_event reads the four keys with data[...]: a missing one is a KeyError in Salt.
    const value* fields[4] = {};
    const char* names[4] = {"data", "tag", "events", "pretag"};
    for (int i = 0; i < 4; ++i) {
        fields[i] = detail::find(*req, names[i]);
        if (fields[i] == nullptr) return fail(errc::data, what + " has no " + detail::quoted(names[i]));
    }
    const value& data = *fields[0];
    const value& tag = *fields[1];
    const value& events = *fields[2];
    map_t load;
    load.push_back({"id", std::string(id)});
    load.push_back({"cmd", "_minion_event"});
    load.push_back({"pretag", *fields[3]});
    // tok sits here in Salt's load; the master removes it before firing.
    if (truthy(events)) {
        load.push_back({"events", events});
    } else if (truthy(tag)) {
        load.push_back({"data", truthy(data) ? data : value(map_t{})});
        load.push_back({"tag", tag});
    } else {
        return std::vector<master_event>{};  // no tag and no events: _fire_master sends nothing
    }
    return detail::master_fire(std::move(load), what);
}

result<std::vector<master_event>> route_b_events(std::string_view id, std::string_view tag, value data,
                                                 const value& preload) {
    if (auto r = check_tag(tag); !r) return r.error();
    map_t load;
    load.push_back({"id", std::string(id)});
    load.push_back({"tag", std::string(tag)});
    load.push_back({"data", std::move(data)});
    load.push_back({"tok", bin_t{}});  // stands for the token; removed below as the master does
    load.push_back({"cmd", "_minion_event"});
    if (!preload.is_nil()) {
        const auto* over = preload.map();
        if (over == nullptr) return fail(errc::data, "preload must be a map, not " + std::string(kind_name(preload)));
        detail::update(load, *over);
    }
    // A preload can reroute the request: the master runs whatever "cmd" names, and only
    // _minion_event fires events.
    if (const value* cmd = detail::find(load, "cmd"); !(cmd && cmd->str() && *cmd->str() == "_minion_event")) {
        return fail(errc::data, "preload replaces \"cmd\": the master would not handle the request as an event");
    }
    std::erase_if(load, [](const member& kv) { return kv.key.str() && *kv.key.str() == "tok"; });
    return detail::master_fire(std::move(load), "preload");
}

}  // namespace tagbus
