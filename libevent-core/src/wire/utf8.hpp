// UTF-8 validity as Python's decoder sees it, shared by the renderers (private to the library).
#pragma once

#include <cstddef>
#include <string_view>

namespace tagbus::inline v0::detail {

inline constexpr char hex_digits[] = "0123456789abcdef";

// Length of the well-formed UTF-8 sequence starting at p (Unicode table 3-7: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0. Python's decoder accepts exactly these.
inline std::size_t utf8_sequence(const unsigned char* p, const unsigned char* end) {
    const unsigned c = p[0];
    const auto avail = static_cast<std::size_t>(end - p);
    auto cont = [&](std::size_t i) { return (p[i] & 0xC0u) == 0x80u; };
    if (c < 0xC2) return 0;
    if (c < 0xE0) return avail >= 2 && cont(1) ? 2 : 0;
    if (c < 0xF0) {
        const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        return avail >= 3 && p[1] >= lo && p[1] <= hi && cont(2) ? 3 : 0;
    }
    if (c < 0xF5) {
        const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        return avail >= 4 && p[1] >= lo && p[1] <= hi && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

// Whether all of s is well-formed UTF-8 by the rule above.
inline bool valid_utf8(std::string_view s) {
    auto* p = reinterpret_cast<const unsigned char*>(s.data());
    auto* end = p + s.size();
    while (p < end) {
        if (*p < 0x80) {
            ++p;
            continue;
        }
        const std::size_t n = utf8_sequence(p, end);
        if (n == 0) return false;
        p += n;
    }
    return true;
}

// Decodes the code point at s[i] into cp; returns its length, or 0 for an invalid sequence.
inline std::size_t utf8_next(std::string_view s, std::size_t i, char32_t& cp) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        cp = b;
        return 1;
    }
    std::size_t n = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC2 ? 2 : 0;
    if (n == 0 || b > 0xF4 || i + n > s.size()) return 0;
    cp = b & (0x7F >> n);
    for (std::size_t k = 1; k < n; ++k) {
        auto c = static_cast<unsigned char>(s[i + k]);
        if ((c & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr char32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_for_len[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

}  // namespace tagbus::detail
