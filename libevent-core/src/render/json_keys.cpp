// Python's dict-key semantics for the renderer: equality as dict construction applies it (1,
// 1.0 and True are one key; NaN is never equal), and the order sorted() gives, exact between
// ints and floats and, with NaN keys, comparison for comparison what CPython does.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "render/json_keys.hpp"

namespace tagbus::inline v0::detail {
namespace {

// The str Python would hold after bytes.decode("utf-8", "backslashreplace"): what we print for
// undecodable bytes, and therefore also what we sort by.
std::string backslash_decoded(std::string_view s) {
    std::string r;
    auto* p = reinterpret_cast<const unsigned char*>(s.data());
    auto* end = p + s.size();
    while (p < end) {
        const std::size_t n = *p < 0x80 ? 1 : utf8_sequence(p, end);
        if (n) {
            r.append(reinterpret_cast<const char*>(p), n);
            p += n;
        } else {
            r += "\\x";
            r += hex_digits[*p >> 4];
            r += hex_digits[*p & 15];
            ++p;
        }
    }
    return r;
}

canon canon_double(double d) {
    canon c;
    if (std::isnan(d)) {
        c.kind = canon::nan;
    } else if (d == std::floor(d) && d >= -9223372036854775808.0 && d < 18446744073709551616.0) {
        c.kind = canon::integer;
        c.neg = d < 0;
        c.num = c.neg ? static_cast<std::uint64_t>(-d) : static_cast<std::uint64_t>(d);
    } else {
        c.kind = canon::real;
        std::memcpy(&c.num, &d, sizeof d);
    }
    return c;
}

pynum pynum_of(const value& k) {
    pynum n;
    switch (k.v.index()) {
        case kind<bool>: n.mag = std::get<bool>(k.v) ? 1 : 0; break;
        case kind<std::int64_t>:
            n.neg = true;
            n.mag = std::uint64_t{0} - static_cast<std::uint64_t>(std::get<std::int64_t>(k.v));
            break;
        case kind<std::uint64_t>: n.mag = std::get<std::uint64_t>(k.v); break;
        case kind<float>: n.is_int = false; n.d = std::get<float>(k.v); break;
        case kind<double>: n.is_int = false; n.d = std::get<double>(k.v); break;
        default: break;
    }
    return n;
}

int cmp_int(bool an, std::uint64_t am, bool bn, std::uint64_t bm) {
    if (an != bn) return an ? -1 : 1;
    if (am == bm) return 0;
    return (am < bm) != an ? -1 : 1;
}

// Compares an integer with a non-NaN double exactly.
int cmp_int_double(bool neg, std::uint64_t mag, double d) {
    if (d >= 18446744073709551616.0) return -1;
    if (d < -9223372036854775808.0) return 1;
    const double fl = std::floor(d);
    const bool fneg = fl < 0;
    const std::uint64_t fmag = fneg ? static_cast<std::uint64_t>(-fl) : static_cast<std::uint64_t>(fl);
    if (int c = cmp_int(neg, mag, fneg, fmag)) return c;
    return d > fl ? -1 : 0;
}

// Python's a < b for two numbers (false whenever a NaN is involved).
bool py_less(const pynum& a, const pynum& b) {
    if (a.is_int && b.is_int) return cmp_int(a.neg, a.mag, b.neg, b.mag) < 0;
    if (!a.is_int && !b.is_int) return a.d < b.d;
    if (a.is_int) return !std::isnan(b.d) && cmp_int_double(a.neg, a.mag, b.d) < 0;
    return !std::isnan(a.d) && cmp_int_double(b.neg, b.mag, a.d) > 0;
}

bool is_nan(const pynum& n) { return !n.is_int && std::isnan(n.d); }

key_class class_of(const value& k) {
    switch (k.v.index()) {
        case kind<std::monostate>: return cls_nil;
        case kind<std::string>:
        case kind<bin_t>: return cls_text;
        case kind<ext_t>: {
            const std::int8_t t = std::get<ext_t>(k.v).type;
            return t == 79 || t == -1 ? cls_ext : cls_text;  // a datetime or other ext is text to Salt
        }
        default: return cls_number;
    }
}

bool total_less(const entry& a, const entry& b) {
    if (a.cls != b.cls) return a.cls < b.cls;
    switch (a.cls) {
        case cls_number:
            // NaN compares false both ways in Python; a strict weak order needs it somewhere: last.
            if (is_nan(a.num)) return false;
            if (is_nan(b.num)) return true;
            return py_less(a.num, b.num);
        case cls_text: return a.text < b.text;
        case cls_ext: {
            const ext_t& x = std::get<ext_t>(a.key->v);
            const ext_t& y = std::get<ext_t>(b.key->v);
            return x.type != y.type ? x.type < y.type : x.data < y.data;
        }
        default: return false;
    }
}

// CPython 3.11 list.sort() for fewer than 64 items: one natural run (a strictly descending run
// is reversed), then binary insertion of the rest. With NaN keys `<` is not an order, and only
// this exact sequence of comparisons reproduces where Python puts them.
void cpython_small_sort(entry* lo, entry* hi) {
    auto lt = [](const entry& a, const entry& b) { return py_less(a.num, b.num); };
    if (hi - lo < 2) return;
    entry* start = lo + 2;
    if (lt(lo[1], lo[0])) {
        while (start < hi && lt(*start, start[-1])) ++start;
        std::reverse(lo, start);
    } else {
        while (start < hi && !lt(*start, start[-1])) ++start;
    }
    for (; start < hi; ++start) {
        const entry pivot = *start;
        entry* l = lo;
        entry* r = start;
        do {
            entry* p = l + (r - l) / 2;
            if (lt(pivot, *p)) r = p;
            else l = p + 1;
        } while (l < r);
        std::move_backward(l, start, start + 1);
        *l = pivot;
    }
}

}  // namespace

canon canon_of(const entry& e, bool decoded) {
    const value& k = *e.key;
    canon c;
    switch (k.v.index()) {
        case kind<bool>: c.kind = canon::integer; c.num = std::get<bool>(k.v) ? 1 : 0; break;
        case kind<std::int64_t>:
            c.kind = canon::integer;
            c.neg = true;
            c.num = std::uint64_t{0} - static_cast<std::uint64_t>(std::get<std::int64_t>(k.v));
            break;
        case kind<std::uint64_t>: c.kind = canon::integer; c.num = std::get<std::uint64_t>(k.v); break;
        case kind<float>: c = canon_double(std::get<float>(k.v)); break;
        case kind<double>: c = canon_double(std::get<double>(k.v)); break;
        case kind<std::string>: c.kind = canon::text; c.data = std::get<std::string>(k.v); break;
        case kind<bin_t>:
            c.kind = decoded ? canon::text : canon::bytes;
            c.data = std::get<bin_t>(k.v).bytes;
            break;
        case kind<ext_t>: {
            const ext_t& x = std::get<ext_t>(k.v);
            if (x.type == 78) {
                // A datetime: equal datetimes are equal keys, and the ISO text is that datetime.
                c.kind = decoded ? canon::text : canon::ext;
                c.num = decoded ? 0 : 78;
                c.data = e.text;
            } else if (x.type != 79 && x.type != -1) {
                // Salt's ext_hook gives the payload as bytes.
                c.kind = decoded ? canon::text : canon::bytes;
                c.data = x.data;
            } else {
                c.kind = canon::ext;
                c.num = static_cast<std::uint8_t>(x.type);
                c.data = x.data;
            }
            break;
        }
        default: break;
    }
    return c;
}

bool sort_entries(entry* lo, entry* hi, std::forward_list<std::string>& decoded) {
    unsigned classes = 0;
    bool nan = false;
    for (entry* e = lo; e < hi; ++e) {
        e->cls = class_of(*e->key);
        classes |= 1u << e->cls;
        if (e->cls == cls_number) {
            e->num = pynum_of(*e->key);
            nan = nan || is_nan(e->num);
        } else if (e->cls == cls_text) {
            if (const std::string* s = e->key->str()) e->text = *s;
            else if (const bin_t* b = std::get_if<bin_t>(&e->key->v)) e->text = b->bytes;
            else if (const ext_t* x = std::get_if<ext_t>(&e->key->v); x->type != 78) e->text = x->data;
            // A datetime's entry already holds its ISO text.
            if (!valid_utf8(e->text)) e->text = decoded.emplace_front(backslash_decoded(e->text));
        }
    }
    if (classes == 1u << cls_number && nan && hi - lo < 64) cpython_small_sort(lo, hi);
    else std::stable_sort(lo, hi, total_less);
    return (classes & (classes - 1)) != 0;
}

}  // namespace tagbus::detail
