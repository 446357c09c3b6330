// Salt's CLI words and YAML: parse_salt_args over words (the input split at NUL bytes; the last
// word is also loaded whole by salt_yaml_load), bind_params against event.send's signature.
// Invariants: every word lands in exactly one place (positional, or keyword: NAME=VALUE as
// typed or once YAML has unquoted it); a no_parse keyword typed as such keeps its text; a
// keyword's value and text come from the same word; whatever salt_yaml_load returns packs and
// unpacks to itself; a refusal is a data error with a message.
#include <string>
#include <vector>

#include "fuzz.hpp"
#include "salt/args.hpp"
#include "render/json.hpp"
#include "tagbus/value.hpp"
#include "salt/yaml.hpp"

using namespace tagbus;

namespace {

void check_loaded(const result<value>& v) {
    if (!v) {
        FUZZ_CHECK(v.error().code == errc::data);
        FUZZ_CHECK(!v.error().message.empty());
        return;
    }
    auto back = unpack(pack(*v));
    FUZZ_CHECK(back);
    FUZZ_CHECK(*back == *v);
    std::string out;
    render_json(*v, out, render_options{true, nullptr});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> words;
    for (std::size_t pos = 0;;) {
        const std::size_t nul = in.find('\0', pos);
        words.emplace_back(in.substr(pos, nul == std::string_view::npos ? std::string_view::npos : nul - pos));
        if (nul == std::string_view::npos) break;
        pos = nul + 1;
    }
    if (words.size() > 64) return 0;

    const std::vector<std::string> no_parse{"tag"};
    const salt_args args = parse_salt_args(words, no_parse);
    FUZZ_CHECK(args.positional.size() == args.raw_positional.size());
    FUZZ_CHECK(args.keywords.size() == args.raw_keywords.size());
    // A word is a keyword when it splits as NAME=VALUE, or when YAML leaves it a string that does
    // (Salt's step 4: the quoted word 'a=b'); every other word is the next positional.
    std::size_t npos = 0;
    bool tag_word = false;
    for (const auto& w : words) {
        auto kw = split_kwarg(w);
        const value y = kw ? value() : yamlify(w);
        if (!kw && y.str()) kw = split_kwarg(*y.str());
        if (kw) {
            FUZZ_CHECK(!kw->first.empty());
            bool found = false;
            for (const auto& [name, v] : args.keywords) found = found || name == kw->first;
            FUZZ_CHECK(found);
            tag_word = tag_word || (kw->first == "tag" && split_kwarg(w));
        } else {
            FUZZ_CHECK(npos < args.raw_positional.size());
            FUZZ_CHECK(args.raw_positional[npos] == w);
            FUZZ_CHECK(args.positional[npos] == y);
            ++npos;
        }
    }
    FUZZ_CHECK(npos == args.positional.size());
    for (std::size_t i = 0; i < args.keywords.size(); ++i) {
        const auto& [name, v] = args.keywords[i];
        if (name == "tag" && tag_word) FUZZ_CHECK(v.str() && *v.str() == args.raw_keywords[i]);
        else FUZZ_CHECK(yamlify(args.raw_keywords[i]) == v);  // value and text from one word
    }
    for (std::size_t i = 0; i < args.positional.size(); ++i) {
        auto back = unpack(pack(args.positional[i]));
        FUZZ_CHECK(back && *back == args.positional[i]);
    }

    std::vector<std::pair<std::string, value>> extra;
    auto bound = bind_params(args, {"data", "tag", "preload", "with_env", "with_grains", "with_pillar"}, &extra);
    if (!bound) FUZZ_CHECK(bound.error().code == errc::invalid);

    bool big_int = false;
    check_loaded(salt_yaml_load(words.back(), big_int));
    if (big_int) {
        auto again = salt_yaml_load(words.back());
        FUZZ_CHECK(again && again->str());
    }
    return 0;
}
