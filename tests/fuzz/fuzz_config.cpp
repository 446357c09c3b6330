// Salt config files: the input is written as <dir>/minion (or <dir>/master: the first byte's low
// bit) and resolve_config reads it as every tool does. Invariants: a refusal is a config error
// (exit 78) that names the file; an accepted file yields a sock_dir. A runaway parse shows up as
// libFuzzer's timeout or memory limit. Inputs that could make `include:` reach outside the
// folder ('/', '~' or ".." anywhere alongside "include") are skipped, so that no host file is read.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "fuzz.hpp"
#include "host/config.hpp"

using namespace tagbus;

namespace {

const std::string& folder() {
    static const std::string dir = [] {
        char tmpl[] = "/tmp/tagbus-fuzz-config-XXXXXX";
        const char* d = ::mkdtemp(tmpl);
        if (!d) std::abort();
        return std::string(d);
    }();
    return dir;
}

void write_file(const std::string& path, std::string_view text) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (!text.empty() && std::fwrite(text.data(), 1, text.size(), f) != text.size()) std::abort();
    std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const bool master = data[0] & 1u;
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (text.find("include") != std::string_view::npos &&
        (text.find_first_of("/~") != std::string_view::npos || text.find("..") != std::string_view::npos))
        return 0;

    const std::string& dir = folder();
    const std::string file = dir + (master ? "/master" : "/minion");
    ::unlink((dir + (master ? "/minion" : "/master")).c_str());
    write_file(file, text);

    environment env;
    env.getenv = [](const char*) { return std::optional<std::string>{}; };
    env.is_dir = [](const std::string&) { return false; };
    env.fqdn = [] { return std::string("fuzz.example.org"); };
    env.uid = 4242;
    config_request req;
    req.node = master ? node_kind::master : node_kind::minion;
    req.config_dir = dir;
    auto cfg = resolve_config(req, env);
    if (!cfg) {
        FUZZ_CHECK(cfg.error().code == errc::config);
        FUZZ_CHECK(cfg.error().message.find(dir) != std::string::npos);
        return 0;
    }
    FUZZ_CHECK(!cfg->sock_dir.empty());
    FUZZ_CHECK(cfg->config_file == file);
    if (!master) FUZZ_CHECK(!cfg->id.empty());
    return 0;
}
