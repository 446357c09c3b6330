// parse_event_line: the two line forms state-event prints, read back as event-fire --lines does.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
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
