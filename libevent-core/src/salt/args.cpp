// Salt CLI words (SALT-WIRE §6): salt.utils.args.parse_kwarg / yamlify_arg / parse_input, and
// Python's call binding for the functions our tools emulate (state.event and friends).
#include "salt/args.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <memory>
#include <variant>

#include "salt/yaml.hpp"
#include "py/py.hpp"

namespace tagbus::inline v0 {
namespace detail {
namespace {

struct code_deleter {
    void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
struct match_data_deleter {
    void operator()(pcre2_match_data* m) const { pcre2_match_data_free(m); }
};

// Salt's KWARG_REGEX is r"^([^\d\W][\w.-]*)=(?!=)(.*)$" with re.UNICODE. Python's \w (str.isalnum
// or '_') and \d (category Nd) are Unicode tables; PCRE2 with UCP carries the same tables, so the
// name part is matched with PCRE2 rather than a hand-made approximation of "letter".
const pcre2_code* kwarg_name_regex() {
    static const std::unique_ptr<pcre2_code, code_deleter> code = [] {
        static constexpr char pattern[] = R"(\A[^\d\W][\w.\-]*+=(?!=))";
        int err = 0;
        PCRE2_SIZE off = 0;
        return std::unique_ptr<pcre2_code, code_deleter>(
            pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &err, &off, nullptr));
    }();
    return code.get();
}

bool has_any(std::string_view s, std::string_view chars) { return s.find_first_of(chars) != std::string_view::npos; }

// isinstance(x, str) for what salt_yaml_load returned (a too-big int is text but not a str).
bool is_py_str(const value& v, bool big_int) { return v.str() && !big_int; }

}  // namespace
}  // namespace detail

std::optional<std::pair<std::string_view, std::string_view>> split_kwarg(std::string_view word) {
    // `.` in Salt's regex stops at a newline; a word with one is positional (SALT-WIRE §6 step 1).
    if (word.find('\n') != std::string_view::npos) return std::nullopt;
    const pcre2_code* re = detail::kwarg_name_regex();
    if (!re) return std::nullopt;
    std::unique_ptr<pcre2_match_data, detail::match_data_deleter> md(pcre2_match_data_create_from_pattern(re, nullptr));
    if (!md) return std::nullopt;
    int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(word.data()), word.size(), 0, 0, md.get(), nullptr);
    if (rc < 0) return std::nullopt;
    std::size_t eq = pcre2_get_ovector_pointer(md.get())[1] - 1;
    return std::pair{word.substr(0, eq), word.substr(eq + 1)};
}

value yamlify(std::string_view text) {
    const value original{std::string(text)};
    std::string_view stripped = py_strip(text);
    // YAML would load these as null or fail; Salt keeps the text.
    if (stripped.empty() || stripped == "---" || stripped == "...") return original;
    // YAML 1.1 ignores underscores in ints (1_000 → 1000); Salt keeps such words as typed.
    if (text.find('_') != std::string_view::npos && stripped.find_first_not_of("0123456789_") == std::string_view::npos)
        return original;
    // SALT-WIRE §6: a word with a TAB, CR or LF is kept as typed.
    if (detail::has_any(text, "\t\r\n")) return original;

    bool big_int = false;
    result<value> parsed = salt_yaml_load(text, big_int);
    if (!parsed) return original;
    value& v = parsed.value();

    // '#' starts a YAML comment: use the result only when it is not a string or null, so no
    // content is lost silently. This is decided before (and instead of) the brace rules.
    if (text.find('#') != std::string_view::npos) {
        if (v.is_nil() || detail::is_py_str(v, big_int)) return original;
        return std::move(v);
    }
    if (text == "None") return value(nullptr);
    if (v.map()) return text.starts_with('{') ? std::move(v) : original;
    if (v.array()) return text.starts_with('[') ? std::move(v) : original;
    bool scalar = v.is_nil() || v.str() || std::holds_alternative<bool>(v.v) || std::holds_alternative<std::int64_t>(v.v) ||
                  std::holds_alternative<std::uint64_t>(v.v) || std::holds_alternative<double>(v.v);
    if (!scalar) return original;
    // YAML loads '|' as "" and '!' as null; Salt keeps both as typed, and a '#'-led null too.
    if (v.str() && v.str()->empty() && (text == "|" || text == "!")) return original;
    if (v.is_nil() && (stripped.starts_with('#') || text == "!")) return original;
    return std::move(v);
}

