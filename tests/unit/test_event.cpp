#include <doctest/doctest.h>

#include "support.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "tagbus/event.hpp"
#include "tagbus/value.hpp"

using namespace tagbus;
using namespace test_support;
using namespace std::chrono;

namespace {


// SALT-WIRE §2's example body.
const std::string example_body = unhex(
    "6d 79 63 6f 2f 74 65 73 74 0a 0a 83 a3 66 6f 6f a3 62 61 72 a1 6e 01 a6 5f 73 74 61 6d 70 ba 32"
    "30 32 34 2d 30 35 2d 30 31 54 31 32 3a 33 34 3a 35 36 2e 37 38 39 30 31 32");

system_clock::time_point at(int y, unsigned mo, unsigned d, int h, int mi, int s, long long ns) {
    return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + nanoseconds{ns};
}

const value* get(const map_t& m, std::string_view key) {
    for (const auto& kv : m)
        if (kv.key.str() && *kv.key.str() == key) return &kv.val;
    return nullptr;
}

bool is_trimmed(const map_t& m, std::string_view key) {
    const value* v = get(m, key);
    return v && v->str() && *v->str() == "VALUE_TRIMMED";
}

std::string utf8_e_acute(std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) s += "\xc3\xa9";
    return s;
}

}  // namespace

TEST_CASE("split_body splits at the first blank line") {
    struct row {
        std::string body, tag, data;
    };
    const row rows[] = {
        {"a\n\nb", "a", "b"},
        {"a\n\n\n\nb", "a", "\n\nb"},
        {"\n\n", "", ""},
        {"x/y\nz\n\n\x80", "x/y\nz", "\x80"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.body);
        auto s = split_body(r.body);
        REQUIRE(s.has_value());
        CHECK(s->first == r.tag);
        CHECK(s->second == r.data);
    }
    for (const char* bad : {"", "tag\n", "tag\nx\n"}) {
        auto s = split_body(bad);
        REQUIRE_FALSE(s.has_value());
        CHECK(s.error().code == errc::data);
        CHECK(s.error().message == "event body has no blank line after the tag");
    }
}

TEST_CASE("decode_body reads SALT-WIRE's example") {
    auto e = decode_body(example_body);
    REQUIRE(e.has_value());
    CHECK(e->tag == "myco/test");
    const map_t want{{value("foo"), value("bar")},
                     {value("n"), value(1)},
                     {value("_stamp"), value("2024-05-01T12:34:56.789012")}};
    CHECK(e->data == value(want));
}

TEST_CASE("decode_body errors") {
    struct row {
        std::string body;
        const char* message;
    };
    const row rows[] = {
        {"no blank line", "event body has no blank line after the tag"},
        {"t\n\n\x92\x01", "event data is not valid msgpack: truncated msgpack at byte 2"},
        {"t\n\n", "event data is not valid msgpack: truncated msgpack at byte 0"},
        {"t\n\n\x80\x80", "event data is not valid msgpack: 1 trailing byte after msgpack"},
        {"t\n\n\xc1", "event data is not valid msgpack: invalid msgpack byte 0xc1 at offset 0"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.body);
        auto e = decode_body(r.body);
        REQUIRE_FALSE(e.has_value());
        CHECK(e.error().code == errc::data);
        CHECK(e.error().message == r.message);
    }
}

TEST_CASE("check_tag") {
    CHECK(check_tag("salt/job/1/new").has_value());
    CHECK(check_tag("a\nb").has_value());
    CHECK(check_tag("\n").has_value());
    struct row {
        const char* tag;
        const char* message;
    };
    const row rows[] = {
        {"", "tag is empty"},
        {"a\n\nb", "tag contains a blank line (\"\\n\\n\")"},
        {"\n\n", "tag contains a blank line (\"\\n\\n\")"},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.tag));
        auto c = check_tag(r.tag);
        REQUIRE_FALSE(c.has_value());
        CHECK(c.error().code == errc::data);
        CHECK(c.error().message == r.message);
    }
}

