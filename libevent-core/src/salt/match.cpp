// Tag matching as Salt does it: fnmatch.fnmatchcase (Python 3.11 translate() rules, matched
// directly rather than through a regex), expr_match's glob-or-anchored-regex, and get_event's match
// types. Regexes are Python `re` patterns, checked and rewritten with Python 3.11's rules
// (py_regex) and run with PCRE2 (UTF + UCP, as Python's str patterns are Unicode-aware),
// compiled and JIT-compiled once per matcher, with match data made once too.
#include "salt/match.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace tagbus::inline v0 {
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
                              PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_ALT_CIRCUMFLEX |
                                  (anchored ? PCRE2_ANCHORED : 0u), &err,
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

// Python 3.11's `re` syntax (re/_parser.py and the compiler's look-behind rule), checked and
// translated into an equivalent PCRE2 pattern. PCRE2 alone would accept what Python refuses (a
// global flag after the start, possessive-looking runs after a repeat, \K, recursion, (*VERB),
// \Q..\E, (?<name>..), look-behinds whose branches differ in length) and refuse or misread what
// Python accepts ((?P<name>..), (?P=name), {,n}, [[:alpha:]], \v, octal escapes, Unicode group
// names), so the pattern is parsed with Python's rules and every construct written out in a
// spelling both read the same way. The result is empty with `error` set when Python's re.compile
// would raise.
class py_regex {
public:
    static constexpr std::uint64_t maxrepeat = 4294967295u;  // _sre.MAXREPEAT

    explicit py_regex(std::string_view pattern) {
        for (std::size_t i = 0; i < pattern.size();) p_.push_back(next_cp(pattern, i));
    }

    // True and `out` set to the PCRE2 pattern, or false with `error` set (Python's message).
    bool translate(std::string& out, std::string& error) {
        width w;
        bool ok = parse_sub(w, false, false, 0) && (at_end() || fail("unbalanced parenthesis"));
        for (const auto& [g, _] : condrefs_)
            if (ok && g >= groups_.size()) ok = fail("invalid group reference " + std::to_string(g));
        if (!ok) {
            error = err_;
            return false;
        }
        out = std::move(out_);
        return true;
    }

private:
    struct width {
        std::uint64_t lo = 0, hi = 0;
    };
    struct group_state {
        bool closed = false;
        width w;
    };
    enum class item { none, at, repeat, other };

    std::vector<char32_t> p_;
    std::size_t i_ = 0;
    std::string out_;
    std::string err_;
    std::vector<group_state> groups_{group_state{true, {}}};  // group 0
    std::vector<std::pair<std::vector<char32_t>, std::size_t>> names_;
    std::map<std::uint64_t, bool> condrefs_;
    std::optional<std::size_t> lookbehind_groups_;

    bool fail(std::string msg) {
        if (err_.empty()) err_ = std::move(msg);
        return false;
    }
    bool at_end() const { return i_ >= p_.size(); }
    std::optional<char32_t> peek() const { return at_end() ? std::nullopt : std::optional<char32_t>(p_[i_]); }
    bool match(char32_t c) {
        if (at_end() || p_[i_] != c) return false;
        ++i_;
        return true;
    }
    static bool is_digit(char32_t c) { return c >= '0' && c <= '9'; }
    static bool is_oct(char32_t c) { return c >= '0' && c <= '7'; }
    static bool is_hex(char32_t c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
    static bool is_ascii_letter(char32_t c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
    static bool is_surrogate(char32_t c) { return c >= 0xD800 && c <= 0xDFFF; }

    static std::uint64_t cap_add(std::uint64_t a, std::uint64_t b) {
        return a > (std::uint64_t{1} << 62) - b ? (std::uint64_t{1} << 62) : a + b;
    }
    static width capped(width w) { return {std::min(w.lo, maxrepeat - 1), std::min(w.hi, maxrepeat)}; }

    void hex(char32_t c) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "\\x{%x}", static_cast<unsigned>(c));
        out_ += buf;
    }
    void literal(char32_t c) {
        if (is_surrogate(c)) out_ += "(?:(?!))";  // a lone surrogate never occurs in a UTF-8 tag
        else if (c < 0x80 && (is_digit(c) || is_ascii_letter(c))) out_ += static_cast<char>(c);
        else hex(c);
    }

