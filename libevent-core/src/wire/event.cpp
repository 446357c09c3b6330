// Event bodies as Salt's fire_event builds them (SALT-WIRE §3), including its size trimming,
// which measures values with CPython's sys.getsizeof; we emulate those numbers (CPython 3.10/3.11,
// 64-bit: the interpreters of Salt 3006 onedir and Debian 12) so that the same events get trimmed.
#include "tagbus/event.hpp"
#include "wire/stamp.hpp"

#include <array>
#include <cstdint>
#include <optional>

namespace tagbus::inline v0 {

result<std::pair<std::string_view, std::string_view>> split_body(std::string_view body) {
    const std::size_t at = body.find("\n\n");
    if (at == std::string_view::npos) return fail(errc::data, "event body has no blank line after the tag");
    return std::pair{body.substr(0, at), body.substr(at + 2)};
}

result<event> decode_body(std::string_view body) {
    auto parts = split_body(body);
    if (!parts) return parts.error();
    auto data = unpack(parts->second);
    if (!data) return fail(errc::data, "event data is not valid msgpack: " + data.error().message);
    return event{std::string(parts->first), std::move(*data)};
}

result<void> check_tag(std::string_view tag) {
    if (tag.empty()) return fail(errc::data, "tag is empty");
    if (tag.find("\n\n") != std::string_view::npos) return fail(errc::data, "tag contains a blank line (\"\\n\\n\")");
    return {};
}

namespace detail {
namespace {

void put_digits(std::string& out, long long v, int width) {
    std::array<char, 24> buf{};
    int n = 0;
    unsigned long long u = v < 0 ? 0ULL - static_cast<unsigned long long>(v) : static_cast<unsigned long long>(v);
    do {
        buf[static_cast<std::size_t>(n++)] = static_cast<char>('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0) out.push_back('-');
    for (int i = n; i < width; ++i) out.push_back('0');
    while (n > 0) out.push_back(buf[static_cast<std::size_t>(--n)]);
}

// datetime.isoformat() for a naive datetime: the fraction appears only when non-zero.
std::string isoformat(long long y, unsigned mo, unsigned d, unsigned h, unsigned mi, unsigned s, unsigned us) {
    std::string out;
    out.reserve(26);
    put_digits(out, y, 4);
    out.push_back('-');
    put_digits(out, mo, 2);
    out.push_back('-');
    put_digits(out, d, 2);
    out.push_back('T');
    put_digits(out, h, 2);
    out.push_back(':');
    put_digits(out, mi, 2);
    out.push_back(':');
    put_digits(out, s, 2);
    if (us != 0) {
        out.push_back('.');
        put_digits(out, us, 6);
    }
    return out;
}

// --- CPython sizes, as sys.getsizeof reports them for what msgpack.unpackb builds ---

// str: a compact ASCII string is 49 + n; otherwise the widest code point picks 1, 2 or 4 bytes per
// character after a 72-byte header (+1 terminator). msgpack's packer caches a non-ASCII string's
// UTF-8 form on the object (PyUnicode_AsUTF8AndSize), and getsizeof counts that cache, so from
// the second pass on (after one repack) such a string is also utf8_length + 1 bigger.
std::size_t str_size(const std::string& s, bool packed_before) {
    std::size_t chars = 0;
    std::uint32_t widest = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto b = static_cast<unsigned char>(s[i]);
        const std::size_t len = b < 0x80 ? 1 : b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 0;
        if (len == 0 || i + len > s.size()) return 33 + s.size();  // not UTF-8: Salt keeps bytes
        std::uint32_t cp = len == 1 ? b : b & (0x7f >> len);
        for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
        widest = cp > widest ? cp : widest;
        ++chars;
        i += len;
    }
    if (widest < 0x80) return 49 + chars;
    const std::size_t cache = packed_before ? s.size() + 1 : 0;
    if (widest < 0x100) return 73 + chars + cache;
    if (widest < 0x10000) return 74 + 2 * chars + cache;
    return 76 + 4 * chars + cache;
}

// int: 28 bytes up to 30 bits of magnitude, plus 4 per further 30-bit digit (0 is 28 too).
std::size_t int_size(std::uint64_t magnitude) {
    if (magnitude < (1ULL << 30)) return 28;
    if (magnitude < (1ULL << 60)) return 32;
    return 36;
}

std::size_t py_sizeof(const value& v, bool packed_before) {
    switch (v.v.index()) {
        case 0: return 16;  // None
        case 1: return 28;  // bool is an int subclass; False and True both report 28
        case 2: return int_size(0 - static_cast<std::uint64_t>(std::get<std::int64_t>(v.v)));
        case 3: return int_size(std::get<std::uint64_t>(v.v));
        case 4:
        case 5: return 24;  // float (msgpack's float32 becomes a Python float too)
        case 6: return str_size(std::get<std::string>(v.v), packed_before);
        case 7: return 33 + std::get<bin_t>(v.v).bytes.size();
        case 8: return 56 + 8 * std::get<array_t>(v.v).size();  // list, shallow, exact allocation
        case 9: return 64 + 8 * std::get<map_t>(v.v).size();     // not reached: maps are descended
        default: return 64;                                       // msgpack.ExtType instance
    }
}

const std::string trimmed_marker = "VALUE_TRIMMED";

// pack(value(m)) without copying the map into a value first: fixmap / map16 / map32 header,
// then the members in order.
void pack_map(const map_t& m, std::string& out) {
    const std::size_t n = m.size();
    if (n < 16) {
        out.push_back(static_cast<char>(0x80 | n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(0xde));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n));
    } else {
        out.push_back(static_cast<char>(0xdf));
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
    }
    for (const member& kv : m) {
        pack(kv.key, out);
        pack(kv.val, out);
    }
}

// A key as it appears in a trim report's path: strings as they are, anything else as its kind.
std::string key_text(const value& k) {
    if (const std::string* s = k.str()) return *s;
    if (const auto* i = std::get_if<std::int64_t>(&k.v)) return std::to_string(*i);
    if (const auto* u = std::get_if<std::uint64_t>(&k.v)) return std::to_string(*u);
    return "<" + std::string(kind_name(k)) + ">";
}

// One pass of Salt's trim: every value of `m` bigger than `limit` becomes the marker; sub-maps
// are descended into instead of measured. `path` is the dotted path of `m` (for the report).
bool trim_pass(map_t& m, double limit, bool packed_before, const std::string& path, trim_report* report) {
    bool changed = false;
    for (member& kv : m) {
        if (map_t* sub = kv.val.map()) {
            // The path is only built when a report is wanted (a rare, oversized event).
            changed = trim_pass(*sub, limit, packed_before, report ? path + key_text(kv.key) + "." : path, report) ||
                      changed;
        } else if (static_cast<double>(py_sizeof(kv.val, packed_before)) > limit) {
            if (!(kv.val.str() && *kv.val.str() == trimmed_marker)) {
                changed = true;
                if (report) report->trimmed.push_back({path + key_text(kv.key), pack(kv.val).size()});
            }
            kv.val = value(trimmed_marker);
        }
    }
    return changed;
}

// Salt's trim_dict on already packed data; `packed` is replaced by the bytes Salt would send.
// CPython's bytes object adds 33 to the length. The entry test is "> max" but the exit test is
// "< max", as in Salt.
bool trim_packed(map_t& data, std::string& packed, std::size_t max, trim_report* report) {
    if (packed.size() + 33 <= max) return false;
    if (report) *report = trim_report{true, packed.size() + 33, 0, max, {}};
    bool changed = false;
    for (int pass = 0; pass < 5; ++pass) {
        const double percent = 50.0 - 10.0 * pass;
        changed = trim_pass(data, static_cast<double>(max) * (percent / 100.0), pass > 0, std::string(), report) ||
                  changed;
        packed.clear();
        pack_map(data, packed);
        if (packed.size() + 33 < max) break;
    }
    if (report) report->size_after = packed.size() + 33;
    return changed;
}

// --- ext 78: Salt decodes it with datetime.strptime(text, "%Y%m%dT%H:%M:%S.%f") ---
//
// _strptime turns the format into a regex whose fields are alternations tried in order, matched
// with backtracking, case-insensitively, and not anchored at the end (leftovers are an error of
// their own). Each alternative below is a string of [lo, hi] character pairs, one per character.
struct strptime_field {
    char literal;  // a literal separator before the field, or 0
    std::array<std::string_view, 6> alternatives;
};

constexpr std::array<strptime_field, 7> ext78_fields{{
    {0, {"09090909"}},                                                  // %Y  \d\d\d\d
    {0, {"1102", "0019", "19"}},                                        // %m  1[0-2]|0[1-9]|[1-9]
    {0, {"3301", "1209", "0019", "19", "  19"}},                        // %d  3[01]|[12]\d|0[1-9]|[1-9]| [1-9]
    {'T', {"2203", "0109", "09"}},                                      // %H  2[0-3]|[0-1]\d|\d
    {':', {"0509", "09"}},                                              // %M  [0-5]\d|\d
    {':', {"6601", "0509", "09"}},                                      // %S  6[0-1]|[0-5]\d|\d
    {'.', {"090909090909", "0909090909", "09090909", "090909", "0909", "09"}},  // %f  [0-9]{1,6}, greedy
}};

struct strptime_match {
    std::array<std::string_view, 7> text;
    std::size_t end = 0;
};

bool match_fields(std::string_view in, std::size_t pos, std::size_t field, strptime_match& m) {
    if (field == ext78_fields.size()) {
        m.end = pos;
        return true;
    }
    const strptime_field& f = ext78_fields[field];
    if (f.literal != 0) {
        // IGNORECASE: 'T' also matches 't'.
        if (pos >= in.size() || (in[pos] != f.literal && !(f.literal == 'T' && in[pos] == 't'))) return false;
        ++pos;
    }
    for (std::string_view alt : f.alternatives) {
        if (alt.empty()) break;
        const std::size_t len = alt.size() / 2;
        if (in.size() - pos < len) continue;
        bool ok = true;
        for (std::size_t i = 0; i < len && ok; ++i) ok = in[pos + i] >= alt[2 * i] && in[pos + i] <= alt[2 * i + 1];
        if (!ok) continue;
        m.text[field] = in.substr(pos, len);
        if (match_fields(in, pos + len, field + 1, m)) return true;
    }
    return false;
}

// int() of a matched field: digits, possibly after the one space %d allows.
unsigned field_value(std::string_view digits) {
    unsigned v = 0;
    for (char c : digits)
        if (c != ' ') v = v * 10 + static_cast<unsigned>(c - '0');
    return v;
}

std::string printable(std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        const auto b = static_cast<unsigned char>(c);
        if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
            out.push_back(c);
        } else {
            out += "\\x";
            out.push_back(hex[b >> 4]);
            out.push_back(hex[b & 0xf]);
        }
    }
    return out;
}

bool is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace
}  // namespace detail

