// The msgpack codec for the value model. The encoder must reproduce msgpack-python 1.0's
// packb(x, use_bin_type=True) byte for byte, because Salt peers and our tests compare bytes.
#include "tagbus/value.hpp"

#include <bit>
#include <cstring>
#include <type_traits>

#include "wire/msgpack.hpp"

namespace tagbus::inline v0 {

bool value::operator==(const value& o) const {
    if (v.index() != o.v.index()) return false;
    return std::visit(
        [&](const auto& a) -> bool {
            using T = std::decay_t<decltype(a)>;
            const T& b = std::get<T>(o.v);
            // Floats compare by bit pattern: structural equality must hold for NaN (a decoded
            // NaN equals itself) and must tell 0.0 from -0.0, which pack differently.
            if constexpr (std::is_same_v<T, float>)
                return std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
            else if constexpr (std::is_same_v<T, double>)
                return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b);
            else
                return a == b;
        },
        v);
}

namespace detail {

void put_be(std::string& out, std::uint64_t x, int bytes) {
    char b[8];
    for (int i = bytes - 1; i >= 0; --i) {
        b[i] = static_cast<char>(x & 0xff);
        x >>= 8;
    }
    out.append(b, static_cast<std::size_t>(bytes));
}

void put_byte(std::string& out, unsigned b) { out.push_back(static_cast<char>(b)); }

void pack_uint(std::string& out, std::uint64_t u) {
    if (u < 0x80) {
        put_byte(out, static_cast<unsigned>(u));
    } else if (u <= 0xff) {
        put_byte(out, 0xcc);
        put_be(out, u, 1);
    } else if (u <= 0xffff) {
        put_byte(out, 0xcd);
        put_be(out, u, 2);
    } else if (u <= 0xffffffffu) {
        put_byte(out, 0xce);
        put_be(out, u, 4);
    } else {
        put_byte(out, 0xcf);
        put_be(out, u, 8);
    }
}

// Negative integers only: msgpack-python never uses a signed format for a non-negative value.
void pack_negative(std::string& out, std::int64_t i) {
    const auto bits = static_cast<std::uint64_t>(i);
    if (i >= -32) {
        put_byte(out, static_cast<unsigned>(bits & 0xff));
    } else if (i >= -128) {
        put_byte(out, 0xd0);
        put_be(out, bits, 1);
    } else if (i >= -32768) {
        put_byte(out, 0xd1);
        put_be(out, bits, 2);
    } else if (i >= -2147483648LL) {
        put_byte(out, 0xd2);
        put_be(out, bits, 4);
    } else {
        put_byte(out, 0xd3);
        put_be(out, bits, 8);
    }
}

// Length header for str/bin/array/map: the fix form when it fits (fix_limit 0: no fix form,
// code8 0: no 8-bit form), else 8/16/32-bit. Lengths above 4 GiB cannot occur in a frame.
void pack_len(std::string& out, std::size_t n, unsigned fix_base, std::size_t fix_limit, unsigned code8,
              unsigned code16, unsigned code32) {
    if (n < fix_limit) {
        put_byte(out, fix_base | static_cast<unsigned>(n));
    } else if (code8 != 0 && n <= 0xff) {
        put_byte(out, code8);
        put_be(out, n, 1);
    } else if (n <= 0xffff) {
        put_byte(out, code16);
        put_be(out, n, 2);
    } else {
        put_byte(out, code32);
        put_be(out, n, 4);
    }
}

void pack_str(std::string& out, std::string_view s) {
    pack_len(out, s.size(), 0xa0, 32, 0xd9, 0xda, 0xdb);
    out.append(s);
}

void pack_double(std::string& out, double d) {
    put_byte(out, 0xcb);
    put_be(out, std::bit_cast<std::uint64_t>(d), 8);
}

namespace {

void pack_ext(std::string& out, const ext_t& e) {
    const std::size_t n = e.data.size();
    switch (n) {
        case 1: put_byte(out, 0xd4); break;
        case 2: put_byte(out, 0xd5); break;
        case 4: put_byte(out, 0xd6); break;
        case 8: put_byte(out, 0xd7); break;
        case 16: put_byte(out, 0xd8); break;
        default: pack_len(out, n, 0, 0, 0xc7, 0xc8, 0xc9); break;
    }
    put_byte(out, static_cast<std::uint8_t>(e.type));
    out.append(e.data);
}

void pack_into(const value& v, std::string& out) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                put_byte(out, 0xc0);
            } else if constexpr (std::is_same_v<T, bool>) {
                put_byte(out, x ? 0xc3 : 0xc2);
            } else if constexpr (std::is_same_v<T, std::int64_t>) {
                if (x < 0) pack_negative(out, x);
                else pack_uint(out, static_cast<std::uint64_t>(x));
            } else if constexpr (std::is_same_v<T, std::uint64_t>) {
                pack_uint(out, x);
            } else if constexpr (std::is_same_v<T, float>) {
                put_byte(out, 0xca);
                put_be(out, std::bit_cast<std::uint32_t>(x), 4);
            } else if constexpr (std::is_same_v<T, double>) {
                pack_double(out, x);
            } else if constexpr (std::is_same_v<T, std::string>) {
                pack_str(out, x);
            } else if constexpr (std::is_same_v<T, bin_t>) {
                pack_len(out, x.bytes.size(), 0, 0, 0xc4, 0xc5, 0xc6);
                out.append(x.bytes);
            } else if constexpr (std::is_same_v<T, array_t>) {
                pack_len(out, x.size(), 0x90, 16, 0, 0xdc, 0xdd);
                for (const value& e : x) pack_into(e, out);
            } else if constexpr (std::is_same_v<T, map_t>) {
                pack_len(out, x.size(), 0x80, 16, 0, 0xde, 0xdf);
                for (const member& m : x) {
                    pack_into(m.key, out);
                    pack_into(m.val, out);
                }
            } else {
                static_assert(std::is_same_v<T, ext_t>);
                pack_ext(out, x);
            }
        },
        v.v);
}

