// Salt's YAML loader (salt.utils.yaml.safe_load = PyYAML SafeLoader + SaltYamlSafeLoader) on top
// of yaml-cpp. yaml-cpp only parses: every scalar is typed here with PyYAML's YAML 1.1 resolvers and
// constructed as PyYAML's constructors (plus Salt's overrides) would, because yaml-cpp's own
// conversions are YAML 1.2 and would turn `yes`, `0x1f` or `12:30` into the wrong values.
#include "salt/yaml.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "salt/yaml_scalar.hpp"
#include "py/py.hpp"
#include "wire/utf8.hpp"

namespace tagbus::inline v0 {
namespace detail {
namespace {

constexpr const char* k_tag = "tag:yaml.org,2002:";
constexpr int k_max_depth = 512;  // a recursive alias (&a [*a]) must not recurse forever

struct yaml_error {
    std::string message;
    YAML::Mark mark;
};

// PyYAML's Reader refuses anything outside its printable set before parsing; undecodable bytes
// reach Python as lone surrogates (surrogateescape) and are refused the same way.
bool pyyaml_printable(char32_t c) {
    return c == 0x09 || c == 0x0A || c == 0x0D || (c >= 0x20 && c <= 0x7E) || c == 0x85 ||
           (c >= 0xA0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

}  // namespace

namespace {

struct construct_failure {
    std::string message;
    YAML::Mark mark;
};

[[noreturn]] void fail_at(const YAML::Node& n, std::string message) { throw construct_failure{std::move(message), n.Mark()}; }

// Python dict-key identity for Salt's duplicate-key check: 1, 1.0 and True are the same key.
struct key_id {
    enum kind_t { none, num, big, str } kind = str;
    bool is_float = false;
    __int128 i = 0;
    double f = 0;
    std::string s;

    bool operator==(const key_id& o) const {
        if (kind != o.kind) return false;
        if (kind == none) return true;
        if (kind == str || kind == big) return s == o.s;
        if (is_float && o.is_float) return f == o.f || (std::isnan(f) && std::isnan(o.f));  // one nan object
        if (!is_float && !o.is_float) return i == o.i;
        double d = is_float ? f : o.f;
        __int128 n = is_float ? o.i : i;
        return std::isfinite(d) && std::trunc(d) == d && std::fabs(d) < 1e30 && static_cast<__int128>(d) == n;
    }
};

std::string py_str(const value& v) {
    if (v.is_nil()) return "None";
    if (auto* b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
    if (auto* u = std::get_if<std::uint64_t>(&v.v)) return std::to_string(*u);
    if (auto* n = std::get_if<std::int64_t>(&v.v)) return std::to_string(*n);
    if (auto* d = std::get_if<double>(&v.v)) {
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, *d);
        return std::string(buf, r.ptr);
    }
    if (auto* s = v.str()) return *s;
    return "?";
}

struct loader {
    std::string_view src;

    // The tag PyYAML would give a scalar: explicit, or from the YAML 1.1 implicit resolvers.
    std::string scalar_tag(const YAML::Node& n) const {
        const std::string& tag = n.Tag();
        auto pos = static_cast<std::size_t>(n.Mark().pos);
        if (pos < src.size() && src[pos] == '&') pos = src.find_first_not_of(" \t", src.find_first_of(" \t", pos));
        // yaml-cpp reports both quoted scalars and an explicit `!` as "!"; PyYAML resolves the
        // latter implicitly even when quoted, so look at what the node starts with.
        // yaml-cpp spells a lone `!` at the very end of the text as the empty core tag.
        bool bang = (tag == "!" && pos < src.size() && src[pos] == '!') || tag == k_tag;
        if (tag == "?" || bang) {
            // The resolvers are Python regexes ending in `$`, which also matches before a final
            // newline (reachable through `! "5\n"`).
            std::string_view t = n.Scalar();
            if (t.empty()) return "null";
            if (t.ends_with('\n')) t.remove_suffix(1);
            if (t.empty()) return "str";
            if (bool_word(t) >= 0) return "bool";
            if (looks_float(t)) return "float";
            if (looks_int(t)) return "int";
            if (t == "<<") return "merge";
            if (looks_null(t)) return "null";
            if (t == "=") return "value";
            // Timestamps are not resolved: SaltYamlSafeLoader constructs them as plain strings.
            return "str";
        }
        if (tag == "!") return "str";
        if (tag.starts_with(k_tag)) return tag.substr(std::string_view(k_tag).size());
        return tag;
    }

    value scalar(const YAML::Node& n, const std::string& tag, bool implicit) const {
        const std::string& t = n.Scalar();
        value out;
        if (tag == "null") return value(nullptr);
        if (tag == "bool") {
            std::string lower;
            for (char c : t) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
            int b = bool_word(implicit ? std::string_view(t) : std::string_view(lower));
            if (b < 0) fail_at(n, "invalid boolean '" + t + "'");
            return value(b == 1);
        }
        if (tag == "int") {
            if (!construct_int(t, out)) fail_at(n, "invalid literal for int(): '" + t + "'");
            return out;
        }
        if (tag == "float") {
            if (!construct_float(t, out)) fail_at(n, "could not convert string to float: '" + t + "'");
            return out;
        }
        if (tag == "str") {
            std::string s;
            if (!salt_str(t, s)) fail_at(n, "cannot evaluate the string literal " + t);
            return value(std::move(s));
        }
        if (tag == "python/unicode" || tag == "timestamp") return value(t);
        if (tag == "map" || tag == "seq") fail_at(n, "expected a " + std::string(tag == "map" ? "mapping" : "sequence") + " node, but found scalar");
        fail_at(n, "could not determine a constructor for the tag '" + (tag.starts_with('!') || tag.find(':') != std::string::npos ? tag : std::string(k_tag) + tag) + "'");
    }

    // An empty node that carried an explicit tag (`!!str` alone): yaml-cpp drops the tag.
    value empty_node(const YAML::Node& n) const {
        auto pos = static_cast<std::size_t>(n.Mark().pos);
        if (pos >= src.size() || src[pos] != '!') return value(nullptr);
        auto end = src.find_first_of(" \t\r\n,]}", pos);
        std::string_view tag = src.substr(pos, end == std::string_view::npos ? end : end - pos);
        if (tag == "!" || tag == "!!null") return value(nullptr);
        if (tag == "!!str") return value(std::string());
        fail_at(n, "cannot construct an empty " + std::string(tag));
    }

    bool is_merge_key(const YAML::Node& k) const { return k.IsScalar() && scalar_tag(k) == "merge"; }

    using pairs = std::vector<std::pair<YAML::Node, YAML::Node>>;

    // PyYAML's flatten_mapping with Salt's change: merged entries whose key text already appears
    // among the map's own keys are dropped instead of overriding or conflicting.
    pairs flatten(const YAML::Node& map, int depth) const {
        if (depth > k_max_depth) fail_at(map, "nesting deeper than 512");
        pairs merge, own;
        for (auto it = map.begin(); it != map.end(); ++it) {
            // Copies: yaml-cpp's iterator hands out a temporary proxy.
            YAML::Node k = it->first;
            YAML::Node v = it->second;
            if (!is_merge_key(k)) {
                own.emplace_back(k, v);
            } else if (v.IsMap()) {
                auto sub = flatten(v, depth + 1);
                merge.insert(merge.end(), sub.begin(), sub.end());
            } else if (v.IsSequence()) {
                std::vector<pairs> subs;
                for (const auto& m : v) {
                    if (!m.IsMap()) fail_at(m, "expected a mapping for merging");
                    subs.push_back(flatten(m, depth + 1));
                }
                for (auto s = subs.rbegin(); s != subs.rend(); ++s) merge.insert(merge.end(), s->begin(), s->end());
            } else {
                fail_at(v, "expected a mapping or list of mappings for merging");
            }
        }
        if (merge.empty()) return own;
        auto text = [](const YAML::Node& k) { return k.IsScalar() ? k.Scalar() : std::string(); };
        pairs out;
        for (auto& m : merge) {
            bool exists = false;
            for (auto& o : own) exists = exists || (m.first.IsScalar() && o.first.IsScalar() && text(o.first) == text(m.first));
            if (!exists) out.push_back(m);
        }
        out.insert(out.end(), own.begin(), own.end());
        return out;
    }

    key_id identity(const YAML::Node& k, const value& key) const {
        key_id id;
        if (key.is_nil()) id.kind = key_id::none;
        else if (auto* b = std::get_if<bool>(&key.v)) id.kind = key_id::num, id.i = *b;
        else if (auto* u = std::get_if<std::uint64_t>(&key.v)) id.kind = key_id::num, id.i = *u;
        else if (auto* n = std::get_if<std::int64_t>(&key.v)) id.kind = key_id::num, id.i = *n;
        else if (auto* d = std::get_if<double>(&key.v)) id.kind = key_id::num, id.is_float = true, id.f = *d;
        else if (auto* s = key.str()) {
            // An int too big for 64 bits is carried as text but is still an int to Python.
            id.kind = k.IsScalar() && scalar_tag(k) == "int" ? key_id::big : key_id::str;
            id.s = *s;
        }
        return id;
    }

    value build(const YAML::Node& n, int depth) const {
        if (depth > k_max_depth) fail_at(n, "nesting deeper than 512");
        if (n.IsNull()) return empty_node(n);
        const std::string& tag = n.Tag();
        if (n.IsScalar()) {
            std::string t = scalar_tag(n);
            return scalar(n, t, tag == "?" || tag == "!");
        }
        std::string ctag = tag == "?" || tag == "!" ? "" : tag.starts_with(k_tag) ? tag.substr(std::string_view(k_tag).size()) : tag;
        if (n.IsSequence()) {
            if (!ctag.empty() && ctag != "seq") fail_at(n, "cannot construct a sequence tagged " + tag);
            array_t a;
            for (const auto& e : n) a.push_back(build(e, depth + 1));
            return value(std::move(a));
        }
        if (!ctag.empty() && ctag != "map") fail_at(n, "cannot construct a mapping tagged " + tag);
        map_t m;
        std::vector<key_id> ids;
        for (auto& [k, v] : flatten(n, depth)) {
            if (k.IsMap() || k.IsSequence()) fail_at(k, "while constructing a mapping: found unacceptable key");
            // The YAML 1.1 `=` value key is read as the string "=" (flatten_mapping).
            value key = k.IsScalar() && scalar_tag(k) == "value" ? value("=") : build(k, depth + 1);
            key_id id = identity(k, key);
            for (const auto& seen : ids)
                if (seen == id) fail_at(k, "while constructing a mapping: found conflicting ID '" + py_str(key) + "'");
            ids.push_back(std::move(id));
            m.push_back(member{std::move(key), build(v, depth + 1)});
        }
        return value(std::move(m));
    }
};

// yaml-cpp (YAML 1.2) accepts some flow text that PyYAML (YAML 1.1) refuses, and reads `?` in
// flow differently. This pass finds those spots before yaml-cpp parses; it returns an error text,
// or "" with `out` holding what to hand to yaml-cpp (a space added after a flow `?` indicator,
// which PyYAML takes as a key indicator even when something follows it directly).
std::string prescan(std::string_view in, std::string& out, std::size_t& i) {
    auto blank = [&](std::size_t i) { return i >= in.size() || in[i] == ' ' || in[i] == '\t' || in[i] == '\n' || in[i] == '\r'; };
    auto flow_ind = [](char c) { return c == ',' || c == '[' || c == ']' || c == '{' || c == '}'; };
    int depth = 0;
    bool node_start = true, entry_start = false;
    char last = '[';
    // What the document holds so far at depth 0: a block collection (or a quoted scalar, a flow
    // collection or a block scalar), and whether a comment line followed a top-level plain scalar.
    bool block = false, comment_after_plain = false;
    // Documents: yaml-cpp must see at most one, and never a directive or marker it would read
    // differently (`a` LF `---` LF `,` and `...` LF `,` ran it out of memory). `open`: a document
    // has begun and not ended with `...`; `directives`: directives wait for their `---`.
    bool begun = false, open = false, directives = false, yaml_directive = false;
    // The document's root block collection: 'S'equence or 'M'apping, and the column it starts in.
    char root = 0;
    std::size_t root_col = 0;
    // The column of the root node's first token (a tag or anchor of a top-level plain scalar).
    std::size_t node_col = std::string_view::npos;
    auto continuation_indent = [&]() -> std::size_t { return node_col == std::string_view::npos ? 1 : node_col + 1; };
    auto column = [&](std::size_t at) {
        const std::size_t line = in.rfind('\n', at == 0 ? 0 : at - 1);
        return line == std::string_view::npos || at == 0 ? at : at - line - 1;
    };
    i = 0;
    auto marker = [&](std::size_t at) {
        return (at == 0 || in[at - 1] == '\n') && (in.substr(at).starts_with("---") || in.substr(at).starts_with("...")) &&
               blank(at + 3);
    };
    // What PyYAML's parser names a token starting at in[i], for "expected '<document start>'".
    auto token_name = [&]() -> std::string {
        const char c = in[i];
        if (c == '[' || c == '{' || c == ',' || c == ']' || c == '}') return std::string("'") + c + "'";
        if (c == '-' && blank(i + 1)) return "'<block sequence start>'";
        if (c == '!') return "'<tag>'";
        if (c == '&') return "'<anchor>'";
        if (c == '*') return "'<alias>'";
        return "'<scalar>'";
    };
    // One directive line (PyYAML's scan_directive): %YAML and %TAG are checked as PyYAML does,
    // other names are ignored to the end of the line. yaml-cpp reads what passes the same way.
    auto directive = [&]() -> std::string {
        auto alnum = [](char ch) { return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'); };
        auto found = [&](std::string_view want) {
            return "while scanning a directive: expected " + std::string(want) + ", but found " +
                   (i < in.size() ? "'" + std::string(1, in[i]) + "'" : std::string("'\\x00'"));
        };
        auto line_end = [&]() { return i >= in.size() || in[i] == '\n' || in[i] == '\r'; };
        auto spaces = [&]() { while (i < in.size() && in[i] == ' ') ++i; };
        const std::size_t b = ++i;
        while (i < in.size() && (alnum(in[i]) || in[i] == '-' || in[i] == '_')) ++i;
        const std::string_view name = in.substr(b, i - b);
        if (name.empty() || !(line_end() || in[i] == ' ')) return found("alphabetic or numeric character");
        if (name == "YAML") {
            if (yaml_directive) return "found duplicate YAML directive";
            spaces();
            const std::size_t major = i;
            while (i < in.size() && in[i] >= '0' && in[i] <= '9') ++i;
            if (i == major) return found("a digit");
            if (i >= in.size() || in[i] != '.') return found("a digit or '.'");
            const bool one = in.substr(major, i - major) == "1";
            const std::size_t minor = ++i;
            while (i < in.size() && in[i] >= '0' && in[i] <= '9') ++i;
            if (i == minor) return found("a digit");
            if (!(line_end() || in[i] == ' ')) return found("a digit or ' '");
            if (!one) return "found incompatible YAML document (version 1.* is required)";
            yaml_directive = true;
        } else if (name == "TAG") {
            spaces();
            if (i >= in.size() || in[i] != '!') return found("'!'");
            ++i;
            if (i < in.size() && in[i] != ' ') {
                while (i < in.size() && (alnum(in[i]) || in[i] == '-' || in[i] == '_')) ++i;
                if (i >= in.size() || in[i] != '!') return found("'!'");
                ++i;
            }
            if (i >= in.size() || in[i] != ' ') return found("' '");
            spaces();
            const std::size_t prefix = i;
            while (i < in.size() && (alnum(in[i]) || std::string_view("-;/?:@&=+$,_.!~*'()[]%").find(in[i]) != std::string_view::npos)) ++i;
            if (i == prefix) return found("URI");
            if (!line_end() && in[i] != ' ') return found("' '");
        } else {
            while (!line_end()) ++i;
        }
        spaces();
        if (i < in.size() && in[i] == '#')
            while (!line_end()) ++i;
        if (!line_end()) return found("a comment or a line break");
        out.append(in.substr(b - 1, i - b + 1));
        directives = true;
        return {};
    };
    auto skip_quoted = [&]() -> bool {
        char q = in[i];
        out += in[i++];
        while (i < in.size()) {
            char c = in[i];
            out += c;
            ++i;
            // yaml-cpp also takes \' in double quotes; PyYAML knows no such escape.
            if (q == '"' && c == '\\' && i < in.size() && in[i] == '\'') return false;
            if (q == '"' && c == '\\' && i < in.size()) {
                // yaml-cpp writes these four as single Latin-1 bytes, not UTF-8.
                std::string_view named = in[i] == '_' ? "u00a0" : in[i] == 'N' ? "u0085" : in[i] == 'L' ? "u2028" : in[i] == 'P' ? "u2029" : "";
                if (named.empty()) out += in[i];
                else out += named;
                ++i;
            }
            else if (c == q && q == '\'' && i < in.size() && in[i] == '\'') out += in[i++];
            else if (c == q) return true;
        }
        return false;
    };
    // PyYAML's anchor and tag scanners: ASCII names, and a tag must be followed by a blank. Its
    // tag characters include ',', '[' and ']', which yaml-cpp would end a tag at instead.
    auto property = [&]() -> std::string {
        auto alnum = [](char ch) { return (ch >= '0' && ch <= '9') || ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z'); };
        std::size_t b = i++;
        if (in[b] == '&') {
            while (i < in.size() && (alnum(in[i]) || in[i] == '-' || in[i] == '_')) ++i;
            if (i == b + 1 || !(blank(i) || std::string_view("?:,]}%@`").find(in[i]) != std::string_view::npos))
                return "while scanning an anchor: expected alphabetic or numeric character";
        } else {
            if (i < in.size() && in[i] == '<') {  // verbatim: !<tag:yaml.org,2002:int>
                i = in.find('>', i);
                i = i == std::string_view::npos ? in.size() : i + 1;
                if (!blank(i)) return "while scanning a tag: expected ' '";
                out.append(in.substr(b, i - b));
                return {};
            }
            while (i < in.size() && (alnum(in[i]) || std::string_view("-;/?:@&=+$,_.!~*'()[]%").find(in[i]) != std::string_view::npos)) ++i;
            if (!blank(i)) return "while scanning a tag: expected ' '";
            if (in.substr(b, i - b).find_first_of(",[]") != std::string_view::npos) return "unknown tag " + std::string(in.substr(b, i - b));
        }
        out.append(in.substr(b, i - b));
        // PyYAML ends an anchor at these characters; yaml-cpp needs a blank to see the end.
        if (in[b] == '&' && !blank(i)) out += ' ';
        return {};
    };
    while (i < in.size()) {
        char c = in[i];
        // PyYAML starts a comment at any token start, yaml-cpp only after a blank.
        bool token_start = last == 'q' || (depth > 0 && entry_start);
        if (c == '#' && (i == 0 || blank(i - 1) || token_start)) {
            if (depth == 0 && !block && last == 'x') comment_after_plain = true;
            if (i > 0 && !blank(i - 1)) out += ' ';
            while (i < in.size() && in[i] != '\n') out += in[i++];
            continue;
        }
        if (blank(i)) {
            if (c == '\n' && depth == 0) {
                node_start = last == ':' || last == '-' || last == '?' || last == '[' || last == '!';
                // A quoted scalar or flow collection that is the root node: the document is done.
                if (last == 'q' && root == 0) root = 'C';
                if (last == 'q') last = 'x';
            }
            out += in[i++];
            continue;
        }
        const bool column0 = i == 0 || in[i - 1] == '\n';
        if (marker(i)) {
            const bool start = in[i] == '-';
            if (depth > 0)
                return std::string(entry_start ? "expected the node content" : "expected ',' or ']'") + ", but found " +
                       (start ? "'<document start>'" : "'<document end>'");
            if (start && begun) return "expected a single document in the stream";
            if (!start && directives) return "expected '<document start>', but found '<document end>'";
            if (!start && !begun) return "expected the node content, but found '<document end>'";
            if (start) begun = true, directives = false, yaml_directive = false, root = 0, node_col = std::string_view::npos;
            open = start;
            node_start = true, last = '[', block = false, comment_after_plain = false;
            if (!start) last = 'q', block = true;  // only a comment may follow on the line
            out.append(in.substr(i, 3));
            i += 3;
            continue;
        }
        if (c == '%' && column0) {
            if (depth > 0) return "expected the node content, but found '<directive>'";
            // In a document, '%' continues a top-level plain scalar (indented for yaml-cpp, which
            // reads a directive in any column-0 '%'); anywhere else it ends the document.
            if (open && !node_start && !block && last == 'x' && !comment_after_plain) {
                // indented below, as every continuation line
            } else {
                if (std::string err = directive(); !err.empty()) return err;
                open = false;
                continue;
            }
        } else if (depth == 0 && !open) {
            if (begun || directives) return "expected '<document start>', but found " + token_name();
            begun = open = true;
        }
        // A line in column 0 after a root block sequence must be an entry of it, and after an
        // indented root collection there is none: PyYAML refuses both, and yaml-cpp 0.7 runs out
        // of memory on `- a` LF `!,`.
        if (depth == 0 && column0 && open && ((root == 'S' && !(c == '-' && blank(i + 1))) || (root != 0 && root != 'C' && root_col > 0)))
            return "expected <block end>, but found " + token_name();
        // After a root quoted scalar, flow collection or block scalar, a later line holds nothing
        // (`|` LF LF `&&&` ran yaml-cpp out of memory), nor after a comment that ended a root
        // plain scalar (`a` LF `# c` LF ` ,` did too).
        if (depth == 0 && open && (root == 'C' || comment_after_plain))
            return "expected '<document start>', but found " + token_name();
        if (depth == 0 && node_col == std::string_view::npos) node_col = column(i);
        if (depth == 0) {
            // After a quoted scalar or flow collection only a mapping value may follow on the line
            // (yaml-cpp 0.7 also loops forever on a ',' there).
            if (last == 'q' && !(c == ':' && blank(i + 1))) return "expected '<document start>', but found more text";
            // PyYAML takes a ',' where a block node starts for a flow entry token: an error.
            // (yaml-cpp 0.7 also loops forever on a leading ',', so it must not see one.)
            if (node_start && c == ',') return "expected a node, but found ','";
            // A ',' in column 0 after a node: PyYAML continues a top-level plain scalar with it
            // and refuses it anywhere else. yaml-cpp 0.7 runs out of memory on it after a block
            // sequence entry or a node with an anchor or tag (`&c:a` LF `,`: 22 s, then
            // bad_alloc), so it gets an indented continuation line or nothing.
            if (c == ',' && i > 0 && in[i - 1] == '\n') {
                if (block) return "expected <block end>, but found ','";
                if (last != 'x') return "expected '<document start>', but found ','";
            }
            // Every continuation line of a top-level plain scalar (PyYAML reads any line that is
            // not a comment, a marker or a mapping value as more of its text) is indented past
            // the scalar's tag or anchor for yaml-cpp, which otherwise ends the scalar at a ',',
            // '!', '&', '%' or '?' there and runs out of memory on some (`&c- :a` LF `!,`,
            // ` ! a` LF ` ,`, `!!str a` LF `?`: fuzzing finds). Indenting changes no text.
            if (!node_start && !block && last == 'x' && i > 0 && !(c == ':' && blank(i + 1))) {
                std::size_t k = i;
                while (k > 0 && (in[k - 1] == ' ' || in[k - 1] == '\t')) --k;
                if ((k == 0 || in[k - 1] == '\n') && i - k < continuation_indent()) out.append(continuation_indent() - (i - k), ' ');
            }
            if (node_start && (c == '[' || c == '{')) {
                depth = 1, entry_start = true, last = '[', block = true;
            } else if (node_start && (c == '\'' || c == '"')) {
                if (!skip_quoted()) return "cannot scan the quoted scalar";
                node_start = false, last = 'q', block = true;
                continue;
            } else if (node_start && (c == '|' || c == '>')) {
                // A block scalar: after its header line, the content is not YAML structure.
                std::size_t h = i + 1, increment = 0;
                for (; h < in.size() && (in[h] == '+' || in[h] == '-' || (in[h] >= '1' && in[h] <= '9')); ++h)
                    if (in[h] != '+' && in[h] != '-') increment = static_cast<std::size_t>(in[h] - '0');
                if (!blank(h)) return "while scanning a block scalar: expected chomping or indentation indicators";
                while (h < in.size() && (in[h] == ' ' || in[h] == '\t')) ++h;
                if (h < in.size() && in[h] != '#' && in[h] != '\n' && in[h] != '\r')
                    return "while scanning a block scalar: expected a comment or a line break";
                // Its content is every following line that is blank or indented enough (even at
                // the top level PyYAML wants an indent of at least 1). The first other line is
                // YAML again and is scanned as such: `>` LF `,` must not reach yaml-cpp either.
                // Enough: the root scalar's indentation (the indicator's, else its first line's);
                // for a nested one, at least the indicator plus its line's indent (PyYAML's is
                // that or more), else any (`>2` LF LF ` ,` ran yaml-cpp out of memory).
                const bool at_root = root == 0;
                std::size_t indent = 0;
                if (increment != 0) {
                    std::size_t line = in.rfind('\n', i);
                    line = line == std::string_view::npos ? 0 : line + 1;
                    indent = at_root ? increment : in.find_first_not_of(' ', line) - line + increment;
                }
                std::size_t end = in.find('\n', h);
                while (end != std::string_view::npos) {
                    const std::size_t next = end + 1;
                    std::size_t spaces = next;
                    while (spaces < in.size() && in[spaces] == ' ') ++spaces;
                    std::size_t k = spaces;
                    while (k < in.size() && (in[k] == ' ' || in[k] == '\t' || in[k] == '\r')) ++k;
                    const bool empty = next < in.size() && (k == in.size() || in[k] == '\n');
                    const std::size_t ind = spaces - next;
                    if (!empty && indent == 0 && at_root && ind > 0) indent = ind;
                    const bool content = empty || (ind > 0 && ind >= indent);
                    if (!content) break;
                    end = in.find('\n', next);
                }
                if (end == std::string_view::npos) {
                    out.append(in.substr(i));
                    return {};
                }
                out.append(in.substr(i, end - i));
                i = end;
                node_start = false, last = 'x', block = true;
                if (root == 0) root = 'C';
                continue;
            } else if ((((c == '-' || c == '?') && node_start) || c == ':') && blank(i + 1)) {
                // A value indicator where a node should start has no key, unless after `?` or
                // after an anchor or tag (which then belong to an empty key).
                if (c == ':' && node_start && last != '?' && last != '!') return "mapping values are not allowed here";
                if (root == 0) {
                    root = c == '-' ? 'S' : 'M';
                    std::size_t line = in.rfind('\n', i);
                    line = line == std::string_view::npos ? 0 : line + 1;
                    root_col = in.find_first_not_of(" \t", line) - line;
                }
                node_start = true, last = c, block = true;
            } else if (node_start && (c == '!' || c == '&')) {
                if (std::string err = property(); !err.empty()) return err;
                last = '!';
                continue;
            } else {
                node_start = false, last = 'x';
            }
            out += in[i++];
            continue;
        }
        if (entry_start) {
            if (c == ',' && (last == '[' || last == ',')) return "expected the node content, but found ','";
            if (c == '?' || c == ':') {
                // In flow context PyYAML reads both as indicators even with no blank after them.
                if (c == ':' && last != '?' && last != '!') return "expected the node content, but found ':'";
                out += c;
                if (!blank(i + 1)) out += ' ';
                ++i, last = c;
                // `? :` is an empty key to PyYAML; yaml-cpp would read `:` as starting a nested
                // mapping, so the empty key is spelled out.
                std::size_t k = i;
                while (k < in.size() && (in[k] == ' ' || in[k] == '\t')) ++k;
                if (c == '?' && k < in.size() && in[k] == ':') out += "~ ";
                continue;
            }
            if (c == '!' || c == '&') {
                if (std::string err = property(); !err.empty()) return err;
                last = '!';
                continue;
            }
            if (c == '\'' || c == '"') {
                if (!skip_quoted()) return "cannot scan the quoted scalar";
                entry_start = false, last = 'q';
                continue;
            }
        }
        if (c == '[' || c == '{') {
            ++depth, entry_start = true, last = '[';
        } else if (c == ']' || c == '}') {
            if (--depth == 0) node_start = false;
            entry_start = false, last = 'q';
        } else if (c == ',') {
            entry_start = true, last = ',';
        } else if (c == ':' && (blank(i + 1) || flow_ind(in[i + 1]) || last == 'q')) {
            entry_start = true, last = ':';
        } else if (c == '?') {
            return "'?' inside a flow entry";
        } else {
            entry_start = false, last = 'x';
        }
        out += in[i++];
    }
    if (directives) return "expected '<document start>', but found '<stream end>'";
    return {};
}

// yaml-cpp 0.7's parser can loop forever on some malformed text, emitting node events until
// memory runs out (every runaway fuzzing found so far: `&c:a` LF `,`, `  - a` LF `  , b`...).
// Well-formed or not, text of N bytes yields at most a few events per byte (each node, null or
// end consumes an indicator or a character), so the text is first parsed for its events alone
// and refused once they exceed a bound far above that; only then is it loaded into nodes.
struct runaway_guard : YAML::EventHandler {
    std::size_t events = 0, limit;
    YAML::Mark last;
    explicit runaway_guard(std::size_t size) : limit(64 + 8 * size) {}
    void tick(const YAML::Mark* m) {
        if (m) last = *m;
        if (++events > limit) throw construct_failure{"cannot parse the YAML here (the parser stops making progress); check this line's indentation and punctuation", last};
    }
    void OnDocumentStart(const YAML::Mark& m) override { tick(&m); }
    void OnDocumentEnd() override { tick(nullptr); }
    void OnNull(const YAML::Mark& m, YAML::anchor_t) override { tick(&m); }
    void OnAlias(const YAML::Mark& m, YAML::anchor_t) override { tick(&m); }
    void OnScalar(const YAML::Mark& m, const std::string&, YAML::anchor_t, const std::string&) override { tick(&m); }
    void OnSequenceStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        tick(&m);
    }
    void OnSequenceEnd() override { tick(nullptr); }
    void OnMapStart(const YAML::Mark& m, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        tick(&m);
    }
    void OnMapEnd() override { tick(nullptr); }
};

// YAML::LoadAll behind the runaway guard. May throw YAML::Exception or construct_failure.
std::vector<YAML::Node> load_all(const std::string& input) {
    std::istringstream in(input);
    YAML::Parser parser(in);
    runaway_guard guard(input.size());
    while (parser.HandleNextDocument(guard)) {
    }
    return YAML::LoadAll(input);
}

std::string at(const YAML::Mark& m, const std::string& msg) {
    return "invalid YAML at line " + std::to_string(m.line + 1) + ", column " + std::to_string(m.column + 1) + ": " + msg;
}

}  // namespace
}  // namespace detail

result<value> salt_yaml_load(std::string_view text) {
    bool big_int = false;
    return salt_yaml_load(text, big_int);
}

result<value> salt_yaml_load(std::string_view text, bool& big_int) {
    big_int = false;
    std::string input;
    input.reserve(text.size());
    int line = 0, column = 0;
    for (std::size_t i = 0; i < text.size();) {
        char32_t c = 0;
        std::size_t n = detail::utf8_next(text, i, c);
        if (n == 0 || !detail::pyyaml_printable(c)) {
            char hex[16];
            auto r = std::to_chars(hex, hex + sizeof hex, n == 0 ? static_cast<unsigned char>(text[i]) : static_cast<unsigned>(c), 16);
            std::string code(hex, r.ptr);
            if (code.size() < 4) code.insert(0, 4 - code.size(), '0');
            return fail(errc::data, "invalid YAML at line " + std::to_string(line + 1) + ", column " +
                                          std::to_string(column + 1) + ": " +
                                          (n == 0 ? "invalid UTF-8 byte #x" + code
                                                  : "unacceptable character #x" + code + ": special characters are not allowed"));
        }
        // YAML 1.1 (PyYAML) reads NEL as a line break equivalent to LF; yaml-cpp (1.2) would not.
        // CR LF and a lone CR are one line break too, which PyYAML always reads as LF: the
        // scan below and yaml-cpp see LF only (`!` CR `?` ran yaml-cpp out of memory).
        const bool crlf = c == '\r' && i + 1 < text.size() && text[i + 1] == '\n';
        if (c == 0x85 || (c == '\r' && !crlf)) input += '\n';
        else if (!crlf) input.append(text.substr(i, n));
        if (c == '\n' || c == 0x85 || (c == '\r' && !crlf)) ++line, column = 0;
        else ++column;
        i += n;
    }
    std::string scanned;
    std::size_t err_at = 0;
    if (std::string err = detail::prescan(input, scanned, err_at); !err.empty()) {
        YAML::Mark m;
        for (std::size_t k = 0; k < err_at && k < input.size(); ++k) {
            if (input[k] == '\n') ++m.line, m.column = 0;
            else if ((static_cast<unsigned char>(input[k]) & 0xC0) != 0x80) ++m.column;
        }
        return fail(errc::data, detail::at(m, err));
    }
    input = std::move(scanned);
    try {
        // YAML 1.1 also breaks lines at U+2028/U+2029 (keeping them in scalar content); the text
        // must still be well-formed when they are read as line breaks.
        if (input.find("\xe2\x80\xa8") != std::string::npos || input.find("\xe2\x80\xa9") != std::string::npos) {
            std::string lines, lines_scanned;
            for (std::size_t i = 0; i < input.size(); ++i) {
                bool sep = input.compare(i, 3, "\xe2\x80\xa8") == 0 || input.compare(i, 3, "\xe2\x80\xa9") == 0;
                lines += sep ? '\n' : input[i];
                if (sep) i += 2;
            }
            if (!detail::prescan(lines, lines_scanned, err_at).empty() || detail::load_all(lines_scanned).size() > 1)
                return fail(errc::data, "invalid YAML: the text is not well-formed with U+2028/U+2029 as line breaks");
        }
        std::vector<YAML::Node> docs = detail::load_all(input);
        if (docs.empty()) return value(nullptr);
        if (docs.size() > 1)
            return fail(errc::data, detail::at(docs[1].Mark(), "expected a single document in the stream"));
        const YAML::Node& doc = docs[0];
        detail::loader load{input};
        value v = load.build(doc, 0);
        big_int = doc.IsScalar() && v.str() && load.scalar_tag(doc) == "int";
        return v;
    } catch (const YAML::Exception& e) {
        return fail(errc::data, detail::at(e.mark, e.msg));
    } catch (const detail::construct_failure& e) {
        return fail(errc::data, detail::at(e.mark, e.message));
    } catch (const std::exception& e) {
        return fail(errc::data, std::string("invalid YAML: ") + e.what());
    }
}

}  // namespace tagbus
