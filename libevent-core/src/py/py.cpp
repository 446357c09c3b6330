#include "py/py.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <variant>

#include "wire/utf8.hpp"

namespace tagbus {

bool truthy(const value& v) {
    struct visitor {
        bool operator()(std::monostate) const { return false; }
        bool operator()(bool b) const { return b; }
        bool operator()(std::int64_t i) const { return i != 0; }
        bool operator()(std::uint64_t u) const { return u != 0; }
        bool operator()(float f) const { return f != 0.0f; }
        bool operator()(double d) const { return d != 0.0; }
        bool operator()(const std::string& s) const { return !s.empty(); }
        bool operator()(const bin_t& b) const { return !b.bytes.empty(); }
        bool operator()(const array_t& a) const { return !a.empty(); }
        bool operator()(const map_t& m) const { return !m.empty(); }
        // Salt decodes ext types into objects (datetime, a namedtuple), and those are true.
        bool operator()(const ext_t&) const { return true; }
    };
    return std::visit(visitor{}, v.v);
}

bool py_isspace(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::string_view py_strip(std::string_view s) {
    auto ws_len_front = [&](std::size_t i) -> std::size_t {
        char32_t c = 0;
        std::size_t n = detail::utf8_next(s, i, c);
        return n && py_isspace(c) ? n : 0;
    };
    std::size_t b = 0;
    while (b < s.size()) {
        std::size_t n = ws_len_front(b);
        if (!n) break;
        b += n;
    }
    std::size_t e = s.size();
    while (e > b) {
        std::size_t start = e - 1;
        while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80 && e - start < 4) --start;
        char32_t c = 0;
        if (detail::utf8_next(s, start, c) != e - start || !py_isspace(c)) break;
        e = start;
    }
    return s.substr(b, e - b);
}

void append_py_float(std::string& out, double d) {
    if (std::isnan(d)) {
        out += "NaN";
        return;
    }
    if (std::isinf(d)) {
        out += d < 0 ? "-Infinity" : "Infinity";
        return;
    }
    // Integral values below 1e15 (counts, sizes, times in whole seconds) need no digit search.
    if (d == std::trunc(d) && std::fabs(d) < 1e15 && (d != 0 || !std::signbit(d))) {
        char buf[24];
        out.append(buf, std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d)).ptr);
        out += ".0";
        return;
    }
    // The shortest round-trip digits, as Python's repr picks them; to_chars' scientific form
    // already spells the exponent as Python does ("1e+16", "5e-324").
    char buf[40];
    char* const last = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific).ptr;
    const char* e = std::find(buf, last, 'e');
    int exp = 0;
    std::from_chars(e[1] == '+' ? e + 2 : e + 1, last, exp);
    // repr switches to exponent notation outside 1e-4 <= |d| < 1e16.
    if (exp < -4 || exp >= 16) {
        out.append(buf, last);
        return;
    }
    const char* p = buf;
    if (*p == '-') out += *p++;
    char digits[20];
    std::size_t nd = 0;
    for (; p < e; ++p)
        if (*p != '.') digits[nd++] = *p;
    if (exp < 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-exp - 1), '0');
        out.append(digits, nd);
        return;
    }
    const auto whole = static_cast<std::size_t>(exp) + 1;
    if (nd <= whole) {
        out.append(digits, nd);
        out.append(whole - nd, '0');
        out += ".0";
    } else {
        out.append(digits, whole);
        out += '.';
        out.append(digits + whole, nd - whole);
    }
}

}  // namespace tagbus