// Object layout of a msgpack lead byte: how many header bytes follow it, and how the header
// announces a payload length or an element count. Shared by the decoder and the scanner.
struct layout {
    unsigned header = 0;     // bytes after the lead byte that belong to the header
    unsigned len_bytes = 0;  // size of the big-endian length/count field inside the header (0: none)
    std::size_t fixed = 0;   // payload bytes known from the lead byte alone
    unsigned per_item = 0;   // 1 for arrays, 2 for maps: the length field counts items
    bool invalid = false;
};

layout layout_of(unsigned char b) {
    layout l;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return l;
    if (b <= 0x8f) return l;  // fixmap: count is in the lead byte
    if (b <= 0x9f) return l;  // fixarray
    if (b <= 0xbf) {
        l.fixed = b & 0x1f;
        return l;
    }
    switch (b) {
        case 0xc4: case 0xd9: l.header = l.len_bytes = 1; break;
        case 0xc5: case 0xda: l.header = l.len_bytes = 2; break;
        case 0xc6: case 0xdb: l.header = l.len_bytes = 4; break;
        case 0xc7: l.len_bytes = 1; l.header = 2; break;  // length, then the ext type
        case 0xc8: l.len_bytes = 2; l.header = 3; break;
        case 0xc9: l.len_bytes = 4; l.header = 5; break;
        case 0xca: l.fixed = 4; break;
        case 0xcb: l.fixed = 8; break;
        case 0xcc: case 0xd0: l.fixed = 1; break;
        case 0xcd: case 0xd1: l.fixed = 2; break;
        case 0xce: case 0xd2: l.fixed = 4; break;
        case 0xcf: case 0xd3: l.fixed = 8; break;
        case 0xd4: l.header = 1; l.fixed = 1; break;  // fixext: type byte, then 1..16 bytes
        case 0xd5: l.header = 1; l.fixed = 2; break;
        case 0xd6: l.header = 1; l.fixed = 4; break;
        case 0xd7: l.header = 1; l.fixed = 8; break;
        case 0xd8: l.header = 1; l.fixed = 16; break;
        case 0xdc: l.header = l.len_bytes = 2; l.per_item = 1; break;
        case 0xdd: l.header = l.len_bytes = 4; l.per_item = 1; break;
        case 0xde: l.header = l.len_bytes = 2; l.per_item = 2; break;
        case 0xdf: l.header = l.len_bytes = 4; l.per_item = 2; break;
        default: l.invalid = true; break;  // 0xc1, the one byte msgpack never uses
    }
    return l;
}

