#include "fire.hpp"

#include <chrono>

#include "cli.hpp"
#include "tagbus/client.hpp"
#include "tagbus/event.hpp"
#include "tagbus/json.hpp"
#include "tagbus/output.hpp"
#include "tagbus/yaml.hpp"

using namespace tagbus;

std::string word_text(const salt_args& args, std::string_view name, std::size_t position) {
    for (std::size_t k = 0; k < args.keywords.size(); ++k)
        if (args.keywords[k].first == name) return args.raw_keywords[k];
    return position < args.raw_positional.size() ? args.raw_positional[position] : std::string();
}

result<std::chrono::milliseconds> timeout_word_ms(const value& v) {
    double ms = -1;
    if (const auto* u = std::get_if<std::uint64_t>(&v.v)) ms = static_cast<double>(*u);
    else if (const auto* d = std::get_if<double>(&v.v)) ms = *d;
    if (!(ms >= 0) || ms > 86400e3)
        return fail(status::usage, "timeout must be a number of milliseconds, not " +
                                       std::string(v.str() ? "'" + *v.str() + "'" : cli::kind_name(v)));
    return std::chrono::milliseconds(static_cast<long long>(ms + 0.5));
}

result<std::string> make_body(value data, const std::string& data_text, const value& tag, const std::string& tag_text,
                              std::size_t max_event_size) {
    if (!data.map()) {
        // yamlify keeps unparseable YAML as the original string; say why it did not parse.
        if (data.str() && !data_text.empty() && (data_text[0] == '{' || data_text[0] == '[')) {
            auto parsed = salt_yaml_load(data_text);
            if (!parsed) return fail(status::data, "cannot parse DATA: " + parsed.error().message);
        }
        return fail(status::data, "DATA must be a map, not " + std::string(cli::kind_name(data)));
    }
    std::string tag_str;
    if (const auto* s = tag.str()) tag_str = *s;
    else if (tag.map() || tag.array()) return fail(status::data, "TAG must be a string, not " + std::string(cli::kind_name(tag)));
    else tag_str = tag_text;
    return encode_body(tag_str, data, max_event_size);
}

namespace {

void describe_sent(std::string_view tool, const fire_target& t, std::string_view body) {
    auto ev = decode_body(body);
    if (!ev) return;
    std::string line = "sent to " + t.pull.describe() + ": ";
    format_event(ev->tag, ev->data, output_options{}, line);
    if (!line.empty() && line.back() == '\n') line.pop_back();
    cli::say(tool, line);
}

}  // namespace

int fire_bodies(std::string_view tool, const fire_target& t, const std::vector<std::string>& bodies) {
    auto pub = publisher::connect(t.pull, t.budget);
    if (!pub) return cli::fail(tool, pub.error());
    std::string frames;
    for (const auto& body : bodies) append_frame(frames, body, t.framing);
    if (auto r = pub->send(frames); !r) return cli::fail(tool, r.error());
    if (auto r = pub->close(t.budget); !r) return cli::fail(tool, r.error());
    if (t.verbose)
        for (const auto& body : bodies) describe_sent(tool, t, body);
    return 0;
}

int fire_lines(std::string_view tool, const fire_target& t, std::istream& in) {
    auto pub = publisher::connect(t.pull, t.budget);
    if (!pub) return cli::fail(tool, pub.error());
    std::string line, frame;
    std::size_t lineno = 0;
    std::optional<failure> bad;
    while (!bad && std::getline(in, line)) {
        ++lineno;
        if (line.empty()) continue;
        std::string tag;
        value data;
        if (line[0] == '{') {  // state-event --json-lines
            auto obj = parse_json(line);
            // tv and dv point into *obj, which outlives them (never into a temporary copy).
            const value* tv = nullptr;
            const value* dv = nullptr;
            if (const map_t* m = obj ? obj->map() : nullptr) {
                for (const auto& mem : *m) {
                    if (mem.key.str() && *mem.key.str() == "tag") tv = &mem.val;
                    if (mem.key.str() && *mem.key.str() == "data") dv = &mem.val;
                }
            }
            if (!obj) bad = obj.error();
            else if (!tv || !tv->str() || !dv) bad = failure{status::data, "expected an object with \"tag\" and \"data\""};
            else tag = *tv->str(), data = *dv;
        } else {
            auto tab = line.find('\t');
            if (tab == std::string::npos) {
                bad = failure{status::data, "expected TAG<TAB>JSON (state-event's output)"};
            } else {
                tag = line.substr(0, tab);
                auto d = parse_json(std::string_view(line).substr(tab + 1));
                if (!d) bad = d.error();
                else data = std::move(*d);
            }
        }
        if (!bad) {
            auto body = encode_body(tag, data, t.max_event_size);
            if (!body) {
                bad = body.error();
            } else {
                frame.clear();
                append_frame(frame, *body, t.framing);
                if (auto r = pub->send(frame); !r) return cli::fail(tool, r.error());
                if (t.verbose) describe_sent(tool, t, *body);
            }
        }
        if (bad) bad->message = "line " + std::to_string(lineno) + ": " + bad->message;
    }
    // Everything accepted before a bad line is still delivered.
    if (auto r = pub->close(t.budget); !r) return cli::fail(tool, r.error());
    if (bad) return cli::fail(tool, *bad);
    if (in.bad()) return cli::fail(tool, {status::io, "cannot read stdin"});
    return 0;
}