TEST_CASE("format_stamp is datetime.isoformat()") {
    struct row {
        system_clock::time_point t;
        const char* text;
    };
    const row rows[] = {
        {at(2024, 5, 1, 12, 34, 56, 789012000), "2024-05-01T12:34:56.789012"},
        {at(2024, 5, 1, 12, 34, 56, 0), "2024-05-01T12:34:56"},
        {at(2024, 5, 1, 12, 34, 56, 999), "2024-05-01T12:34:56"},  // below a microsecond: dropped
        {at(2024, 5, 1, 12, 34, 56, 789012999), "2024-05-01T12:34:56.789012"},
        {at(2024, 2, 29, 0, 0, 0, 1000), "2024-02-29T00:00:00.000001"},
        {at(1970, 1, 1, 0, 0, 0, 0), "1970-01-01T00:00:00"},
        {at(1969, 12, 31, 23, 59, 59, 999999000), "1969-12-31T23:59:59.999999"},
        {at(2262, 1, 2, 3, 4, 5, 500000000), "2262-01-02T03:04:05.500000"},  // near the ns clock's end
        // Across midnight and back: the date text is kept per day.
        {at(2024, 5, 1, 23, 59, 59, 999999000), "2024-05-01T23:59:59.999999"},
        {at(2024, 5, 2, 0, 0, 0, 0), "2024-05-02T00:00:00"},
        {at(2024, 5, 1, 23, 59, 59, 10000), "2024-05-01T23:59:59.000010"},
        {at(2024, 12, 31, 10, 0, 0, 100000000), "2024-12-31T10:00:00.100000"},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.text));
        CHECK(format_stamp(r.t) == r.text);
    }
}

TEST_CASE("set_stamp appends, or replaces in place") {
    const auto t = at(2024, 5, 1, 12, 34, 56, 0);
    map_t m{{value("a"), value(1)}};
    set_stamp(m, t);
    CHECK(value(m) == value(map_t{{value("a"), value(1)}, {value("_stamp"), value("2024-05-01T12:34:56")}}));

    map_t old{{value("_stamp"), value("x")}, {value("b"), value(2)}};
    set_stamp(old, t);
    CHECK(value(old) == value(map_t{{value("_stamp"), value("2024-05-01T12:34:56")}, {value("b"), value(2)}}));

    // A bin key b"_stamp" is a different key in Python.
    map_t bin_key{{value(bin_t{"_stamp"}), value(1)}};
    set_stamp(bin_key, t);
    REQUIRE(bin_key.size() == 2);
    CHECK(bin_key[1].key == value("_stamp"));
}

TEST_CASE("encode_body builds SALT-WIRE's example") {
    value data(map_t{{value("foo"), value("bar")},
                     {value("n"), value(1)},
                     {value("_stamp"), value("2024-05-01T12:34:56.789012")}});
    auto body = encode_body("myco/test", data, default_max_event_size, false);
    REQUIRE(body.has_value());
    CHECK(*body == example_body);
}

TEST_CASE("encode_body stamps the caller's map") {
    value data(map_t{{value("foo"), value("bar")}});
    auto body = encode_body("t", data, default_max_event_size);
    REQUIRE(body.has_value());
    const map_t& m = *data.map();
    REQUIRE(m.size() == 2);
    CHECK(m[1].key == value("_stamp"));
    const std::string stamp = *m[1].val.str();
    CHECK((stamp.size() == 26 || stamp.size() == 19));
    CHECK(stamp[10] == 'T');
    CHECK(*body == "t\n\n" + pack(data));
    auto back = decode_body(*body);
    REQUIRE(back.has_value());
    CHECK(back->data == data);
}

