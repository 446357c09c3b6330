// JSON rendering exactly as Salt's state.event prints event data (json.dumps, ensure_ascii=False),
// and the string and float spellings it is built from. SALT-WIRE §7 lists the cases.
//
// Salt first builds Python objects from the msgpack data (msgpack-python: str → str, bin →
// bytes, map → dict), decodes bytes to str in a second dict comprehension, then json.dumps that.
// Everything below emulates those two steps on our value model without building the objects:
// the common path (compact output, every key a distinct str, no ext) never allocates.
#include "render/json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <forward_list>
#include <optional>
#include <unordered_map>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "render/json_keys.hpp"
#include "render/json_write.hpp"
#include "tagbus/event.hpp"
#include "py/py.hpp"

namespace tagbus::inline v0 {
namespace detail {
namespace {

std::uint64_t load_be(std::string_view d, std::size_t at, std::size_t n) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(d[at + i]);
    return v;
}

void append_padded(std::string& out, std::int64_t v, int width) {
    char buf[24];
    if (v < 0) {
        out += '-';
        v = -v;  // years from int64 seconds stay far from INT64_MIN
    }
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    for (auto len = r.ptr - buf; len < width; ++len) out += '0';
    out.append(buf, r.ptr);
}

// msgpack timestamp (ext -1) as RFC 3339 UTC text. Python's msgpack refuses other payload sizes
// and nanoseconds >= 1e9, failing the whole unpack: false here, and Salt drops the event.
bool append_timestamp(std::string& out, std::string_view d) {
    std::int64_t sec = 0;
    std::uint64_t nsec = 0;
    if (d.size() == 4) {
        sec = static_cast<std::int64_t>(load_be(d, 0, 4));
    } else if (d.size() == 8) {
        const std::uint64_t v = load_be(d, 0, 8);
        nsec = v >> 34;
        sec = static_cast<std::int64_t>(v & ((std::uint64_t{1} << 34) - 1));
    } else if (d.size() == 12) {
        nsec = load_be(d, 0, 4);
        sec = static_cast<std::int64_t>(load_be(d, 4, 8));
    } else {
        return false;
    }
    if (nsec >= 1000000000) return false;
    std::int64_t days = sec / 86400, rem = sec % 86400;
    if (rem < 0) {
        rem += 86400;
        --days;
    }
    // Civil date from days since 1970-01-01, counting in 400-year eras that start on 1 March so
    // the leap day falls at the end of each year.
    const std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    append_padded(out, year, 4);
    out += '-';
    append_padded(out, month, 2);
    out += '-';
    append_padded(out, day, 2);
    out += 'T';
    append_padded(out, rem / 3600, 2);
    out += ':';
    append_padded(out, rem / 60 % 60, 2);
    out += ':';
    append_padded(out, rem % 60, 2);
    // Fraction in 3, 6 or 9 digits, whichever is exact (the RFC 3339 habit of protobuf and Go).
    if (nsec != 0) {
        out += '.';
        if (nsec % 1000000 == 0) append_padded(out, static_cast<std::int64_t>(nsec / 1000000), 3);
        else if (nsec % 1000 == 0) append_padded(out, static_cast<std::int64_t>(nsec / 1000), 6);
        else append_padded(out, static_cast<std::int64_t>(nsec), 9);
    }
    out += 'Z';
    return true;
}

// Ext 79 is Salt's sentinel: a msgpack [name, value]. Anything else makes Salt's ext_hook raise
// inside the unpack, which drops the event like a malformed datetime does.
std::optional<value> ext79_payload(const ext_t& e) {
    auto r = unpack(e.data);
    if (!r) return std::nullopt;
    const array_t* a = r->array();
    if (!a || a->size() != 2) return std::nullopt;
    return std::move(*r);
}

// ---- the renderer ---------------------------------------------------------------------------------

class renderer {
public:
    renderer(std::string& out, const render_options& opts) : out_(out), colors_(opts.colors), pretty_(opts.pretty) {}

    unsigned issues() const { return issues_; }