    // ---- character categories, as Python's _sre defines them ----
    // str.isspace() of Python 3.11 (Unicode 14): wider than PCRE2's \s (it has \x1c-\x1f).
    static constexpr std::array<std::pair<char32_t, char32_t>, 10> uni_space{{{0x9, 0xd}, {0x1c, 0x20}, {0x85, 0x85},
        {0xa0, 0xa0}, {0x1680, 0x1680}, {0x2000, 0x200a}, {0x2028, 0x2029}, {0x202f, 0x202f}, {0x205f, 0x205f},
        {0x3000, 0x3000}}};
    static constexpr std::array<std::pair<char32_t, char32_t>, 2> ascii_space{{{0x9, 0xd}, {0x20, 0x20}}};
    static constexpr std::array<std::pair<char32_t, char32_t>, 1> ascii_digit{{{'0', '9'}}};
    static constexpr std::array<std::pair<char32_t, char32_t>, 4> ascii_word{{{'0', '9'}, {'A', 'Z'}, {'_', '_'},
                                                                              {'a', 'z'}}};

    void ranges_of(std::span<const std::pair<char32_t, char32_t>> set, bool complement) {
        if (!complement) {
            for (auto [lo, hi] : set) range(lo, hi);
            return;
        }
        char32_t from = 0;
        for (auto [lo, hi] : set) {
            if (lo > from) range(from, lo - 1);
            from = hi + 1;
        }
        range(from, 0x10FFFF);
    }
    // A range inside a class, without the surrogates PCRE2's UTF mode refuses.
    void range(char32_t lo, char32_t hi) {
        if (lo < 0xD800 && hi >= 0xD800) {
            range(lo, 0xD7FF);
            range(0xE000, hi);
            return;
        }
        if (is_surrogate(lo)) lo = 0xE000;
        if (is_surrogate(hi)) hi = 0xD7FF;
        if (lo > hi) return;
        hex(lo);
        if (hi != lo) {
            out_ += '-';
            hex(hi);
        }
    }
    // \d \D \s \S \w \W as the inside of a class.
    void category_in_class(char32_t c, bool ascii) {
        const bool neg = c == 'D' || c == 'S' || c == 'W';
        switch (c | 0x20) {
            case 'd':
                if (ascii) ranges_of(ascii_digit, neg);
                else out_ += neg ? "\\D" : "\\d";
                break;
            case 'w':
                if (ascii) ranges_of(ascii_word, neg);
                else out_ += neg ? "\\W" : "\\w";
                break;
            default:
                if (ascii) ranges_of(ascii_space, neg);
                else ranges_of(uni_space, neg);
        }
    }

    // ---- escapes ----
    // \x.., \u...., \U........ (exact digit counts) and octal; nullopt + error when bad.
    bool numeric_escape(char32_t c, char32_t& cp) {
        const std::size_t n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
        std::uint32_t v = 0;
        std::size_t k = 0;
        while (k < n && !at_end() && is_hex(p_[i_])) {
            const char32_t h = p_[i_++];
            v = v * 16 + static_cast<std::uint32_t>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
            ++k;
        }
        if (k != n) return fail("incomplete escape");
        if (v > 0x10FFFF) return fail("bad escape \\U");
        cp = v;
        return true;
    }

    bool class_escape(bool& is_category, char32_t& cp) {
        is_category = false;
        if (at_end()) return fail("bad escape (end of pattern)");
        const char32_t c = p_[i_++];
        switch (c) {
            case 'a': cp = 7; return true;
            case 'b': cp = 8; return true;
            case 'f': cp = 12; return true;
            case 'n': cp = 10; return true;
            case 'r': cp = 13; return true;
            case 't': cp = 9; return true;
            case 'v': cp = 11; return true;
            case '\\': cp = '\\'; return true;
            case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
                is_category = true;
                cp = c;
                return true;
            case 'x': case 'u': case 'U': return numeric_escape(c, cp);
            case 'N': return fail("\\N{...} is not supported");
            default: break;
        }
        if (is_oct(c)) {
            std::uint32_t v = c - '0';
            for (int k = 0; k < 2 && !at_end() && is_oct(p_[i_]); ++k) v = v * 8 + (p_[i_++] - '0');
            if (v > 0377) return fail("octal escape value outside of range 0-0o377");
            cp = v;
            return true;
        }
        if (is_digit(c) || is_ascii_letter(c)) return fail("bad escape");
        cp = c;
        return true;
    }

