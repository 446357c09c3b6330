// render_packed_json against the authority, render_json on the unpacked value: wherever the fast
// path answers it must agree byte for byte (and on the issues), it must answer for every plain
// event, and it must never answer for data unpack() refuses.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "support.hpp"
#include "render/json.hpp"
#include "render/output.hpp"
#include "tagbus/value.hpp"

using namespace tagbus;

namespace {

// Random values; `plain` is cleared when the value holds something the fast path leaves to the
// general one (ext anywhere, a map whose keys are not distinct str, a map over 16 keys).
class generator {
public:
    explicit generator(std::uint32_t seed) : rng_(seed) {}

    value any(unsigned depth, bool& plain) {
        switch (pick(depth < 4 ? 11 : 9)) {
            case 0:
                return value{};
            case 1:
                return value{pick(2) == 1};
            case 2:
                return integer();
            case 3:
                return real();
            case 4:
            case 5:
                return value{text()};
            case 6:
                return value{bin_t{text()}};
            case 7:
                return value{
                    static_cast<float>(std::ldexp(static_cast<double>(pick(1000)), -static_cast<int>(pick(20))))};
            case 8: {
                if (pick(8) != 0) return value{text()};
                plain = false;
                static const std::int8_t types[] = {78, 79, -1, 5};
                return value{ext_t{types[pick(4)], std::string(pick(13), static_cast<char>(pick(256)))}};
            }
            case 9: {
                array_t a;
                for (unsigned i = pick(5); i > 0; --i) a.push_back(any(depth + 1, plain));
                return value{std::move(a)};
            }
            default:
                return map(depth, plain);
        }
    }

    std::uint32_t pick(std::uint32_t n) { return std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng_); }

private:
    value map(unsigned depth, bool& plain) {
        map_t m;
        const unsigned n = pick(6) == 0 ? 17 + pick(4) : pick(7);
        if (n > 16) plain = false;
        std::vector<std::string> seen;
        for (unsigned i = 0; i < n; ++i) {
            value k;
            switch (pick(12)) {
                case 0:
                    k = value{bin_t{key_text()}};
                    plain = false;
                    break;
                case 1:
                    k = integer();
                    plain = false;
                    break;
                case 2:
                    k = value{};
                    plain = false;
                    break;
                default: {
                    std::string s = key_text();
                    for (const auto& x : seen)
                        if (x == s) plain = false;
                    seen.push_back(s);
                    k = value{std::move(s)};
                }
            }
            m.push_back(member{std::move(k), any(depth + 1, plain)});
        }
        return value{std::move(m)};
    }

    value integer() {
        static const std::int64_t edges[] = {
            0,  1,   127, 128,  255,  256,    65535,  65536,
            -1, -32, -33, -128, -129, -32768, -32769, std::numeric_limits<std::int64_t>::min()};
        if (pick(3) == 0) return value{edges[pick(16)]};
        if (pick(2) == 0) return value{static_cast<std::uint64_t>(rng_()) << pick(33)};
        return value{-static_cast<std::int64_t>(rng_() >> pick(32))};
    }

    value real() {
        static const double edges[] = {0.0,
                                       -0.0,
                                       1.0,
                                       0.1,
                                       1e16,
                                       1e-7,
                                       123456789.125,
                                       std::nan(""),
                                       std::numeric_limits<double>::infinity(),
                                       -std::numeric_limits<double>::infinity(),
                                       5e-324,
                                       1.7976931348623157e308};
        if (pick(2) == 0) return value{edges[pick(12)]};
        return value{std::uniform_real_distribution<double>(-1e6, 1e6)(rng_)};
    }