std::string format_stamp(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto us = floor<microseconds>(t);
    const auto day = floor<days>(us);
    // The date changes once a day: its text ("2024-05-01T") is kept per thread.
    thread_local sys_days cached_day{days::min()};
    thread_local std::string date;
    if (day != cached_day) {
        const year_month_day ymd{day};
        date = detail::isoformat(static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                                 static_cast<unsigned>(ymd.day()), 0, 0, 0, 0);
        date.resize(date.find('T') + 1);
        cached_day = day;
    }
    auto of_day = static_cast<unsigned long long>((us - day).count());
    const auto micro = static_cast<unsigned>(of_day % 1000000);
    of_day /= 1000000;
    char buf[16];
    auto two = [&buf](int at, unsigned v) {
        buf[at] = static_cast<char>('0' + v / 10);
        buf[at + 1] = static_cast<char>('0' + v % 10);
    };
    two(0, static_cast<unsigned>(of_day / 3600));
    buf[2] = ':';
    two(3, static_cast<unsigned>(of_day / 60 % 60));
    buf[5] = ':';
    two(6, static_cast<unsigned>(of_day % 60));
    std::size_t n = 8;
    if (micro != 0) {  // datetime.isoformat(): the fraction only when non-zero
        buf[8] = '.';
        for (unsigned i = 0, m = micro; i < 6; ++i, m /= 10) buf[14 - i] = static_cast<char>('0' + m % 10);
        n = 15;
    }
    std::string out;
    out.reserve(date.size() + n);
    out.append(date);
    out.append(buf, n);
    return out;
}

