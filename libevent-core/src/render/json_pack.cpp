// pack_json_stamped: JSON text of an object straight to the msgpack bytes that parse_json,
// set_stamp and pack would give, for event-fire --lines and sender::fire_line, without building a
// value. It takes only the plain case and declines everything else, leaving `out` as it was;
// parse_json then gives the same bytes or the error, so every rule of Python's json.loads stays
// written once, there. Declined: NaN and Infinity, integers outside 64 bits, floats that do not
// parse to a finite double, \u escapes of surrogates, control characters and bytes that are not
// UTF-8 inside strings, duplicate keys, objects of more than 64 keys, nesting deeper than 256,
// and anything that is not JSON.
#include <charconv>
#include <cstring>
#include <utility>
#include <vector>

#include "render/json.hpp"
#include "wire/msgpack.hpp"
#include "wire/utf8.hpp"

namespace tagbus::inline v0 {
namespace detail {
namespace {

constexpr int max_depth = 256;
constexpr std::size_t max_keys = 64;  // per object: duplicates are found by comparing with each earlier key
constexpr std::string_view stamp_key = "\xa6_stamp";  // "_stamp" packed

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }  // Python json's whitespace

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {  // \u escapes reach U+FFFF at most; surrogates are declined before this
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Whether none of the 8 bytes at p is '"', '\\', a control character or a non-ASCII byte: such a
// run is copied without looking at each byte.
bool plain8(const char* p) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    auto zero_byte = [&](std::uint64_t x) { return (x - ones) & ~x & highs; };
    // With no high bit set anywhere, (w - 0x20 each) & ~w & highs flags exactly the bytes < 0x20.
    return ((w & highs) | ((w - ones * 0x20) & ~w & highs) | zero_byte(w ^ (ones * '"')) |
            zero_byte(w ^ (ones * '\\'))) == 0;
}

class json_packer {
public:
    // `keys` and `scratch` are working space kept between calls (no allocation per line).
    json_packer(std::string_view text, std::string& out, std::vector<std::pair<std::size_t, std::size_t>>& keys,
                std::string& scratch)
        : p_(text.data()), end_(text.data() + text.size()), out_(out), keys_(keys), scratch_(scratch) {
        keys_.clear();
    }

    bool top(std::string_view stamp) {
        stamp_ = stamp;
        skip_space();
        if (p_ == end_ || *p_ != '{' || !object(1, true)) return false;
        skip_space();
        return p_ == end_;
    }

private:
    void skip_space() {
        while (p_ < end_ && is_space(*p_)) ++p_;
    }

    void pack_str(std::string_view s) { detail::pack_str(out_, s); }

    // The one-byte placeholder at `at` becomes the header for `n` entries (fix form in place,
    // else the 16- or 32-bit form, moving the entries up).
    void close_container(std::size_t at, std::size_t n, unsigned fix_base, unsigned code16, unsigned code32) {
        if (n < 16) {
            out_[at] = static_cast<char>(fix_base | n);
            return;
        }
        std::string header;
        pack_len(header, n, 0, 0, 0, code16, code32);
        out_.replace(at, 1, header);
    }

    bool value(int depth) {
        if (p_ == end_ || depth > max_depth) return false;
        switch (*p_) {
            case '{': return object(depth, false);
            case '[': return array(depth);
            case '"': return string();
            case 't': return literal("true", 0xc3);
            case 'f': return literal("false", 0xc2);
            case 'n': return literal("null", 0xc0);
            default: return number();
        }
    }

    bool literal(std::string_view word, unsigned byte) {
        if (static_cast<std::size_t>(end_ - p_) < word.size() || std::memcmp(p_, word.data(), word.size()) != 0)
            return false;
        p_ += word.size();
        put_byte(out_, byte);
        return true;
    }

    bool object(int depth, bool top) {
        ++p_;  // '{'
        const std::size_t at = out_.size();
        out_.push_back('\0');
        const std::size_t first_key = keys_.size();
        std::size_t n = 0;
        bool stamped = false;
        skip_space();
        if (p_ < end_ && *p_ == '}') {
            ++p_;
        } else {
            for (;;) {
                skip_space();
                if (p_ == end_ || *p_ != '"') return false;
                const std::size_t k = out_.size();
                if (!string()) return false;
                const std::string_view key(out_.data() + k, out_.size() - k);
                for (std::size_t i = first_key; i < keys_.size(); ++i)
                    if (std::string_view(out_.data() + keys_[i].first, keys_[i].second) == key) return false;
                if (keys_.size() - first_key >= max_keys) return false;
                const bool is_stamp = top && key == stamp_key;
                keys_.emplace_back(k, key.size());
                skip_space();
                if (p_ == end_ || *p_ != ':') return false;
                ++p_;
                skip_space();
                const std::size_t v = out_.size();
                if (!value(depth + 1)) return false;
                if (is_stamp) {  // set_stamp: replaced where it is
                    out_.resize(v);
                    pack_str(stamp_);
                    stamped = true;
                }
                ++n;
                skip_space();
                if (p_ < end_ && *p_ == ',') {
                    ++p_;
                    continue;
                }
                if (p_ < end_ && *p_ == '}') {
                    ++p_;
                    break;
                }
                return false;
            }
        }
        keys_.resize(first_key);
        if (top && !stamped) {  // set_stamp: added last
            out_.append(stamp_key);
            pack_str(stamp_);
            ++n;
        }
        close_container(at, n, 0x80, 0xde, 0xdf);
        return true;
    }

