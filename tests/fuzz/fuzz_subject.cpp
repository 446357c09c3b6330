// NATS subjects from the network (engine/subject, issue 13). Invariants:
// - a subject tag_of accepts is canonical: subject_of of what it gives is the same subject, byte
//   for byte (one spelling per tag);
// - any source id and tag (arbitrary bytes) map to a subject of valid literal tokens that tag_of
//   reads back unchanged.
#include <string>

#include "engine/subject.hpp"
#include "fuzz.hpp"

using namespace tagbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    constexpr std::string_view prefix = "salt.events";

    if (auto parts = tag_of(prefix, in)) {
        auto again = subject_of(prefix, parts->source_id, parts->tag);
        FUZZ_CHECK(again);
        FUZZ_CHECK(*again == in);
    }

    // The input as a source id and a tag, split at its first NUL.
    const std::size_t cut = in.find('\0');
    const std::string_view id = in.substr(0, cut);
    const std::string_view tag = cut == std::string_view::npos ? std::string_view("t") : in.substr(cut + 1);
    auto s = subject_of(prefix, id, tag);
    FUZZ_CHECK(s);
    std::size_t token = 0;
    for (char ch : *s) {
        const auto c = static_cast<unsigned char>(ch);
        FUZZ_CHECK(c > ' ' && c < 0x7f && c != '*' && c != '>');
        if (c == '.') {
            FUZZ_CHECK(token > 0);
            token = 0;
        } else {
            ++token;
        }
    }
    FUZZ_CHECK(token > 0);
    auto back = tag_of(prefix, *s);
    FUZZ_CHECK(back);
    FUZZ_CHECK(back->source_id == id);
    FUZZ_CHECK(back->tag == tag);
    return 0;
}
