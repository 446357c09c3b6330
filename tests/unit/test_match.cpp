#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "salt/match.hpp"

using namespace tagbus;

namespace {

struct row {
    const char* name;
    const char* pattern;
    bool expected;
};

}  // namespace

// Expected values are Python 3.11's fnmatch.fnmatchcase(name, pattern).
TEST_CASE("fnmatch follows Python's fnmatchcase") {
    const std::vector<row> rows = {
        {"salt/job/123/ret/minion", "salt/job/*/ret/*", true},
        {"myco", "myco/*", false},
        {"myco/a/x", "myco/[!abc]/x", false},
        {"myco/d/x", "myco/[!abc]/x", true},
        {"^", "[^a]", true},
        {"a", "[^a]", true},
        {"b", "[^a]", false},
        {"a\nb", "a*b", true},
        {"a\nb", "a?b", true},
        {"ab", "a[]]b", false},
        {"a]b", "a[]]b", true},
        {"a[b", "a[b", true},
        {"[", "[", true},
        {"a\\b", "a\\b", true},
        {"a-b", "a[!-]b", false},
        {"-", "[a-]", true},
        {"b", "[c-a]", false},
        {"x", "[!c-a]", true},
        {"-", "[a-b-c]", true},
        {"c", "[a-b-c]", true},
        {"b", "[a-b-c]", true},
        {"\xc3\xa9", "?", true},
        {"\xe6\x97\xa5\xe6\x9c\xac", "??", true},
        {"ab", "a**b", true},
        {"", "*", true},
        {"a/b/c", "a*c", true},
        {"abc", "a[b-b]c", true},
        {"{a,b}", "{a,b}", true},
        {"a", "{a,b}", false},
        {"!", "[!]", false},
        {"!]", "[!]]", false},
        {"x", "[!]]", true},
        {"\\", "[\\]", true},
        {"A", "[a-z]", false},
        {"\xc3\xa9", "[\xc3\xa0-\xc3\xaa]", true},
        {"aXb", "a[!a-z]b", true},
        {"abcabd", "*abd", true},
        {"abcabc", "*abd", false},
        {"Salt/Auth", "salt/auth", false},
        // "literal*" is matched by a prefix comparison; these pin it to the general rules.
        {"bench/data", "bench/*", true},
        {"bench/", "bench/*", true},
        {"bench", "bench/*", false},
        {"Bench/data", "bench/*", false},
        {"bench/\xff", "bench/**", true},
        {"x", "*", true},
        {"[ab", "[a*", true},
        {"a", "[a*", false},
        {"\xe2\x82\xac", "\xe2*", false},  // a non-ASCII prefix takes the general path
        {"\xe2x", "\xe2*", true},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        CAPTURE(r.pattern);
        CHECK(fnmatch(r.name, r.pattern) == r.expected);
    }
}

TEST_CASE("fnmatch treats an invalid UTF-8 byte as one code point") {
    CHECK(fnmatch("a\xff" "b", "a?b"));
    CHECK(fnmatch("a\xff" "b", "a\xff" "b"));
    CHECK_FALSE(fnmatch("a\xfe" "b", "a\xff" "b"));
}