    // ASCII, escapes, multi-byte UTF-8 and, now and then, invalid bytes.
    std::string text() {
        static const char* pieces[] = {"a",        "salt",         " ",
                                       "\"",       "\\",           "\n",
                                       "\x01",     "\x7f",         "/",
                                       "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80",
                                       "\xff",     "\xed\xa0\x80", "0123456789abcdef"};
        std::string s;
        for (unsigned i = pick(pick(4) == 0 ? 40 : 6); i > 0; --i) s += pieces[pick(15)];
        return s;
    }
    std::string key_text() {
        static const char* keys[] = {"a", "b", "id", "jid", "_stamp", "fun", "\xc3\xa9", "x\"y", "\xff", ""};
        return keys[pick(10)];
    }

    std::mt19937 rng_;
};

struct tally {
    unsigned fast = 0, general = 0;
};

// Both renderings of `packed`; fails the test on any disagreement. Returns whether the fast
// path answered.
bool check(const std::string& packed, tally& t) {
    std::string fast = "prefix:";
    unsigned fast_issues = 0;
    const bool answered = render_packed_json(packed, fast, fast_issues);
    CHECK(packed_json_plain(packed) == answered);  // state-event quiet=True's check, without output
    // The authority is the whole of `packed` as one object: Salt drops data with bytes after it.
    auto tree = unpack(packed);
    if (!tree) {
        CHECK_FALSE(answered);
        CHECK(fast == "prefix:");
        return false;
    }
    if (!answered) {
        CHECK(fast == "prefix:");
        ++t.general;
        return false;
    }
    std::string slow = "prefix:";
    const render_outcome o = render_json(*tree, slow);
    CHECK_FALSE(o.drop);
    CHECK(fast == slow);
    CHECK(fast_issues == o.issues);
    ++t.fast;
    return true;
}

}  // namespace

TEST_CASE("render_packed_json agrees with render_json on random values") {
    generator g(20261127);
    tally t;
    for (int i = 0; i < 20000; ++i) {
        bool plain = true;
        const value v = g.any(0, plain);
        const std::string packed = pack(v);
        CAPTURE(test_support::hex(packed));
        const bool answered = check(packed, t);
        if (plain) CHECK(answered);  // the common case must take the fast path
        // Bytes after the object: refused by both (Salt drops such an event).
        if (i % 8 == 0) CHECK_FALSE(check(packed + (i % 16 == 0 ? "\xc1" : "\x01"), t));
    }
    MESSAGE("fast ", t.fast, ", general ", t.general);
    CHECK(t.fast > 10000);
    CHECK(t.general > 1000);
}

TEST_CASE("render_packed_json never answers for what unpack refuses, and agrees on mutations") {
    generator g(7);
    tally t;
    unsigned refused = 0;
    for (int i = 0; i < 20000; ++i) {
        bool plain = true;
        std::string packed = pack(g.any(0, plain));
        switch (g.pick(3)) {
            case 0:
                packed.resize(g.pick(static_cast<std::uint32_t>(packed.size())));
                break;  // truncated
            case 1:
                packed[g.pick(static_cast<std::uint32_t>(packed.size()))] = static_cast<char>(g.pick(256));
                break;
            default:
                packed.insert(g.pick(static_cast<std::uint32_t>(packed.size())), 1, static_cast<char>(g.pick(256)));
        }
        CAPTURE(test_support::hex(packed));
        std::size_t used = 0;
        if (!unpack(packed, used)) ++refused;
        check(packed, t);
    }
    CHECK(refused > 1000);
    CHECK(t.fast > 1000);
}

