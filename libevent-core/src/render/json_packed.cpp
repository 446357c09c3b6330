// Compact JSON straight from msgpack bytes: the renderer's common case without the value tree.
//
// state-event's compact and JSON-lines output spend most of their time building a value tree
// (an allocation per map, per long string) only to walk it once. Event data is nearly always a
// map of distinct str keys over plain values, and for those render_json's compact output is a
// direct spelling of the bytes. Anything else (Salt's ext values, non-str or repeated keys, big
// maps, malformed input, bytes after the object) returns false and the caller takes the general path, which is the
// authority: the unit tests check that both agree wherever this one answers.
//
// Output goes to a per-thread scratch buffer sized for the worst case up front (no bounds checks
// or string growth per token), then to the caller's string in one append.
#include <bit>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <memory>

#include "render/json_write.hpp"
#include "render/json.hpp"
#include "py/py.hpp"

namespace tagbus::inline v0 {
namespace {

// Well below unpack()'s 512 so that an over-deep event reaches the general path and its error.
constexpr unsigned max_depth = 256;
// Larger maps are checked for repeated keys by the general path.
constexpr std::size_t max_pairwise_keys = 16;

// The most output one input byte can cause: `false, ` in an array of falses (7), a control
// character in a string (6); a float64 (9 bytes) or int (2-9 bytes) writes at most 26 with its
// separator.
constexpr std::size_t max_expansion = 8;
constexpr std::size_t slack = 64;
// Larger data takes the general path: the scratch buffer lives as long as the thread, and must
// not keep eight times the largest event ever seen (frames may be 64 MiB).
constexpr std::size_t max_packed = 1u << 20;

struct scratch {
    std::unique_ptr<char[]> buf;
    std::size_t size = 0;
    char* reserve(std::size_t n) {
        if (n > size) {
            buf.reset(new char[n]);  // uninitialised: every byte used is written first
            size = n;
        }
        return buf.get();
    }
};

// Write false: the same walk, deciding only whether render_packed_json would answer.
template <bool Write>
class transcoder {
public:
    transcoder(std::string_view in, char* out) : in_(in), w_(out) {}
    unsigned issues = 0;
    char* end() const { return w_; }

    bool value(unsigned depth) {
        if (pos_ >= in_.size() || depth > max_depth) return false;
        const auto b = static_cast<unsigned char>(in_[pos_++]);
        if (b <= 0x7f) return uint(b);
        if (b >= 0xe0) return sint(static_cast<std::int8_t>(b));
        if (b <= 0x8f) return map(b & 0x0fu, depth);
        if (b <= 0x9f) return array(b & 0x0fu, depth);
        if (b <= 0xbf) return string(b & 0x1fu);
        std::uint64_t n = 0;
        switch (b) {
            case 0xc0:
                return put("null", 4);
            case 0xc2:
                return put("false", 5);
            case 0xc3:
                return put("true", 4);
            case 0xc4:
            case 0xd9:
                return be(1, n) && string(n);  // bin is shown as its text
            case 0xc5:
            case 0xda:
                return be(2, n) && string(n);
            case 0xc6:
            case 0xdb:
                return be(4, n) && string(n);
            case 0xca:
                return be(4, n) && real(std::bit_cast<float>(static_cast<std::uint32_t>(n)));
            case 0xcb:
                return be(8, n) && real(std::bit_cast<double>(n));
            case 0xcc:
                return be(1, n) && uint(n);
            case 0xcd:
                return be(2, n) && uint(n);
            case 0xce:
                return be(4, n) && uint(n);
            case 0xcf:
                return be(8, n) && uint(n);
            case 0xd0:
                return be(1, n) && sint(static_cast<std::int8_t>(n));
            case 0xd1:
                return be(2, n) && sint(static_cast<std::int16_t>(n));
            case 0xd2:
                return be(4, n) && sint(static_cast<std::int32_t>(n));
            case 0xd3:
                return be(8, n) && sint(static_cast<std::int64_t>(n));
            case 0xdc:
                return be(2, n) && array(n, depth);
            case 0xdd:
                return be(4, n) && array(n, depth);
            case 0xde:
                return be(2, n) && map(n, depth);
            case 0xdf:
                return be(4, n) && map(n, depth);
            case 0xd4:
                return ext(1);
            case 0xd5:
                return ext(2);
            case 0xd6:
                return ext(4);
            case 0xd7:
                return ext(8);
            case 0xd8:
                return ext(16);
            case 0xc7:
                return be(1, n) && ext(n);
            case 0xc8:
                return be(2, n) && ext(n);
            case 0xc9:
                return be(4, n) && ext(n);
            default:
                return false;  // 0xc1
        }
    }