// Expected values are Salt's expr_match: fnmatch OR re.match(r"\A{}\Z".format(expr)).
TEST_CASE("tag_matcher is glob OR anchored regex (SALT-WIRE 7)") {
    const std::vector<row> rows = {
        {"salt/job/20240501/ret/m1", "salt/job/*/ret/*", true},
        {"salt/job/20240501/ret/m1", "salt/job/\\d+/ret/.*", true},
        {"salt/job/abc/ret/m1", "salt/job/\\d+/ret/.*", false},
        {"myco", "myco/*", true},  // the regex `myco/*`
        {"myco/", "myco/*", true},
        {"myco//", "myco/*", true},
        {"myco/a/x", "myco/[!abc]/x", true},  // the regex set {!,a,b,c}
        {"myco/!/x", "myco/[!abc]/x", true},
        {"myco/d/x", "myco/[!abc]/x", true},  // the glob
        {"b", "[^a]", true},                  // the regex: negated
        {"^", "[^a]", true},                  // the glob: the set {^, a}
        {"a", "[^a]", true},
        {"c", "[^a]", true},
        {"a\nb", "a*b", true},  // the glob's * crosses newlines
        {"a\nb", "a.b", false},
        {"x", "(", false},  // invalid regex: never matches as a regex
        {"(", "(", true},   // ...but still as a glob
        {"abc", "a|b", true},  // re.match: "starts with a" ...
        {"b", "a|b", true},    // ... or "is exactly b"
        {"xxb", "a|b", false},
        {"bx", "a|b", false},
        {"a\n", "a$", false},
        {"a\n", "a", false},
        {"a\n", "a\\Z", false},
        {"\xc3\xa9", "\\w", true},
        {"\xc3\xa9", ".", true},
        {"salt/auth", "salt/auth", true},
        {"salt/authx", "salt/auth", false},
        {"x", "[z-a]", false},
        {"", "", true},
        {"a", "", false},
        {"\xc3\xa9", "\\u00e9", true},
        {"a\xff", "a.", false},
    };
    for (const auto& r : rows) {
        CAPTURE(r.name);
        CAPTURE(r.pattern);
        tag_matcher m(r.pattern);
        CHECK(m(r.name) == r.expected);
    }
}

TEST_CASE("tag_matcher reports an invalid regex and survives invalid UTF-8") {
    CHECK_FALSE(tag_matcher("(").regex_valid());
    CHECK_FALSE(tag_matcher("a[").regex_valid());
    CHECK(tag_matcher("salt/.*").regex_valid());
    tag_matcher m("salt/.*");
    CHECK_FALSE(m("salt/\xff\xfe"));
    CHECK(tag_matcher("*")("salt/\xff\xfe"));
    tag_matcher moved = std::move(m);
    CHECK(moved("salt/x"));
}

TEST_CASE("parse_match_type") {
    CHECK(*parse_match_type("startswith") == match_type::startswith);
    CHECK(*parse_match_type("endswith") == match_type::endswith);
    CHECK(*parse_match_type("find") == match_type::find);
    CHECK(*parse_match_type("regex") == match_type::regex);
    CHECK(*parse_match_type("fnmatch") == match_type::fnmatch);
    auto bad = parse_match_type("foo");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == errc::invalid);
    CHECK(bad.error().message == "unknown match type 'foo' (expected startswith, endswith, find, regex or fnmatch)");
}

TEST_CASE("event_matcher match types (SALT-WIRE 5)") {
    struct erow {
        match_type type;
        const char* search;
        const char* tag;
        bool expected;
    };
    const std::vector<erow> rows = {
        {match_type::startswith, "", "anything", true},
        {match_type::startswith, "salt/job", "salt/job/1/new", true},
        {match_type::startswith, "salt/job", "xsalt/job", false},
        {match_type::endswith, "/ret", "salt/job/1/ret", true},
        {match_type::endswith, "/ret", "salt/job/1/ret/x", false},
        {match_type::find, "job", "salt/job/1", true},
        {match_type::find, "jobs", "salt/job/1", false},
        {match_type::regex, "salt/job/\\d+", "salt/job/12/ret/m", true},  // not anchored at the end
        {match_type::regex, "job", "salt/job", false},                   // anchored at the start
        {match_type::regex, "a|job", "salt/job", true},                  // ^a|job: search finds job
        {match_type::fnmatch, "salt/*", "salt/job/1", true},
        {match_type::fnmatch, "salt/*", "xsalt/job", false},
        {match_type::fnmatch, "salt/[!j]*", "salt/job", false},
    };
    for (const auto& r : rows) {
        CAPTURE(r.search);
        CAPTURE(r.tag);
        auto m = make_event_matcher(r.type, r.search);
        REQUIRE(m);
        CHECK((*m)(r.tag) == r.expected);
    }
}

TEST_CASE("event_matcher rejects an invalid regex") {
    auto m = make_event_matcher(match_type::regex, "(");
    REQUIRE_FALSE(m);
    CHECK(m.error().code == errc::invalid);
    CHECK(m.error().message == "invalid regex '(': missing ), unterminated subpattern");
    // Python's rules, not PCRE2's: a global flag is never at the start after Salt's "^".
    auto flag = make_event_matcher(match_type::regex, "(?i)myco");
    REQUIRE_FALSE(flag);
    CHECK(flag.error().message == "invalid regex '(?i)myco': global flags not at the start of the expression");
}

