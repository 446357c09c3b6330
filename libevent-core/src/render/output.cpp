#include "render/output.hpp"

#include <optional>

#include "wire/utf8.hpp"

namespace tagbus::inline v0 {
namespace {

// Salt's nested outputter colours keys cyan; the rest follows jq's palette so a terminal user
// finds it familiar. Only used when colour is on; otherwise no escape byte is ever written.
constexpr json_colors palette{"\x1b[0;36m", "\x1b[0;32m", "\x1b[0;33m", "\x1b[0;35m", "\x1b[0m"};
constexpr std::string_view tag_on = "\x1b[1;34m";
constexpr std::string_view tag_off = "\x1b[0m";

// Tags are printed raw (Salt's to_str), except that invalid UTF-8 would make Salt crash: those
// bytes are shown as \xNN text instead.
bool append_raw_tag(std::string& out, std::string_view tag) {
    bool clean = true;
    const auto* p = reinterpret_cast<const unsigned char*>(tag.data());
    const auto* end = p + tag.size();
    while (p < end) {
        // Runs of ASCII and of valid sequences are copied in one append each.
        const auto* run = p;
        while (p < end) {
            while (p < end && *p < 0x80) ++p;
            if (p == end) break;
            const std::size_t n = detail::utf8_sequence(p, end);
            if (n == 0) break;
            p += n;
        }
        out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
        if (p == end) break;
        out += "\\x";
        out += detail::hex_digits[*p >> 4];
        out += detail::hex_digits[*p & 0xf];
        clean = false;
        ++p;
    }
    return clean;
}

// One output line around the data: JSON lines' {"tag": ..., "data": ...} or Salt's "tag TAB data",
// LF-terminated. `data` appends the data's JSON with the options it is given and returns its
// outcome, or nullopt when it did not render; on nullopt or drop, `out` is left as it was.
template <typename Data>
std::optional<render_outcome> format_line(std::string_view tag, const output_options& opts, std::string& out,
                                          Data data) {
    const std::size_t start = out.size();
    const bool lines = opts.format == output_format::json_lines;
    render_outcome r;
    if (lines) {
        out += "{\"tag\": ";
        if (!append_json_string(out, tag)) r.issues |= issue_invalid_utf8;
        out += ", \"data\": ";
    } else {
        if (opts.color) out += tag_on;
        if (!append_raw_tag(out, tag)) r.issues |= issue_invalid_utf8;
        if (opts.color) out += tag_off;
        out += '\t';
    }
    const std::optional<render_outcome> d =
        data(lines ? render_options{} : render_options{opts.pretty, opts.color ? &palette : nullptr});
    if (!d || d->drop) {
        out.resize(start);
        return d;
    }
    r.issues |= d->issues;
    out += lines ? "}\n" : "\n";
    return r;
}

}  // namespace

render_outcome format_event(std::string_view tag, const value& data, const output_options& opts, std::string& out) {
    return *format_line(tag, opts, out, [&](const render_options& ro) {
        return std::optional<render_outcome>(render_json(data, out, ro));
    });
}

result<render_outcome> format_packed_event(std::string_view tag, std::string_view packed, const output_options& opts,
                                           std::string& out) {
    // Uncoloured compact JSON is what render_packed_json spells; it declines anything unusual.
    if (!opts.pretty && !opts.color) {
        auto r = format_line(tag, opts, out, [&](const render_options&) -> std::optional<render_outcome> {
            render_outcome d;
            if (!render_packed_json(packed, out, d.issues)) return std::nullopt;
            return d;
        });
        if (r) return *r;
    }
    // The whole of `packed` must be one object: Salt drops data followed by more bytes (a tag
    // ending in "\n" leaves a 0x0a before the data, which is such a case).
    auto data = unpack(packed);
    if (!data) return data.error();
    return format_event(tag, *data, opts, out);
}

std::string describe_issues(unsigned issues) {
    std::string s;
    auto add = [&](unsigned bit, std::string_view what) {
        if (!(issues & bit)) return;
        if (!s.empty()) s += "; ";
        s += what;
    };
    add(issue_invalid_utf8, "non-UTF-8 bytes shown as \\xNN");
    add(issue_ext79, "Salt sentinel (ext 79) shown as [name, value]");
    add(issue_timestamp, "msgpack timestamp shown as ISO-8601 UTC text");
    add(issue_ext_key, "sentinel or timestamp used as a map key shown as its text");
    add(issue_mixed_keys, "string and non-string keys sorted numbers first, then null, then strings");
    return s;
}

}  // namespace tagbus