    // False: Salt drops the event (the caller truncates the output).
    bool render(const value& v, unsigned level) {
        switch (v.v.index()) {
            case kind<std::monostate>: token(&json_colors::literal, "null"); return true;
            case kind<bool>: token(&json_colors::literal, std::get<bool>(v.v) ? "true" : "false"); return true;
            case kind<std::int64_t>: number(std::get<std::int64_t>(v.v)); return true;
            case kind<std::uint64_t>: number(std::get<std::uint64_t>(v.v)); return true;
            case kind<float>: real(std::get<float>(v.v)); return true;
            case kind<double>: real(std::get<double>(v.v)); return true;
            case kind<std::string>: string(&json_colors::string, std::get<std::string>(v.v)); return true;
            case kind<bin_t>: string(&json_colors::string, std::get<bin_t>(v.v).bytes); return true;
            case kind<array_t>: return array(std::get<array_t>(v.v), level);
            case kind<map_t>: return map(std::get<map_t>(v.v), level);
            case kind<ext_t>: return ext(std::get<ext_t>(v.v), level);
            default: return true;
        }
    }

private:
    using color = std::string_view json_colors::*;

    void begin(color c) {
        if (colors_) out_ += colors_->*c;
    }
    void end() {
        if (colors_) out_ += colors_->reset;
    }
    void token(color c, std::string_view text) {
        begin(c);
        out_ += text;
        end();
    }
    template <typename I>
    void number(I i) {
        char buf[24];
        token(&json_colors::number, std::string_view(buf, std::to_chars(buf, buf + sizeof buf, i).ptr));
    }
    void real(double d) {
        begin(&json_colors::number);
        append_py_float(out_, d);
        end();
    }
    void string(color c, std::string_view s) {
        begin(c);
        if (!append_json_string(out_, s)) issues_ |= issue_invalid_utf8;
        end();
    }

    // Separators: compact ", " between items; pretty "," then a new line indented 4 per level.
    void item(bool first, unsigned level) {
        if (pretty_) {
            if (!first) out_ += ',';
            newline(level);
        } else if (!first) {
            out_ += ", ";
        }
    }
    void newline(unsigned level) {
        out_ += '\n';
        out_.append(4 * std::size_t{level}, ' ');
    }
    void close(char c, unsigned level) {
        if (pretty_) newline(level);
        out_ += c;
    }

    bool array(const array_t& a, unsigned level) {
        if (a.empty()) {
            out_ += "[]";
            return true;
        }
        out_ += '[';
        for (std::size_t i = 0; i < a.size(); ++i) {
            item(i == 0, level + 1);
            if (!render(a[i], level + 1)) return false;
        }
        close(']', level);
        return true;
    }

    bool ext(const ext_t& e, unsigned level) {
        switch (e.type) {
            case 78: {
                auto iso = ext78_isoformat(e.data);
                if (!iso) return false;
                string(&json_colors::string, *iso);
                return true;
            }
            case 79: {
                auto payload = ext79_payload(e);
                if (!payload) return false;
                issues_ |= issue_ext79;
                return render(*payload, level);
            }
            case -1: {
                std::string text;
                if (!append_timestamp(text, e.data)) return false;
                issues_ |= issue_timestamp;
                string(&json_colors::string, text);
                return true;
            }
            default:
                // Salt's ext_hook returns any other payload as bytes, which its decode step turns
                // into text: "abc", or \xNN where the bytes are not UTF-8 (a crash in Salt).
                string(&json_colors::string, e.data);
                return true;
        }
    }

