// master_event: what Salt 3006's master bus shows for a minion's fire_master request (route A)
// and for salt-call's direct load (route B). Tables written from minion.py _fire_master, the
// master's _minion_event and modules/event.py fire_master; SALT-WIRE §8's frame byte for byte.
#include <doctest/doctest.h>

#include "support.hpp"

#include <chrono>
#include <string>
#include <vector>

#include "tagbus/event.hpp"
#include "wire/frame.hpp"
#include "render/json.hpp"
#include "salt/master_event.hpp"

using namespace tagbus;
using namespace test_support;
using namespace std::chrono;

namespace {


value json(std::string_view text) {
    auto v = parse_json(text);
    REQUIRE_MESSAGE(v.has_value(), std::string(text));
    return std::move(*v);
}

/// The events as one line each, "tag <json data>": readable when a check fails.
std::vector<std::string> show(const std::vector<master_event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        std::string line = e.tag + " ";
        (void)render_json(e.data, line);
        out.push_back(line);
    }
    return out;
}

struct expect_event {
    const char* tag;
    const char* data;  // JSON
};

std::vector<std::string> show(const std::vector<expect_event>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) {
        std::string line = std::string(e.tag) + " ";
        (void)render_json(json(e.data), line);
        out.push_back(line);
    }
    return out;
}

void check_events(const result<std::vector<master_event>>& got, const std::vector<expect_event>& want) {
    REQUIRE_MESSAGE(got.has_value(), (got ? std::string() : got.error().message));
    CHECK(show(*got) == show(want));
    // Structural too (the JSON view would hide str vs bin): data as parse_json builds it.
    REQUIRE(got->size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) CHECK((*got)[i].data == json(want[i].data));
}

// The load Salt's master fires for a single request: the minion's load without tok.
constexpr const char* load_ok =
    R"({"id": "web01", "cmd": "_minion_event", "pretag": null, "data": {"ok": true}, "tag": "myco/deploy"})";

}  // namespace

TEST_CASE("fire_master_request: event.fire_master's minion-bus data, in Salt's order") {
    map_t m = fire_master_request(json(R"({"ok": true})"), "myco/deploy");
    CHECK(pack(value(m)) == pack(json(R"({"data": {"ok": true}, "tag": "myco/deploy", "events": null, "pretag": null})")));
}

TEST_CASE("route A: SALT-WIRE §8's master-bus frame, byte for byte") {
    auto events = route_a_events("web01", value(fire_master_request(json(R"({"ok": true})"), "myco/deploy")));
    REQUIRE(events.has_value());
    REQUIRE(events->size() == 1);
    auto& e = (*events)[0];
    set_stamp(*e.data.map(), sys_days{year{2024} / 5 / 1} + hours{12} + minutes{34} + seconds{57} + microseconds{123});
    auto body = encode_body(e.tag, e.data, default_max_event_size, false);
    REQUIRE(body.has_value());
    std::string frame;
    append_frame(frame, *body, framing::legacy);
    CHECK(frame == unhex("82 a4 68 65 61 64 80 a4 62 6f 64 79 c4 6d 6d 79"
                         "63 6f 2f 64 65 70 6c 6f 79 0a 0a 86 a2 69 64 a5"
                         "77 65 62 30 31 a3 63 6d 64 ad 5f 6d 69 6e 69 6f"
                         "6e 5f 65 76 65 6e 74 a6 70 72 65 74 61 67 c0 a4"
                         "64 61 74 61 81 a2 6f 6b c3 a3 74 61 67 ab 6d 79"
                         "63 6f 2f 64 65 70 6c 6f 79 a6 5f 73 74 61 6d 70"
                         "ba 32 30 32 34 2d 30 35 2d 30 31 54 31 32 3a 33"
                         "34 3a 35 37 2e 30 30 30 31 32 33"));
}

