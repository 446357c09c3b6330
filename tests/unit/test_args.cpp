#include <doctest/doctest.h>

#include "support.hpp"

#include <cmath>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "salt/args.hpp"
#include "py/py.hpp"

using namespace tagbus;
using test_support::typed;

namespace {

// One word as Salt's CLI reads it: "pos <typed>" or "kw <name> <typed>".
std::string word(const std::string& w) {
    salt_args a = parse_salt_args({w});
    if (a.keywords.size() == 1) return "kw " + a.keywords[0].first + " " + typed(a.keywords[0].second);
    if (a.positional.size() == 1) return "pos " + typed(a.positional[0]);
    return "?";
}

struct row {
    const char* text;
    const char* expected;
};

}  // namespace

// Every row of SALT-WIRE §6's table, in its order.
TEST_CASE("SALT-WIRE 6 table") {
    const std::vector<row> rows = {
        {"True", "pos true"}, {"true", "pos true"}, {"yes", "pos true"}, {"Yes", "pos true"}, {"on", "pos true"},
        {"off", "pos false"}, {"no", "pos false"},
        {"y", "pos str:y"}, {"n", "pos str:n"},
        {"1", "pos int:1"}, {"-1", "pos int:-1"}, {"+1", "pos int:1"},
        {"010", "pos int:10"}, {"07", "pos int:7"}, {"00", "pos int:0"},
        {"08", "pos str:08"}, {"09", "pos str:09"},
        {"0x1f", "pos int:31"}, {"0b101", "pos int:5"}, {"-0x10", "pos int:-16"},
        {"0o17", "pos str:0o17"},
        {"1_000", "pos str:1_000"},
        {"12:30", "pos int:750"}, {"1:2:3", "pos int:3723"},
        {"1.5", "pos float:1.5"}, {"3.", "pos float:3."},
        {"1e3", "pos str:1e3"}, {"1.0e3", "pos str:1.0e3"},
        {"1.0e+3", "pos float:1000."},
        {".inf", "pos float:inf"}, {".nan", "pos float:nan"},
        {"None", "pos null"}, {"~", "pos null"}, {"null", "pos null"},
        {"none", "pos str:none"},
        {"{a: b}", "pos {str:a=str:b}"},
        {"a: b", "pos str:a: b"},
        {"[1, 2]", "pos [int:1,int:2]"},
        {"- a", "pos str:- a"},
        {"'quoted'", "pos str:quoted"}, {"\"1\"", "pos str:1"},
        {"2024-05-01", "pos str:2024-05-01"}, {"2019-01-01T00:00", "pos str:2019-01-01T00:00"},
        {"a #b", "pos str:a #b"}, {"#foo", "pos str:#foo"},
        {"!!int 5", "pos int:5"},
        {"!!str 5", "pos str:5"},
        {"!!python/object/apply:os.system [ls]", "pos str:!!python/object/apply:os.system [ls]"},
        {"a=1", "kw a int:1"},
        {"a=b=c", "kw a str:b=c"},
        {"a=", "kw a str:"},
        {"x=None", "kw x null"},
        {"x={a: 1}", "kw x {str:a=int:1}"},
        {"x=a: b", "kw x str:a: b"},
        {"foo==bar", "pos str:foo==bar"}, {"1a=b", "pos str:1a=b"}, {"-a=b", "pos str:-a=b"},
        {"=x", "pos str:=x"}, {"\xe2\x82\xac=1", "pos str:\xe2\x82\xac=1"},
        {"\xc3\xa9=1", "kw \xc3\xa9 int:1"}, {"a.b-c=d", "kw a.b-c str:d"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.text);
        CHECK(word(r.text) == r.expected);
    }
}

