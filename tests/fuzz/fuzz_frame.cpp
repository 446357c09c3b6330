// frame_decoder fed a byte stream in arbitrary pieces. The first byte chooses the frame limit and
// how many of the following bytes are split sizes; the rest is the stream. Invariants: the pieces
// give exactly the frames (and framings) that feeding the whole stream at once gives, and the same
// verdict (error or not); every frame returned re-frames to itself.
#include <string>
#include <utility>
#include <vector>

#include "fuzz.hpp"
#include "wire/frame.hpp"

using namespace tagbus;

namespace {

struct outcome {
    std::vector<std::pair<std::string, framing>> frames;
    bool failed = false;
    std::size_t pending = 0;
};

void drain(frame_decoder& d, outcome& o) {
    std::string_view body;
    while (d.next(body)) o.frames.emplace_back(std::string(body), d.last_framing());
    if (d.error()) {
        FUZZ_CHECK(!d.error()->message.empty());
        o.failed = true;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    static constexpr std::size_t limits[4] = {default_max_frame, 16, 300, 70000};
    const std::size_t max = limits[(data[0] >> 3) & 3u];
    const std::size_t nsplit = data[0] & 7u;
    if (size < 1 + nsplit) return 0;
    const std::string_view splits(reinterpret_cast<const char*>(data) + 1, nsplit);
    const std::string_view stream(reinterpret_cast<const char*>(data) + 1 + nsplit, size - 1 - nsplit);

    frame_decoder whole(max);
    outcome a;
    whole.feed(stream);
    drain(whole, a);
    a.pending = whole.pending();

    frame_decoder pieces(max);
    outcome b;
    for (std::size_t pos = 0, k = 0; pos < stream.size() && !b.failed; ++k) {
        // No split bytes: one byte at a time, as libuv may deliver them.
        const std::size_t n = nsplit ? static_cast<unsigned char>(splits[k % nsplit]) + 1u : 1u;
        pieces.feed(stream.substr(pos, n));
        pos += n;
        drain(pieces, b);
    }
    b.pending = pieces.pending();

    FUZZ_CHECK(a.frames == b.frames);
    FUZZ_CHECK(a.failed == b.failed);
    if (!a.failed) FUZZ_CHECK(a.pending == b.pending);

    // What was returned re-frames to itself, in either framing.
    for (framing f : {framing::legacy, framing::prefixed}) {
        std::string again;
        for (const auto& [body, kind] : a.frames) append_frame(again, body, f);
        frame_decoder d;
        outcome c;
        d.feed(again);
        drain(d, c);
        FUZZ_CHECK(!c.failed);
        FUZZ_CHECK(c.pending == 0);
        FUZZ_CHECK(c.frames.size() == a.frames.size());
        for (std::size_t i = 0; i < c.frames.size(); ++i) {
            FUZZ_CHECK(c.frames[i].first == a.frames[i].first);
            FUZZ_CHECK(c.frames[i].second == f);
        }
    }
    return 0;
}