TEST_CASE("tag regexes are valid or invalid as Python 3.11's re judges them after \\A (SALT-WIRE 7)") {
    // Each checked against /usr/bin/python3 3.11: re.compile("\\A" + expr + "\\Z").
    for (const char* bad : {"(?i)myco/.*", "myco/(?i).*", "(?x)a", "a**", "a{2}{3}", "a*?+", "^*", "\\b+", "x\\K",
                            "(?R)", "a(?1)", "(*FAIL)", "\\Qa\\E", "(?<n>a)", "(?'n'a)", "(?|a)", "\\p{L}", "\\h",
                            "\\z", "\\G", "a{3,2}", "(?<=a|bc)", "(?<=a*)", "(?P<1>a)", "(?P<n>a)(?P<n>b)",
                            "(?P=n)", "(a\\1)", "\\2(a)(b)", "(?(2)a)(b)", "(?(2)a|b)(c)", "(?(1)a|b|c)(x)", "[z-a]", "[\\d-z]",
                            "[\\A]", "[\\8]", "\\400", "(?L:a)", "(?au:a)", "(?-a:a)", "(?t:a)", "(?i-i:a)",
                            "\\x4", "\\u12", "\\U00110000", "(?#x", "[a", "a)", "(?P>n)", "(?<x)", "\\c"}) {
        CAPTURE(std::string(bad));
        CHECK_FALSE(tag_matcher(bad).regex_valid());
    }
    for (const char* good : {"myco/.*", "a*+", "a++b", "(?>a+)b", "(?P<name>a)(?P=name)", "(?P<é>x)", "a{,2}",
                             "a{,}", "x{}", "a{", "a{1,2", "[[:alpha:]]", "(?i:MYCO)/x", "(?x: a b # c\n)", "(?s-i:.)",
                             "(?a:\\w)", "(?<=ab|cd)", "(?<=a{2})", "(a)(?(1)b|c)", "(?(1)a|b)(c)", "\\0\\101",
                             "(a)\\1", "[]a]", "[^]a]", "[a-]", "[\\d-]", "(?=a)*", "(?:)*", "a\\", "\\v\\a",
                             "(?u:a)"}) {
        CAPTURE(std::string(good));
        CHECK(tag_matcher(good).regex_valid());
    }
}

TEST_CASE("tag regexes match as Python's re does") {
    struct row {
        const char* expr;
        const char* tag;
        bool expected;
    };
    const std::vector<row> rows = {
        {"(?P<n>ab)(?P=n)", "abab", true},
        {"a{,2}", "aa", true},
        {"a{,2}", "aaa", false},
        {"x{}", "x{}", true},          // literal braces
        {"[[:alpha:]]", "[:", false},  // a set of [ : a l p h, then "]"
        {"[[:alpha:]]", "a]", true},
        {"\\v", "\x0b", true},        // Python's \v is one character, not PCRE2's class
        {"\\101", "A", true},          // octal
        {"a\\", "a\\Z", true},         // the backslash escapes the one of \Z: no end anchor
        {"a\\", "a\\Zb", true},
        {"\\s", "\x1c", true},        // str.isspace()
        {"[\\S]", "\x1f", false},
        {"(?a:\\w)", "\xc3\xa9", false},
        {"\\w", "\xc3\xa9", true},
        {"(?m:a$\n^)", "a\n", true},  // multiline ^ after a final newline
        {"(?x: m y c o )", "myco", true},
        {"(?i:myco)", "MYCO", true},
        {"(?i)myco", "MYCO", false},    // invalid regex; the glob is case-sensitive
        {"(?i)myco", "(?i)myco", true}, // the glob matches itself
        {"\\ud800|x", "x", true},
    };
    for (const row& r : rows) {
        CAPTURE(r.expr);
        CAPTURE(r.tag);
        CHECK(tag_matcher(r.expr)(r.tag) == r.expected);
    }
}