// The "kept as the original string" list of §6 and the order of its rules.
TEST_CASE("yamlify keep-the-string rules") {
    const std::vector<row> rows = {
        {"", "str:"}, {"   ", "str:   "}, {"---", "str:---"}, {"...", "str:..."}, {" --- ", "str: --- "},
        {"1_0", "str:1_0"}, {"_", "str:_"}, {" 1_0 ", "str: 1_0 "},
        {"a\tb", "str:a\tb"}, {"1\r", "str:1\r"}, {"[1]\n", "str:[1]\n"},
        {"a: b # c", "{str:a=str:b}"},  // '#' rule first: a map without braces is used
        {"1 #c", "int:1"}, {"true #x", "true"}, {"- a #c", "[str:a]"}, {"#", "str:#"}, {" #x", "str: #x"},
        {"{a: 1}x", "str:{a: 1}x"}, {" {a: 1}", "str: {a: 1}"}, {"[1]x", "str:[1]x"},
        {"!!timestamp 2024-01-01", "str:2024-01-01"},
        {"!!binary aGk=", "str:!!binary aGk="}, {"{a: 1, a: 2}", "str:{a: 1, a: 2}"},
        {"|", "str:|"}, {"!", "str:!"}, {"[", "str:["}, {"'a", "str:'a"},
        {"99999999999999999999", "str:99999999999999999999"},
        {"99999999999999999999 #x", "str:99999999999999999999"},  // an int to Salt, hence not kept
        {"' x'", "str: x"}, {"' lead*'", "str: lead*"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.text);
        CHECK(typed(yamlify(r.text)) == r.expected);
    }
}

TEST_CASE("split_kwarg") {
    auto kw = split_kwarg("tagmatch=salt/*");
    REQUIRE(kw);
    CHECK(kw->first == "tagmatch");
    CHECK(kw->second == "salt/*");
    CHECK(split_kwarg("_=x"));
    CHECK(split_kwarg("\xc2\xb2=1"));  // Python's \w includes numerics that are not decimal digits
    CHECK_FALSE(split_kwarg("\xd9\xa1=1"));  // ARABIC-INDIC DIGIT ONE is \d
    CHECK_FALSE(split_kwarg("a b=1"));
    CHECK_FALSE(split_kwarg("a=b\nc"));
    CHECK_FALSE(split_kwarg("a\xff=1"));
    CHECK(split_kwarg("a=b\rc"));
    CHECK_FALSE(split_kwarg("a=="));  // '=' followed by '=' is not a keyword
    CHECK(split_kwarg("a=")->second.empty());
}

TEST_CASE("parse_salt_args: order, raw text, no_parse and repeated names") {
    salt_args a = parse_salt_args({"foo", "count=5", "010", "tagmatch=010", "count=7", "x=y"}, {"tagmatch"});
    REQUIRE(a.positional.size() == 2);
    CHECK(typed(a.positional[0]) == "str:foo");
    CHECK(typed(a.positional[1]) == "int:10");
    CHECK(a.raw_positional == std::vector<std::string>{"foo", "010"});
    REQUIRE(a.keywords.size() == 3);
    CHECK(a.keywords[0].first == "count");
    CHECK(typed(a.keywords[0].second) == "int:7");  // a dict: first place, last value
    CHECK(a.keywords[1].first == "tagmatch");
    CHECK(typed(a.keywords[1].second) == "str:010");  // --no-parse keeps the text
    CHECK(a.raw_keywords == std::vector<std::string>{"7", "010", "y"});
}

