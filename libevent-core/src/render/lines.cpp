#include "render/lines.hpp"

#include "render/json.hpp"
#include "wire/stamp.hpp"

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

result<void> line_body(std::string_view line, std::size_t max_event_size, std::string& body, trim_report* report) {
    const auto tab = line.find('\t');
    if (tab != 0 && tab != std::string_view::npos) {
        body.assign(line.substr(0, tab));
        body.append("\n\n");
        const std::size_t head = body.size();
        if (pack_json_stamped(line.substr(tab + 1), detail::stamp_now(), body) &&
            body.size() - head + 33 <= max_event_size && check_tag(line.substr(0, tab))) {
            if (report) *report = trim_report{};
            return {};
        }
    }
    std::string tag;
    value data;
    if (auto r = parse_event_line(line, tag, data); !r) return r.error();
    auto b = encode_body(tag, data, max_event_size, true, report);
    if (!b) return b.error();
    body = std::move(*b);
    return {};
}

}  // namespace tagbus
