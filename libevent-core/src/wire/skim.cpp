#include "wire/skim.hpp"

#include <cstdint>

namespace tagbus::inline v0 {

namespace {

bool be(const char*& p, const char* end, unsigned n, std::uint64_t& v) {
    if (static_cast<std::size_t>(end - p) < n) return false;
    v = 0;
    for (unsigned i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    p += n;
    return true;
}

bool skip_bytes(const char*& p, const char* end, std::uint64_t n) {
    if (static_cast<std::uint64_t>(end - p) < n) return false;
    p += n;
    return true;
}

// A str at p: its bytes.
bool read_str(const char*& p, const char* end, std::string_view& s) {
    if (p >= end) return false;
    const unsigned c = static_cast<unsigned char>(*p++);
    std::uint64_t n = 0;
    if ((c & 0xE0) == 0xA0) n = c & 0x1F;
    else if (c == 0xD9) { if (!be(p, end, 1, n)) return false; }
    else if (c == 0xDA) { if (!be(p, end, 2, n)) return false; }
    else if (c == 0xDB) { if (!be(p, end, 4, n)) return false; }
    else return false;
    if (static_cast<std::uint64_t>(end - p) < n) return false;
    s = std::string_view(p, n);
    p += n;
    return true;
}

}  // namespace

bool skip_packed(const char*& p, const char* end, unsigned depth) {
    if (p >= end || depth == 0) return false;
    const unsigned c = static_cast<unsigned char>(*p++);
    std::uint64_t n = 0;
    if (c <= 0x7F || c >= 0xE0 || c == 0xC0 || c == 0xC2 || c == 0xC3) return true;
    if ((c & 0xF0) == 0x80 || c == 0xDE || c == 0xDF) {  // map
        if (c == 0xDE ? !be(p, end, 2, n) : c == 0xDF ? !be(p, end, 4, n) : (n = c & 0x0F, false)) return false;
        for (std::uint64_t i = 0; i < 2 * n; ++i)
            if (!skip_packed(p, end, depth - 1)) return false;
        return true;
    }
    if ((c & 0xF0) == 0x90 || c == 0xDC || c == 0xDD) {  // array
        if (c == 0xDC ? !be(p, end, 2, n) : c == 0xDD ? !be(p, end, 4, n) : (n = c & 0x0F, false)) return false;
        for (std::uint64_t i = 0; i < n; ++i)
            if (!skip_packed(p, end, depth - 1)) return false;
        return true;
    }
    if ((c & 0xE0) == 0xA0) return skip_bytes(p, end, c & 0x1F);
    switch (c) {
        case 0xC4: case 0xD9: return be(p, end, 1, n) && skip_bytes(p, end, n);
        case 0xC5: case 0xDA: return be(p, end, 2, n) && skip_bytes(p, end, n);
        case 0xC6: case 0xDB: return be(p, end, 4, n) && skip_bytes(p, end, n);
        case 0xC7: return be(p, end, 1, n) && skip_bytes(p, end, n + 1);
        case 0xC8: return be(p, end, 2, n) && skip_bytes(p, end, n + 1);
        case 0xC9: return be(p, end, 4, n) && skip_bytes(p, end, n + 1);
        case 0xCA: return skip_bytes(p, end, 4);
        case 0xCB: return skip_bytes(p, end, 8);
        case 0xCC: case 0xD0: return skip_bytes(p, end, 1);
        case 0xCD: case 0xD1: return skip_bytes(p, end, 2);
        case 0xCE: case 0xD2: return skip_bytes(p, end, 4);
        case 0xCF: case 0xD3: return skip_bytes(p, end, 8);
        case 0xD4: return skip_bytes(p, end, 2);
        case 0xD5: return skip_bytes(p, end, 3);
        case 0xD6: return skip_bytes(p, end, 5);
        case 0xD7: return skip_bytes(p, end, 9);
        case 0xD8: return skip_bytes(p, end, 17);
        default: return false;  // 0xC1, never used
    }
}

std::optional<std::string_view> packed_map_str(std::string_view packed, std::string_view key) {
    const char* p = packed.data();
    const char* end = p + packed.size();
    if (p >= end) return std::nullopt;
    const unsigned c = static_cast<unsigned char>(*p++);
    std::uint64_t n = 0;
    if ((c & 0xF0) == 0x80) n = c & 0x0F;
    else if (c == 0xDE) { if (!be(p, end, 2, n)) return std::nullopt; }
    else if (c == 0xDF) { if (!be(p, end, 4, n)) return std::nullopt; }
    else return std::nullopt;
    std::optional<std::string_view> found;
    for (std::uint64_t i = 0; i < n; ++i) {
        const char* k = p;
        std::string_view ks, vs;
        if (read_str(k, end, ks) && ks == key) {
            const char* v = k;
            found = read_str(v, end, vs) ? std::optional<std::string_view>(vs) : std::nullopt;
            p = k;
        } else if (!skip_packed(p, end)) {
            return std::nullopt;
        }
        if (!skip_packed(p, end)) return std::nullopt;
    }
    return found;
}

}  // namespace tagbus