TEST_CASE("encode_body errors") {
    struct row {
        const char* tag;
        value data;
        const char* message;
    };
    const row rows[] = {
        {"", value(map_t{}), "tag is empty"},
        {"a\n\nb", value(map_t{}), "tag contains a blank line (\"\\n\\n\")"},
        {"t", value(), "event data must be a map, not None"},
        {"t", value(true), "event data must be a map, not a boolean"},
        {"t", value(1), "event data must be a map, not an integer"},
        {"t", value(-1), "event data must be a map, not an integer"},
        {"t", value(1.5), "event data must be a map, not a float"},
        {"t", value("x"), "event data must be a map, not a string"},
        {"t", value(bin_t{"x"}), "event data must be a map, not bytes"},
        {"t", value(array_t{}), "event data must be a map, not a list"},
        {"t", value(ext_t{78, "x"}), "event data must be a map, not an ext value"},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.message));
        value data = r.data;
        auto body = encode_body(r.tag, data, default_max_event_size);
        REQUIRE_FALSE(body.has_value());
        CHECK(body.error().code == errc::data);
        CHECK(body.error().message == r.message);
    }
}

TEST_CASE("trimming follows Salt's passes") {
    const std::size_t mb = 1048576;
    SUBCASE("small enough: untouched") {
        map_t m{{value("a"), value(std::string(mb - 100, 'x'))}};
        CHECK_FALSE(trim_to_max_event_size(m, mb));
        CHECK_FALSE(is_trimmed(m, "a"));
    }
    SUBCASE("packed + 33 == max is not too big") {
        // fixmap + fixstr key "a" + str32 header = 1 + 2 + 5 bytes around the value.
        map_t m{{value("a"), value(std::string(mb - 33 - 8, 'x'))}};
        CHECK_FALSE(trim_to_max_event_size(m, mb));
        map_t over{{value("a"), value(std::string(mb - 33 - 7, 'x'))}};
        CHECK(trim_to_max_event_size(over, mb));
        CHECK(is_trimmed(over, "a"));
    }
    SUBCASE("first pass trims the big value only") {
        map_t m{{value("big"), value(std::string(1100000, 'x'))}, {value("small"), value("y")}};
        CHECK(trim_to_max_event_size(m, mb));
        CHECK(value(m) == value(map_t{{value("big"), value("VALUE_TRIMMED")}, {value("small"), value("y")}}));
    }
    SUBCASE("stops at the first pass that is small enough") {
        map_t m{{value("a"), value(std::string(450000, 'x'))},
                {value("b"), value(std::string(450000, 'x'))},
                {value("c"), value(std::string(300000, 'x'))}};
        CHECK(trim_to_max_event_size(m, mb));
        CHECK(is_trimmed(m, "a"));  // 450049 > 40% (419430.4)
        CHECK(is_trimmed(m, "b"));
        CHECK_FALSE(is_trimmed(m, "c"));  // small enough after the 40% pass
    }
    SUBCASE("maps are descended, arrays and bytes measured shallowly") {
        map_t inner{{value("deep"), value(std::string(600000, 'x'))}, {value("keep"), value(1)}};
        map_t m{{value("outer"), value(inner)},
                {value("list"), value(array_t(70000, value(1)))},  // 56 + 8 * 70000 = 560056 > 524288
                {value("bytes"), value(bin_t{std::string(530000, 'b')})}};
        CHECK(trim_to_max_event_size(m, mb));
        const map_t& out = *get(m, "outer")->map();
        CHECK(is_trimmed(out, "deep"));
        CHECK(*get(out, "keep") == value(1));
        CHECK(is_trimmed(m, "list"));
        CHECK(is_trimmed(m, "bytes"));
    }
    SUBCASE("a map of many small values is never trimmed") {
        map_t m;
        for (int i = 0; i < 200000; ++i) m.push_back({value(i), value("vvvv")});
        CHECK_FALSE(trim_to_max_event_size(m, mb));
    }
    SUBCASE("non-ASCII strings grow by their cached UTF-8 after the first repack") {
        // Checked against CPython 3.11 + msgpack 1.0: "é"*200 measures 273 in pass 1 and 674
        // afterwards, so the 40% pass (400) trims it while "x"*300 (349) survives.
        map_t m{{value("a"), value(utf8_e_acute(200))},
                {value("b"), value(utf8_e_acute(200))},
                {value("c"), value(utf8_e_acute(200))},
                {value("x"), value(std::string(300, 'x'))}};
        CHECK(trim_to_max_event_size(m, 1000));
        CHECK(is_trimmed(m, "a"));
        CHECK(is_trimmed(m, "b"));
        CHECK(is_trimmed(m, "c"));
        CHECK_FALSE(is_trimmed(m, "x"));
    }
    SUBCASE("encode_body trims and packs the result") {
        value data(map_t{{value("big"), value(std::string(1100000, 'x'))}});
        auto body = encode_body("t", data, mb, false);
        REQUIRE(body.has_value());
        CHECK(*body == "t\n\n" + pack(value(map_t{{value("big"), value("VALUE_TRIMMED")}})));
    }
}