TEST_CASE("render_packed_json: non-canonical formats, depth and key limits") {
    tally t;
    // uint8 5, int16 -2, str8 "a", map16 {"k": nil}, array32 [true], float32 0.5
    for (const char* hex : {"cc 05", "d1 ff fe", "d9 01 61", "de 00 01 a1 6b c0", "dd 00 00 00 01 c3", "ca 3f 00 00 00",
                            "d0 05", "d3 00 00 00 00 00 00 00 07", "c4 02 68 69"}) {
        CAPTURE(hex);
        CHECK(check(test_support::unhex(hex), t));
    }
    // 300 nested arrays: valid for unpack, too deep for the fast path; 600: refused by both.
    for (std::size_t depth : {std::size_t{300}, std::size_t{600}}) {
        std::string deep(depth, '\x91');
        deep += '\xc0';
        CHECK_FALSE(check(deep, t));
    }
    // A repeated key: the general path keeps the first position and the last value.
    CHECK_FALSE(check(test_support::unhex("82 a1 61 01 a1 61 02"), t));
    // An ext other than 78/79/-1 is its payload as text, on the fast path too; Salt's own go on.
    for (const char* hex : {"d4 05 41", "d5 01 00 ff", "c7 00 7f", "c7 03 80 61 62 63", "c8 00 02 02 68 69",
                            "c9 00 00 00 01 2a 0a", "92 d6 05 61 62 63 64 c0"}) {
        CAPTURE(hex);
        CHECK(check(test_support::unhex(hex), t));
    }
    for (const char* hex : {"d4 4e 00", "d6 ff 00 00 00 00", "c7 02 4f 90 c0", "d4 05", "c7 05 01 61"}) {
        CAPTURE(hex);
        CHECK_FALSE(check(test_support::unhex(hex), t));
    }
    std::string fast;
    unsigned issues = 0;
    REQUIRE(render_packed_json(test_support::unhex("81 a1 6b d5 07 61 ff"), fast, issues));
    CHECK(fast == R"({"k": "a\\xff"})");
    CHECK(issues == issue_invalid_utf8);
}

TEST_CASE("data with bytes after the object is dropped, not printed (SALT-WIRE §7)") {
    // "two objects", "garbage after the map", and what a tag ending in "\n" or a "\n\n\n"
    // separator leaves after the split at the first "\n\n": 0x0a, then the data.
    for (const char* hex : {"81 a1 61 01 81 a1 62 02", "81 a1 61 01 c1", "0a 81 a1 61 01", "0a 0a", "01 02", "c0 c0"}) {
        CAPTURE(hex);
        const std::string packed = test_support::unhex(hex);
        for (bool pretty : {false, true}) {
            std::string out = "kept";
            auto r = format_packed_event("t", packed, output_options{output_format::salt, pretty, false}, out);
            REQUIRE_FALSE(r);
            CHECK(r.error().code == errc::data);
            CHECK(r.error().message.find("trailing byte") != std::string::npos);
            CHECK(out == "kept");
        }
    }
}

TEST_CASE("format_packed_event equals format_event for every output mode") {
    const value data{
        map_t{{value{"b"}, value{std::string("\xc3\xa9")}}, {value{"a"}, value{array_t{value{1.5}, value{}}}}}};
    const std::string packed = pack(data);
    for (auto format : {output_format::salt, output_format::json_lines})
        for (bool pretty : {false, true})
            for (bool color : {false, true}) {
                output_options o{format, pretty, color};
                std::string a = "x", b = "x";
                const render_outcome ra = format_event("myco/\xff", data, o, a);
                auto rb = format_packed_event("myco/\xff", packed, o, b);
                REQUIRE(rb);
                CHECK(a == b);
                CHECK(ra.issues == rb->issues);
            }
    std::string out = "kept";
    auto bad = format_packed_event("t", test_support::unhex("92 01"), output_options{}, out);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == errc::data);
    CHECK(bad.error().message == "truncated msgpack at byte 2");
    CHECK(out == "kept");
}

TEST_CASE("data over 1 MiB takes the general path, with the same output") {
    // The fast path's scratch buffer lives as long as the thread; it is kept to small events.
    const value big{map_t{{value{"pad"}, value{std::string(std::size_t{1} << 20, 'x')}}}};
    const std::string packed = pack(big);
    std::string fast;
    unsigned issues = 0;
    CHECK_FALSE(render_packed_json(packed, fast, issues));
    CHECK(fast.empty());
    std::string a, b;
    format_event("t", big, output_options{}, a);
    auto r = format_packed_event("t", packed, output_options{}, b);
    REQUIRE(r);
    CHECK(a == b);
    CHECK(b.size() == (std::size_t{1} << 20) + 14);  // t TAB {"pad": "..."} LF around the x run
}