    // Keys are always JSON strings: json.dumps spells a non-str key as its JSON token.
    bool key(const value& k) {
        switch (k.v.index()) {
            case kind<std::string>: string(&json_colors::key, std::get<std::string>(k.v)); return true;
            case kind<bin_t>: string(&json_colors::key, std::get<bin_t>(k.v).bytes); return true;
            case kind<ext_t>: return ext_key(std::get<ext_t>(k.v));
            default: break;
        }
        begin(&json_colors::key);
        out_ += '"';
        switch (k.v.index()) {
            case kind<std::monostate>: out_ += "null"; break;
            case kind<bool>: out_ += std::get<bool>(k.v) ? "true" : "false"; break;
            case kind<std::int64_t>:
            case kind<std::uint64_t>: {
                char buf[24];
                auto r = k.v.index() == kind<std::uint64_t>
                             ? std::to_chars(buf, buf + sizeof buf, std::get<std::uint64_t>(k.v))
                             : std::to_chars(buf, buf + sizeof buf, std::get<std::int64_t>(k.v));
                out_.append(buf, r.ptr);
                break;
            }
            case kind<float>: append_py_float(out_, std::get<float>(k.v)); break;
            case kind<double>: append_py_float(out_, std::get<double>(k.v)); break;
            default: break;
        }
        out_ += '"';
        end();
        return true;
    }

    // A sentinel or msgpack timestamp as a dict key makes json.dumps raise TypeError; we write the
    // text the same ext has as a value. A datetime key is its ISO text, another ext its payload.
    bool ext_key(const ext_t& e) {
        std::string text;
        switch (e.type) {
            case 78: {
                // Salt turns a datetime key into its ISO text before json.dumps sees it.
                auto iso = ext78_isoformat(e.data);
                if (!iso) return false;
                string(&json_colors::key, *iso);
                return true;
            }
            case 79:
            case -1: break;
            default:
                // Bytes to Salt, then text after its decode step, like a bin key.
                string(&json_colors::key, e.data);
                return true;
        }
        issues_ |= issue_ext_key;
        switch (e.type) {
            case 79: {
                auto payload = ext79_payload(e);
                if (!payload) return false;
                renderer inner(text, render_options{});
                if (!inner.render(*payload, 0)) return false;
                issues_ |= issue_ext79 | inner.issues();
                break;
            }
            default:
                if (!append_timestamp(text, e.data)) return false;
                issues_ |= issue_timestamp;
                break;
        }
        string(&json_colors::key, text);
        return true;
    }

    bool map(const map_t& m, unsigned level) {
        if (m.empty()) {
            out_ += "{}";
            return true;
        }
        const bool simple = distinct_str_keys(m);
        if (!pretty_ && simple) {
            out_ += '{';
            for (std::size_t i = 0; i < m.size(); ++i) {
                item(i == 0, level + 1);
                string(&json_colors::key, *m[i].key.str());
                out_ += ": ";
                if (!render(m[i].val, level + 1)) return false;
            }
            out_ += '}';
            return true;
        }
        // The general path works on a slice of pool_ that nested maps extend and give back, so
        // it is indexed, never held by reference across recursion.
        const std::size_t base = pool_.size();
        for (const member& mb : m) {
            if (mb.key.array() || mb.key.map()) return false;  // unhashable: msgpack-python raises
            entry e{&mb.key, &mb.val, {}, {}, cls_number};
            if (const ext_t* x = std::get_if<ext_t>(&mb.key.v); x && x->type == 78) {
                // A datetime key compares, collapses and sorts by its ISO text (json_keys).
                auto iso = ext78_isoformat(x->data);
                if (!iso) return false;
                e.text = decoded_.emplace_front(std::move(*iso));
            }
            pool_.push_back(e);
        }
        if (!simple && (!collapse(base, false) || !collapse(base, true))) return false;
        const std::size_t n = pool_.size() - base;
        if (pretty_) sort(base);
        out_ += '{';
        for (std::size_t i = 0; i < n; ++i) {
            const entry e = pool_[base + i];
            item(i == 0, level + 1);
            if (!key(*e.key)) return false;
            out_ += ": ";
            if (!render(*e.val, level + 1)) return false;
        }
        close('}', level);
        pool_.resize(base);
        return true;
    }

