#include "tagbus/output.hpp"

#include "utf8.hpp"

namespace tagbus {
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

}  // namespace

render_outcome format_event(std::string_view tag, const value& data, const output_options& opts, std::string& out) {
    const std::size_t start = out.size();
    render_outcome r;
    if (opts.format == output_format::json_lines) {
        out += "{\"tag\": ";
        if (!append_json_string(out, tag)) r.issues |= issue_invalid_utf8;
        out += ", \"data\": ";
        render_outcome d = render_json(data, out, render_options{});
        if (d.drop) {
            out.resize(start);
            return d;
        }
        r.issues |= d.issues;
        out += "}\n";
        return r;
    }
    if (opts.color) out += tag_on;
    if (!append_raw_tag(out, tag)) r.issues |= issue_invalid_utf8;
    if (opts.color) out += tag_off;
    out += '\t';
    render_outcome d = render_json(data, out, render_options{opts.pretty, opts.color ? &palette : nullptr});
    if (d.drop) {
        out.resize(start);
        return d;
    }
    r.issues |= d.issues;
    out += '\n';
    return r;
}

result<render_outcome> format_packed_event(std::string_view tag, std::string_view packed, const output_options& opts,
                                           std::string& out) {
    if (!opts.pretty && !opts.color) {
        const std::size_t start = out.size();
        render_outcome r;
        if (opts.format == output_format::json_lines) {
            out += "{\"tag\": ";
            if (!append_json_string(out, tag)) r.issues |= issue_invalid_utf8;
            out += ", \"data\": ";
            if (render_packed_json(packed, out, r.issues)) {
                out += "}\n";
                return r;
            }
        } else {
            if (!append_raw_tag(out, tag)) r.issues |= issue_invalid_utf8;
            out += '\t';
            if (render_packed_json(packed, out, r.issues)) {
                out += '\n';
                return r;
            }
        }
        out.resize(start);
    }
    std::size_t used = 0;
    auto data = unpack(packed, used);
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
    add(issue_other_ext, "unknown msgpack ext shown as <ext TYPE: HEX>");
    add(issue_ext_key, "ext value used as a map key shown as its text");
    add(issue_mixed_keys, "string and non-string keys sorted numbers first, then null, then strings");
    return s;
}

}  // namespace tagbus
