// parse_event_line: the two line forms state-event prints, read back as event-fire --lines does.
#include <doctest/doctest.h>

#include "render/json.hpp"
#include "render/lines.hpp"

using namespace tagbus;

namespace {

std::string parsed(std::string_view line) {
    std::string tag;
    value data;
    auto r = parse_event_line(line, tag, data);
    if (!r) return "error: " + r.error().message;
    std::string out = tag + " ";
    render_json(data, out);
    return out;
}

}  // namespace

TEST_CASE("both forms, and a line with a TAB is always TAG<TAB>JSON") {
    CHECK(parsed("salt/auth\t{\"id\": \"m1\"}") == "salt/auth {\"id\": \"m1\"}");
    CHECK(parsed("{\"tag\": \"salt/auth\", \"data\": {\"id\": \"m1\"}}") == "salt/auth {\"id\": \"m1\"}");
    // A tag starting with '{' in the salt form (a fuzzing find: it was read as a JSON line).
    CHECK(parsed("{alt/auth\t{\"a\": 1}") == "{alt/auth {\"a\": 1}");
    CHECK(parsed("{\"tag\": 1, \"data\": {}}") == "error: expected an object with \"tag\" and \"data\"");
    CHECK(parsed("{\"tag\": \"t\"}") == "error: expected an object with \"tag\" and \"data\"");
    CHECK(parsed("no tab here") == "error: expected TAG<TAB>JSON (state-event's output)");
    CHECK(parsed("t\t{").starts_with("error: "));
}

namespace {

constexpr std::string_view stamp = "2026-12-06T03:04:05.123456";

// parse_json + set_stamp + pack: what pack_json_stamped must equal whenever it answers.
std::string general_path(std::string_view json) {
    auto v = parse_json(json);
    REQUIRE(v);
    map_t* m = v->map();
    REQUIRE(m);
    const value st{std::string(stamp)};
    bool found = false;
    for (auto& mem : *m)
        if (mem.key == value("_stamp")) {
            mem.val = st;
            found = true;
            break;
        }
    if (!found) m->push_back(member{value("_stamp"), st});
    return pack(*v);
}

}  // namespace

TEST_CASE("pack_json_stamped: the bytes of parse_json + set_stamp + pack, or a refusal") {
    const char* same[] = {
        "{}", " {\"a\": 1} ", "{\"a\":1,\"b\":[1,2,3],\"c\":{\"d\":null}}", "{\"t\": true, \"f\": false}",
        "{\"i\": -1, \"j\": -32, \"k\": -33, \"l\": -129, \"m\": -9223372036854775808}",
        "{\"u\": 127, \"v\": 128, \"w\": 65536, \"x\": 18446744073709551615, \"z\": -0}",
        "{\"f\": 1.5, \"g\": -0.0, \"h\": 1e3, \"k\": 2.5E-3, \"m\": 5e-324, \"n\": 1.7976931348623157e308}",
        "{\"s\": \"\", \"e\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"u\": \"\\u00e9\\u20ac\\u0000\", \"r\": \"h\xc3\xa9 \xf0\x9f\x98\x80\"}",
        "{\"_stamp\": \"old\", \"a\": 1}", "{\"a\": 1, \"_stamp\": {\"x\": [1]}}", "{\"n\": {\"_stamp\": 1}}",
        "{\"a\\u0062\": 1, \"ac\": 2}", "\t\r\n{\"a\" : [ ] , \"b\" : { } }\r",
    };
    for (const char* json : same) {
        CAPTURE(json);
        std::string out = "prefix";
        REQUIRE(pack_json_stamped(json, stamp, out));
        CHECK(out == "prefix" + general_path(json));
    }
    // Sixteen keys and sixteen elements: the 16-bit headers, written after the entries.
    std::string wide = "{", list = "{\"l\": [";
    for (int i = 0; i < 17; ++i) {
        wide += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": " + std::to_string(i);
        list += (i ? ", " : "") + std::to_string(i);
    }
    wide += "}";
    list += "]}";
    for (const std::string& json : {wide, list}) {
        std::string out;
        REQUIRE(pack_json_stamped(json, stamp, out));
        CHECK(out == general_path(json));
    }
    // Declined, each left to parse_json (which accepts some and refuses others).
    const char* declined[] = {
        "[1]", "\"s\"", "{\"a\": NaN}", "{\"a\": -Infinity}", "{\"a\": 18446744073709551616}",
        "{\"a\": -9223372036854775809}", "{\"a\": 1e400}", "{\"a\": \"\\ud83d\\ude00\"}", "{\"a\": \"\\ud800\"}",
        "{\"a\": 1, \"a\": 2}", "{\"a\\u0062\": 1, \"ab\": 2}", "{\"a\": \"\x01\"}", "{\"a\": \"\xff\"}",
        "{\"a\": 01}", "{\"a\": 1.}", "{\"a\": .5}", "{\"a\": 1e}", "{\"a\": tru}", "{\"a\": 1,}", "{\"a\": 1} x",
        "{\"a\" 1}", "{\"a\": \"\\x\"}", "{\"a\": \"\\u12\"}", "{\"a\": \"open}", "\xef\xbb\xbf{}", "{'a': 1}", "",
    };
    for (const char* json : declined) {
        CAPTURE(json);
        std::string out = "kept";
        CHECK_FALSE(pack_json_stamped(json, stamp, out));
        CHECK(out == "kept");
    }
    std::string deep(300, '['), many = "{";
    deep = "{\"a\": " + deep + std::string(300, ']') + "}";
    for (int i = 0; i < 65; ++i) many += (i ? ", \"k" : "\"k") + std::to_string(i) + "\": 0";
    many += "}";
    for (const std::string& json : {deep, many}) {
        std::string out;
        CHECK_FALSE(pack_json_stamped(json, stamp, out));
        CHECK(out.empty());
    }
}

