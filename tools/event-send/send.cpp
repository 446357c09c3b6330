#include "send.hpp"

#include "cli.hpp"
#include "salt/yaml.hpp"
#include "tagbus/event.hpp"

using namespace tagbus;

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
