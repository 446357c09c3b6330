// Tag matching as Salt does it: fnmatch.fnmatchcase (Python 3.11 translate() rules, matched
// directly rather than through a regex), expr_match's glob-or-anchored-regex, and get_event's match
// types. Regexes are Python `re` patterns run with PCRE2 (UTF + UCP, as Python's str patterns are
// Unicode-aware), compiled and JIT-compiled once per matcher, with match data made once too.
#include "tagbus/match.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <utility>
#include <vector>

namespace tagbus {
namespace detail {
namespace {

// Decodes the code point at s[i]. An invalid byte counts as one code point of its own, mapped as
// Python's surrogateescape would (U+DC80..U+DCFF), so it only ever equals the same invalid byte.
char32_t next_cp(std::string_view s, std::size_t& i) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        ++i;
        return b;
    }
    std::size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    char32_t cp = b & (0x7F >> n);
    bool ok = n != 0 && b <= 0xF4 && i + n <= s.size();
    for (std::size_t k = 1; ok && k < n; ++k) {
        auto c = static_cast<unsigned char>(s[i + k]);
        ok = (c & 0xC0) == 0x80;
        cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!ok || cp < min_for_len[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return 0xDC00 + b;
    }
    i += n;
    return cp;
}

// One element of a translated glob: each consumes exactly one code point except star.
struct glob_token {
    enum kind_t { literal, any, star, set, never } kind = literal;
    char32_t cp = 0;
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;  // inclusive; a single char is (c, c)

    static glob_token make(kind_t k, char32_t c = 0) {
        glob_token t;
        t.kind = k;
        t.cp = c;
        return t;
    }

    bool matches(char32_t c) const {
        switch (kind) {
            case literal:
                return c == cp;
            case any:
                return true;
            case set: {
                bool in = std::any_of(ranges.begin(), ranges.end(),
                                      [c](const auto& r) { return r.first <= c && c <= r.second; });
                return in != negated;
            }
            default:
                return false;
        }
    }
};

struct glob {
    std::vector<glob_token> tokens;
    bool plain = true;  // only literals: the whole match is a byte comparison
    // "myco/*" and the like: ASCII literals, then stars only. An ASCII prefix matches exactly
    // when the name's bytes start with it (no multi-byte sequence starts with an ASCII byte).
    bool ascii_prefix = false;
    std::string text;

    explicit glob(std::string_view pattern) : text(pattern) {
        std::vector<char32_t> p;
        for (std::size_t i = 0; i < pattern.size();) p.push_back(next_cp(pattern, i));
        compile(p);
        plain = std::all_of(tokens.begin(), tokens.end(),
                            [](const glob_token& t) { return t.kind == glob_token::literal; });
        const std::size_t star = pattern.find('*');
        ascii_prefix = !tokens.empty() && tokens.back().kind == glob_token::star &&
                       std::all_of(tokens.begin(), tokens.end() - 1,
                                   [](const glob_token& t) { return t.kind == glob_token::literal && t.cp < 0x80; });
        if (ascii_prefix) text = std::string(pattern.substr(0, star));
    }

    // fnmatch._translate of Python 3.11, step for step, producing tokens instead of regex text.
    void compile(const std::vector<char32_t>& pat) {
        std::size_t i = 0, n = pat.size();
        while (i < n) {
            char32_t c = pat[i++];
            if (c == '*') {
                if (tokens.empty() || tokens.back().kind != glob_token::star)
                    tokens.push_back(glob_token::make(glob_token::star));
            } else if (c == '?') {
                tokens.push_back(glob_token::make(glob_token::any));
            } else if (c == '[') {
                std::size_t j = i;
                if (j < n && pat[j] == '!') ++j;
                if (j < n && pat[j] == ']') ++j;
                while (j < n && pat[j] != ']') ++j;
                if (j >= n) {
                    tokens.push_back(glob_token::make(glob_token::literal, '['));
                    continue;
                }
                tokens.push_back(make_set(pat, i, j));
                i = j + 1;
            } else {
                tokens.push_back(glob_token::make(glob_token::literal, c));
            }
        }
    }

