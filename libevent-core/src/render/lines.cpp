#include "render/lines.hpp"

#include "render/json.hpp"

namespace tagbus::inline v0 {

result<void> parse_event_line(std::string_view line, std::string& tag, value& data) {
    const auto tab = line.find('\t');
    if (tab == std::string_view::npos && !line.empty() && line[0] == '{') {
        auto obj = parse_json(line);
        if (!obj) return obj.error();
        // tv and dv point into *obj, which outlives them (never into a temporary copy).
        const value* tv = nullptr;
        const value* dv = nullptr;
        if (const map_t* m = obj->map()) {
            for (const auto& mem : *m) {
                if (mem.key.str() && *mem.key.str() == "tag") tv = &mem.val;
                if (mem.key.str() && *mem.key.str() == "data") dv = &mem.val;
            }
        }
        if (!tv || !tv->str() || !dv) return fail(errc::data, "expected an object with \"tag\" and \"data\"");
        tag = *tv->str();
        data = *dv;
        return {};
    }
    if (tab == std::string_view::npos) return fail(errc::data, "expected TAG<TAB>JSON (state-event's output)");
    auto d = parse_json(line.substr(tab + 1));
    if (!d) return d.error();
    tag = std::string(line.substr(0, tab));
    data = std::move(*d);
    return {};
}

}  // namespace tagbus
