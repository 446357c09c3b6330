// PyYAML's YAML 1.1 implicit scalar types as Salt's loader sees them: which plain scalars are
// ints, floats, nulls and booleans, and how PyYAML (with Salt's overrides) constructs them. Split
// from yaml.cpp, which parses with yaml-cpp and calls these for every plain scalar.
#include "salt/yaml_scalar.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "salt/yaml.hpp"
#include "py/py.hpp"

namespace tagbus::inline v0::detail {
namespace {

void append_utf8(std::string& out, char32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xC0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xE0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (c & 0x3F));
    }
}

// Python ints are unbounded; this small magnitude type carries them until they are known to fit.
struct bigint {
    std::vector<std::uint32_t> limbs;  // little-endian base 2**32
    bool negative = false;

    void mul_add(std::uint32_t mul, std::uint32_t add) {
        std::uint64_t carry = add;
        for (auto& l : limbs) {
            std::uint64_t t = std::uint64_t{l} * mul + carry;
            l = static_cast<std::uint32_t>(t);
            carry = t >> 32;
        }
        if (carry) limbs.push_back(static_cast<std::uint32_t>(carry));
    }
    void add(const bigint& o) {
        std::uint64_t carry = 0;
        if (limbs.size() < o.limbs.size()) limbs.resize(o.limbs.size(), 0);
        for (std::size_t i = 0; i < limbs.size(); ++i) {
            std::uint64_t t = std::uint64_t{limbs[i]} + (i < o.limbs.size() ? o.limbs[i] : 0) + carry;
            limbs[i] = static_cast<std::uint32_t>(t);
            carry = t >> 32;
        }
        if (carry) limbs.push_back(static_cast<std::uint32_t>(carry));
    }
    void trim() {
        while (!limbs.empty() && limbs.back() == 0) limbs.pop_back();
        if (limbs.empty()) negative = false;  // Python has no negative zero int
    }
    std::string decimal() const {
        std::vector<std::uint32_t> t = limbs;
        std::string digits;
        while (!t.empty()) {
            std::uint64_t rem = 0;
            for (std::size_t i = t.size(); i-- > 0;) {
                std::uint64_t cur = (rem << 32) | t[i];
                t[i] = static_cast<std::uint32_t>(cur / 1000000000u);
                rem = cur % 1000000000u;
            }
            while (!t.empty() && t.back() == 0) t.pop_back();
            for (int k = 0; k < 9; ++k) {
                digits += static_cast<char>('0' + rem % 10);
                rem /= 10;
                if (t.empty() && rem == 0) break;
            }
        }
        if (digits.empty()) digits.push_back('0');
        if (negative) digits += '-';
        return {digits.rbegin(), digits.rend()};
    }
    // Integers beyond 64 bits travel as their decimal text: that is what reaches the bus from Salt.
    value to_value() const {
        if (limbs.size() <= 2) {
            std::uint64_t m = limbs.empty() ? 0 : limbs[0];
            if (limbs.size() == 2) m |= std::uint64_t{limbs[1]} << 32;
            if (!negative) return value(m);
            if (m <= std::uint64_t{1} << 63) return value(static_cast<std::int64_t>(0 - m));
        }
        return value(decimal());
    }
};

int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'z') return c - 'a' + 10;
    if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
    return 99;
}

// Python's int(text, base) for the texts PyYAML hands it (underscores already removed).
bool py_int(std::string_view text, int base, bigint& out) {
    std::string_view s = py_strip(text);
    out = bigint{};
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        out.negative = s[0] == '-';
        s.remove_prefix(1);
    }
    if (s.size() >= 2 && s[0] == '0') {
        char p = static_cast<char>(s[1] | 0x20);
        if ((base == 16 && p == 'x') || (base == 8 && p == 'o') || (base == 2 && p == 'b')) s.remove_prefix(2);
    }
    // CPython 3.11 refuses decimal strings over 4300 digits (int_max_str_digits).
    if (s.empty() || (base == 10 && s.size() > 4300)) return false;
    for (char c : s) {
        int d = digit_value(c);
        if (d >= base) return false;
        out.mul_add(static_cast<std::uint32_t>(base), static_cast<std::uint32_t>(d));
    }
    out.trim();
    return true;
}