    bool complete() const { return pos_ == in_.size(); }

private:
    bool put(const char* s, std::size_t n) {
        if constexpr (Write) {
            std::memcpy(w_, s, n);
            w_ += n;
        }
        return true;
    }
    void put(char c) {
        if constexpr (Write) *w_++ = c;
    }

    bool be(unsigned bytes, std::uint64_t& v) {
        if (in_.size() - pos_ < bytes) return false;
        v = 0;
        for (unsigned i = 0; i < bytes; ++i) v = (v << 8) | static_cast<unsigned char>(in_[pos_ + i]);
        pos_ += bytes;
        return true;
    }

    // The value model normalises every non-negative integer to unsigned, whatever its format;
    // to_chars spells both the same way.
    template <typename I>
    bool digits(I v) {
        if constexpr (Write) w_ = std::to_chars(w_, w_ + 24, v).ptr;
        return true;
    }
    bool uint(std::uint64_t v) { return digits(v); }
    bool sint(std::int64_t v) { return digits(v); }

    bool real(double d) {
        if constexpr (!Write) return true;
        thread_local std::string text;
        text.clear();
        append_py_float(text, d);
        return put(text.data(), text.size());
    }

    bool bytes(std::uint64_t n, std::string_view& s) {
        if (in_.size() - pos_ < n) return false;
        s = in_.substr(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return true;
    }
    bool string(std::uint64_t n) {
        std::string_view s;
        return bytes(n, s) && quoted(s);
    }
    bool quoted(std::string_view s) {
        if constexpr (!Write) return true;
        bool valid = true;
        w_ = detail::write_json_string(w_, s, valid);
        if (!valid) issues |= issue_invalid_utf8;
        return true;
    }

    // An ext other than Salt's (78 datetime, 79 sentinel) and msgpack's timestamp (-1) is its
    // payload as text; those three take the general path.
    bool ext(std::uint64_t n) {
        if (pos_ >= in_.size()) return false;
        const auto type = static_cast<std::int8_t>(in_[pos_++]);
        if (type == 78 || type == 79 || type == -1) return false;
        return string(n);
    }

    bool array(std::uint64_t n, unsigned depth) {
        put('[');
        for (std::uint64_t i = 0; i < n; ++i) {
            if (i != 0) put(", ", 2);
            if (!value(depth + 1)) return false;
        }
        put(']');
        return true;
    }

    // Only str keys (bin keys merge with equal str keys in Salt's decode step), none repeated.
    bool map(std::uint64_t n, unsigned depth) {
        if (n > max_pairwise_keys) return false;
        std::string_view keys[max_pairwise_keys];
        put('{');
        for (std::size_t i = 0; i < n; ++i) {
            if (i != 0) put(", ", 2);
            if (!key(keys[i])) return false;
            for (std::size_t j = 0; j < i; ++j)
                if (keys[j] == keys[i]) return false;
            quoted(keys[i]);
            put(": ", 2);
            if (!value(depth + 1)) return false;
        }
        put('}');
        return true;
    }

    bool key(std::string_view& k) {
        if (pos_ >= in_.size()) return false;
        const auto b = static_cast<unsigned char>(in_[pos_++]);
        std::uint64_t n = 0;
        if (b >= 0xa0 && b <= 0xbf)
            n = b & 0x1fu;
        else if (!((b == 0xd9 && be(1, n)) || (b == 0xda && be(2, n)) || (b == 0xdb && be(4, n))))
            return false;
        return bytes(n, k);
    }

    std::string_view in_;
    char* w_;
    std::size_t pos_ = 0;
};

}  // namespace

bool render_packed_json(std::string_view packed, std::string& out, unsigned& issues) {
    if (packed.size() > max_packed) return false;
    thread_local scratch buf;
    char* const start = buf.reserve(packed.size() * max_expansion + slack);
    transcoder<true> t(packed, start);
    if (!t.value(0) || !t.complete()) return false;
    out.append(start, static_cast<std::size_t>(t.end() - start));
    issues |= t.issues;
    return true;
}

bool packed_json_plain(std::string_view packed) {
    if (packed.size() > max_packed) return false;
    transcoder<false> t(packed, nullptr);
    return t.value(0) && t.complete();
}

}  // namespace tagbus
