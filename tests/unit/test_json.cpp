#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "render/json.hpp"
#include "py/py.hpp"

using namespace tagbus;
using namespace std::string_literals;

namespace {

constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_v = std::numeric_limits<double>::infinity();

std::string compact(const value& v, unsigned* issues = nullptr) {
    std::string out;
    auto o = render_json(v, out);
    REQUIRE_FALSE(o.drop);
    if (issues) *issues = o.issues;
    return out;
}

std::string pretty(const value& v, unsigned* issues = nullptr) {
    std::string out;
    render_options opts;
    opts.pretty = true;
    auto o = render_json(v, out, opts);
    REQUIRE_FALSE(o.drop);
    if (issues) *issues = o.issues;
    return out;
}

std::string py_float(double d) {
    std::string s;
    append_py_float(s, d);
    return s;
}

value ext(std::int8_t type, std::string data) { return value{ext_t{type, std::move(data)}}; }
value bin(std::string b) { return value{bin_t{std::move(b)}}; }

// A map with one key, to see how that key is spelled.
value keyed(value k) { return value{map_t{{std::move(k), value{1}}}}; }

}  // namespace

TEST_CASE("floats print as Python's repr") {
    struct row {
        double d;
        const char* text;
    };
    const row rows[] = {
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {1.0, "1.0"},
        {1.5, "1.5"},
        {-2.0, "-2.0"},
        {1e16, "1e+16"},
        {1e15, "1000000000000000.0"},
        {1e17, "1e+17"},
        {1e22, "1e+22"},
        {9999999999999998.0, "9999999999999998.0"},
        {9007199254740992.0, "9007199254740992.0"},
        {12345678901234567890.0, "1.2345678901234567e+19"},
        {1e-5, "1e-05"},
        {1e-7, "1e-07"},
        {1.234e-5, "1.234e-05"},
        {0.0001, "0.0001"},
        {0.00012, "0.00012"},
        {5e-324, "5e-324"},
        {2.2250738585072014e-308, "2.2250738585072014e-308"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {-1e-300, "-1e-300"},
        {0.1 + 0.2, "0.30000000000000004"},
        {123456.789, "123456.789"},
        {static_cast<double>(0.1f), "0.10000000149011612"},
        {nan_v, "NaN"},
        {-nan_v, "NaN"},
        {inf_v, "Infinity"},
        {-inf_v, "-Infinity"},
    };
    for (const row& r : rows) {
        CAPTURE(r.text);
        CHECK(py_float(r.d) == r.text);
    }
}

TEST_CASE("strings escape only quote, backslash and C0 controls") {
    struct row {
        std::string in, out;
        bool valid;
    };
    const row rows[] = {
        {"plain", R"("plain")", true},
        {"", R"("")", true},
        {"\"", R"("\"")", true},
        {"\\", R"("\\")", true},
        {"/", R"("/")", true},
        {"\b\t\n\f\r", R"("\b\t\n\f\r")", true},
        {"\0\x01\x0b\x1f"s, R"("\u0000\u0001\u000b\u001f")", true},
        {"\x7f", "\"\x7f\"", true},                            // DEL raw
        {"\xc2\x80\xc2\x9f", "\"\xc2\x80\xc2\x9f\"", true},    // C1 controls raw
        {"\xe2\x80\xa8\xe2\x80\xa9", "\"\xe2\x80\xa8\xe2\x80\xa9\"", true},  // U+2028/9 raw
        {"\xef\xbb\xbf", "\"\xef\xbb\xbf\"", true},            // BOM raw
        {"\xef\xbf\xbf\xef\xb7\x90", "\"\xef\xbf\xbf\xef\xb7\x90\"", true},  // non-characters
        {"\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"", true},    // astral
        {"\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"", true},    // U+10FFFF
        {"caf\xc3\xa9", "\"caf\xc3\xa9\"", true},
        {"\xff", R"("\\xff")", false},
        {"a\xc3(", R"("a\\xc3(")", false},                    // truncated 2-byte sequence
        {"\xe2\x82", R"("\\xe2\\x82")", false},               // truncated at the end
        {"\xe2\x82x", R"("\\xe2\\x82x")", false},
        {"\xed\xa0\x80", R"("\\xed\\xa0\\x80")", false},      // surrogate
        {"\xc0\xaf", R"("\\xc0\\xaf")", false},               // overlong
        {"\xe0\x80\xaf", R"("\\xe0\\x80\\xaf")", false},      // overlong
        {"\xf4\x90\x80\x80", R"("\\xf4\\x90\\x80\\x80")", false},  // above U+10FFFF
        {"\x80\"", R"("\\x80\"")", false},                    // lone continuation
        // Longer than the 8-byte scan, with something to escape at different offsets.
        {"0123456789abcdef", R"("0123456789abcdef")", true},
        {"0123456\"89abcdef\\0123456789\x01", R"("0123456\"89abcdef\\0123456789\u0001")", true},
        {"0123456789\xc3\xa9" "abcdefgh\x7f" "1234567\x1f", "\"0123456789\xc3\xa9" "abcdefgh\x7f" "1234567\\u001f\"",
         true},
        {"abcdefgh\xff" "abcdefgh", R"("abcdefgh\\xffabcdefgh")", false},
        {"abcdefg~ ~}{|[]", R"("abcdefg~ ~}{|[]")", true},
    };
    for (const row& r : rows) {
        CAPTURE(r.out);
        std::string out = "prefix";
        CHECK(append_json_string(out, r.in) == r.valid);
        CHECK(out == "prefix" + r.out);
    }
}

TEST_CASE("one special byte at every offset of a long string") {
    // The scan runs 16 and 8 bytes at a time; each kind of byte at each offset must still be seen.
    struct special {
        std::string in, out;
        bool valid;
    };
    const special specials[] = {{"\"", "\\\"", true},       {"\\", "\\\\", true},       {"\x01", "\\u0001", true},
                                {"\x1f", "\\u001f", true},    {"\x7f", "\x7f", true},       {" ", " ", true},
                                {"\xc3\xa9", "\xc3\xa9", true}, {"\xff", "\\\\xff", false}, {"\0"s, "\\u0000", true}};
    for (const special& sp : specials) {
        for (std::size_t at = 0; at <= 40; ++at) {
            const std::string in = std::string(at, 'a') + sp.in + std::string(40 - at, 'b');
            CAPTURE(in);
            std::string out;
            CHECK(append_json_string(out, in) == sp.valid);
            std::string expected(1, '"');
            expected.append(at, 'a').append(sp.out).append(40 - at, 'b').push_back('"');
            CHECK(out == expected);
        }
    }
}

TEST_CASE("scalars and containers, compact and pretty") {
    struct row {
        const char* name;
        value v;
        std::string compact, pretty;
        unsigned issues = 0;
    };
    const std::vector<row> rows = {
        {"null", value{}, "null", "null"},
        {"true", value{true}, "true", "true"},
        {"false", value{false}, "false", "false"},
        {"zero", value{0}, "0", "0"},
        {"int min", value{std::numeric_limits<std::int64_t>::min()}, "-9223372036854775808", "-9223372036854775808"},
        {"uint max", value{std::numeric_limits<std::uint64_t>::max()}, "18446744073709551615",
         "18446744073709551615"},
        {"float32 widened", value{0.1f}, "0.10000000149011612", "0.10000000149011612"},
        {"double", value{1e16}, "1e+16", "1e+16"},
        {"string", value{"x"}, R"("x")", R"("x")"},
        {"bin decodes", bin("caf\xc3\xa9"), "\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
        {"bin undecodable", bin("\xfe"), R"("\\xfe")", R"("\\xfe")", issue_invalid_utf8},
        {"empty array", value{array_t{}}, "[]", "[]"},
        {"empty map", value{map_t{}}, "{}", "{}"},
        {"nested array", value{array_t{1, array_t{2, 3}, array_t{}, map_t{}}}, "[1, [2, 3], [], {}]",
         "[\n    1,\n    [\n        2,\n        3\n    ],\n    [],\n    {}\n]"},
        {"SALT-WIRE example",
         value{map_t{{"n", 1}, {"foo", "bar"}, {"_stamp", "2024-05-01T12:34:56.789012"}, {"u", "\xc3\xa9"}}},
         "{\"n\": 1, \"foo\": \"bar\", \"_stamp\": \"2024-05-01T12:34:56.789012\", \"u\": \"\xc3\xa9\"}",
         "{\n    \"_stamp\": \"2024-05-01T12:34:56.789012\",\n    \"foo\": \"bar\",\n    \"n\": 1,\n"
         "    \"u\": \"\xc3\xa9\"\n}"},
        {"nested empty containers", value{map_t{{"b", array_t{}}, {"a", map_t{}}}}, R"({"b": [], "a": {}})",
         "{\n    \"a\": {},\n    \"b\": []\n}"},
        {"nested map", value{map_t{{"z", map_t{{"y", 1}, {"x", array_t{nullptr}}}}}},
         R"({"z": {"y": 1, "x": [null]}})",
         "{\n    \"z\": {\n        \"x\": [\n            null\n        ],\n        \"y\": 1\n    }\n}"},
        {"special floats", value{array_t{nan_v, inf_v, -inf_v, -0.0}}, "[NaN, Infinity, -Infinity, -0.0]",
         "[\n    NaN,\n    Infinity,\n    -Infinity,\n    -0.0\n]"},
        {"invalid utf-8 key", value{map_t{{"k\xff", 1}}}, R"({"k\\xff": 1})", "{\n    \"k\\\\xff\": 1\n}",
         issue_invalid_utf8},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        unsigned ci = 0, pi = 0;
        CHECK(compact(r.v, &ci) == r.compact);
        CHECK(pretty(r.v, &pi) == r.pretty);
        CHECK(ci == r.issues);
        CHECK(pi == r.issues);
    }
}

TEST_CASE("non-string keys are spelled as their JSON token") {
    struct row {
        value key;
        const char* text;
    };
    const std::vector<row> rows = {
        {value{1}, R"({"1": 1})"},
        {value{-5}, R"({"-5": 1})"},
        {value{std::numeric_limits<std::uint64_t>::max()}, R"({"18446744073709551615": 1})"},
        {value{true}, R"({"true": 1})"},
        {value{false}, R"({"false": 1})"},
        {value{}, R"({"null": 1})"},
        {value{1e16}, R"({"1e+16": 1})"},
        {value{2.5f}, R"({"2.5": 1})"},
        {value{1.0}, R"({"1.0": 1})"},
        {value{-0.0}, R"({"-0.0": 1})"},
        {value{nan_v}, R"({"NaN": 1})"},
        {value{inf_v}, R"({"Infinity": 1})"},
        {value{-inf_v}, R"({"-Infinity": 1})"},
        {bin("b"), R"({"b": 1})"},
    };
    for (const row& r : rows) {
        CAPTURE(r.text);
        CHECK(compact(keyed(r.key)) == r.text);
    }
}

TEST_CASE("keys equal in Python collapse: first spelling and position, last value") {
    struct row {
        const char* name;
        map_t m;
        const char* text;
    };
    const std::vector<row> rows = {
        {"1, True, 1.0", {{1, "a"}, {true, "b"}, {1.0, "c"}}, R"({"1": "c"})"},
        {"True then 1", {{true, "a"}, {"x", 0}, {1, "b"}}, R"({"true": "b", "x": 0})"},
        {"1.0 then 1", {{1.0, "a"}, {1, "b"}}, R"({"1.0": "b"})"},
        {"float32 1", {{1.0f, "a"}, {1, "b"}}, R"({"1.0": "b"})"},
        {"zeros", {{0, "a"}, {false, "b"}, {0.0, "c"}, {-0.0, "d"}}, R"({"0": "d"})"},
        {"-0.0 first", {{-0.0, "a"}, {0, "b"}}, R"({"-0.0": "b"})"},
        {"negative", {{-1, "a"}, {-1.0, "b"}}, R"({"-1": "b"})"},
        {"str dup", {{"a", 1}, {"b", 2}, {"a", 3}}, R"({"a": 3, "b": 2})"},
        {"bin joins str", {{"a", 1}, {bin("a"), 2}}, R"({"a": 2})"},
        {"bin first", {{bin("a"), 1}, {"a", 2}}, R"({"a": 2})"},
        // msgpack-python builds {"a": 3, b"a": 2}; Salt's decode then merges b"a" last.
        {"two stages", {{"a", 1}, {bin("a"), 2}, {"a", 3}}, R"({"a": 2})"},
        {"str 1 and int 1", {{"1", "s"}, {1, "i"}}, R"({"1": "s", "1": "i"})"},
        {"NaN never collapses", {{nan_v, 1}, {nan_v, 2}}, R"({"NaN": 1, "NaN": 2})"},
        {"exact int/float", {{9007199254740993ull, "i"}, {9007199254740992.0, "f"}},
         R"({"9007199254740993": "i", "9007199254740992.0": "f"})"},
        {"2**64 is no uint", {{std::numeric_limits<std::uint64_t>::max(), "i"}, {18446744073709551616.0, "f"}},
         R"({"18446744073709551615": "i", "1.8446744073709552e+19": "f"})"},
        {"int64 min", {{std::numeric_limits<std::int64_t>::min(), "i"}, {-9223372036854775808.0, "f"}},
         R"({"-9223372036854775808": "f"})"},
        {"null dup", {{nullptr, 1}, {nullptr, 2}}, R"({"null": 2})"},
        // Any ext but 78/79/-1 is its payload's bytes to Salt, so all three keys are b"x", and
        // Salt's decode makes that the str "x": one key with the others.
        {"ext dup", {{ext(5, "x"), 1}, {ext(5, "x"), 2}, {ext(6, "x"), 3}}, R"({"x": 3})"},
        {"ext joins bin then str", {{"x", 1}, {ext(5, "x"), 2}, {bin("x"), 3}, {"y", 4}}, R"({"x": 3, "y": 4})"},
        // A datetime key is its ISO text once decoded: it merges with that str key.
        {"datetime joins str", {{"2024-05-01T12:00:00", 1}, {ext(78, "20240501T12:00:00.000000"), 2}},
         R"({"2024-05-01T12:00:00": 2})"},
        {"equal datetimes", {{ext(78, "20240501T12:00:00.5"), 1}, {ext(78, "20240501T12:00:00.500000"), 2}},
         R"({"2024-05-01T12:00:00.500000": 2})"},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        CHECK(compact(value{r.m}) == r.text);
    }
    SUBCASE("large maps take the hashed path") {
        map_t m;
        for (int i = 0; i < 100; ++i) m.push_back({i, i});
        for (int i = 0; i < 100; ++i) m.push_back({static_cast<double>(i), -i});
        m.push_back({"s", nan_v});
        m.push_back({nan_v, 1});
        m.push_back({nan_v, 2});
        const std::string out = compact(value{m});
        CHECK(out.starts_with(R"({"0": 0, "1": -1, "2": -2, )"));
        CHECK(out.ends_with(R"("99": -99, "s": NaN, "NaN": 1, "NaN": 2})"));
        map_t strs;
        for (int i = 0; i < 40; ++i) strs.push_back({std::to_string(i % 20), i});
        const std::string s = compact(value{strs});
        CHECK(s.starts_with(R"({"0": 20, "1": 21, )"));
        CHECK(s.ends_with(R"("19": 39})"));
        map_t distinct;
        for (int i = 0; i < 20; ++i) distinct.push_back({std::to_string(19 - i), i});
        const std::string d = compact(value{distinct});
        CHECK(d.starts_with(R"({"19": 0, "18": 1, )"));
        CHECK(d.ends_with(R"("0": 19})"));
        map_t nans;
        for (int i = 0; i < 70; ++i) nans.push_back({i % 7 ? value{i} : value{nan_v}, i});
        const std::string p = pretty(value{nans});
        CHECK(p.starts_with("{\n    \"1\": 1,\n    \"2\": 2,"));
        CHECK(p.ends_with("    \"NaN\": 63\n}"));
    }
}

TEST_CASE("pretty sorts keys as Python's sorted()") {
    struct row {
        const char* name;
        map_t m;
        std::string text;
        unsigned issues = 0;
    };
    const std::vector<row> rows = {
        {"code points", {{"\xf0\x9f\x98\x80", 2}, {"\xef\xbf\xbf", 3}, {"9", 5}, {"\xee\x80\x80", 1}, {"10", 4}},
         "{\n    \"10\": 4,\n    \"9\": 5,\n    \"\xee\x80\x80\": 1,\n    \"\xef\xbf\xbf\": 3,\n"
         "    \"\xf0\x9f\x98\x80\": 2\n}"},
        {"numbers", {{10, "a"}, {9, "b"}, {true, "c"}, {2.5, "d"}, {-1, "e"}, {-inf_v, "f"}},
         "{\n    \"-Infinity\": \"f\",\n    \"-1\": \"e\",\n    \"true\": \"c\",\n    \"2.5\": \"d\",\n"
         "    \"9\": \"b\",\n    \"10\": \"a\"\n}"},
        {"exact int/float order", {{9007199254740993ull, "i"}, {9007199254740992.0, "f"}},
         "{\n    \"9007199254740992.0\": \"f\",\n    \"9007199254740993\": \"i\"\n}"},
        {"null alone", {{nullptr, 1}}, "{\n    \"null\": 1\n}"},
        {"mixed: numbers, null, strings", {{"a", 1}, {nullptr, 2}, {2, 3}, {"B", 4}},
         "{\n    \"2\": 3,\n    \"null\": 2,\n    \"B\": 4,\n    \"a\": 1\n}", issue_mixed_keys},
        {"null and number", {{nullptr, 1}, {0, 2}}, "{\n    \"0\": 2,\n    \"null\": 1\n}", issue_mixed_keys},
        // Expected orders taken from CPython 3.11's sorted() on these dicts.
        {"NaN 1", {{3, 0}, {nan_v, 1}, {1, 2}, {2, 3}},
         "{\n    \"3\": 0,\n    \"NaN\": 1,\n    \"1\": 2,\n    \"2\": 3\n}"},
        {"NaN 2", {{nan_v, 0}, {2, 1}, {1, 2}}, "{\n    \"NaN\": 0,\n    \"1\": 2,\n    \"2\": 1\n}"},
        {"NaN 3", {{1, 0}, {nan_v, 1}, {0.5, 2}, {nan_v, 3}, {-1, 4}},
         "{\n    \"1\": 0,\n    \"NaN\": 1,\n    \"0.5\": 2,\n    \"NaN\": 3,\n    \"-1\": 4\n}"},
        {"NaN 4", {{true, 0}, {nan_v, 1}, {0.5, 2}}, "{\n    \"true\": 0,\n    \"NaN\": 1,\n    \"0.5\": 2\n}"},
        // A datetime key is its ISO text before sorting: among the str keys by code point.
        {"datetime among str", {{"_stamp", 1}, {ext(78, "20240501T12:00:00.000000"), 2}, {"1", 3}, {"a", 4}},
         "{\n    \"1\": 3,\n    \"2024-05-01T12:00:00\": 2,\n    \"_stamp\": 1,\n    \"a\": 4\n}"},
        {"datetimes and other ext", {{ext(78, "20250101T00:00:00.000001"), 1}, {ext(9, "B"), 2},
                                     {ext(78, "20240501T12:00:00.000000"), 3}},
         "{\n    \"2024-05-01T12:00:00\": 3,\n    \"2025-01-01T00:00:00.000001\": 1,\n    \"B\": 2\n}"},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        unsigned issues = 0;
        CHECK(pretty(value{r.m}, &issues) == r.text);
        CHECK(issues == r.issues);
    }
}

TEST_CASE("ext types") {
    struct row {
        const char* name;
        value v;
        std::string text;
        unsigned issues;
    };
    const std::vector<row> rows = {
        {"datetime", ext(78, "20240501T12:00:00.123456"), R"("2024-05-01T12:00:00.123456")", 0},
        {"datetime, zero fraction", ext(78, "20240501T12:00:00.000000"), R"("2024-05-01T12:00:00")", 0},
        {"sentinel", ext(79, "\x92\xa8OPTIONAL\xc0"), R"(["OPTIONAL", null])", issue_ext79},
        {"timestamp 32", ext(-1, "\0\0\0\0"s), R"("1970-01-01T00:00:00Z")", issue_timestamp},
        {"timestamp 64", ext(-1, "\x00\x00\x00\x04\x66\x32\x36\xf0"s), R"("2024-05-01T12:34:56.000000001Z")",
         issue_timestamp},
        {"timestamp 64 millis", ext(-1, "\x1d\x53\x53\x00\x66\x32\x36\xf0"s), R"("2024-05-01T12:34:56.123Z")",
         issue_timestamp},
        {"timestamp 96 negative", ext(-1, "\x00\x01\xe0\x78\xff\xff\xff\xff\xff\xff\xff\xff"s),
         R"("1969-12-31T23:59:59.000123Z")", issue_timestamp},
        {"timestamp 96 year 1", ext(-1, "\x00\x00\x00\x00\xff\xff\xff\xf1\x88\x6e\x09\x00"s),
         R"("0001-01-01T00:00:00Z")", issue_timestamp},
        // Salt prints any other ext's payload as text (SALT-WIRE §7), \xNN where it is not UTF-8.
        {"other", ext(1, "abc"), R"("abc")", 0},
        {"other, needs escapes", ext(42, "a\"\n\xc3\xa9"), R"("a\"\né")", 0},
        {"other, not UTF-8", ext(5, "\x01\xab"), R"("\u0001\\xab")", issue_invalid_utf8},
        {"other negative, empty", ext(-7, ""), R"("")", 0},
        {"other in a list", value{array_t{ext(127, "z"), ext(-128, "")}}, R"(["z", ""])", 0},
        {"datetime key", keyed(ext(78, "20240501T12:00:00.000000")), R"({"2024-05-01T12:00:00": 1})", 0},
        {"sentinel key", keyed(ext(79, "\x92\xa8OPTIONAL\xc0")), R"({"[\"OPTIONAL\", null]": 1})",
         issue_ext_key | issue_ext79},
        {"timestamp key", keyed(ext(-1, "\0\0\0\0"s)), R"({"1970-01-01T00:00:00Z": 1})",
         issue_ext_key | issue_timestamp},
        {"other key", keyed(ext(1, "\x01")), R"({"\u0001": 1})", 0},
        {"other key, not UTF-8", keyed(ext(1, "\xff")), R"({"\\xff": 1})", issue_invalid_utf8},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        unsigned issues = 0;
        CHECK(compact(r.v, &issues) == r.text);
        CHECK(issues == r.issues);
    }
}

TEST_CASE("events Salt drops leave the output untouched") {
    struct row {
        const char* name;
        value v;
    };
    const std::vector<row> rows = {
        {"array key", value{map_t{{"a", 1}, {array_t{1}, 2}}}},
        {"map key", value{map_t{{map_t{}, 1}}}},
        {"nested array key", value{array_t{map_t{{"x", map_t{{array_t{}, 1}}}}}}},
        {"malformed datetime", value{map_t{{"when", ext(78, "2024-05-01")}}}},
        {"impossible date", value{array_t{ext(78, "20240230T12:00:00.000000")}}},
        {"datetime key malformed", keyed(ext(78, "x"))},
        {"overwritten malformed datetime", value{map_t{{"a", ext(78, "bad")}, {"a", 1}}}},
        {"overwritten array-keyed map", value{map_t{{1, map_t{{array_t{}, 1}}}, {true, 2}}}},
        {"malformed duplicate key", value{map_t{{ext(78, "20240501T12:00:00.000000"), 1},
                                                {ext(78, "20240501T12:00:00.000000"), 2},
                                                {"x", array_t{ext(78, "bad")}}}}},
        {"sentinel not an array", ext(79, "\xc0")},
        {"sentinel of 3", ext(79, "\x93\x01\x02\x03")},
        {"sentinel not msgpack", ext(79, "\xc1")},
        {"timestamp size", ext(-1, "\0\0"s)},
        {"timestamp nanoseconds", ext(-1, "\x3b\x9a\xca\x00\x00\x00\x00\x00\x00\x00\x00\x00"s)},
    };
    for (const row& r : rows) {
        CAPTURE(r.name);
        for (bool p : {false, true}) {
            std::string out = "kept";
            render_options opts;
            opts.pretty = p;
            auto o = render_json(r.v, out, opts);
            CHECK(o.drop);
            CHECK(out == "kept");
        }
    }
}

TEST_CASE("colours wrap tokens, never punctuation") {
    const json_colors c{"<k>", "<s>", "<n>", "<l>", "</>"};
    render_options opts;
    opts.colors = &c;
    const value v{map_t{{"a", array_t{1, "x", true, nullptr, 1.5}}, {2, map_t{}}}};
    std::string out;
    CHECK_FALSE(render_json(v, out, opts).drop);
    CHECK(out == R"({<k>"a"</>: [<n>1</>, <s>"x"</>, <l>true</>, <l>null</>, <n>1.5</>], <k>"2"</>: {}})");
    out.clear();
    opts.pretty = true;
    CHECK_FALSE(render_json(v, out, opts).drop);
    CHECK(out ==
          "{\n    <k>\"2\"</>: {},\n    <k>\"a\"</>: [\n        <n>1</>,\n        <s>\"x\"</>,\n        <l>true</>,\n"
          "        <l>null</>,\n        <n>1.5</>\n    ]\n}");
}

TEST_CASE("render appends") {
    std::string out = "tag\t";
    CHECK_FALSE(render_json(value{map_t{{"a", 1}}}, out).drop);
    CHECK(out == "tag\t{\"a\": 1}");
}

TEST_CASE("parse_json builds what json.loads builds") {
    SUBCASE("objects keep order; duplicates take the first place and the last value") {
        auto r = parse_json(R"({"b": 1, "a": [true, false, null], "b": 3, "c": "\u00e9\/"})");
        REQUIRE(r);
        CHECK(*r == value{map_t{{"b", 3}, {"a", array_t{true, false, nullptr}}, {"c", "\xc3\xa9/"}}});
    }
    SUBCASE("numbers") {
        auto r = parse_json(
            "[0, -0, 1.0, -0.0, 1E2, 18446744073709551615, -9223372036854775808, 18446744073709551616, "
            "-9223372036854775809, 123456789012345678901234567890, 1e400, -1e400, 1e-400, 2.5e-320]");
        REQUIRE(r);
        const array_t& a = *r->array();
        REQUIRE(a.size() == 14);
        CHECK(a[0] == value{0u});
        CHECK(a[1] == value{0u});
        CHECK(a[2] == value{1.0});
        CHECK(std::signbit(std::get<double>(a[3].v)));
        CHECK(a[4] == value{100.0});
        CHECK(a[5] == value{std::numeric_limits<std::uint64_t>::max()});
        CHECK(a[6] == value{std::numeric_limits<std::int64_t>::min()});
        CHECK(a[7] == value{"18446744073709551616"});
        CHECK(a[8] == value{"-9223372036854775809"});
        CHECK(a[9] == value{"123456789012345678901234567890"});
        CHECK(a[10] == value{inf_v});
        CHECK(a[11] == value{-inf_v});
        CHECK(a[12] == value{0.0});
        CHECK(a[13] == value{2.5e-320});
    }
    SUBCASE("NaN, Infinity and -Infinity outside strings only") {
        auto r = parse_json("{\"NaN\": NaN,\"x\":[Infinity,-Infinity ,\"Infinity\"]}");
        REQUIRE(r);
        const map_t& m = *r->map();
        REQUIRE(m.size() == 2);
        CHECK(m[0].key == value{"NaN"});
        CHECK(std::isnan(std::get<double>(m[0].val.v)));
        CHECK(m[1].val == value{array_t{inf_v, -inf_v, "Infinity"}});
    }
    SUBCASE("scalars at the top and surrounding whitespace") {
        CHECK(*parse_json(" \t\r\n\"s\" \n") == value{"s"});
        CHECK(std::isnan(std::get<double>(parse_json("NaN").value().v)));
        CHECK(*parse_json("-Infinity") == value{-inf_v});
        CHECK(*parse_json("12") == value{12});
    }
    SUBCASE("a huge integer becomes its digits") {
        const std::string digits(4300, '7');
        CHECK(*parse_json("[" + digits + "]") == value{array_t{digits}});
    }
    SUBCASE("512 levels are fine") {
        auto r = parse_json(std::string(512, '[') + std::string(512, ']'));
        CHECK(r);
    }
}

TEST_CASE("parse_json errors name line and column") {
    struct row {
        std::string text, message;
    };
    const std::vector<row> rows = {
        {"", "invalid JSON at line 1, column 1: syntax error while parsing value - unexpected end of input; "
             "expected '[', '{', or a literal"},
        {"[1,]", "invalid JSON at line 1, column 4: syntax error while parsing value - unexpected ']'; "
                 "expected '[', '{', or a literal"},
        // nlohmann notices the bad literal at the character after it.
        {"{\n  \"a\": tru\n}", "invalid JSON at line 2, column 11: syntax error while parsing value - invalid "
                               "literal"},
        {"[\"\xc3\xa9\xc3\xa9\", x]", "invalid JSON at line 1, column 8: syntax error while parsing value - "
                                      "invalid literal"},
        {"1 2", "invalid JSON at line 1, column 3: syntax error while parsing value - unexpected number literal; "
                "expected end of input"},
        {"1NaN", "invalid JSON at line 1, column 2: syntax error while parsing value - invalid literal; "
                 "expected end of input"},
        {"{NaN: 1}", "invalid JSON at line 1, column 2: syntax error while parsing object key - unexpected "
                     "number literal; expected string literal"},
        {"-NaN", "invalid JSON at line 1, column 2: syntax error while parsing value - invalid number; "
                 "expected digit after '-'"},
        {"\xef\xbb\xbf{}", "invalid JSON at line 1, column 1: unexpected UTF-8 byte order mark"},
        {std::string("[").append(4301, '1').append("]"),
         "invalid JSON at line 1, column 2: integer has more than 4300 digits (Python's int conversion limit)"},
        // The outer object is level 1: the 512th bracket is one too many.
        {std::string("{\"a\":\n ").append(512, '[').append(512, ']').append("}"),
         "invalid JSON at line 2, column 513: nesting deeper than 512"},
        {"\"\\ud800\"", "invalid JSON at line 1, column 8: syntax error while parsing value - invalid string: "
                        "surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF"},
    };
    for (const row& r : rows) {
        CAPTURE(r.text);
        auto res = parse_json(r.text);
        REQUIRE_FALSE(res);
        CHECK(res.error().code == errc::data);
        CHECK(res.error().message == r.message);
    }
}

TEST_CASE("render then parse gives the value back") {
    const value v{map_t{{"a", array_t{1, -2, 2.5, "x\n\"", true, nullptr}}, {"b", map_t{{"c", 1e16}}}}};
    std::string text;
    CHECK_FALSE(render_json(v, text).drop);
    auto r = parse_json(text);
    REQUIRE(r);
    CHECK(*r == v);
}