// Python's float(text): decimal or inf/infinity/nan, one optional sign, surrounding whitespace.
bool py_float(std::string_view text, double& out) {
    std::string_view s = py_strip(text);
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    std::string lower;
    for (char c : s) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    double v = 0;
    if (lower == "inf" || lower == "infinity") {
        v = std::numeric_limits<double>::infinity();
    } else if (lower == "nan") {
        v = std::numeric_limits<double>::quiet_NaN();
    } else {
        if (s.empty() || !(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return false;
        auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
        if (ptr != s.data() + s.size()) return false;
        if (ec == std::errc::result_out_of_range) {
            // from_chars leaves v untouched; Python gives inf on overflow and 0.0 on underflow.
            auto e = lower.find('e');
            long exp10 = 0;
            if (e != std::string::npos) {
                std::string_view es(lower.data() + e + 1, lower.size() - e - 1);
                if (!es.empty() && es[0] == '+') es.remove_prefix(1);
                if (std::from_chars(es.data(), es.data() + es.size(), exp10).ec != std::errc{})
                    exp10 = es.starts_with('-') ? -100000 : 100000;
            }
            std::string_view mant(lower.data(), e == std::string::npos ? lower.size() : e);
            auto dot = mant.find('.');
            auto first = mant.find_first_of("123456789");
            long intdigits = static_cast<long>(dot == std::string_view::npos ? mant.size() : dot);
            long lead = static_cast<long>(first) < intdigits ? intdigits - static_cast<long>(first)
                                                             : -static_cast<long>(first - intdigits - 1);
            v = lead + exp10 > 0 ? std::numeric_limits<double>::infinity() : 0.0;
        } else if (ec != std::errc{}) {
            return false;
        }
    }
    out = neg ? -v : v;
    return true;
}

std::string without_underscores(std::string_view s) {
    std::string r;
    for (char c : s)
        if (c != '_') r += c;
    return r;
}

bool all_of(std::string_view s, std::string_view set) { return s.find_first_not_of(set) == std::string_view::npos; }

// [0-9][0-9_]* at the front of s; returns its length (0 when absent).
std::size_t digits_run(std::string_view s, bool first_nonzero) {
    if (s.empty() || s[0] < (first_nonzero ? '1' : '0') || s[0] > '9') return 0;
    std::size_t i = 1;
    while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '_')) ++i;
    return i;
}

// (:[0-5]?[0-9])+ at the front of s; returns its length.
std::size_t sexagesimal_run(std::string_view s) {
    std::size_t i = 0, groups = 0;
    while (i < s.size() && s[i] == ':') {
        std::size_t j = i + 1;
        if (j + 1 < s.size() && s[j] >= '0' && s[j] <= '5' && s[j + 1] >= '0' && s[j + 1] <= '9')
            j += 2;
        else if (j < s.size() && s[j] >= '0' && s[j] <= '9')
            j += 1;
        else
            break;
        i = j;
        ++groups;
    }
    return groups ? i : 0;
}

std::string_view drop_sign(std::string_view s) { return !s.empty() && (s[0] == '-' || s[0] == '+') ? s.substr(1) : s; }

// [eE][-+][0-9]+ (the sign is mandatory in YAML 1.1, hence `1e3` is a string).
bool exponent_rest(std::string_view s) {
    if (s.empty()) return true;
    return s.size() >= 3 && (s[0] == 'e' || s[0] == 'E') && (s[1] == '-' || s[1] == '+') &&
           all_of(s.substr(2), "0123456789");
}