TEST_CASE("route A: _fire_master's load and the master's _minion_event") {
    struct row {
        const char* name;
        const char* request;
        std::vector<expect_event> want;
    };
    const std::vector<row> rows = {
        {"single", R"({"data": {"ok": true}, "tag": "myco/deploy", "events": null, "pretag": null})",
         {{"myco/deploy", load_ok}}},
        {"the request's _stamp stays on the minion bus",
         R"({"data": {"ok": true}, "tag": "myco/deploy", "events": null, "pretag": null, "_stamp": "2024-05-01T12:00:00"})",
         {{"myco/deploy", load_ok}}},
        {"keys in any order", R"({"pretag": null, "events": null, "tag": "myco/deploy", "data": {"ok": true}})",
         {{"myco/deploy", load_ok}}},
        {"empty data becomes {}", R"({"data": {}, "tag": "t", "events": null, "pretag": null})",
         {{"t", R"({"id": "web01", "cmd": "_minion_event", "pretag": null, "data": {}, "tag": "t"})"}}},
        {"None data becomes {}", R"({"data": null, "tag": "t", "events": null, "pretag": null})",
         {{"t", R"({"id": "web01", "cmd": "_minion_event", "pretag": null, "data": {}, "tag": "t"})"}}},
        {"false data becomes {}", R"({"data": false, "tag": "t", "events": null, "pretag": null})",
         {{"t", R"({"id": "web01", "cmd": "_minion_event", "pretag": null, "data": {}, "tag": "t"})"}}},
        {"data need not be a map", R"({"data": "started", "tag": "t", "events": null, "pretag": null})",
         {{"t", R"({"id": "web01", "cmd": "_minion_event", "pretag": null, "data": "started", "tag": "t"})"}}},
        {"pretag without events is only data", R"({"data": {"a": 1}, "tag": "t", "events": null, "pretag": "p"})",
         {{"t", R"({"id": "web01", "cmd": "_minion_event", "pretag": "p", "data": {"a": 1}, "tag": "t"})"}}},
        {"empty events: the single form", R"({"data": {"a": 1}, "tag": "t", "events": [], "pretag": null})",
         {{"t", R"({"id": "web01", "cmd": "_minion_event", "pretag": null, "data": {"a": 1}, "tag": "t"})"}}},
        {"no tag: nothing", R"({"data": {"a": 1}, "tag": null, "events": null, "pretag": null})", {}},
        {"empty tag: nothing", R"({"data": {"a": 1}, "tag": "", "events": null, "pretag": null})", {}},
        {"no tag, no data: nothing", R"({"data": null, "tag": null, "events": null, "pretag": null})", {}},
        {"batch", R"({"data": null, "tag": null, "pretag": null,
                      "events": [{"tag": "a/1", "data": {"x": 1}}, {"tag": "a/2", "data": {"y": 2}}]})",
         {{"a/1", R"({"x": 1})"}, {"a/2", R"({"y": 2})"}}},
        {"batch with pretag: each item twice", R"({"data": null, "tag": null, "pretag": "myco",
                      "events": [{"tag": "a/1", "data": {"x": 1}}, {"tag": "a/2", "data": {"y": 2}}]})",
         {{"a/1", R"({"x": 1})"}, {"myco/a/1", R"({"x": 1})"}, {"a/2", R"({"y": 2})"}, {"myco/a/2", R"({"y": 2})"}}},
        {"batch wins over data and tag", R"({"data": {"z": 0}, "tag": "ignored", "pretag": null,
                      "events": [{"tag": "a", "data": {}}]})",
         {{"a", R"({})"}}},
        {"item without data: the item is the data", R"({"data": null, "tag": null, "pretag": null,
                      "events": [{"tag": "a", "x": [1, 2]}]})",
         {{"a", R"({"tag": "a", "x": [1, 2]})"}}},
        {"empty pretag: tagify drops empty parts", R"({"data": null, "tag": null, "pretag": "",
                      "events": [{"tag": "a", "data": {}}]})",
         {{"a", R"({})"}, {"a", R"({})"}}},
        {"None inside item data is kept", R"({"data": null, "tag": null, "pretag": "p",
                      "events": [{"tag": "a", "data": {"n": null}}]})",
         {{"a", R"({"n": null})"}, {"p/a", R"({"n": null})"}}},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        check_events(route_a_events("web01", json(r.request)), r.want);
    }
}

TEST_CASE("route A: requests Salt cannot forward are refused whole, naming the field") {
    struct row {
        const char* request;
        const char* message;
    };
    const std::vector<row> rows = {
        {R"([1])", "fire_master request must be a map, not a list"},
        {R"("x")", "fire_master request must be a map, not a string"},
        {R"({"tag": "t", "events": null, "pretag": null})", R"(fire_master request has no "data")"},
        {R"({"data": {}, "events": null, "pretag": null})", R"(fire_master request has no "tag")"},
        {R"({"data": {}, "tag": "t", "pretag": null})", R"(fire_master request has no "events")"},
        {R"({"data": {}, "tag": "t", "events": null})", R"(fire_master request has no "pretag")"},
        {R"({"data": {}, "tag": 5, "events": null, "pretag": null})",
         R"(fire_master request "tag" must be a string, not an integer)"},
        {R"({"data": {}, "tag": "a\n\nb", "events": null, "pretag": null})",
         R"(fire_master request "tag": tag contains a blank line ("\n\n"))"},
        {R"({"data": {}, "tag": null, "events": {"tag": "a"}, "pretag": null})",
         R"(fire_master request "events" must be a list, not a map)"},
        {R"({"data": {}, "tag": null, "events": [{"tag": "a", "data": {}}, "b"], "pretag": null})",
         R"(fire_master request events[1] must be a map, not a string)"},
        {R"({"data": {}, "tag": null, "events": [{"data": {}}], "pretag": null})",
         R"(fire_master request events[0] has no "tag")"},
        {R"({"data": {}, "tag": null, "events": [{"tag": "", "data": {}}], "pretag": null})",
         R"(fire_master request events[0] "tag": tag is empty)"},
        {R"({"data": {}, "tag": null, "events": [{"tag": ["a"], "data": {}}], "pretag": null})",
         R"(fire_master request events[0] "tag" must be a string, not a list)"},
        {R"({"data": {}, "tag": null, "events": [{"tag": "a", "data": [1]}], "pretag": null})",
         R"(fire_master request events[0] "data" must be a map, not a list)"},
        {R"({"data": {}, "tag": null, "events": [{"tag": "a", "data": null}], "pretag": null})",
         R"(fire_master request events[0] "data" must be a map, not None)"},
        {R"({"data": {}, "tag": null, "events": [{"tag": "a", "data": {}}], "pretag": 7})",
         R"(fire_master request "pretag" must be a string or None, not an integer)"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.request);
        auto got = route_a_events("web01", json(r.request));
        REQUIRE_FALSE(got.has_value());
        CHECK(got.error().code == errc::data);
        CHECK(got.error().message == r.message);
    }
}