std::uint64_t get_be(const char* p, unsigned bytes) {
    std::uint64_t x = 0;
    for (unsigned i = 0; i < bytes; ++i) x = (x << 8) | static_cast<unsigned char>(p[i]);
    return x;
}

std::string hex_byte(unsigned char b) {
    static constexpr char digits[] = "0123456789abcdef";
    return {'0', 'x', digits[b >> 4], digits[b & 0xf]};
}

failure invalid_byte(unsigned char b, std::size_t at) {
    return fail(errc::data, "invalid msgpack byte " + hex_byte(b) + " at offset " + std::to_string(at));
}

// Recursive-descent decoder. Errors are recorded once in `err` and unwind via `false`.
class decoder {
public:
    explicit decoder(std::string_view in) : in_(in) {}
    std::size_t pos = 0;
    failure err;

    bool read(value& out, unsigned depth) {
        const std::size_t start = pos;
        if (pos >= in_.size()) return truncated(start);
        const auto b = static_cast<unsigned char>(in_[pos]);
        const layout l = layout_of(b);
        if (l.invalid) {
            err = invalid_byte(b, start);
            return false;
        }
        if (in_.size() - pos - 1 < l.header) return truncated(start);
        const char* h = in_.data() + pos + 1;
        const std::uint64_t len = l.len_bytes ? get_be(h, l.len_bytes) : 0;
        pos += 1 + l.header;
        if (b <= 0x7f) {
            out.v = std::uint64_t{b};
        } else if (b >= 0xe0) {
            out.v = static_cast<std::int64_t>(static_cast<std::int8_t>(b));
        } else if (b <= 0x8f || b == 0xde || b == 0xdf) {
            return read_map(out, b <= 0x8f ? (b & 0x0f) : len, depth);
        } else if (b <= 0x9f || b == 0xdc || b == 0xdd) {
            return read_array(out, b <= 0x9f ? (b & 0x0f) : len, depth);
        } else if (b <= 0xbf || (b >= 0xd9 && b <= 0xdb)) {
            const std::size_t n = b <= 0xbf ? l.fixed : len;
            if (!take(n, start)) return false;
            out.v.emplace<std::string>(in_.data() + pos - n, n);
        } else if (b >= 0xc4 && b <= 0xc6) {
            if (!take(len, start)) return false;
            out.v = bin_t{std::string(in_.substr(pos - len, len))};
        } else if ((b >= 0xc7 && b <= 0xc9) || (b >= 0xd4 && b <= 0xd8)) {
            const std::size_t n = b >= 0xd4 ? l.fixed : len;
            const auto type = static_cast<std::int8_t>(static_cast<unsigned char>(h[l.header - 1]));
            if (!take(n, start)) return false;
            out.v = ext_t{type, std::string(in_.substr(pos - n, n))};
        } else if (b == 0xc0) {
            out.v = std::monostate{};
        } else if (b == 0xc2 || b == 0xc3) {
            out.v = b == 0xc3;
        } else {
            if (!take(l.fixed, start)) return false;
            read_number(out, b, get_be(in_.data() + pos - l.fixed, static_cast<unsigned>(l.fixed)));
        }
        return true;
    }

private:
    std::string_view in_;

    bool truncated(std::size_t at) {
        err = fail(errc::data, "truncated msgpack at byte " + std::to_string(at));
        return false;
    }

    bool take(std::uint64_t n, std::size_t start) {
        if (in_.size() - pos < n) return truncated(start);
        pos += static_cast<std::size_t>(n);
        return true;
    }

    bool too_deep(unsigned depth) {
        if (depth < 512) return false;
        err = fail(errc::data, "msgpack nesting deeper than 512");
        return true;
    }

    // Every element takes at least one byte, so the remaining input bounds a sane reservation
    // even when a hostile header announces four billion elements.
    std::size_t reservation(std::uint64_t count) const {
        const std::size_t left = in_.size() - pos;
        return count < left ? static_cast<std::size_t>(count) : left;
    }

    bool read_array(value& out, std::uint64_t n, unsigned depth) {
        if (too_deep(depth)) return false;
        array_t& a = out.v.emplace<array_t>();
        a.reserve(reservation(n));
        for (std::uint64_t i = 0; i < n; ++i) {
            a.emplace_back();
            if (!read(a.back(), depth + 1)) return false;
        }
        return true;
    }

