// Test-only probe for diff_json.py: runs render_json and parse_json over records read from stdin.
//
// Request:  op (1 byte) | u32 big-endian length | payload
//   'R' payload is msgpack: unpack, render compact then pretty.
//   'P' payload is JSON text: parse_json, answer the value packed as msgpack.
// Reply per request:
//   'E' | u32 len | error message                              (unpack or parse failed)
//   'R' then twice (compact, pretty): drop (1 byte) | u32 issues | u32 len | JSON text
//   'P' | u32 len | msgpack
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "render/json.hpp"
#include "tagbus/value.hpp"

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((v >> shift) & 0xFF);
}

void put_blob(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out += s;
}

void render(std::string& out, const tagbus::value& v, bool pretty) {
    std::string text;
    tagbus::render_options opts;
    opts.pretty = pretty;
    const tagbus::render_outcome o = tagbus::render_json(v, text, opts);
    out += o.drop ? '\1' : '\0';
    put_u32(out, o.issues);
    put_blob(out, text);
}

}  // namespace

int main() {
    std::ios::sync_with_stdio(false);
    const std::string in{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    std::string out;
    std::size_t pos = 0;
    while (pos + 5 <= in.size()) {
        const char op = in[pos];
        std::uint32_t len = 0;
        for (std::size_t i = 1; i <= 4; ++i) len = (len << 8) | static_cast<unsigned char>(in[pos + i]);
        pos += 5;
        if (pos + len > in.size()) return 2;
        const std::string_view payload(in.data() + pos, len);
        pos += len;
        if (op == 'R') {
            auto v = tagbus::unpack(payload);
            if (!v) {
                out += 'E';
                put_blob(out, v.error().message);
                continue;
            }
            out += 'R';
            render(out, *v, false);
            render(out, *v, true);
        } else if (op == 'P') {
            auto v = tagbus::parse_json(payload);
            if (!v) {
                out += 'E';
                put_blob(out, v.error().message);
                continue;
            }
            out += 'P';
            put_blob(out, tagbus::pack(*v));
        } else {
            return 2;
        }
    }
    if (pos != in.size()) return 2;
    return std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0 ? 0 : 1;
}
