// parse_json: JSON text to a value with the semantics of Python's json.loads, so that data a user
// gives us becomes what Salt's own tools would have built and packed.
//
// nlohmann's SAX parser does the grammar. Python accepts more than JSON in one respect, the
// tokens NaN, Infinity and -Infinity, and differs in three more: integers of any size, floats
// that overflow become inf, and a leading byte order mark is an error. A pre-pass over the text
// finds those tokens (outside strings) and numbers and overwrites each with a plain "0" padded
// with spaces to its length, so offsets in error messages still point into the caller's text;
// the handler then substitutes the real value when that number token's turn comes.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <limits>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "render/json.hpp"

namespace tagbus::inline v0 {
namespace detail {
namespace {

// msgpack-python refuses to pack deeper data, and our msgpack decoder stops at the same depth.
constexpr std::size_t max_json_depth = 512;
// Python 3.11's int() refuses longer decimal strings (sys.get_int_max_str_digits()).
constexpr std::size_t max_int_digits = 4300;

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

struct special {
    enum kind_t { nan, pos_inf, neg_inf, big_int, too_long } kind;
    std::size_t ordinal;  // how many number tokens come before it
    std::size_t offset;
    std::string_view text;
};

struct prepared {
    std::vector<special> specials;
    std::string patched;          // the text with specials blanked; empty when there are none
    std::size_t too_deep = none;  // offset of the first bracket nested deeper than max_json_depth
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Decimal exponent of the leading significant digit of a float token ("123.4e2" → 5): with
// from_chars' out-of-range result, positive means the value overflows to infinity, otherwise
// it underflows and the parser's own 0.0 is right. Saturates so that huge exponents stay sane.
long magnitude(std::string_view tok) {
    std::size_t i = tok[0] == '-' ? 1 : 0;
    long mag = 0;
    bool found = false;
    long int_digits = 0;
    for (; i < tok.size() && is_digit(tok[i]); ++i, ++int_digits)
        if (!found && tok[i] != '0') {
            found = true;
            mag = -int_digits;
        }
    if (found) mag += int_digits;
    if (i < tok.size() && tok[i] == '.') {
        for (long q = 0; ++i < tok.size() && is_digit(tok[i]); ++q)
            if (!found && tok[i] != '0') {
                found = true;
                mag = -q;
            }
    }
    if (i < tok.size() && (tok[i] == 'e' || tok[i] == 'E')) {
        ++i;
        const bool neg = i < tok.size() && tok[i] == '-';
        if (i < tok.size() && (tok[i] == '-' || tok[i] == '+')) ++i;
        long e = 0;
        for (; i < tok.size() && is_digit(tok[i]); ++i) e = std::min(e * 10 + (tok[i] - '0'), 1000000000L);
        mag += neg ? -e : e;
    }
    return mag;
}

// Length of the JSON number at the start of `s` (Python's -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?,
// matched as far as it goes), 0 when none starts there. Whatever follows is another token, so
// "1e400x" blanks only "1e400" and the parser still rejects the "x"; the number tokens counted
// here are the ones nlohmann reports, up to the first error, after which counting stops mattering.
std::size_t number_length(std::string_view s) {
    std::size_t j = s.starts_with('-') ? 1 : 0;
    auto digits = [&] {
        while (j < s.size() && is_digit(s[j])) ++j;
    };
    if (j < s.size() && s[j] == '0') ++j;
    else if (j < s.size() && is_digit(s[j])) digits();
    else return 0;
    if (j + 1 < s.size() && s[j] == '.' && is_digit(s[j + 1])) {
        ++j;
        digits();
    }
    if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        std::size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && is_digit(s[k])) {
            j = k;
            digits();
        }
    }
    return j;
}

// Classifies one number token; returns true (and fills `sp`) when nlohmann must not see it.
bool special_number(std::string_view tok, special& sp) {
    const bool is_float = tok.find_first_of(".eE") != std::string_view::npos;
    const bool neg = tok[0] == '-';
    if (!is_float) {
        if (tok.size() - (neg ? 1 : 0) > max_int_digits) {
            sp.kind = special::too_long;
            return true;
        }
        std::from_chars_result r{};
        if (neg) {
            std::int64_t i = 0;
            r = std::from_chars(tok.data(), tok.data() + tok.size(), i);
        } else {
            std::uint64_t u = 0;
            r = std::from_chars(tok.data(), tok.data() + tok.size(), u);
        }
        // Beyond 64 bits nlohmann would fall back to a double; Python keeps the int, and Salt
        // then packs it as its decimal digits.
        if (r.ec != std::errc::result_out_of_range) return false;
        sp.kind = special::big_int;
        return true;
    }
    double d = 0;
    auto r = std::from_chars(tok.data(), tok.data() + tok.size(), d);
    if (r.ec != std::errc::result_out_of_range || magnitude(tok) <= 0) return false;
    sp.kind = neg ? special::neg_inf : special::pos_inf;  // nlohmann rejects these; Python: inf
    return true;
}

prepared prepare(std::string_view text) {
    prepared p;
    std::size_t ordinal = 0, depth = 0, i = 0;
    const std::size_t n = text.size();
    bool boundary = true;  // a value may start here (start, whitespace, [ { , :)
    auto starts = [&](std::string_view word) { return text.substr(i, word.size()) == word; };
    auto add = [&](special::kind_t k, std::size_t len) {
        p.specials.push_back(special{k, ordinal++, i, text.substr(i, len)});
        i += len;
        boundary = false;
    };
    while (i < n) {
        const char c = text[i];
        if (c == '"') {
            for (++i; i < n && text[i] != '"'; ++i)
                if (text[i] == '\\') ++i;
            ++i;
            boundary = false;
        } else if (c == '[' || c == '{') {
            if (++depth > max_json_depth && p.too_deep == none) p.too_deep = i;
            ++i;
            boundary = true;
        } else if (c == ']' || c == '}') {
            depth -= depth > 0 ? 1 : 0;
            ++i;
            boundary = false;
        } else if (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            ++i;
            boundary = true;
        } else if (boundary && starts("NaN")) {
            add(special::nan, 3);
        } else if (boundary && starts("Infinity")) {
            add(special::pos_inf, 8);
        } else if (boundary && starts("-Infinity")) {
            add(special::neg_inf, 9);
        } else if (const std::size_t len = number_length(text.substr(i))) {
            special sp{special::nan, ordinal++, i, text.substr(i, len)};
            if (special_number(sp.text, sp)) p.specials.push_back(sp);
            i += len;
            boundary = false;
        } else {
            ++i;
            boundary = false;
        }
    }
    if (!p.specials.empty()) {
        p.patched.assign(text);
        for (const special& sp : p.specials) {
            const std::size_t sign = sp.text[0] == '-' ? 1 : 0;
            p.patched.replace(sp.offset + sign, sp.text.size() - sign, sp.text.size() - sign, ' ');
            p.patched[sp.offset + sign] = '0';
        }
    }
    return p;
}

// Python's JSONDecodeError counts lines from 1 and columns in characters from 1.
std::string located(std::string_view text, std::size_t offset, std::string_view reason) {
    offset = std::min(offset, text.size());
    const std::string_view before = text.substr(0, offset);
    const auto line = 1 + std::count(before.begin(), before.end(), '\n');
    const std::size_t nl = before.rfind('\n');
    const std::string_view tail = before.substr(nl == std::string_view::npos ? 0 : nl + 1);
    const auto column = 1 + std::count_if(tail.begin(), tail.end(), [](char ch) {
                            return (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
                        });
    return "invalid JSON at line " + std::to_string(line) + ", column " + std::to_string(column) + ": " +
           std::string(reason);
}

// nlohmann's message without its own prefix and position, and without the "last read" excerpt:
// the lexer's token buffer may reach back over earlier tokens or show our blanked specials.
std::string reason(std::string_view what) {
    const std::size_t colon = what.find(": ", what.find("parse error"));
    if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
    std::string r(what);
    const std::size_t from = r.find("; last read: '");
    if (from != std::string::npos) {
        const std::size_t expected = r.rfind("'; expected ");
        if (expected != std::string::npos && expected >= from + 13) r.erase(from, expected + 1 - from);
        else r.erase(from);
    }
    return r;
}

// Builds the value as json.loads would build the Python object.
class builder {
public:
    builder(std::string_view text, const prepared& p) : text_(text), prep_(p) {}

    bool null() { return put(value{}); }
    bool boolean(bool b) { return put(value{b}); }
    bool number_integer(std::int64_t i) { return number(value{i}); }
    bool number_unsigned(std::uint64_t u) { return number(value{u}); }
    bool number_float(double d, const std::string&) { return number(value{d}); }
    bool string(std::string& s) { return put(value{std::move(s)}); }
    bool binary(nlohmann::json::binary_t&) { return false; }  // the JSON lexer never produces one
    bool start_object(std::size_t) { return open(value{map_t{}}); }
    bool start_array(std::size_t) { return open(value{array_t{}}); }
    bool key(std::string& k) {
        std::get<map_t>(stack_.back().v).push_back(member{value{std::move(k)}, value{}});
        return true;
    }
    bool end_object() {
        value v = std::move(stack_.back());
        stack_.pop_back();
        drop_duplicates(std::get<map_t>(v.v));
        return put(std::move(v));
    }
    bool end_array() {
        value v = std::move(stack_.back());
        stack_.pop_back();
        return put(std::move(v));
    }
    bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& ex) {
        // nlohmann counts the offending character as read; its message repeats a position we
        // compute ourselves in Python's terms.
        error_ = located(text_, position > 0 ? position - 1 : 0, reason(ex.what()));
        return false;
    }

    value& root() { return root_; }
    const std::string& error() const { return error_; }

private:
    bool open(value v) {
        if (stack_.size() >= max_json_depth) {
            error_ = located(text_, prep_.too_deep, "nesting deeper than " + std::to_string(max_json_depth));
            return false;
        }
        stack_.push_back(std::move(v));
        return true;
    }

    bool number(value v) {
        const std::size_t ordinal = numbers_++;
        if (next_ < prep_.specials.size() && prep_.specials[next_].ordinal == ordinal) {
            const special& sp = prep_.specials[next_++];
            switch (sp.kind) {
                case special::nan: return put(value{std::numeric_limits<double>::quiet_NaN()});
                case special::pos_inf: return put(value{std::numeric_limits<double>::infinity()});
                case special::neg_inf: return put(value{-std::numeric_limits<double>::infinity()});
                case special::big_int: return put(value{std::string(sp.text)});
                case special::too_long:
                    error_ = located(text_, sp.offset,
                                     "integer has more than " + std::to_string(max_int_digits) +
                                         " digits (Python's int conversion limit)");
                    return false;
            }
        }
        return put(std::move(v));
    }

    bool put(value v) {
        if (stack_.empty()) {
            root_ = std::move(v);
        } else if (auto* a = std::get_if<array_t>(&stack_.back().v)) {
            a->push_back(std::move(v));
        } else {
            std::get<map_t>(stack_.back().v).back().val = std::move(v);
        }
        return true;
    }

    // A Python dict keeps a repeated key at its first position with its last value.
    static void drop_duplicates(map_t& m) {
        const std::size_t n = m.size();
        std::vector<std::size_t> first(n);
        bool any = false;
        auto key_of = [&](std::size_t i) -> std::string_view { return *m[i].key.str(); };
        if (n <= 16) {
            for (std::size_t i = 0; i < n; ++i) {
                std::size_t j = 0;
                while (j < i && key_of(j) != key_of(i)) ++j;
                first[i] = j;
                any = any || j != i;
            }
        } else {
            std::unordered_map<std::string_view, std::size_t> seen;
            for (std::size_t i = 0; i < n; ++i) {
                first[i] = seen.try_emplace(key_of(i), i).first->second;
                any = any || first[i] != i;
            }
        }
        if (!any) return;
        map_t kept;
        std::vector<std::size_t> position(n);
        for (std::size_t i = 0; i < n; ++i) {
            if (first[i] == i) {
                position[i] = kept.size();
                kept.push_back(std::move(m[i]));
            } else {
                kept[position[first[i]]].val = std::move(m[i].val);
            }
        }
        m = std::move(kept);
    }

    std::string_view text_;
    const prepared& prep_;
    std::vector<value> stack_;
    value root_;
    std::size_t numbers_ = 0, next_ = 0;
    std::string error_;
};

}  // namespace
}  // namespace detail

result<value> parse_json(std::string_view text) {
    // Python's json.loads refuses a str that starts with U+FEFF; nlohmann would skip it.
    if (text.substr(0, 3) == "\xEF\xBB\xBF")
        return fail(errc::data, detail::located(text, 0, "unexpected UTF-8 byte order mark"));
    try {
        const detail::prepared prep = detail::prepare(text);
        const std::string_view input = prep.specials.empty() ? text : std::string_view(prep.patched);
        detail::builder b(text, prep);
        if (!nlohmann::json::sax_parse(input.begin(), input.end(), &b)) {
            return fail(errc::data, b.error().empty() ? detail::located(text, text.size(), "cannot parse")
                                                        : b.error());
        }
        return std::move(b.root());
    } catch (const std::exception& e) {
        return fail(errc::data, std::string("invalid JSON: ") + e.what());
    }
}

}  // namespace tagbus
