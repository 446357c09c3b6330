// tools/common: the catch-all every main runs under, and CLI11's errors in the project's words.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli.hpp"

using namespace tagbus;

namespace {

// Runs `f` with stderr sent to a temporary file; returns what it wrote.
template <typename F>
std::string stderr_of(F&& f) {
    std::fflush(stderr);
    std::FILE* tmp = std::tmpfile();
    REQUIRE(tmp != nullptr);
    const int saved = ::dup(2);
    ::dup2(::fileno(tmp), 2);
    f();
    std::fflush(stderr);
    ::dup2(saved, 2);
    ::close(saved);
    std::string out;
    std::rewind(tmp);
    for (int c; (c = std::fgetc(tmp)) != EOF;) out += static_cast<char>(c);
    std::fclose(tmp);
    return out;
}

int throws_runtime(int, char**) { throw std::runtime_error("boom"); }
int throws_int(int, char**) { throw 42; }
int returns_3(int, char**) { return 3; }

// Parses `args` with a state-event-like app; returns exit code (or -1) and stderr.
std::pair<int, std::string> parse(std::vector<std::string> args) {
    std::optional<std::string> tagmatch, timeout;
    std::optional<long long> count;
    CLI::App app{"test", "tool"};
    cli::setup_app(app);
    app.add_option("-t,--tagmatch", tagmatch)->type_name("PATTERN");
    app.add_option("-n,--count", count)->type_name("N");
    app.add_option("--timeout", timeout)->type_name("SECONDS");
    args.insert(args.begin(), "tool");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    int code = -1;
    std::string err = stderr_of([&] {
        if (auto c = cli::parse(app, static_cast<int>(argv.size()), argv.data())) code = *c;
    });
    return {code, err};
}

}  // namespace

TEST_CASE("guarded_main: an escaping exception is an internal error, exit 70") {
    int code = 0;
    CHECK(stderr_of([&] { code = cli::guarded_main("tool", throws_runtime, 0, nullptr); }) ==
          "tool: internal error: boom\n");
    CHECK(code == 70);
    CHECK(stderr_of([&] { code = cli::guarded_main("tool", throws_int, 0, nullptr); }) ==
          "tool: internal error: an exception of unknown type\n");
    CHECK(code == 70);
    CHECK(stderr_of([&] { code = cli::guarded_main("tool", returns_3, 0, nullptr); }).empty());
    CHECK(code == 3);
}

TEST_CASE("CLI11's errors in our words") {
    const std::string hint = "Try 'tool --help'.\n";
    CHECK(parse({"-t", "a", "-t", "b"}) ==
          std::pair{64, "tool: --tagmatch given more than once (it takes one value)\n" + hint});
    CHECK(parse({"--count", "x"}) == std::pair{64, "tool: invalid --count 'x' (expected a number)\n" + hint});
    CHECK(parse({"--timeout"}) == std::pair{64, "tool: --timeout needs a value (SECONDS)\n" + hint});
    CHECK(parse({"--bogus"}) == std::pair{64, "tool: unknown option --bogus\n" + hint});
    CHECK(parse({"stray"}) == std::pair{64, "tool: unexpected argument stray\n" + hint});
    CHECK(parse({"-t", "a"}) == std::pair{-1, std::string()});
}
