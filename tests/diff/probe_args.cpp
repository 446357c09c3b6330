// Differential probe for Salt CLI words: reads NUL-separated words on stdin, runs each alone
// through parse_salt_args, and prints one line per word in a typed form that diff_args.py
// reproduces from PyYAML ("pos <value>" or "kw <name> <value>"). The typed form is our own so the
// comparison does not depend on the JSON renderer.
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>
#include <variant>

#include "salt/args.hpp"

namespace {

void put_bytes(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
}

void dump(std::string& out, const tagbus::value& v) {
    using namespace tagbus;
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, std::monostate>) {
                out += "null";
            } else if constexpr (std::is_same_v<T, bool>) {
                out += x ? "true" : "false";
            } else if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::uint64_t>) {
                out += "int:" + std::to_string(x);
            } else if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
                double d = static_cast<double>(x);
                if (std::isnan(d)) {
                    out += "float:nan";
                } else {
                    char buf[32];
                    std::snprintf(buf, sizeof buf, "float:%016llx",
                                  static_cast<unsigned long long>(std::bit_cast<std::uint64_t>(d)));
                    out += buf;
                }
            } else if constexpr (std::is_same_v<T, std::string>) {
                out += "str:\"";
                put_bytes(out, x);
                out += '"';
            } else if constexpr (std::is_same_v<T, bin_t>) {
                out += "bin:\"";
                put_bytes(out, x.bytes);
                out += '"';
            } else if constexpr (std::is_same_v<T, array_t>) {
                out += '[';
                for (std::size_t i = 0; i < x.size(); ++i) {
                    if (i) out += ',';
                    dump(out, x[i]);
                }
                out += ']';
            } else if constexpr (std::is_same_v<T, map_t>) {
                out += '{';
                for (std::size_t i = 0; i < x.size(); ++i) {
                    if (i) out += ',';
                    dump(out, x[i].key);
                    out += ':';
                    dump(out, x[i].val);
                }
                out += '}';
            } else {
                out += "ext:" + std::to_string(x.type);
            }
        },
        v.v);
}

}  // namespace

int main() {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::string out;
    // Every word is terminated by a NUL, so an empty word is still a word.
    std::size_t start = 0, end = 0;
    while ((end = input.find('\0', start)) != std::string::npos) {
        std::string word = input.substr(start, end - start);
        start = end + 1;
        tagbus::salt_args a = tagbus::parse_salt_args({word});
        if (a.keywords.size() == 1) {
            out += "kw \"";
            put_bytes(out, a.keywords[0].first);
            out += "\" ";
            dump(out, a.keywords[0].second);
        } else if (a.positional.size() == 1) {
            out += "pos ";
            dump(out, a.positional[0]);
        } else {
            out += "none";
        }
        out += '\n';
    }
    std::cout << out;
    return std::cout ? 0 : 1;
}