TEST_CASE("line_body: the fast and the general path make the same body") {
    const char* lines[] = {
        "salt/auth\t{\"id\": \"m1\", \"n\": [1, 2.5, null]}",           // fast
        "salt/auth\t{\"id\": \"m1\", \"n\": NaN}",                      // general: NaN
        "{\"tag\": \"salt/auth\", \"data\": {\"id\": \"m1\"}}",         // general: the JSON-lines form
        "salt/auth\t{\"_stamp\": \"2020-01-01T00:00:00.000001\", \"a\": 1}",  // fast, the stamp replaced
    };
    for (const char* line : lines) {
        CAPTURE(line);
        std::string body;
        trim_report rep;
        REQUIRE(line_body(line, default_max_event_size, body, &rep));
        CHECK_FALSE(rep.over);
        auto ev = decode_body(body);
        REQUIRE(ev);
        std::string tag;
        value data;
        REQUIRE(parse_event_line(line, tag, data));
        CHECK(ev->tag == tag);
        // Equal to the general path's body with the same stamp.
        map_t* m = data.map();
        REQUIRE(m);
        const value* got_stamp = nullptr;
        for (const auto& mem : *ev->data.map())
            if (mem.key == value("_stamp")) got_stamp = &mem.val;
        REQUIRE(got_stamp);
        REQUIRE(got_stamp->str());
        CHECK(got_stamp->str()->size() >= 19);
        CHECK(*got_stamp->str() != "2020-01-01T00:00:00.000001");
        bool replaced = false;
        for (auto& mem : *m)
            if (mem.key == value("_stamp")) {
                mem.val = *got_stamp;
                replaced = true;
            }
        if (!replaced) m->push_back(member{value("_stamp"), *got_stamp});
        CHECK(body == tag + "\n\n" + pack(data));
    }
    // Errors are the general path's, and an oversized line is trimmed as encode_body trims it.
    std::string body;
    auto bad = line_body("\t{\"a\": 1}", default_max_event_size, body, nullptr);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message == "tag is empty");
    bad = line_body("t\t{\"a\": 1", default_max_event_size, body, nullptr);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message.starts_with("invalid JSON at line 1"));
    trim_report rep;
    REQUIRE(line_body("big\t{\"pad\": \"" + std::string(300, 'x') + "\"}", 200, body, &rep));
    CHECK(rep.over);
    auto ev = decode_body(body);
    REQUIRE(ev);
    CHECK(ev->data.map()->front().val == value(std::string("VALUE_TRIMMED")));
}