    // The common case: every key a str, none repeated. Small maps compare pairwise; larger ones
    // sort views in a reused buffer.
    bool distinct_str_keys(const map_t& m) {
        for (const member& mb : m)
            if (!mb.key.str()) return false;
        const std::size_t n = m.size();
        if (n <= 16) {
            for (std::size_t i = 1; i < n; ++i)
                for (std::size_t j = 0; j < i; ++j)
                    if (*m[i].key.str() == *m[j].key.str()) return false;
            return true;
        }
        views_.clear();
        for (const member& mb : m) views_.emplace_back(*mb.key.str());
        std::sort(views_.begin(), views_.end());
        return std::adjacent_find(views_.begin(), views_.end()) == views_.end();
    }

    // One dict construction: keys equal in Python merge into the first one's place, the last
    // value winning. Run twice: as msgpack-python builds the dict (bytes != str), then as Salt's
    // decode rebuilds it (bin now text). A value that is overwritten was still unpacked by Salt,
    // so whatever would have dropped the event there still does.
    bool collapse(std::size_t base, bool decoded) {
        const std::size_t n = pool_.size() - base;
        std::size_t kept = 0;
        auto merge = [&](std::size_t into, const entry& e) {
            if (would_drop(*pool_[base + into].val) || would_drop(*e.key)) return false;
            pool_[base + into].val = e.val;
            return true;
        };
        if (n <= 32) {
            for (std::size_t i = 0; i < n; ++i) {
                const entry e = pool_[base + i];
                const canon c = canon_of(e, decoded);
                std::size_t j = 0;
                while (j < kept && !(canon_of(pool_[base + j], decoded) == c)) ++j;
                if (j < kept) {
                    if (!merge(j, e)) return false;
                } else {
                    pool_[base + kept++] = e;
                }
            }
        } else {
            std::unordered_map<canon, std::size_t, canon_hash> seen;
            for (std::size_t i = 0; i < n; ++i) {
                const entry e = pool_[base + i];
                const canon c = canon_of(e, decoded);
                auto [it, fresh] = seen.try_emplace(c, kept);
                if (c.kind == canon::nan || fresh) {
                    pool_[base + kept++] = e;
                } else if (!merge(it->second, e)) {
                    return false;
                }
            }
        }
        pool_.resize(base + kept);
        return true;
    }

    // Whether unpacking `v` makes msgpack-python or Salt's ext_hook raise.
    static bool would_drop(const value& v) {
        if (const array_t* a = v.array()) {
            for (const value& x : *a)
                if (would_drop(x)) return true;
        } else if (const map_t* m = v.map()) {
            for (const member& mb : *m)
                if (mb.key.array() || mb.key.map() || would_drop(mb.key) || would_drop(mb.val)) return true;
        } else if (const ext_t* e = std::get_if<ext_t>(&v.v)) {
            if (e->type == 78) return !ext78_isoformat(e->data);
            if (e->type == 79) {
                auto payload = ext79_payload(*e);
                return !payload || would_drop(*payload);
            }
            std::string scratch;
            if (e->type == -1) return !append_timestamp(scratch, e->data);
        }
        return false;
    }

    // sort_keys=True: sorted(dct.items()), compared by key since dict keys are distinct.
    void sort(std::size_t base) {
        if (sort_entries(pool_.data() + base, pool_.data() + pool_.size(), decoded_)) issues_ |= issue_mixed_keys;
    }

    std::string& out_;
    const json_colors* colors_;
    bool pretty_;
    unsigned issues_ = 0;
    std::vector<entry> pool_;
    std::vector<std::string_view> views_;
    std::forward_list<std::string> decoded_;  // stable addresses for entry::text; no allocation while empty
};

}  // namespace
}  // namespace detail