    static glob_token make_set(const std::vector<char32_t>& pat, std::size_t i, std::size_t j) {
        using chunk = std::vector<char32_t>;
        std::vector<chunk> chunks;
        bool has_dash = std::find(pat.begin() + static_cast<long>(i), pat.begin() + static_cast<long>(j), U'-') !=
                        pat.begin() + static_cast<long>(j);
        if (!has_dash) {
            chunks.emplace_back(pat.begin() + static_cast<long>(i), pat.begin() + static_cast<long>(j));
        } else {
            // A '-' splits chunks; the chars either side of it are a range. The search restarts
            // two past the range end, so "a-b-c" is the range a-b, then '-' and 'c' literally.
            std::size_t k = pat[i] == '!' ? i + 2 : i + 1;
            for (;;) {
                auto it = k < j
                              ? std::find(pat.begin() + static_cast<long>(k), pat.begin() + static_cast<long>(j), U'-')
                              : pat.begin() + static_cast<long>(j);
                if (it == pat.begin() + static_cast<long>(j)) break;
                k = static_cast<std::size_t>(it - pat.begin());
                chunks.emplace_back(pat.begin() + static_cast<long>(i), it);
                i = k + 1;
                k += 3;
            }
            if (i < j)
                chunks.emplace_back(pat.begin() + static_cast<long>(i), pat.begin() + static_cast<long>(j));
            else
                chunks.back().push_back('-');
            // Reversed ranges are removed along with both of their ends (Python does the same).
            for (std::size_t k2 = chunks.size() - 1; k2 > 0; --k2) {
                if (chunks[k2 - 1].back() > chunks[k2].front()) {
                    chunks[k2 - 1].pop_back();
                    chunks[k2 - 1].insert(chunks[k2 - 1].end(), chunks[k2].begin() + 1, chunks[k2].end());
                    chunks.erase(chunks.begin() + static_cast<long>(k2));
                }
            }
        }
        glob_token t = glob_token::make(glob_token::set);
        std::size_t total = 0;
        for (const auto& ch : chunks) total += ch.size();
        total += chunks.size() - 1;  // the '-' joining them
        if (total == 0) return glob_token::make(glob_token::never);
        if (total == 1 && chunks.size() == 1 && chunks[0][0] == '!') return glob_token::make(glob_token::any);
        if (chunks[0].front() == '!') {
            t.negated = true;
            chunks[0].erase(chunks[0].begin());
        }
        for (std::size_t k = 0; k < chunks.size(); ++k) {
            const chunk& ch = chunks[k];
            std::size_t from = k > 0 ? 1 : 0;
            std::size_t to = k + 1 < chunks.size() ? ch.size() - 1 : ch.size();
            for (std::size_t m = from; m < to && m < ch.size(); ++m) t.ranges.emplace_back(ch[m], ch[m]);
            if (k > 0) {
                if (chunks[k - 1].empty()) {
                    // Unreachable by Python's chunking, kept total: "[^-x]" reads '-' literally.
                    t.ranges.emplace_back(U'-', U'-');
                    t.ranges.emplace_back(ch.front(), ch.front());
                } else {
                    t.ranges.emplace_back(chunks[k - 1].back(), ch.front());
                }
            }
        }
        return t;
    }

    bool match(std::string_view name) const {
        if (plain) return name == text;
        if (ascii_prefix) return name.starts_with(text);
        std::size_t ti = 0, ni = 0;
        std::size_t star_t = std::string::npos, star_n = 0;
        const std::size_t nt = tokens.size();
        while (ni < name.size()) {
            if (ti < nt && tokens[ti].kind == glob_token::star) {
                star_t = ti++;
                star_n = ni;
                continue;
            }
            std::size_t next = ni;
            char32_t c = next_cp(name, next);
            if (ti < nt && tokens[ti].matches(c)) {
                ++ti;
                ni = next;
            } else if (star_t != std::string::npos) {
                // Let the last star swallow one more code point and retry after it.
                ti = star_t + 1;
                next_cp(name, star_n);
                ni = star_n;
            } else {
                return false;
            }
        }
        while (ti < nt && tokens[ti].kind == glob_token::star) ++ti;
        return ti == nt;
    }
};

// A compiled PCRE2 pattern with its own match data and, where available, JIT code.
class regex {
public:
    regex() = default;
    regex(const regex&) = delete;
    regex& operator=(const regex&) = delete;
    ~regex() {
        if (md_) pcre2_match_data_free(md_);
        if (code_) pcre2_code_free(code_);
    }

    // Returns an empty string on success, else PCRE2's message and offset.
    std::string compile(const std::string& pattern, bool anchored) {
        pcre2_compile_context* ctx = pcre2_compile_context_create(nullptr);
        if (!ctx) return "out of memory";
        // Python's `.` and `$` know only LF as a newline.
        pcre2_set_newline(ctx, PCRE2_NEWLINE_LF);
        int err = 0;
        PCRE2_SIZE off = 0;
        code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | (anchored ? PCRE2_ANCHORED : 0u), &err,
                              &off, ctx);
        pcre2_compile_context_free(ctx);
        if (!code_) {
            PCRE2_UCHAR buf[256];
            int len = pcre2_get_error_message(err, buf, sizeof buf);
            std::string msg(reinterpret_cast<const char*>(buf), len > 0 ? static_cast<std::size_t>(len) : 0);
            return msg + " at offset " + std::to_string(off);
        }
        // JIT failure (e.g. no JIT on this CPU) only means the interpreter runs instead.
        (void)pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);
        md_ = pcre2_match_data_create_from_pattern(code_, nullptr);
        if (!md_) {
            pcre2_code_free(code_);
            code_ = nullptr;
            return "out of memory";
        }
        return {};
    }