TEST_CASE("ext78_isoformat parses as datetime.strptime(\"%Y%m%dT%H:%M:%S.%f\")") {
    struct row {
        const char* payload;
        const char* iso;
    };
    const row rows[] = {
        {"20240501T12:00:00.123456", "2024-05-01T12:00:00.123456"},
        {"20240501T12:00:00.000000", "2024-05-01T12:00:00"},
        {"20240501T12:00:00.5", "2024-05-01T12:00:00.500000"},
        {"20240229T23:59:59.000001", "2024-02-29T23:59:59.000001"},
        {"20240501t01:02:03.0", "2024-05-01T01:02:03"},  // IGNORECASE
        {"2024111T1:2:3.4", "2024-11-01T01:02:03.400000"},  // %m tries 1[0-2] first
        {"2024 5 5T1:2:3.4", nullptr},
        {"202405 5T1:02:03.000000", "2024-05-05T01:02:03"},  // %d allows " [1-9]"
        {"00010101T00:00:00.000000", "0001-01-01T00:00:00"},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.payload));
        auto iso = ext78_isoformat(r.payload);
        if (r.iso == nullptr) {
            CHECK_FALSE(iso.has_value());
            continue;
        }
        REQUIRE(iso.has_value());
        CHECK(*iso == r.iso);
    }
}

TEST_CASE("ext78_isoformat errors") {
    struct row {
        std::string payload;
        const char* why;
    };
    const row rows[] = {
        {"", "does not match YYYYMMDDTHH:MM:SS.ffffff"},
        {"20240501T12:00:00", "does not match YYYYMMDDTHH:MM:SS.ffffff"},
        {"20241301T12:00:00.0", "does not match YYYYMMDDTHH:MM:SS.ffffff"},  // month 13, then "3" + "01T" fails
        {"20240501T24:00:00.0", "does not match YYYYMMDDTHH:MM:SS.ffffff"},
        {"20240501 12:00:00.0", "does not match YYYYMMDDTHH:MM:SS.ffffff"},
        {"20240501T12:00:00.1234567", "unconverted data remains"},
        {"20240501T12:00:00.0Z", "unconverted data remains"},
        {"20230229T12:00:00.0", "day is out of range for month"},
        {"20240431T12:00:00.0", "day is out of range for month"},
        {"00000101T12:00:00.0", "year 0 is out of range"},
        {"20240501T12:00:60.0", "second must be in 0..59"},
        {"20240501T12:00:61.0", "second must be in 0..59"},
        {std::string("2024\x00" "501T12:00:00.0\xff", 20), "does not match YYYYMMDDTHH:MM:SS.ffffff"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.payload);
        auto iso = ext78_isoformat(r.payload);
        REQUIRE_FALSE(iso.has_value());
        CHECK(iso.error().code == errc::data);
        std::string shown;
        for (char c : r.payload) {
            const auto b = static_cast<unsigned char>(c);
            if (b >= 0x20 && b < 0x7f) {
                shown.push_back(c);
            } else {
                static constexpr char hx[] = "0123456789abcdef";
                shown += "\\x";
                shown.push_back(hx[b >> 4]);
                shown.push_back(hx[b & 0xf]);
            }
        }
        CHECK(iso.error().message == "malformed datetime (ext 78) \"" + shown + "\": " + r.why);
    }
}