namespace {

// Bytes json.dumps(ensure_ascii=False) copies as they are without looking further: printable
// ASCII except '"' and '\\'. Everything else is escaped or starts a UTF-8 sequence to check.
constexpr auto plain_ascii = [] {
    std::array<bool, 256> t{};
    for (unsigned c = 0x20; c < 0x80; ++c) t[c] = c != '"' && c != '\\';
    return t;
}();

// Skips bytes that plain_ascii passes, eight at a time while it can: event text is mostly
// plain ASCII, and this is the renderer's innermost loop.
const unsigned char* skip_plain(const unsigned char* p, const unsigned char* end) {
#if defined(__SSE2__)
    // Sixteen at a time where SSE2 exists (every x86-64): a signed compare below 0x20 catches
    // both the C0 controls and every byte >= 0x80.
    const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    while (end - p >= 16) {
        const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
        const __m128i special = _mm_or_si128(_mm_cmplt_epi8(x, space),
                                             _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)));
        if (const int mask = _mm_movemask_epi8(special)) return p + __builtin_ctz(static_cast<unsigned>(mask));
        p += 16;
    }
#endif
    constexpr std::uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    while (end - p >= 8) {
        std::uint64_t x;
        std::memcpy(&x, p, 8);
        // Each term has a byte's high bit set when some byte is < 0x20, '"', '\\' or >= 0x80
        // (exact for "is there any", which is all this asks).
        const std::uint64_t quote = x ^ (ones * '"'), backslash = x ^ (ones * '\\');
        const std::uint64_t special = ((x - ones * 0x20) & ~x) | ((quote - ones) & ~quote) |
                                      ((backslash - ones) & ~backslash) | x;
        if (special & highs) break;
        p += 8;
    }
    while (p < end && plain_ascii[*p]) ++p;
    return p;
}

}  // namespace

namespace detail {

char* write_json_string(char* w, std::string_view s, bool& valid) {
    auto* p = reinterpret_cast<const unsigned char*>(s.data());
    auto* end = p + s.size();
    auto* run = p;  // start of bytes not yet copied
    auto flush = [&] {
        std::memcpy(w, run, static_cast<std::size_t>(p - run));
        w += p - run;
    };
    *w++ = '"';
    while (p < end) {
        const unsigned c = *p;
        if (plain_ascii[c]) {
            p = skip_plain(p + 1, end);
            continue;
        }
        if (c >= 0x80) {
            if (const std::size_t n = utf8_sequence(p, end)) {
                p += n;
                continue;
            }
            flush();
            // Python's backslashreplace spelling; the backslash itself then needs escaping.
            std::memcpy(w, "\\\\x", 3);
            w[3] = hex_digits[c >> 4];
            w[4] = hex_digits[c & 15];
            w += 5;
            valid = false;
        } else {
            flush();
            *w++ = '\\';
            switch (c) {
                case '"': *w++ = '"'; break;
                case '\\': *w++ = '\\'; break;
                case '\b': *w++ = 'b'; break;
                case '\t': *w++ = 't'; break;
                case '\n': *w++ = 'n'; break;
                case '\f': *w++ = 'f'; break;
                case '\r': *w++ = 'r'; break;
                default:
                    std::memcpy(w, "u00", 3);
                    w[3] = hex_digits[c >> 4];
                    w[4] = hex_digits[c & 15];
                    w += 5;
            }
        }
        run = ++p;
    }
    flush();
    *w++ = '"';
    return w;
}

}  // namespace detail

bool append_json_string(std::string& out, std::string_view s) {
    auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t at = out.size();
    if (skip_plain(p, p + s.size()) == p + s.size()) {  // nothing to escape: quotes and text
        out.append(s.size() + 2, '"');
        std::memcpy(out.data() + at + 1, s.data(), s.size());
        return true;
    }
    bool valid = true;
    out.resize(at + detail::json_string_bound(s.size()));
    char* const end = detail::write_json_string(out.data() + at, s, valid);
    out.resize(static_cast<std::size_t>(end - out.data()));
    return valid;
}

render_outcome render_json(const value& v, std::string& out, const render_options& opts) {
    const std::size_t mark = out.size();
    render_outcome outcome;
    detail::renderer r(out, opts);
    if (!r.render(v, 0)) {
        out.resize(mark);
        outcome.drop = true;
        return outcome;
    }
    outcome.issues = r.issues();
    return outcome;
}

}  // namespace tagbus