    bool escape(item& kind, width& w, bool ascii) {
        if (at_end()) return fail("bad escape (end of pattern)");
        const char32_t c = p_[i_++];
        kind = item::other;
        w = {1, 1};
        auto at = [&](const char* text) {
            kind = item::at;
            w = {0, 0};
            out_ += text;
            return true;
        };
        switch (c) {
            case 'A': return at("\\A");
            case 'Z': return at("\\z");
            case 'b': return at(ascii ? "(?:(?<=[0-9A-Z_a-z])(?![0-9A-Z_a-z])|(?<![0-9A-Z_a-z])(?=[0-9A-Z_a-z]))" : "\\b");
            // _sre's \B never matches in an empty string.
            case 'B':
                return at(ascii ? "(?:(?!\\A\\z)(?:(?<=[0-9A-Z_a-z])(?=[0-9A-Z_a-z])|(?<![0-9A-Z_a-z])(?![0-9A-Z_a-z])))"
                                : "(?:(?!\\A\\z)\\B)");
            case 'd': case 'D': case 's': case 'S': case 'w': case 'W':
                out_ += '[';
                category_in_class(c, ascii);
                out_ += ']';
                return true;
            case 'a': literal(7); return true;
            case 'f': literal(12); return true;
            case 'n': literal(10); return true;
            case 'r': literal(13); return true;
            case 't': literal(9); return true;
            case 'v': literal(11); return true;
            case '\\': literal('\\'); return true;
            case 'x': case 'u': case 'U': {
                char32_t cp = 0;
                if (!numeric_escape(c, cp)) return false;
                literal(cp);
                return true;
            }
            case 'N': return fail("\\N{...} is not supported");
            case '0': {
                std::uint32_t v = 0;
                for (int k = 0; k < 2 && !at_end() && is_oct(p_[i_]); ++k) v = v * 8 + (p_[i_++] - '0');
                literal(v);
                return true;
            }
            default: break;
        }
        if (is_digit(c)) {
            // An octal escape of three digits, else a group reference (Python's "sigh").
            std::uint64_t group = c - '0';
            if (!at_end() && is_digit(p_[i_])) {
                const char32_t d = p_[i_++];
                if (is_oct(c) && is_oct(d) && !at_end() && is_oct(p_[i_])) {
                    const std::uint32_t v = (c - '0') * 64 + (d - '0') * 8 + (p_[i_++] - '0');
                    if (v > 0377) return fail("octal escape value outside of range 0-0o377");
                    literal(v);
                    return true;
                }
                group = group * 10 + (d - '0');
            }
            return group_ref(group, w);
        }
        if (is_ascii_letter(c)) return fail(std::string("bad escape \\") + static_cast<char>(c));
        literal(c);
        return true;
    }

    bool group_ref(std::uint64_t group, width& w) {
        if (group >= groups_.size()) return fail("invalid group reference " + std::to_string(group));
        if (!groups_[group].closed) return fail("cannot refer to an open group");
        if (!check_lookbehind_group(group)) return false;
        w = groups_[group].w;
        out_ += "(?:\\g{" + std::to_string(group) + "})";
        return true;
    }

    bool check_lookbehind_group(std::uint64_t gid) {
        if (!lookbehind_groups_) return true;
        if (gid >= groups_.size() || !groups_[gid].closed) return fail("cannot refer to an open group");
        if (gid >= *lookbehind_groups_) return fail("cannot refer to group defined in the same lookbehind subpattern");
        return true;
    }