namespace {

// _kwargs[name] = v: a name already there keeps its place and takes the new value.
void set_keyword(salt_args& a, std::string name, value v, std::string raw) {
    for (std::size_t i = 0; i < a.keywords.size(); ++i) {
        if (a.keywords[i].first == name) {
            a.keywords[i].second = std::move(v);
            a.raw_keywords[i] = std::move(raw);
            return;
        }
    }
    a.keywords.emplace_back(std::move(name), std::move(v));
    a.raw_keywords.push_back(std::move(raw));
}

}  // namespace

salt_args parse_salt_args(const std::vector<std::string>& words, const std::vector<std::string>& no_parse) {
    salt_args out;
    for (const auto& w : words) {
        if (auto kw = split_kwarg(w)) {
            std::string name(kw->first);
            bool raw = false;
            for (const auto& n : no_parse) raw = raw || n == name;
            value v = raw ? value(std::string(kw->second)) : yamlify(kw->second);
            // parse_input collects keywords into a dict: a repeated name keeps its first place
            // and takes the last value.
            bool replaced = false;
            for (std::size_t i = 0; i < out.keywords.size() && !replaced; ++i) {
                if (out.keywords[i].first == name) {
                    out.keywords[i].second = std::move(v);
                    out.raw_keywords[i] = std::string(kw->second);
                    replaced = true;
                }
            }
            if (!replaced) {
                out.keywords.emplace_back(std::move(name), std::move(v));
                out.raw_keywords.emplace_back(kw->second);
            }
        } else {
            out.positional.push_back(yamlify(w));
            out.raw_positional.push_back(w);
        }
    }
    return reparse_positionals(std::move(out));
}

salt_args reparse_positionals(salt_args in) {
    // load_args_and_kwargs: a str positional that splits as NAME=VALUE becomes a keyword, its
    // value yamlified (the positional itself is never yamlified a second time). These keywords
    // come first, in positional order; the command line's keywords are then set over them.
    salt_args out;
    for (std::size_t i = 0; i < in.positional.size(); ++i) {
        const std::string* s = in.positional[i].str();
        auto kw = s ? split_kwarg(*s) : std::nullopt;
        if (!kw) {
            out.positional.push_back(std::move(in.positional[i]));
            out.raw_positional.push_back(std::move(in.raw_positional[i]));
            continue;
        }
        set_keyword(out, std::string(kw->first), yamlify(kw->second), std::string(kw->second));
    }
    for (std::size_t i = 0; i < in.keywords.size(); ++i)
        set_keyword(out, std::move(in.keywords[i].first), std::move(in.keywords[i].second),
                    std::move(in.raw_keywords[i]));
    return out;
}

result<std::vector<std::optional<value>>> bind_params(const salt_args& args, const std::vector<std::string>& params,
                                                      std::vector<std::pair<std::string, value>>* extra_keywords) {
    std::vector<std::optional<value>> bound(params.size());
    std::size_t npos = std::min(args.positional.size(), params.size());
    for (std::size_t i = 0; i < npos; ++i) bound[i] = args.positional[i];
    // CPython binds keywords before it counts positionals, so keyword errors are reported first.
    for (const auto& [name, v] : args.keywords) {
        std::size_t j = 0;
        while (j < params.size() && params[j] != name) ++j;
        if (j == params.size()) {
            if (!extra_keywords) return fail(errc::invalid, "unexpected keyword argument '" + name + "'");
            bool replaced = false;
            for (auto& [k, old] : *extra_keywords)
                if (k == name) old = v, replaced = true;
            if (!replaced) extra_keywords->emplace_back(name, v);
            continue;
        }
        if (j < npos) return fail(errc::invalid, "got multiple values for argument '" + name + "'");
        bound[j] = v;
    }
    if (args.positional.size() > params.size()) {
        // salt.utils.args.format_call's wording, including its "argument"/"arguments" rule.
        std::size_t n = params.size();
        return fail(errc::invalid, "takes at most " + std::to_string(n) + (n > 1 ? " arguments (" : " argument (") +
                                       std::to_string(args.positional.size()) + " given)");
    }
    return bound;
}

}  // namespace tagbus
