#include <doctest/doctest.h>

#include "support.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "tagbus/value.hpp"

using namespace tagbus;
using namespace test_support;

namespace {



array_t nils(std::size_t n) { return array_t(n, value()); }

map_t int_map(std::size_t n) {
    map_t m;
    for (std::size_t i = 0; i < n; ++i) m.push_back({value(i), value(nullptr)});
    return m;
}

struct pack_case {
    const char* name;
    value v;
    std::string head;  // expected first bytes, hex
    std::size_t size;  // expected total size
};

std::vector<pack_case> pack_cases() {
    return {
        {"nil", value(), "c0", 1},
        {"false", value(false), "c2", 1},
        {"true", value(true), "c3", 1},
        {"0", value(0), "00", 1},
        {"127", value(127), "7f", 1},
        {"128", value(128), "cc 80", 2},
        {"255", value(255), "cc ff", 2},
        {"256", value(256), "cd 01 00", 3},
        {"65535", value(65535), "cd ff ff", 3},
        {"65536", value(65536), "ce 00 01 00 00", 5},
        {"2^32-1", value(4294967295u), "ce ff ff ff ff", 5},
        {"2^32", value(4294967296ull), "cf 00 00 00 01 00 00 00 00", 9},
        {"2^64-1", value(std::numeric_limits<std::uint64_t>::max()), "cf ff ff ff ff ff ff ff ff", 9},
        {"-1", value(-1), "ff", 1},
        {"-32", value(-32), "e0", 1},
        {"-33", value(-33), "d0 df", 2},
        {"-128", value(-128), "d0 80", 2},
        {"-129", value(-129), "d1 ff 7f", 3},
        {"-32768", value(-32768), "d1 80 00", 3},
        {"-32769", value(-32769), "d2 ff ff 7f ff", 5},
        {"-2^31", value(-2147483648LL), "d2 80 00 00 00", 5},
        {"-2^31-1", value(-2147483649LL), "d3 ff ff ff ff 7f ff ff ff", 9},
        {"-2^63", value(std::numeric_limits<std::int64_t>::min()), "d3 80 00 00 00 00 00 00 00", 9},
        {"double", value(1.5), "cb 3f f8 00 00 00 00 00 00", 9},
        {"-0.0", value(-0.0), "cb 80 00 00 00 00 00 00 00", 9},
        {"float", value(1.5f), "ca 3f c0 00 00", 5},
        {"empty str", value(""), "a0", 1},
        {"str 31", value(std::string(31, 'x')), "bf 78", 32},
        {"str 32", value(std::string(32, 'x')), "d9 20 78", 34},
        {"str 255", value(std::string(255, 'x')), "d9 ff", 257},
        {"str 256", value(std::string(256, 'x')), "da 01 00", 259},
        {"str 65535", value(std::string(65535, 'x')), "da ff ff", 65538},
        {"str 65536", value(std::string(65536, 'x')), "db 00 01 00 00", 65541},
        {"non-ASCII str", value("h\xc3\xa9"), "a3 68 c3 a9", 4},
        {"empty bin", value(bin_t{}), "c4 00", 2},
        {"bin 255", value(bin_t{std::string(255, '\0')}), "c4 ff", 257},
        {"bin 256", value(bin_t{std::string(256, '\0')}), "c5 01 00", 259},
        {"bin 65536", value(bin_t{std::string(65536, '\0')}), "c6 00 01 00 00", 65541},
        {"empty array", value(array_t{}), "90", 1},
        {"array 15", value(nils(15)), "9f c0", 16},
        {"array 16", value(nils(16)), "dc 00 10 c0", 19},
        {"array 65535", value(nils(65535)), "dc ff ff", 65538},
        {"array 65536", value(nils(65536)), "dd 00 01 00 00", 65541},
        {"empty map", value(map_t{}), "80", 1},
        {"map 15", value(int_map(15)), "8f 00 c0 01 c0", 31},
        {"map 16", value(int_map(16)), "de 00 10 00 c0", 35},
        {"map 65536", value(int_map(65536)), "df 00 01 00 00", 5 + 128 + 128 * 2 + (65536 - 256) * 3 + 65536},
        {"fixext 1", value(ext_t{5, "a"}), "d4 05 61", 3},
        {"fixext 2", value(ext_t{5, "ab"}), "d5 05 61 62", 4},
        {"fixext 4", value(ext_t{-1, "abcd"}), "d6 ff 61", 6},
        {"fixext 8", value(ext_t{-1, std::string(8, 'a')}), "d7 ff 61", 10},
        {"fixext 16", value(ext_t{1, std::string(16, 'a')}), "d8 01 61", 18},
        {"ext8 0", value(ext_t{1, ""}), "c7 00 01", 3},
        {"ext8 3", value(ext_t{1, "abc"}), "c7 03 01 61", 6},
        {"ext8 17", value(ext_t{1, std::string(17, 'a')}), "c7 11 01", 20},
        {"ext16", value(ext_t{1, std::string(256, 'a')}), "c8 01 00 01", 260},
        {"ext32", value(ext_t{1, std::string(65536, 'a')}), "c9 00 01 00 00 01", 65542},
        {"Salt datetime", value(ext_t{78, "20240501T12:00:00.000000"}), "c7 18 4e 32 30 32 34", 27},
        {"Salt sentinel", value(ext_t{79, std::string(unhex("92 a8") + "OPTIONAL" + unhex("c0"))}),
         "c7 0b 4f 92 a8 4f 50 54 49 4f 4e 41 4c c0", 14},
        {"nested", value(map_t{{value("a"), value(array_t{value(1), value(map_t{{value(2), value(bin_t{"x"})}})})}}),
         "81 a1 61 92 01 81 02 c4 01 78", 10},
    };
}

}  // namespace