    bool read_map(value& out, std::uint64_t n, unsigned depth) {
        if (too_deep(depth)) return false;
        map_t& m = out.v.emplace<map_t>();  // filled in place: no map moved per level
        m.reserve(reservation(n));
        for (std::uint64_t i = 0; i < n; ++i) {
            m.emplace_back();
            if (!read(m.back().key, depth + 1) || !read(m.back().val, depth + 1)) return false;
        }
        return true;
    }

    static void read_number(value& out, unsigned char b, std::uint64_t raw) {
        switch (b) {
            case 0xca: out.v = std::bit_cast<float>(static_cast<std::uint32_t>(raw)); return;
            case 0xcb: out.v = std::bit_cast<double>(raw); return;
            case 0xcc: case 0xcd: case 0xce: case 0xcf: out.v = raw; return;
            default: break;
        }
        // Signed formats: sign-extend, then normalise non-negative values to uint64 as the
        // model requires (Salt's peers may write 5 as int8).
        std::int64_t i = 0;
        switch (b) {
            case 0xd0: i = static_cast<std::int8_t>(raw); break;
            case 0xd1: i = static_cast<std::int16_t>(raw); break;
            case 0xd2: i = static_cast<std::int32_t>(raw); break;
            default: i = static_cast<std::int64_t>(raw); break;
        }
        if (i < 0) out.v = i;
        else out.v = static_cast<std::uint64_t>(i);
    }
};

}  // namespace

result<std::size_t> scan_resume(std::string_view in, scan_state& st, std::size_t& need) {
    while (st.pending > 0) {
        const std::size_t p = st.offset;
        // Each owed item takes at least one byte: a lower bound that lets a caller wait.
        const std::size_t later = static_cast<std::size_t>(st.pending - 1);
        if (p >= in.size()) {
            need = p + 1 + later;
            st.progress_at = p + 1;
            return std::size_t{0};
        }
        const auto b = static_cast<unsigned char>(in[p]);
        const layout l = layout_of(b);
        if (l.invalid) return invalid_byte(b, p);
        if (in.size() - p - 1 < l.header) {
            need = p + 1 + l.header + later;
            st.progress_at = p + 1 + l.header;
            return std::size_t{0};
        }
        const std::uint64_t len = l.len_bytes ? get_be(in.data() + p + 1, l.len_bytes) : 0;
        std::uint64_t payload = l.fixed;
        std::uint64_t items = 0;
        if (b >= 0x80 && b <= 0x8f) items = 2u * (b & 0x0f);
        else if (b >= 0x90 && b <= 0x9f) items = b & 0x0f;
        else if (l.per_item) items = l.per_item * len;
        else if (l.len_bytes) payload = len;
        const std::uint64_t end = p + 1 + l.header + payload;
        if (end > in.size()) {
            need = static_cast<std::size_t>(end) + later;
            st.progress_at = static_cast<std::size_t>(end);
            return std::size_t{0};
        }
        st.offset = static_cast<std::size_t>(end);
        st.pending = st.pending - 1 + items;
    }
    return st.offset;
}

}  // namespace detail

void pack(const value& v, std::string& out) { detail::pack_into(v, out); }

std::string pack(const value& v) {
    std::string out;
    detail::pack_into(v, out);
    return out;
}

result<value> unpack(std::string_view in, std::size_t& used) {
    detail::decoder d(in);
    value v;
    if (!d.read(v, 0)) return d.err;
    used = d.pos;
    return v;
}

result<value> unpack(std::string_view in) {
    std::size_t used = 0;
    auto r = unpack(in, used);
    if (r && used != in.size()) {
        const std::size_t extra = in.size() - used;
        return fail(errc::data, std::to_string(extra) + (extra == 1 ? " trailing byte" : " trailing bytes") +
                                      " after msgpack");
    }
    return r;
}

result<std::size_t> scan(std::string_view in, std::size_t& need) {
    detail::scan_state st;
    return detail::scan_resume(in, st, need);
}

std::string_view kind_name(const value& v) {
    switch (v.v.index()) {
        case 0: return "None";
        case 1: return "a boolean";
        case 2:
        case 3: return "an integer";
        case 4:
        case 5: return "a float";
        case 6: return "a string";
        case 7: return "bytes";
        case 8: return "a list";
        case 9: return "a map";
        default: return "an ext value";
    }
}

}  // namespace tagbus
