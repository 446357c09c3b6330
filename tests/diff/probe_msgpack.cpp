// Test-only probe for diff_msgpack.py: runs our msgpack codec, framing and trimming over records
// read from stdin and writes one result record per input record to stdout.
//
// Input record:  kind (1 byte) | length (4 bytes, big-endian) | payload
//   'v'  payload is one msgpack object: unpack it, pack it again
//   'f'  payload is an event body: append_frame legacy, then prefixed; the frames are also fed
//        back through frame_decoder (split in the middle) and must yield the body twice
//   't'  payload is max_event_size (8 bytes, big-endian) then a packed map: trim, pack again
// Output record: '+' or '-' (error) | length (4 bytes, big-endian) | bytes or error message
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "tagbus/event.hpp"
#include "wire/frame.hpp"
#include "tagbus/value.hpp"

namespace {

std::uint64_t get_be(std::string_view s, std::size_t at, std::size_t bytes) {
    std::uint64_t x = 0;
    for (std::size_t i = 0; i < bytes; ++i) x = (x << 8) | static_cast<unsigned char>(s[at + i]);
    return x;
}

void put_record(std::string& out, bool ok, std::string_view payload) {
    out.push_back(ok ? '+' : '-');
    const auto n = static_cast<std::uint32_t>(payload.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
    out.append(payload);
}

tagbus::result<std::string> repack(std::string_view in) {
    auto v = tagbus::unpack(in);
    if (!v) return v.error();
    return tagbus::pack(*v);
}

tagbus::result<std::string> frames(std::string_view body) {
    std::string out;
    tagbus::append_frame(out, body, tagbus::framing::legacy);
    tagbus::append_frame(out, body, tagbus::framing::prefixed);
    tagbus::frame_decoder d;
    const std::size_t half = out.size() / 2;
    std::size_t seen = 0;
    std::string_view got;
    for (std::string_view part : {std::string_view(out).substr(0, half), std::string_view(out).substr(half)}) {
        d.feed(part);
        while (d.next(got)) {
            if (got != body) return tagbus::fail(tagbus::errc::internal, "decoded body differs");
            ++seen;
        }
    }
    if (d.error()) return *d.error();
    if (seen != 2) return tagbus::fail(tagbus::errc::internal, "decoded " + std::to_string(seen) + " frames");
    return out;
}

tagbus::result<std::string> trimmed(std::string_view in) {
    if (in.size() < 8) return tagbus::fail(tagbus::errc::data, "short trim record");
    auto v = tagbus::unpack(in.substr(8));
    if (!v) return v.error();
    tagbus::map_t* m = v->map();
    if (!m) return tagbus::fail(tagbus::errc::data, "trim record is not a map");
    tagbus::trim_to_max_event_size(*m, static_cast<std::size_t>(get_be(in, 0, 8)));
    return tagbus::pack(*v);
}

}  // namespace

int main() {
    std::string in;
    char buf[1 << 16];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) in.append(buf, n);

    std::string out;
    std::size_t pos = 0;
    while (pos < in.size()) {
        if (in.size() - pos < 5) return 2;
        const char kind = in[pos];
        const auto len = static_cast<std::size_t>(get_be(in, pos + 1, 4));
        if (in.size() - pos - 5 < len) return 2;
        const std::string_view payload(in.data() + pos + 5, len);
        pos += 5 + len;
        tagbus::result<std::string> r = kind == 'v'   ? repack(payload)
                                        : kind == 'f' ? frames(payload)
                                        : kind == 't' ? trimmed(payload)
                                                      : tagbus::fail(tagbus::errc::invalid, "unknown record kind");
        if (r) put_record(out, true, *r);
        else put_record(out, false, r.error().message);
    }
    return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0 ? 0 : 1;
}
