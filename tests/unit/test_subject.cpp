// engine/subject: Salt tags as NATS subjects (issue 13): the escaping is reversible for every
// byte, every token is a valid NATS token, prefixes are checked, message ids have three parts.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "engine/subject.hpp"

using namespace tagbus;

namespace {

// What nats-server accepts in a literal subject: non-empty tokens without '.', '*', '>' or
// whitespace (the server's own rule, written here independently of subject.cpp).
bool valid_literal_subject(const std::string& s) {
    if (s.empty() || s.front() == '.' || s.back() == '.') return false;
    std::size_t token_len = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '.') {
            if (token_len == 0) return false;
            token_len = 0;
            continue;
        }
        if (c <= ' ' || c == 0x7f || c == '*' || c == '>') return false;
        ++token_len;
    }
    return token_len > 0;
}

}  // namespace

TEST_CASE("a plain tag maps token by token") {
    auto s = subject_of("salt.events", "master1", "salt/job/20240501123456789012/ret/web1");
    REQUIRE(s);
    CHECK(*s == "salt.events.master1.salt.job.20240501123456789012.ret.web1");
    auto back = tag_of("salt.events", *s);
    REQUIRE(back);
    CHECK(back->source_id == "master1");
    CHECK(back->tag == "salt/job/20240501123456789012/ret/web1");
}

TEST_CASE("bytes outside the token set are escaped, '~' too; empty parts are '~'") {
    CHECK(subject_token("a.b") == "a~2Eb");
    CHECK(subject_token("x*y>z") == "x~2Ay~3Ez");
    CHECK(subject_token("sp ace") == "sp~20ace");
    CHECK(subject_token("~") == "~7E");
    CHECK(subject_token("é") == "~C3~A9");
    CHECK(subject_token("") == "~");
    auto s = subject_of("p", "web1.example.com", "/lead//double/trail/");
    REQUIRE(s);
    CHECK(*s == "p.web1~2Eexample~2Ecom.~.lead.~.double.trail.~");
    auto back = tag_of("p", *s);
    REQUIRE(back);
    CHECK(back->source_id == "web1.example.com");
    CHECK(back->tag == "/lead//double/trail/");
}

TEST_CASE("every byte string comes back unchanged, as a valid subject") {
    std::mt19937 rng(1234);
    for (int n = 0; n < 20000; ++n) {
        std::string tag(1 + rng() % 40, '\0');
        for (char& c : tag) c = static_cast<char>(rng() % 4 == 0 ? '/' : rng() % 256);
        std::string id(rng() % 12, '\0');
        for (char& c : id) c = static_cast<char>(rng() % 256);
        auto s = subject_of("salt.ev", id, tag);
        REQUIRE(s);
        CHECK(valid_literal_subject(*s));
        auto back = tag_of("salt.ev", *s);
        REQUIRE(back);
        CHECK(back->tag == tag);
        CHECK(back->source_id == id);
    }
}

TEST_CASE("subjects that subject_of cannot have made are refused with the reason") {
    CHECK(tag_of("salt.events", "other.x.y").error().message == "subject 'other.x.y' is not under 'salt.events'");
    CHECK(tag_of("salt.events", "salt.events.m1").error().message == "subject 'salt.events.m1' has no tag");
    CHECK(tag_of("p", "p.m.a~2").error().message == "subject 'p.m.a~2' has a bad escape at tag token 1");
    CHECK(!tag_of("p", "p.m.a~2e"));   // lower-case hex is never written
    CHECK(!tag_of("p", "p.m.a~41"));   // 'A' escaped needlessly
    // '/' separates a tag's tokens and is never escaped in one (found by fuzz_subject): "a.1s" is
    // the one spelling of a/1s. In the source id, which is not split, it is escaped.
    CHECK(tag_of("p", "p.m.a~2F1s").error().message == "subject 'p.m.a~2F1s' has a bad escape at tag token 1");
    CHECK(tag_of("p", "p.m.a.1s")->tag == "a/1s");
    CHECK(tag_of("p", "p.m~2Fx.a")->source_id == "m/x");
    CHECK(*subject_of("p", "m/x", "a") == "p.m~2Fx.a");
    CHECK(!tag_of("p", "p.m.a..b"));   // empty token
    CHECK(!tag_of("p", "p.m~ZZ.a"));   // bad escape in the source id
    CHECK(tag_of("p", "p..a").error().message == "subject 'p..a' has a bad escape in its source id");  // empty: "~"
    CHECK(tag_of("p", "p.~.a")->source_id.empty());
    CHECK(tag_of("p", "p.m.a~2Eb")->tag == "a.b");
}

TEST_CASE("prefixes: literal tokens only") {
    CHECK(check_subject_prefix("salt.events"));
    CHECK(subject_of("", "m", "t").error().message == "the subject prefix is empty");
    CHECK(subject_of("a..b", "m", "t").error().message == "subject prefix 'a..b' has an empty token");
    CHECK(subject_of("a.*", "m", "t").error().message == "subject prefix 'a.*' has a wildcard; give literal tokens");
    CHECK(subject_of("a.>", "m", "t").error().code == errc::invalid);
    CHECK(subject_of("a b", "m", "t").error().message == "subject prefix 'a b' holds whitespace or a control character");
}

TEST_CASE("message ids: three dot-separated parts whatever the source and run ids hold") {
    CHECK(message_id("master1", "1765000000000", 42) == "master1.1765000000000.42");
    CHECK(message_id("web1.example.com", "r.1", 7) == "web1~2Eexample~2Ecom.r~2E1.7");
}
