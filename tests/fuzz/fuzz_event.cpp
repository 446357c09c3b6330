// Event bodies (tag "\n\n" msgpack) through the decoder and both JSON renderers. Invariants:
// - render_packed_json (the fast path) and render_json (the tree renderer, the authority) agree,
//   output and issues, on every input the fast path accepts, and the fast path never accepts
//   what unpack refuses or what Salt would drop;
// - format_packed_event equals format_event on the decoded data, for every output form;
// - output is always UTF-8 (bad bytes become \xNN text), and without issues it is JSON that
//   parse_json reads;
// - msgpack round trip: unpack(pack(v)) == v.
#include <string>

#include "fuzz.hpp"
#include "tagbus/event.hpp"
#include "render/json.hpp"
#include "render/output.hpp"
#include "tagbus/value.hpp"

using namespace tagbus;

namespace {

void check_packed(std::string_view tag, std::string_view packed) {
    std::size_t used = 0;
    auto v = unpack(packed, used);

    // The fast path against the tree renderer.
    std::string fast = "prefix:";
    unsigned fast_issues = 0;
    const bool took = render_packed_json(packed, fast, fast_issues);
    if (!took) FUZZ_CHECK(fast == "prefix:");
    if (took) {
        FUZZ_CHECK(v);
        std::string tree = "prefix:";
        const render_outcome r = render_json(*v, tree);
        FUZZ_CHECK(!r.drop);
        FUZZ_CHECK(fast == tree);
        FUZZ_CHECK(fast_issues == r.issues);
    }
    if (!v) return;
    FUZZ_CHECK(used > 0 && used <= packed.size());

    // Round trip through pack.
    const std::string repacked = pack(*v);
    auto again = unpack(repacked);
    FUZZ_CHECK(again);
    FUZZ_CHECK(*again == *v);
    FUZZ_CHECK(pack(*again) == repacked);

    // Every rendering.
    for (bool pretty : {false, true}) {
        std::string out;
        const render_outcome r = render_json(*v, out, render_options{pretty, nullptr});
        if (r.drop) {
            FUZZ_CHECK(out.empty());
            continue;
        }
        FUZZ_CHECK(fuzz::valid_utf8(out));
        if (r.issues == 0) {
            auto parsed = parse_json(out);
            FUZZ_CHECK(parsed);
        }
    }
    static constexpr json_colors colors{"\x1b[34m", "\x1b[32m", "\x1b[33m", "\x1b[35m", "\x1b[0m"};
    std::string coloured;
    render_json(*v, coloured, render_options{true, &colors});

    for (output_format f : {output_format::salt, output_format::json_lines})
        for (bool pretty : {false, true})
            for (bool color : {false, true}) {
                const output_options o{f, pretty, color};
                std::string from_packed, from_tree;
                auto a = format_packed_event(tag, packed.substr(0, used), o, from_packed);
                FUZZ_CHECK(a);
                const render_outcome b = format_event(tag, *v, o, from_tree);
                FUZZ_CHECK(a->drop == b.drop);
                FUZZ_CHECK(a->issues == b.issues);
                FUZZ_CHECK(from_packed == from_tree);
                if (b.drop) FUZZ_CHECK(from_tree.empty());
                else FUZZ_CHECK(!from_tree.empty() && from_tree.back() == '\n');
            }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    auto parts = split_body(body);
    auto ev = decode_body(body);
    if (!parts) {
        FUZZ_CHECK(!ev);
        // Not a body: the bytes as event data.
        check_packed("fuzz/tag", body);
        return 0;
    }
    if (ev) {
        FUZZ_CHECK(ev->tag == parts->first);
        FUZZ_CHECK(ev->tag.find("\n\n") == std::string::npos);
        // What was decoded encodes back to a body that decodes to the same event.
        if (check_tag(ev->tag) && ev->data.map()) {
            value d = ev->data;
            auto enc = encode_body(ev->tag, d, SIZE_MAX, false);
            FUZZ_CHECK(enc);
            auto back = decode_body(*enc);
            FUZZ_CHECK(back);
            FUZZ_CHECK(back->tag == ev->tag);
            FUZZ_CHECK(back->data == ev->data);
        }
    }
    check_packed(parts->first, parts->second);
    return 0;
}