TEST_CASE("step 4: a positional still a string after YAML is classified again") {
    // 'a=b' reaches Salt as the word "'a=b'": positional (a quote cannot start a name), YAML
    // unquotes it to a=b, and the executing side re-splits that into the keyword a = "b".
    salt_args a = parse_salt_args({"'a=1'", "x", "\"b=[1, 2]\"", "c=3", "'c=4'", "'d==e'", "'1a=b'", "'é=z'"});
    REQUIRE(a.keywords.size() == 4);
    CHECK(a.keywords[0].first == "a");
    CHECK(typed(a.keywords[0].second) == "int:1");  // the value is yamlified
    CHECK(a.keywords[1].first == "b");
    CHECK(typed(a.keywords[1].second) == "[int:1,int:2]");
    // Re-parsed keywords come first; a command-line keyword is set over one of the same name.
    CHECK(a.keywords[2].first == "c");
    CHECK(typed(a.keywords[2].second) == "int:3");
    CHECK(a.keywords[3].first == "\xc3\xa9");
    CHECK(a.raw_keywords == std::vector<std::string>{"1", "[1, 2]", "3", "z"});
    // Not keywords: kept as the positional strings they are, and never yamlified a second time.
    REQUIRE(a.positional.size() == 3);
    CHECK(typed(a.positional[0]) == "str:x");
    CHECK(typed(a.positional[1]) == "str:d==e");
    CHECK(typed(a.positional[2]) == "str:1a=b");
    CHECK(a.raw_positional == std::vector<std::string>{"x", "'d==e'", "'1a=b'"});
    // A positional YAML made into a non-string stays positional: "'5'" is the string 5, not a=.
    salt_args q = parse_salt_args({"'1'"});
    REQUIRE(q.positional.size() == 1);
    CHECK(typed(q.positional[0]) == "str:1");
}

TEST_CASE("bind_params: Python call binding for state.event") {
    const std::vector<std::string> params = {"tagmatch", "count", "quiet", "sock_dir", "pretty", "node"};
    auto ok = bind_params(parse_salt_args({"salt/*", "count=2", "pretty=True"}), params);
    REQUIRE(ok);
    REQUIRE(ok->size() == 6);
    CHECK(typed(*(*ok)[0]) == "str:salt/*");
    CHECK(typed(*(*ok)[1]) == "int:2");
    CHECK_FALSE((*ok)[2].has_value());
    CHECK(typed(*(*ok)[4]) == "true");

    auto many = bind_params(parse_salt_args({"a", "b", "c", "d", "e", "f", "g"}), params);
    REQUIRE_FALSE(many);
    CHECK(many.error().code == errc::invalid);
    CHECK(many.error().message == "takes at most 6 arguments (7 given)");
    auto one = bind_params(parse_salt_args({"a", "b"}), {"x"});
    REQUIRE_FALSE(one);
    CHECK(one.error().message == "takes at most 1 argument (2 given)");

    auto unknown = bind_params(parse_salt_args({"foo=1"}), params);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error().code == errc::invalid);
    CHECK(unknown.error().message == "unexpected keyword argument 'foo'");

    auto twice = bind_params(parse_salt_args({"*", "5", "count=1"}), params);
    REQUIRE_FALSE(twice);
    CHECK(twice.error().message == "got multiple values for argument 'count'");

    std::vector<std::pair<std::string, value>> extra;
    auto kwargs = bind_params(parse_salt_args({"foo=1", "count=3", "bar=x"}), params, &extra);
    REQUIRE(kwargs);
    CHECK(typed(*(*kwargs)[1]) == "int:3");
    REQUIRE(extra.size() == 2);
    CHECK(extra[0].first == "foo");
    CHECK(extra[1].first == "bar");
}

TEST_CASE("truthy is Python's bool()") {
    CHECK_FALSE(truthy(value()));
    CHECK_FALSE(truthy(value(false)));
    CHECK_FALSE(truthy(value(0)));
    CHECK_FALSE(truthy(value(0.0)));
    CHECK_FALSE(truthy(value(-0.0)));
    CHECK_FALSE(truthy(value("")));
    CHECK_FALSE(truthy(value(array_t{})));
    CHECK_FALSE(truthy(value(map_t{})));
    CHECK_FALSE(truthy(value(bin_t{})));
    CHECK(truthy(value(true)));
    CHECK(truthy(value(-1)));
    CHECK(truthy(value(std::nan(""))));
    CHECK(truthy(value("False")));
    CHECK(truthy(value(array_t{value()})));
    CHECK(truthy(value(ext_t{78, "x"})));
}
