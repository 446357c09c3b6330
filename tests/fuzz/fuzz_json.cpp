// parse_json (Python's json.loads). Invariants: what it accepts renders (compact, as
// json.dumps) to text it reads back to the same value; the compact and pretty renderings are
// UTF-8 and parse; the value packs and unpacks to itself; a refusal is a data error with a
// line and column. pack_json_stamped, the fast path of event-fire --lines, gives exactly the bytes
// of parse_json + set_stamp + pack whenever it answers, and declines (output untouched) otherwise.
#include <string>

#include "fuzz.hpp"
#include "render/json.hpp"
#include "tagbus/value.hpp"

using namespace tagbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto v = parse_json(text);
    constexpr std::string_view stamp = "2026-12-06T03:04:05.123456";
    std::string direct = "x";
    if (pack_json_stamped(text, stamp, direct)) {
        FUZZ_CHECK(v && v->map());
        value stamped = *v;
        bool found = false;
        for (auto& mem : *stamped.map())
            if (!found && mem.key == value("_stamp")) {
                mem.val = value(std::string(stamp));
                found = true;
            }
        if (!found) stamped.map()->push_back(member{value("_stamp"), value(std::string(stamp))});
        FUZZ_CHECK(direct == "x" + pack(stamped));
    } else {
        FUZZ_CHECK(direct == "x");
    }
    if (!v) {
        FUZZ_CHECK(v.error().code == errc::data);
        FUZZ_CHECK(v.error().message.find("line ") != std::string::npos);
        return 0;
    }
    const std::string packed = pack(*v);
    auto unpacked = unpack(packed);
    FUZZ_CHECK(unpacked);
    FUZZ_CHECK(*unpacked == *v);

    std::string compact;
    const render_outcome r = render_json(*v, compact);
    FUZZ_CHECK(!r.drop);  // JSON keys are strings: nothing Salt would drop
    FUZZ_CHECK(fuzz::valid_utf8(compact));
    if (r.issues == 0) {
        auto again = parse_json(compact);
        FUZZ_CHECK(again);
        FUZZ_CHECK(*again == *v);
        std::string twice;
        render_json(*again, twice);
        FUZZ_CHECK(twice == compact);
    }
    std::string pretty;
    const render_outcome p = render_json(*v, pretty, render_options{true, nullptr});
    FUZZ_CHECK(!p.drop);
    FUZZ_CHECK(p.issues == r.issues);
    if (p.issues == 0) FUZZ_CHECK(parse_json(pretty));

    // The fast path agrees on the packed form too.
    std::string fast;
    unsigned fast_issues = 0;
    if (render_packed_json(packed, fast, fast_issues)) {
        FUZZ_CHECK(fast == compact);
        FUZZ_CHECK(fast_issues == r.issues);
    }
    return 0;
}