namespace detail {

const std::string& stamp_now() {
    thread_local std::chrono::system_clock::time_point last{};
    thread_local std::string text;
    const auto now = std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now());
    if (now != last || text.empty()) {
        text = format_stamp(now);
        last = now;
    }
    return text;
}

}  // namespace detail

void set_stamp(map_t& data, std::chrono::system_clock::time_point t) {
    value stamp(format_stamp(t));
    for (member& kv : data) {
        if (const std::string* k = kv.key.str(); k && *k == "_stamp") {
            kv.val = std::move(stamp);
            return;
        }
    }
    data.push_back(member{value("_stamp"), std::move(stamp)});
}

bool trim_to_max_event_size(map_t& data, std::size_t max_event_size, trim_report* report) {
    std::string packed;
    detail::pack_map(data, packed);
    return detail::trim_packed(data, packed, max_event_size, report);
}

std::string describe_trim(std::string_view tag, const trim_report& r) {
    std::string out = "event '" + std::string(tag) + "' is " + std::to_string(r.size) + " bytes, over max_event_size " +
                      std::to_string(r.max_event_size) + ": ";
    if (r.trimmed.empty()) return out + "no value could be trimmed; sent at " + std::to_string(r.size_after) + " bytes";
    out += r.trimmed.size() == 1 ? "trimmed key " : "trimmed keys ";
    for (std::size_t i = 0; i < r.trimmed.size(); ++i) {
        if (i > 0) out += ", ";
        out += "'" + r.trimmed[i].key + "' (" + std::to_string(r.trimmed[i].size) + " bytes)";
    }
    return out + " to \"" + detail::trimmed_marker + "\"";
}

