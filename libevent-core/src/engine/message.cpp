#include "engine/message.hpp"

#include "engine/subject.hpp"
#include "render/json.hpp"
#include "tagbus/event.hpp"
#include "wire/skim.hpp"

namespace tagbus::inline v0::engine {

std::optional<std::string> salt_body_problem(std::string_view payload) {
    auto parts = split_body(payload);
    if (!parts) return parts.error().message;
    const auto [tag, packed] = *parts;
    if (tag.empty()) return std::string("its tag is empty");
    const char* p = packed.data();
    if (!skip_packed(p, packed.data() + packed.size()) || p != packed.data() + packed.size())
        return std::string("its data is not one msgpack value");
    const unsigned c = static_cast<unsigned char>(packed[0]);
    if ((c & 0xF0) != 0x80 && c != 0xDE && c != 0xDF) return std::string("its data is not a map");
    return std::nullopt;
}

result<std::string> event_body(const incoming& m, std::string_view prefix) {
    if (m.format.empty() || m.format == "salt") {
        if (auto why = salt_body_problem(m.payload)) return fail(errc::data, "not a Salt event body (" + *why + ")");
        return m.payload;
    }
    if (m.format != "json") return fail(errc::data, "unknown Salt-Format '" + m.format + "' (expected salt or json)");
    auto v = parse_json(m.payload);
    if (!v) return fail(errc::data, "not a JSON event: " + v.error().message);
    const value* tag = nullptr;
    const value* data = nullptr;
    if (const auto* mp = v->map())
        for (const auto& mb : *mp)
            if (const auto* k = mb.key.str()) {
                if (*k == "tag") tag = &mb.val;
                if (*k == "data") data = &mb.val;
            }
    std::string t = tag && tag->str() ? *tag->str() : std::string();
    if (t.empty())
        if (auto parts = tag_of(prefix, m.subject)) t = parts->tag;
    if (t.empty() || data == nullptr || data->map() == nullptr)
        return fail(errc::data, "not a JSON event (expected {\"tag\": TEXT, \"data\": {...}})");
    value d = *data;
    return encode_body(t, d, default_max_event_size, false);
}

}  // namespace tagbus::engine