    bool valid() const { return code_ != nullptr; }

    // Any PCRE2 error while matching (match or JIT stack limit) counts as "no match".
    bool search(std::string_view subject) const {
        if (!code_) return false;
        return pcre2_match(code_, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md_, nullptr) >=
               0;
    }

private:
    pcre2_code* code_ = nullptr;
    pcre2_match_data* md_ = nullptr;
};

// Rewrites the Python-only escapes that PCRE2 spells differently: Python's \Z is PCRE2's \z
// (PCRE2's \Z also matches before a final newline), \uXXXX and \UXXXXXXXX are \x{...}.
std::string python_to_pcre2(std::string_view expr) {
    std::string out;
    out.reserve(expr.size() + 8);
    auto is_hex = [](char c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); };
    for (std::size_t i = 0; i < expr.size(); ++i) {
        char c = expr[i];
        if (c != '\\' || i + 1 >= expr.size()) {
            out += c;
            continue;
        }
        char e = expr[i + 1];
        std::size_t len = e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (e == 'Z') {
            out += "\\z";
            ++i;
        } else if (len && i + 2 + len <= expr.size() &&
                   std::all_of(expr.begin() + static_cast<long>(i + 2), expr.begin() + static_cast<long>(i + 2 + len),
                               is_hex)) {
            out += "\\x{";
            out.append(expr.substr(i + 2, len));
            out += '}';
            i += 1 + len;
        } else {
            out += c;
            out += e;
            ++i;
        }
    }
    return out;
}

}  // namespace
}  // namespace detail

bool fnmatch(std::string_view name, std::string_view pattern) { return detail::glob(pattern).match(name); }

struct tag_matcher::impl {
    detail::glob glob;
    detail::regex re;
    explicit impl(std::string_view expr) : glob(expr) {
        // re.match(r"\A{}\Z".format(expr)): plain concatenation, and re.match only tries position
        // 0, so `a|b` means "starts with a" or "is exactly b". PCRE2_ANCHORED is that re.match.
        (void)re.compile("\\A" + detail::python_to_pcre2(expr) + "\\z", true);
    }
};

tag_matcher::tag_matcher(std::string_view expr) : p_(std::make_unique<impl>(expr)) {}
tag_matcher::~tag_matcher() = default;
tag_matcher::tag_matcher(tag_matcher&&) noexcept = default;
tag_matcher& tag_matcher::operator=(tag_matcher&&) noexcept = default;

bool tag_matcher::operator()(std::string_view tag) const { return p_->glob.match(tag) || p_->re.search(tag); }

bool tag_matcher::regex_valid() const { return p_->re.valid(); }

result<match_type> parse_match_type(std::string_view word) {
    if (word == "startswith") return match_type::startswith;
    if (word == "endswith") return match_type::endswith;
    if (word == "find") return match_type::find;
    if (word == "regex") return match_type::regex;
    if (word == "fnmatch") return match_type::fnmatch;
    return fail(status::usage, "unknown match type '" + std::string(word) +
                                   "' (expected startswith, endswith, find, regex or fnmatch)");
}

struct event_matcher::impl {
    match_type type;
    std::string tag;
    detail::glob glob;
    detail::regex re;
    impl(match_type t, std::string_view s) : type(t), tag(s), glob(t == match_type::fnmatch ? s : std::string_view()) {}
};

event_matcher::event_matcher() = default;
event_matcher::~event_matcher() = default;
event_matcher::event_matcher(event_matcher&&) noexcept = default;
event_matcher& event_matcher::operator=(event_matcher&&) noexcept = default;

bool event_matcher::operator()(std::string_view tag) const {
    switch (p_->type) {
        case match_type::startswith:
            return tag.starts_with(p_->tag);
        case match_type::endswith:
            return tag.ends_with(p_->tag);
        case match_type::find:
            return tag.find(p_->tag) != std::string_view::npos;
        case match_type::regex:
            return p_->re.search(tag);
        case match_type::fnmatch:
            return p_->glob.match(tag);
    }
    return false;
}

result<event_matcher> make_event_matcher(match_type type, std::string_view search_tag) {
    event_matcher m;
    m.p_ = std::make_unique<event_matcher::impl>(type, search_tag);
    if (type == match_type::regex) {
        // Salt's CacheRegex(prepend="^") then .search(): anchored at the start only.
        std::string pattern = "^";
        pattern += detail::python_to_pcre2(search_tag);
        std::string err = m.p_->re.compile(pattern, false);
        if (!err.empty()) return fail(status::usage, "invalid regex '" + std::string(search_tag) + "': " + err);
    }
    return m;
}

}  // namespace tagbus