// Reads one Python string literal (prefix u/U/r/R, any quote style) at s[i]; Salt evaluates
// u'...' scalars with eval(), so adjacent literals concatenate as Python source would.
bool py_literal(std::string_view s, std::size_t& i, std::string& out) {
    bool raw = false;
    if (i < s.size() && (s[i] == 'u' || s[i] == 'U'))
        ++i;
    else if (i < s.size() && (s[i] == 'r' || s[i] == 'R'))
        ++i, raw = true;
    if (i >= s.size() || (s[i] != '\'' && s[i] != '"')) return false;
    char q = s[i];
    bool triple = s.substr(i, 3) == std::string(3, q);
    i += triple ? 3 : 1;
    for (;;) {
        if (i >= s.size()) return false;
        char c = s[i];
        if (c == q && (!triple || s.substr(i, 3) == std::string(3, q))) {
            i += triple ? 3 : 1;
            return true;
        }
        if (c == '\n' && !triple) return false;
        if (c != '\\') {
            out += c;
            ++i;
            continue;
        }
        if (i + 1 >= s.size()) return false;
        char e = s[i + 1];
        if (raw) {
            out += c;
            out += e;
            i += 2;
            continue;
        }
        i += 2;
        auto hex = [&](std::size_t len) -> bool {
            if (i + len > s.size()) return false;
            std::uint32_t cp = 0;
            for (std::size_t k = 0; k < len; ++k) {
                int d = digit_value(s[i + k]);
                if (d >= 16) return false;
                cp = cp * 16 + static_cast<std::uint32_t>(d);
            }
            // A lone surrogate has no UTF-8 form; Salt's str would fail to pack anyway.
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
            append_utf8(out, cp);
            i += len;
            return true;
        };
        switch (e) {
            case '\n':
                break;
            case '\\':
                out += '\\';
                break;
            case '\'':
                out += '\'';
                break;
            case '"':
                out += '"';
                break;
            case 'a':
                out += '\a';
                break;
            case 'b':
                out += '\b';
                break;
            case 'f':
                out += '\f';
                break;
            case 'n':
                out += '\n';
                break;
            case 'r':
                out += '\r';
                break;
            case 't':
                out += '\t';
                break;
            case 'v':
                out += '\v';
                break;
            case 'x':
                if (!hex(2)) return false;
                break;
            case 'u':
                if (!hex(4)) return false;
                break;
            case 'U':
                if (!hex(8)) return false;
                break;
            case 'N':
                return false;  // \N{name} needs the Unicode name table; refused
            default:
                if (e >= '0' && e <= '7') {
                    std::uint32_t cp = static_cast<std::uint32_t>(e - '0');
                    for (int k = 0; k < 2 && i < s.size() && s[i] >= '0' && s[i] <= '7'; ++k, ++i)
                        cp = cp * 8 + static_cast<std::uint32_t>(s[i] - '0');
                    append_utf8(out, cp);
                } else {
                    out += '\\';
                    out += e;
                }
        }
    }
}

}  // namespace

// PyYAML's construct_yaml_int after Salt's construct_scalar override: a text starting with "0"
// (not "0b"/"0x") loses its leading zeros first, so 010 is decimal 10 rather than octal 8.
bool construct_int(std::string_view text, value& out) {
    std::string t(text);
    if (t != "0" && t.starts_with('0') && !t.starts_with("0b") && !t.starts_with("0x")) {
        auto nz = t.find_first_not_of('0');
        t = nz == std::string::npos ? "0" : t.substr(nz);
    }
    std::string v = without_underscores(t);
    if (v.empty()) return false;  // Python: IndexError on value[0]
    bool neg = v[0] == '-';
    std::string_view s(v);
    if (s[0] == '+' || s[0] == '-') s.remove_prefix(1);
    bigint n;
    bool ok = false;
    if (s == "0") {
        return out = value(std::uint64_t{0}), true;
    } else if (s.starts_with("0b")) {
        ok = py_int(s.substr(2), 2, n);
    } else if (s.starts_with("0x")) {
        ok = py_int(s.substr(2), 16, n);
    } else if (!s.empty() && s[0] == '0') {
        ok = py_int(s, 8, n);
    } else if (s.find(':') != std::string_view::npos) {
        // Base 60, most significant part first; Horner's rule gives Python's exact sum.
        ok = true;
        std::size_t start = 0;
        while (ok) {
            auto colon = s.find(':', start);
            bigint part;
            ok = py_int(s.substr(start, colon == std::string_view::npos ? colon : colon - start), 10, part) &&
                 !part.negative;
            if (!ok) break;
            n.mul_add(60, 0);
            n.add(part);
            if (colon == std::string_view::npos) break;
            start = colon + 1;
        }
    } else {
        ok = py_int(s, 10, n);
    }
    if (!ok) return false;
    if (neg) n.negative = !n.negative;
    n.trim();
    out = n.to_value();
    return true;
}

