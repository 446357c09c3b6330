#include <doctest/doctest.h>

#include "render/output.hpp"

using namespace tagbus;

namespace {

map_t sample() {
    map_t m;
    m.push_back({value("n"), value(1)});
    m.push_back({value("foo"), value("bar")});
    m.push_back({value("_stamp"), value("2024-05-01T12:34:56.789012")});
    m.push_back({value("u"), value("\xc3\xa9")});
    return m;
}

std::string fmt(std::string_view tag, const value& data, output_options o, render_outcome* r = nullptr) {
    std::string out = "prefix|";
    render_outcome got = format_event(tag, data, o, out);
    if (r) *r = got;
    return out;
}

}  // namespace

TEST_CASE("salt format, compact: SALT-WIRE §7's example line") {
    CHECK(fmt("myco/test", value(sample()), {}) ==
          "prefix|myco/test\t{\"n\": 1, \"foo\": \"bar\", \"_stamp\": \"2024-05-01T12:34:56.789012\", \"u\": \"\xc3\xa9\"}\n");
}

TEST_CASE("salt format, pretty: sorted, indent 4") {
    output_options o;
    o.pretty = true;
    CHECK(fmt("myco/test", value(sample()), o) ==
          "prefix|myco/test\t{\n"
          "    \"_stamp\": \"2024-05-01T12:34:56.789012\",\n"
          "    \"foo\": \"bar\",\n"
          "    \"n\": 1,\n"
          "    \"u\": \"\xc3\xa9\"\n"
          "}\n");
}

TEST_CASE("tags are printed raw, control characters included") {
    CHECK(fmt("a\tb\r\x1b\xe2\x80\xa8", value(map_t{}), {}) == "prefix|a\tb\r\x1b\xe2\x80\xa8\t{}\n");
}

TEST_CASE("a tag with invalid UTF-8 is printed with \\xNN and reported") {
    render_outcome r;
    CHECK(fmt("bad\xff/\xc0\xaf", value(map_t{}), {}, &r) == "prefix|bad\\xff/\\xc0\\xaf\t{}\n");
    CHECK(r.issues == issue_invalid_utf8);
    CHECK_FALSE(r.drop);
}

TEST_CASE("json lines: one object with tag and data") {
    output_options o;
    o.format = output_format::json_lines;
    o.pretty = true;  // ignored: a line is a line
    CHECK(fmt("t\"q", value(sample()), o) ==
          "prefix|{\"tag\": \"t\\\"q\", \"data\": {\"n\": 1, \"foo\": \"bar\", \"_stamp\": "
          "\"2024-05-01T12:34:56.789012\", \"u\": \"\xc3\xa9\"}}\n");
}

TEST_CASE("events Salt drops leave the buffer untouched") {
    map_t bad;
    bad.push_back({value(array_t{value(1)}), value(2)});  // a list used as a map key
    for (auto f : {output_format::salt, output_format::json_lines}) {
        output_options o;
        o.format = f;
        render_outcome r;
        CHECK(fmt("t", value(bad), o, &r) == "prefix|");
        CHECK(r.drop);
    }
}

TEST_CASE("colour wraps the tag and tokens; off means no escape byte at all") {
    output_options o;
    o.pretty = true;
    o.color = true;
    map_t m;
    m.push_back({value("k"), value("v")});
    CHECK(fmt("t", value(m), o) ==
          "prefix|\x1b[1;34mt\x1b[0m\t{\n    \x1b[0;36m\"k\"\x1b[0m: \x1b[0;32m\"v\"\x1b[0m\n}\n");
    o.color = false;
    CHECK(fmt("t", value(m), o).find('\x1b') == std::string::npos);
}

TEST_CASE("describe_issues names each issue") {
    CHECK(describe_issues(issue_none).empty());
    CHECK(describe_issues(issue_invalid_utf8) == "non-UTF-8 bytes shown as \\xNN");
    CHECK(describe_issues(issue_invalid_utf8 | issue_ext79) ==
          "non-UTF-8 bytes shown as \\xNN; Salt sentinel (ext 79) shown as [name, value]");
}