    bool array(int depth) {
        ++p_;  // '['
        const std::size_t at = out_.size();
        out_.push_back('\0');
        std::size_t n = 0;
        skip_space();
        if (p_ < end_ && *p_ == ']') {
            ++p_;
        } else {
            for (;;) {
                skip_space();
                if (!value(depth + 1)) return false;
                ++n;
                skip_space();
                if (p_ < end_ && *p_ == ',') {
                    ++p_;
                    continue;
                }
                if (p_ < end_ && *p_ == ']') {
                    ++p_;
                    break;
                }
                return false;
            }
        }
        close_container(at, n, 0x90, 0xdc, 0xdd);
        return true;
    }

    bool string() {
        const char* const s = ++p_;  // past '"'
        const char* q = s;
        // Without escapes the text is the string: one scan, one copy.
        while (end_ - q >= 8 && plain8(q)) q += 8;
        while (q < end_) {
            const auto c = static_cast<unsigned char>(*q);
            if (c == '"' || c == '\\') break;
            if (c < 0x20) return false;
            if (c < 0x80) {
                ++q;
                continue;
            }
            const std::size_t len = utf8_sequence(reinterpret_cast<const unsigned char*>(q),
                                                  reinterpret_cast<const unsigned char*>(end_));
            if (len == 0) return false;
            q += len;
        }
        if (q == end_) return false;
        if (*q == '"') {
            pack_str(std::string_view(s, static_cast<std::size_t>(q - s)));
            p_ = q + 1;
            return true;
        }
        scratch_.assign(s, q);
        while (q < end_ && *q != '"') {
            const auto c = static_cast<unsigned char>(*q);
            if (c == '\\') {
                if (++q == end_) return false;
                switch (*q) {
                    case '"': scratch_.push_back('"'); break;
                    case '\\': scratch_.push_back('\\'); break;
                    case '/': scratch_.push_back('/'); break;
                    case 'b': scratch_.push_back('\b'); break;
                    case 'f': scratch_.push_back('\f'); break;
                    case 'n': scratch_.push_back('\n'); break;
                    case 'r': scratch_.push_back('\r'); break;
                    case 't': scratch_.push_back('\t'); break;
                    case 'u': {
                        if (end_ - q < 5) return false;
                        char32_t cp = 0;
                        for (int i = 1; i <= 4; ++i) {
                            const int h = hex_value(q[i]);
                            if (h < 0) return false;
                            cp = cp * 16 + static_cast<char32_t>(h);
                        }
                        if (cp >= 0xD800 && cp <= 0xDFFF) return false;  // pairs and lone halves: parse_json
                        append_utf8(scratch_, cp);
                        q += 4;
                        break;
                    }
                    default: return false;
                }
                ++q;
            } else if (c < 0x20) {
                return false;
            } else if (c < 0x80) {
                scratch_.push_back(static_cast<char>(c));
                ++q;
            } else {
                const std::size_t len = utf8_sequence(reinterpret_cast<const unsigned char*>(q),
                                                      reinterpret_cast<const unsigned char*>(end_));
                if (len == 0) return false;
                scratch_.append(q, len);
                q += len;
            }
        }
        if (q == end_) return false;
        pack_str(scratch_);
        p_ = q + 1;
        return true;
    }

    // Python's -?(0|[1-9]\d*)(\.\d+)?([eE][-+]?\d+)?: an int without fraction and exponent, else a float.
    bool number() {
        const char* const s = p_;
        const char* q = p_;
        const bool negative = *q == '-';
        if (negative) ++q;
        if (q == end_ || !is_digit(*q)) return false;
        if (*q == '0') ++q;
        else
            while (q < end_ && is_digit(*q)) ++q;
        bool is_float = false;
        if (q < end_ && *q == '.') {
            if (q + 1 == end_ || !is_digit(q[1])) return false;
            q += 2;
            while (q < end_ && is_digit(*q)) ++q;
            is_float = true;
        }
        if (q < end_ && (*q == 'e' || *q == 'E')) {
            const char* e = q + 1;
            if (e < end_ && (*e == '+' || *e == '-')) ++e;
            if (e == end_ || !is_digit(*e)) return false;
            while (e < end_ && is_digit(*e)) ++e;
            q = e;
            is_float = true;
        }
        if (is_float) {
            double d = 0;
            const auto r = std::from_chars(s, q, d);
            if (r.ec != std::errc{} || r.ptr != q || !(d - d == 0)) return false;  // overflow, underflow, inf
            pack_double(out_, d);
        } else if (negative) {
            std::int64_t i = 0;
            const auto r = std::from_chars(s, q, i);
            if (r.ec != std::errc{} || r.ptr != q) return false;
            if (i == 0) pack_uint(out_, 0);  // "-0" is the int 0
            else pack_negative(out_, i);
        } else {
            std::uint64_t u = 0;
            const auto r = std::from_chars(s, q, u);
            if (r.ec != std::errc{} || r.ptr != q) return false;
            pack_uint(out_, u);
        }
        p_ = q;
        return true;
    }

    const char* p_;
    const char* const end_;
    std::string& out_;
    std::string_view stamp_;
    std::vector<std::pair<std::size_t, std::size_t>>& keys_;  // open objects' packed keys: offset and size in out_
    std::string& scratch_;
};

}  // namespace
}  // namespace detail

bool pack_json_stamped(std::string_view text, std::string_view stamp, std::string& out) {
    const std::size_t size = out.size();
    thread_local std::vector<std::pair<std::size_t, std::size_t>> keys;
    thread_local std::string scratch;
    detail::json_packer packer(text, out, keys, scratch);
    if (packer.top(stamp)) return true;
    out.resize(size);
    return false;
}

}  // namespace tagbus