    // ---- [...] ----
    bool char_class(bool ascii) {
        const std::size_t here = out_.size();
        const bool negate = match('^');
        out_ += negate ? "[^" : "[";
        const std::size_t body = out_.size();
        std::size_t items = 0;  // as Python counts them: a lone surrogate still is one
        for (;;) {
            if (at_end()) return fail("unterminated character set");
            char32_t c = p_[i_++];
            if (c == ']' && items > 0) break;
            bool cat1 = false;
            char32_t c1 = c;
            if (c == '\\' && !class_escape(cat1, c1)) return false;
            if (match('-')) {
                if (at_end()) return fail("unterminated character set");
                char32_t that = p_[i_++];
                if (that == ']') {
                    if (cat1) category_in_class(c1, ascii);
                    else range(c1, c1);
                    range('-', '-');
                    items += 2;
                    break;
                }
                bool cat2 = false;
                char32_t c2 = that;
                if (that == '\\' && !class_escape(cat2, c2)) return false;
                if (cat1 || cat2 || c2 < c1) return fail("bad character range");
                range(c1, c2);
            } else if (cat1) {
                category_in_class(c1, ascii);
            } else {
                range(c1, c1);
            }
            ++items;
        }
        if (out_.size() == body) {
            // Only surrogates: nothing a tag holds is in the set.
            out_.resize(here);
            out_ += negate ? "[\\x{0}-\\x{d7ff}\\x{e000}-\\x{10ffff}]" : "(?:(?!))";
            return true;
        }
        out_ += ']';
        return true;
    }