TEST_CASE("pack writes msgpack-python's smallest formats") {
    for (const auto& c : pack_cases()) {
        CAPTURE(std::string(c.name));
        const std::string out = pack(c.v);
        const std::string head = unhex(c.head);
        CHECK(out.size() == c.size);
        CHECK(hex(out.substr(0, head.size())) == hex(head));
    }
}

TEST_CASE("pack normalises an int64 that holds a non-negative number") {
    value v;
    v.v = std::int64_t{200};
    CHECK(hex(pack(v)) == "cc c8");
}

TEST_CASE("pack appends to existing output") {
    std::string out = "x";
    pack(value(1), out);
    pack(value("a"), out);
    CHECK(hex(out) == "78 01 a1 61");
}

TEST_CASE("unpack round-trips every packed case") {
    for (const auto& c : pack_cases()) {
        CAPTURE(std::string(c.name));
        const std::string bytes = pack(c.v);
        std::size_t used = 0;
        auto r = unpack(bytes + "\x01", used);
        REQUIRE(r.has_value());
        CHECK(used == bytes.size());
        CHECK(*r == c.v);
        CHECK(pack(*r) == bytes);
    }
}

TEST_CASE("unpack accepts non-canonical formats and normalises integers") {
    struct row {
        const char* in;
        value want;
        const char* repacked;
    };
    const row rows[] = {
        {"cc 05", value(5), "05"},
        {"d0 05", value(5), "05"},
        {"d1 00 80", value(128), "cc 80"},
        {"d3 ff ff ff ff ff ff ff ff", value(-1), "ff"},
        {"cf 00 00 00 00 00 00 00 01", value(1), "01"},
        {"d9 01 61", value("a"), "a1 61"},
        {"db 00 00 00 01 61", value("a"), "a1 61"},
        {"c6 00 00 00 01 61", value(bin_t{"a"}), "c4 01 61"},
        {"dc 00 01 c0", value(array_t{value()}), "91 c0"},
        {"df 00 00 00 01 01 02", value(map_t{{value(1), value(2)}}), "81 01 02"},
        {"c9 00 00 00 01 05 61", value(ext_t{5, "a"}), "d4 05 61"},
        {"ca 7f c0 00 00", value(std::numeric_limits<float>::quiet_NaN()), "ca 7f c0 00 00"},
        {"82 01 02 01 03", value(map_t{{value(1), value(2)}, {value(1), value(3)}}), "82 01 02 01 03"},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.in));
        auto v = unpack(unhex(r.in));
        REQUIRE(v.has_value());
        CHECK(*v == r.want);
        CHECK(hex(pack(*v)) == r.repacked);
    }
}

TEST_CASE("unpack errors name the offset") {
    struct row {
        const char* in;
        const char* message;
    };
    const row rows[] = {
        {"", "truncated msgpack at byte 0"},
        {"92 01", "truncated msgpack at byte 2"},
        {"81 01", "truncated msgpack at byte 2"},
        {"a5 61 62", "truncated msgpack at byte 0"},
        {"cd 01", "truncated msgpack at byte 0"},
        {"c5 00", "truncated msgpack at byte 0"},
        {"d4 01", "truncated msgpack at byte 0"},
        {"c7 02 01 61", "truncated msgpack at byte 0"},
        {"dd ff ff ff ff", "truncated msgpack at byte 5"},
        {"92 01 c1", "invalid msgpack byte 0xc1 at offset 2"},
        {"c1", "invalid msgpack byte 0xc1 at offset 0"},
        {"01 02", "1 trailing byte after msgpack"},
        {"01 02 03 04", "3 trailing bytes after msgpack"},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.in));
        auto v = unpack(unhex(r.in));
        REQUIRE_FALSE(v.has_value());
        CHECK(v.error().code == errc::data);
        CHECK(v.error().message == r.message);
    }
}