TEST_CASE("route A: a bytes tag is fired as Salt's to_bytes passes it") {
    map_t req = fire_master_request(json(R"({"a": 1})"), "x");
    req[1].val = bin_t{"bin/tag"};
    auto got = route_a_events("m1", value(req));
    REQUIRE(got.has_value());
    REQUIRE(got->size() == 1);
    CHECK((*got)[0].tag == "bin/tag");
}

TEST_CASE("route B: the direct load, preload merged as dict.update") {
    struct row {
        const char* name;
        const char* data;
        const char* preload;  // JSON, or null for none
        std::vector<expect_event> want;
    };
    const std::vector<row> rows = {
        {"no preload", R"({"a": 1})", nullptr,
         {{"myco/deploy", R"({"id": "web01", "tag": "myco/deploy", "data": {"a": 1}, "cmd": "_minion_event"})"}}},
        {"None data is kept", "null", nullptr,
         {{"myco/deploy", R"({"id": "web01", "tag": "myco/deploy", "data": null, "cmd": "_minion_event"})"}}},
        {"None preload", R"({})", "null",
         {{"myco/deploy", R"({"id": "web01", "tag": "myco/deploy", "data": {}, "cmd": "_minion_event"})"}}},
        {"preload: new keys last, existing keys keep their place", R"({"a": 1})", R"({"zz": 1, "id": "other", "aa": [2]})",
         {{"myco/deploy",
           R"({"id": "other", "tag": "myco/deploy", "data": {"a": 1}, "cmd": "_minion_event", "zz": 1, "aa": [2]})"}}},
        {"preload replaces the tag it is fired under", R"({"a": 1})", R"({"tag": "re/tagged"})",
         {{"re/tagged", R"({"id": "web01", "tag": "re/tagged", "data": {"a": 1}, "cmd": "_minion_event"})"}}},
        {"preload's tok is dropped with the load's", R"({})", R"({"tok": "secret", "x": 1})",
         {{"myco/deploy", R"({"id": "web01", "tag": "myco/deploy", "data": {}, "cmd": "_minion_event", "x": 1})"}}},
        {"batch via preload", R"({})", R"({"events": [{"tag": "a", "data": {"x": 1}}, {"tag": "b", "y": 2}], "pretag": "pp"})",
         {{"a", R"({"x": 1})"}, {"pp/a", R"({"x": 1})"}, {"b", R"({"tag": "b", "y": 2})"}, {"pp/b", R"({"tag": "b", "y": 2})"}}},
        {"empty events via preload: nothing", R"({})", R"({"events": []})", {}},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        value preload = r.preload ? json(r.preload) : value();
        check_events(route_b_events("web01", "myco/deploy", json(r.data), preload), r.want);
    }
}

TEST_CASE("route B: errors") {
    struct row {
        const char* tag;
        const char* preload;
        const char* message;
    };
    const std::vector<row> rows = {
        {"", "null", "tag is empty"},
        {"a\n\nb", "null", R"(tag contains a blank line ("\n\n"))"},
        {"t", "[1]", "preload must be a map, not a list"},
        {"t", R"({"cmd": "_return"})", R"(preload replaces "cmd": the master would not handle the request as an event)"},
        {"t", R"({"events": 3})", R"(preload "events" must be a list, not an integer)"},
        {"t", R"({"events": [{"data": {}}]})", R"(preload events[0] has no "tag")"},
        {"t", R"({"tag": 1})", R"(preload "tag" must be a string, not an integer)"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.tag);
        CAPTURE(r.preload);
        auto got = route_b_events("web01", r.tag, json("{}"), json(r.preload));
        REQUIRE_FALSE(got.has_value());
        CHECK(got.error().code == errc::data);
        CHECK(got.error().message == r.message);
    }
}