    // ---- (?P<name> ...) names: str.isidentifier() ----
    static bool identifier(const std::vector<char32_t>& name) {
        if (name.empty()) return false;
        static thread_local regex ident;
        if (!ident.valid()) ident.compile("[\\p{L}\\p{Nl}_][\\p{L}\\p{Nl}\\p{Mn}\\p{Mc}\\p{Nd}\\p{Pc}]*\\z", true);
        std::string utf8;
        for (char32_t c : name) append_utf8(utf8, c);
        return ident.search(utf8);
    }
    static void append_utf8(std::string& s, char32_t c) {
        if (c < 0x80) {
            s += static_cast<char>(c);
        } else if (c < 0x800) {
            s += static_cast<char>(0xC0 | (c >> 6));
            s += static_cast<char>(0x80 | (c & 0x3F));
        } else if (c < 0x10000) {
            s += static_cast<char>(0xE0 | (c >> 12));
            s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (c & 0x3F));
        } else {
            s += static_cast<char>(0xF0 | (c >> 18));
            s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
            s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
            s += static_cast<char>(0x80 | (c & 0x3F));
        }
    }
    bool read_until(char32_t end, std::vector<char32_t>& name) {
        name.clear();
        for (;;) {
            if (at_end()) return fail("missing group name terminator");
            const char32_t c = p_[i_++];
            if (c == end) break;
            name.push_back(c);
        }
        if (name.empty()) return fail("missing group name");
        return true;
    }
    std::optional<std::size_t> group_named(const std::vector<char32_t>& name) const {
        for (const auto& [n, g] : names_)
            if (n == name) return g;
        return std::nullopt;
    }

    // int() of a conditional's group: digits with single underscores, optional '+', spaces around.
    static std::optional<std::uint64_t> py_int(const std::vector<char32_t>& s) {
        std::size_t a = 0, b = s.size();
        auto space = [](char32_t c) { return c == ' ' || (c >= 9 && c <= 13); };
        while (a < b && space(s[a])) ++a;
        while (b > a && space(s[b - 1])) --b;
        if (a < b && s[a] == '+') ++a;
        if (a == b) return std::nullopt;
        std::uint64_t v = 0;
        bool prev_digit = false;
        for (std::size_t k = a; k < b; ++k) {
            if (s[k] == '_' && prev_digit && k + 1 < b) {
                prev_digit = false;
                continue;
            }
            if (!is_digit(s[k])) return std::nullopt;
            v = v > (std::uint64_t{1} << 40) ? v : v * 10 + (s[k] - '0');
            prev_digit = true;
        }
        return prev_digit ? std::optional(v) : std::nullopt;
    }

    // ---- alternation and sequence ----
    bool parse_sub(width& w, bool verbose, bool ascii, unsigned nested) {
        if (nested > 200) return fail("too deeply nested");
        width alt;
        bool first = true;
        for (;;) {
            width s;
            if (!parse_seq(s, verbose, ascii, nested)) return false;
            alt.lo = first ? s.lo : std::min(alt.lo, s.lo);
            alt.hi = first ? s.hi : std::max(alt.hi, s.hi);
            first = false;
            if (!match('|')) break;
            out_ += '|';
        }
        w = alt;
        return true;
    }

    bool parse_seq(width& w, bool verbose, bool ascii, unsigned nested) {
        std::vector<width> items;
        item last = item::none;
        for (;;) {
            if (at_end() || p_[i_] == '|' || p_[i_] == ')') break;
            const char32_t c = p_[i_++];
            if (verbose) {
                if (c == ' ' || (c >= 9 && c <= 13)) continue;
                if (c == '#') {
                    while (!at_end() && p_[i_++] != '\n') {
                    }
                    continue;
                }
            }
            width iw{1, 1};
            item kind = item::other;
            switch (c) {
                case '\\':
                    if (!escape(kind, iw, ascii)) return false;
                    break;
                case '[':
                    if (!char_class(ascii)) return false;
                    break;
                case '.': out_ += '.'; break;
                case '^': out_ += '^'; kind = item::at; iw = {0, 0}; break;
                case '$': out_ += '$'; kind = item::at; iw = {0, 0}; break;
                case '*': case '+': case '?': case '{': {
                    std::uint64_t lo = 0, hi = maxrepeat;
                    if (c == '+') lo = 1;
                    if (c == '?') hi = 1;
                    if (c == '{') {
                        const std::size_t here = i_;
                        if (peek() == U'}') {
                            literal('{');
                            items.push_back({1, 1});
                            last = item::other;
                            continue;
                        }
                        std::string l, h;
                        while (!at_end() && is_digit(p_[i_])) l += static_cast<char>(p_[i_++]);
                        if (match(',')) {
                            while (!at_end() && is_digit(p_[i_])) h += static_cast<char>(p_[i_++]);
                        } else {
                            h = l;
                        }
                        if (!match('}')) {
                            i_ = here;
                            literal('{');
                            items.push_back({1, 1});
                            last = item::other;
                            continue;
                        }
                        if (!l.empty()) {
                            lo = l.size() > 10 ? maxrepeat : std::stoull(l);
                            if (lo >= maxrepeat) return fail("the repetition number is too large");
                        }
                        if (!h.empty()) {
                            hi = h.size() > 10 ? maxrepeat : std::stoull(h);
                            if (hi >= maxrepeat) return fail("the repetition number is too large");
                            if (hi < lo) return fail("min repeat greater than max repeat");
                        }
                    }
                    if (last == item::none || last == item::at) return fail("nothing to repeat");
                    if (last == item::repeat) return fail("multiple repeat");
                    out_ += '{' + std::to_string(lo) + ',' + (hi == maxrepeat ? std::string() : std::to_string(hi)) + '}';
                    if (match('?')) out_ += '?';
                    else if (match('+')) out_ += '+';
                    // getwidth(): lo * min, hi * max, MAXREPEAT counting as a number (all below
                    // 2**32, so the products fit).
                    width& t = items.back();
                    t = capped({t.lo * lo, t.hi * hi});
                    last = item::repeat;
                    continue;
                }
                case '(': {
                    bool skip = false;
                    if (!group(kind, iw, skip, verbose, ascii, nested)) return false;
                    if (skip) continue;  // a comment adds nothing
                    break;
                }
                default: literal(c); break;
            }
            items.push_back(iw);
            last = kind;
        }
        width s;
        for (const width& x : items) {
            s.lo = cap_add(s.lo, x.lo);
            s.hi = cap_add(s.hi, x.hi);
        }
        w = capped(s);
        return true;
    }

    bool group(item& kind, width& w, bool& skip, bool verbose, bool ascii, unsigned nested) {
        kind = item::other;
        bool capture = true, atomic = false;
        std::optional<std::vector<char32_t>> name;
        bool sub_verbose = verbose, sub_ascii = ascii;
        std::string flags_on, flags_off;
        if (match('?')) {
            if (at_end()) return fail("unexpected end of pattern");
            const char32_t c = p_[i_++];
            if (c == 'P') {
                std::vector<char32_t> n;
                if (match('<')) {
                    if (!read_until('>', n)) return false;
                    if (!identifier(n)) return fail("bad character in group name");
                    name = n;
                } else if (match('=')) {
                    if (!read_until(')', n)) return false;
                    if (!identifier(n)) return fail("bad character in group name");
                    auto gid = group_named(n);
                    if (!gid) return fail("unknown group name");
                    return group_ref(*gid, w);
                } else {
                    return fail("unknown extension ?P");
                }
            } else if (c == ':') {
                capture = false;
            } else if (c == '#') {
                for (;;) {
                    if (at_end()) return fail("missing ), unterminated comment");
                    if (p_[i_++] == ')') break;
                }
                skip = true;
                return true;
            } else if (c == '=' || c == '!' || c == '<') {
                bool behind = false;
                char32_t d = c;
                if (c == '<') {
                    if (at_end()) return fail("unexpected end of pattern");
                    d = p_[i_++];
                    if (d != '=' && d != '!') return fail("unknown extension ?<");
                    behind = true;
                }
                const auto saved = lookbehind_groups_;
                if (behind && !lookbehind_groups_) lookbehind_groups_ = groups_.size();
                out_ += behind ? (d == '=' ? "(?<=" : "(?<!") : (d == '=' ? "(?=" : "(?!");
                width inner;
                if (!parse_sub(inner, verbose, ascii, nested + 1)) return false;
                if (behind) lookbehind_groups_ = saved;
                if (!match(')')) return fail("missing ), unterminated subpattern");
                if (behind && inner.lo != inner.hi) return fail("look-behind requires fixed-width pattern");
                out_ += ')';
                w = {0, 0};
                return true;
            } else if (c == '(') {
                std::vector<char32_t> n;
                if (!read_until(')', n)) return false;
                std::uint64_t cond = 0;
                if (identifier(n)) {
                    auto gid = group_named(n);
                    if (!gid) return fail("unknown group name");
                    cond = *gid;
                } else {
                    auto v = py_int(n);
                    if (!v) return fail("bad character in group name");
                    if (*v == 0) return fail("bad group number");
                    if (*v >= 0x3fffffff) return fail("invalid group reference");
                    cond = *v;
                    condrefs_.emplace(cond, true);
                }
                if (!check_lookbehind_group(cond)) return false;
                out_ += "(?(" + std::to_string(cond) + ")";
                width yes, no;
                if (!parse_seq(yes, verbose, ascii, nested + 1)) return false;
                bool has_no = false;
                if (match('|')) {
                    out_ += '|';
                    if (!parse_seq(no, verbose, ascii, nested + 1)) return false;
                    if (peek() == U'|') return fail("conditional backref with more than two branches");
                    has_no = true;
                }
                if (!match(')')) return fail("missing ), unterminated subpattern");
                out_ += ')';
                w = has_no ? width{std::min(yes.lo, no.lo), std::max(yes.hi, no.hi)} : width{0, yes.hi};
                return true;
            } else if (c == '>') {
                capture = false;
                atomic = true;
            } else if (c == '-' || c == 'i' || c == 'L' || c == 'm' || c == 's' || c == 'x' || c == 'a' || c == 't' ||
                       c == 'u') {
                if (!inline_flags(c, flags_on, flags_off, sub_verbose, sub_ascii)) return false;
                capture = false;
            } else {
                return fail("unknown extension ?");
            }
        }
        std::size_t gid = 0;
        if (capture) {
            if (name && group_named(*name)) return fail("redefinition of group name");
            gid = groups_.size();
            groups_.push_back({});
            if (name) names_.emplace_back(*name, gid);
            out_ += '(';
        } else if (atomic) {
            out_ += "(?>";
        } else {
            out_ += "(?" + flags_on + (flags_off.empty() ? "" : "-" + flags_off) + ":";
        }
        width inner;
        if (!parse_sub(inner, sub_verbose, sub_ascii, nested + 1)) return false;
        if (!match(')')) return fail("missing ), unterminated subpattern");
        out_ += ')';
        if (capture) groups_[gid] = {true, capped(inner)};
        w = capped(inner);
        return true;
    }

    // _parse_flags for a scoped group; a global flag group (?i) is never at the start here, since
    // Salt puts \A (or ^) before the pattern: always an error.
    bool inline_flags(char32_t c, std::string& on, std::string& off, bool& verbose, bool& ascii) {
        auto known = [](char32_t f) {
            return f == 'i' || f == 'L' || f == 'm' || f == 's' || f == 'x' || f == 'a' || f == 't' || f == 'u';
        };
        unsigned type_flags = 0;
        std::string add;
        if (c != '-') {
            for (;;) {
                if (c == 'L') return fail("bad inline flags: cannot use 'L' flag with a str pattern");
                add += static_cast<char>(c);
                if (c == 'a' || c == 'u') {
                    type_flags |= c == 'a' ? 1u : 2u;
                    if (type_flags == 3) return fail("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
                }
                if (at_end()) return fail("missing -, : or )");
                c = p_[i_++];
                if (c == ')' || c == '-' || c == ':') break;
                if (!known(c)) return fail("unknown flag");
            }
        }
        if (c == ')') return fail("global flags not at the start of the expression");
        if (add.find('t') != std::string::npos) return fail("bad inline flags: cannot turn on global flag");
        std::string del;
        if (c == '-') {
            if (at_end()) return fail("missing flag");
            c = p_[i_++];
            if (!known(c)) return fail("unknown flag");
            for (;;) {
                if (c == 'a' || c == 'u' || c == 'L')
                    return fail("bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
                del += static_cast<char>(c);
                if (at_end()) return fail("missing :");
                c = p_[i_++];
                if (c == ':') break;
                if (!known(c)) return fail("unknown flag");
            }
        }
        if (del.find('t') != std::string::npos) return fail("bad inline flags: cannot turn off global flag");
        for (char f : add)
            if (del.find(f) != std::string::npos) return fail("bad inline flags: flag turned on and off");
        // x is applied here (whitespace and comments are dropped); a and u choose our classes.
        for (char f : add) {
            if (f == 'i' || f == 'm' || f == 's') on += f;
            if (f == 'x') verbose = true;
            if (f == 'a') ascii = true;
            if (f == 'u') ascii = false;
        }
        for (char f : del) {
            if (f == 'i' || f == 'm' || f == 's') off += f;
            if (f == 'x') verbose = false;
        }
        return true;
    }
};

}  // namespace
}  // namespace detail

bool fnmatch(std::string_view name, std::string_view pattern) { return detail::glob(pattern).match(name); }

struct tag_matcher::impl {
    detail::glob glob;
    detail::regex re;
    explicit impl(std::string_view expr) : glob(expr) {
        // re.match(r"\A{}\Z".format(expr)): plain concatenation, and re.match only tries position
        // 0, so `a|b` means "starts with a" or "is exactly b". PCRE2_ANCHORED is that re.match.
        // The whole text is read with Python's rules: `a\` escapes the backslash of \Z. A
        // pattern Python refuses is left uncompiled and never matches.
        std::string pattern, error;
        if (detail::py_regex("\\A" + std::string(expr) + "\\Z").translate(pattern, error))
            (void)re.compile(pattern, true);
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
    return fail(errc::invalid, "unknown match type '" + std::string(word) +
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
        std::string pattern, err;
        std::string python = "^";
        python += search_tag;
        if (detail::py_regex(python).translate(pattern, err)) err = m.p_->re.compile(pattern, false);
        if (!err.empty()) return fail(errc::invalid, "invalid regex '" + std::string(search_tag) + "': " + err);
    }
    return m;
}

}  // namespace tagbus