TEST_CASE("unpack allows 512 levels of nesting and refuses 513") {
    const std::string ok = std::string(511, '\x91') + "\x90";
    const std::string deep = std::string(512, '\x91') + "\x90";
    const std::string deep_map = std::string(512, '\x81') + unhex("01 80");  // maps nest through values
    CHECK(unpack(ok).has_value());
    for (const auto& in : {deep, deep_map}) {
        auto r = unpack(in);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == errc::data);
        CHECK(r.error().message == "msgpack nesting deeper than 512");
    }
}

TEST_CASE("value equality is structural") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(value(nan) == value(nan));
    CHECK_FALSE(value(0.0) == value(-0.0));
    CHECK_FALSE(value(1.0) == value(1.0f));
    CHECK_FALSE(value("a") == value(bin_t{"a"}));
    CHECK_FALSE(value(1) == value(-1));
    CHECK(value(map_t{{value("a"), value(1)}}) == value(map_t{{value("a"), value(1)}}));
    CHECK_FALSE(value(map_t{{value("a"), value(1)}, {value("b"), value(2)}}) ==
                value(map_t{{value("b"), value(2)}, {value("a"), value(1)}}));
}

TEST_CASE("scan sizes complete objects without trailing bytes") {
    for (const auto& c : pack_cases()) {
        CAPTURE(std::string(c.name));
        const std::string bytes = pack(c.v);
        std::size_t need = 0;
        auto r = scan(bytes + "\xc1", need);
        REQUIRE(r.has_value());
        CHECK(*r == bytes.size());
    }
}

TEST_CASE("scan of every prefix asks for more with a lower bound") {
    const value v(map_t{{value("head"), value(map_t{})},
                        {value("body"), value(bin_t{std::string(300, 'b')})},
                        {value(7), value(array_t{value(1.5), value(ext_t{3, "abc"}), value(std::string(40, 's'))})}});
    const std::string bytes = pack(v);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        CAPTURE(n);
        std::size_t need = 0;
        auto r = scan(std::string_view(bytes).substr(0, n), need);
        REQUIRE(r.has_value());
        CHECK(*r == 0);
        CHECK(need > n);
        CHECK(need <= bytes.size());
    }
}

TEST_CASE("scan's need covers a whole announced payload") {
    struct row {
        const char* in;
        std::size_t need;
    };
    const row rows[] = {
        {"c6 00 10 00 00", 5 + 0x100000},  // bin32 of 1 MiB: wait for all of it at once
        {"c6 00 10", 5},                   // header incomplete
        {"93", 4},                         // three owed elements, one byte each at least
        {"82 a4 68 65 61 64 80 a4 62 6f 64 79 c5 01 00", 271},
        {"", 1},
    };
    for (const auto& r : rows) {
        CAPTURE(std::string(r.in));
        std::size_t need = 0;
        auto s = scan(unhex(r.in), need);
        REQUIRE(s.has_value());
        CHECK(*s == 0);
        CHECK(need == r.need);
    }
}

TEST_CASE("scan rejects 0xc1") {
    std::size_t need = 0;
    auto r = scan(unhex("92 01 c1"), need);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::data);
    CHECK(r.error().message == "invalid msgpack byte 0xc1 at offset 2");
}

TEST_CASE("scan_resume continues where it stopped") {
    const value v(array_t{value(std::string(100, 'a')), value(map_t{{value(1), value(nils(20))}}), value(-5)});
    const std::string bytes = pack(v);
    detail::scan_state st;
    std::size_t need = 0;
    std::size_t have = 0;
    std::size_t calls = 0;
    for (;;) {
        auto r = detail::scan_resume(std::string_view(bytes).substr(0, have), st, need);
        REQUIRE(r.has_value());
        ++calls;
        if (*r != 0) {
            CHECK(*r == bytes.size());
            break;
        }
        REQUIRE(need > have);
        have = need;  // feed exactly what was asked for
        REQUIRE(have <= bytes.size());
    }
    CHECK(calls < 10);
}