bool construct_float(std::string_view text, value& out) {
    std::string v;
    for (char c : text)
        if (c != '_') v += static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (v.empty()) return false;
    double sign = v[0] == '-' ? -1.0 : 1.0;
    std::string_view s(v);
    if (s[0] == '+' || s[0] == '-') s.remove_prefix(1);
    if (s == ".inf") return out = value(sign * std::numeric_limits<double>::infinity()), true;
    if (s == ".nan") return out = value(std::numeric_limits<double>::quiet_NaN()), true;
    if (s.find(':') != std::string_view::npos) {
        std::vector<double> digits;
        std::size_t start = 0;
        for (;;) {
            auto colon = s.find(':', start);
            double d = 0;
            if (!py_float(s.substr(start, colon == std::string_view::npos ? colon : colon - start), d)) return false;
            digits.push_back(d);
            if (colon == std::string_view::npos) break;
            start = colon + 1;
        }
        // Same order of float operations as PyYAML: least significant part first.
        double sum = 0.0, base = 1.0;
        for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
            sum += *it * base;
            base *= 60;
        }
        return out = value(sign * sum), true;
    }
    double d = 0;
    if (!py_float(s, d)) return false;
    out = value(sign * d);
    return true;
}

// PyYAML's implicit int resolver (YAML 1.1).
bool looks_int(std::string_view s) {
    s = drop_sign(s);
    if (s.starts_with("0b")) return s.size() > 2 && all_of(s.substr(2), "01_");
    if (s.starts_with("0x")) return s.size() > 2 && all_of(s.substr(2), "0123456789abcdefABCDEF_");
    if (s.starts_with('0')) return all_of(s.substr(1), "01234567_");
    std::size_t n = digits_run(s, true);
    if (n == 0) return false;
    return n == s.size() || sexagesimal_run(s.substr(n)) == s.size() - n;
}

// PyYAML's implicit float resolver (YAML 1.1).
bool looks_float(std::string_view s) {
    if (s == ".nan" || s == ".NaN" || s == ".NAN") return true;
    if (s.starts_with('.') && digits_run(s.substr(1), false)) {
        std::size_t n = 1 + digits_run(s.substr(1), false);
        return exponent_rest(s.substr(n));
    }
    s = drop_sign(s);
    if (s == ".inf" || s == ".Inf" || s == ".INF") return true;
    std::size_t n = digits_run(s, false);
    if (n == 0) return false;
    std::size_t sx = sexagesimal_run(s.substr(n));
    if (n + sx >= s.size() || s[n + sx] != '.') return false;
    std::size_t m = n + sx + 1;
    while (m < s.size() && ((s[m] >= '0' && s[m] <= '9') || s[m] == '_')) ++m;
    return sx ? m == s.size() : exponent_rest(s.substr(m));
}

bool looks_null(std::string_view s) { return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL"; }

int bool_word(std::string_view s) {
    for (auto w : {"yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})
        if (s == w) return 1;
    for (auto w : {"no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})
        if (s == w) return 0;
    return -1;
}

// SaltYamlSafeLoader.construct_scalar: a str matching ^u(["'])(.*)\1$ is eval()ed.
bool salt_str(std::string_view text, std::string& out) {
    std::string_view t = text;
    if (t.size() >= 4 && t.back() == '\n') t.remove_suffix(1);  // Python's $ allows one final newline
    if (t.size() < 3 || t[0] != 'u' || (t[1] != '\'' && t[1] != '"') || t.back() != t[1] ||
        t.substr(2, t.size() - 3).find('\n') != std::string_view::npos) {
        out.assign(text);
        return true;
    }
    std::string r;
    std::size_t i = 0;
    while (i < text.size()) {
        if (!py_literal(text, i, r)) return false;
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\f' || text[i] == '\n')) ++i;
    }
    out = std::move(r);
    return true;
}

}  // namespace tagbus::detail
