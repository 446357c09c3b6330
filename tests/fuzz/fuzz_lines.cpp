// event-fire --lines: each input line is "TAG<TAB>JSON" (state-event's output) or
// {"tag": ..., "data": ...} (state-event --json-lines), parsed by the library's parse_event_line
// and packed with encode_body, as event-fire does.
// Invariants: a line that encodes decodes back to its tag and data (plus _stamp) and frames to
// itself; a refusal is a data error; and what state-event prints for that event, in either
// form, reads back to the same tag and data (the replay loses nothing).
#include <string>

#include "fuzz.hpp"
#include "tagbus/event.hpp"
#include "wire/frame.hpp"
#include "render/json.hpp"
#include "render/lines.hpp"
#include "render/output.hpp"
#include "tagbus/value.hpp"

using namespace tagbus;

namespace {

void check_line(std::string_view line) {
    std::string tag;
    value data;
    auto parsed = parse_event_line(line, tag, data);
    if (!parsed) {
        FUZZ_CHECK(parsed.error().code == errc::data);
        return;
    }
    auto body = encode_body(tag, data, default_max_event_size);
    if (!body) {
        FUZZ_CHECK(body.error().code == errc::data);
        return;
    }
    auto ev = decode_body(*body);
    FUZZ_CHECK(ev);
    FUZZ_CHECK(ev->tag == tag);
    const map_t* m = ev->data.map();
    FUZZ_CHECK(m && !m->empty());
    bool stamped = false;
    for (const auto& mem : *m) stamped = stamped || mem.key == value("_stamp");
    FUZZ_CHECK(stamped);

    std::string frame;
    append_frame(frame, *body, framing::legacy);
    frame_decoder dec;
    dec.feed(frame);
    std::string_view got;
    FUZZ_CHECK(dec.next(got) && got == *body);

    // state-event's lines for this event read back to it.
    for (output_format f : {output_format::json_lines, output_format::salt}) {
        if (f == output_format::salt && tag.find_first_of("\t\n\r") != std::string::npos) continue;
        std::string out;
        const render_outcome r = format_event(ev->tag, ev->data, output_options{f, false, false}, out);
        if (r.drop || r.issues) continue;
        FUZZ_CHECK(!out.empty() && out.back() == '\n');
        out.pop_back();
        if (f == output_format::json_lines) FUZZ_CHECK(out.find('\n') == std::string::npos);
        std::string tag2;
        value data2;
        auto again = parse_event_line(out, tag2, data2);
        FUZZ_CHECK(again);
        FUZZ_CHECK(tag2 == ev->tag);
        FUZZ_CHECK(data2 == ev->data);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (std::size_t pos = 0, n = 0; pos < in.size() && n < 64; ++n) {
        std::size_t nl = in.find('\n', pos);
        if (nl == std::string_view::npos) nl = in.size();
        const std::string_view line = in.substr(pos, nl - pos);
        if (!line.empty()) check_line(line);
        pos = nl + 1;
    }
    return 0;
}