result<std::string> ext78_isoformat(std::string_view payload) {
    auto bad = [&](std::string_view why) {
        return fail(errc::data, "malformed datetime (ext 78) \"" + detail::printable(payload) + "\": " +
                                      std::string(why));
    };
    detail::strptime_match m;
    if (!detail::match_fields(payload, 0, 0, m)) return bad("does not match YYYYMMDDTHH:MM:SS.ffffff");
    if (m.end != payload.size()) return bad("unconverted data remains");
    const unsigned year = detail::field_value(m.text[0]);
    const unsigned month = detail::field_value(m.text[1]);
    const unsigned day = detail::field_value(m.text[2]);
    const unsigned second = detail::field_value(m.text[5]);
    // %f is a fraction: "5" means 500000 microseconds.
    unsigned micro = detail::field_value(m.text[6]);
    for (std::size_t i = m.text[6].size(); i < 6; ++i) micro *= 10;
    static constexpr std::array<unsigned, 12> month_days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year == 0) return bad("year 0 is out of range");
    const unsigned last = month_days[month - 1] + (month == 2 && detail::is_leap(year) ? 1 : 0);
    if (day > last) return bad("day is out of range for month");
    // strptime's %S takes 60 and 61 (leap seconds) but datetime() then refuses them.
    if (second > 59) return bad("second must be in 0..59");
    return detail::isoformat(year, month, day, detail::field_value(m.text[3]), detail::field_value(m.text[4]), second,
                             micro);
}

result<std::string> encode_body(std::string_view tag, value& data, std::size_t max_event_size, bool stamp,
                                trim_report* report) {
    if (auto ok = check_tag(tag); !ok) return ok.error();
    map_t* m = data.map();
    if (!m) return fail(errc::data, "event data must be a map, not " + std::string(kind_name(data)));
    if (stamp) set_stamp(*m, std::chrono::system_clock::now());
    std::string packed = pack(data);
    if (report) *report = trim_report{};
    detail::trim_packed(*m, packed, max_event_size, report);
    std::string body;
    body.reserve(tag.size() + 2 + packed.size());
    body.append(tag);
    body.append("\n\n");
    body.append(packed);
    return body;
}

}  // namespace tagbus
