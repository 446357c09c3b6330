#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "host/config.hpp"
#include "host/paths.hpp"
#include "salt/yaml.hpp"

using namespace tagbus;
namespace fs = std::filesystem;

namespace {

// A config_dir of our own under /tmp, removed again at the end of the test.
struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tagbus-config-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    std::string put(const std::string& rel, const std::string& text) const {
        const std::string full = path + "/" + rel;
        fs::create_directories(fs::path(full).parent_path());
        std::ofstream(full, std::ios::binary) << text;
        return full;
    }
};

// The injected environment: variables, folders that "exist", host name, uid.
struct fake_env {
    std::map<std::string, std::string> vars;
    std::set<std::string> dirs;
    std::string fqdn = "host.example.com";
    unsigned uid = 1000;

    environment get() const {
        environment e;
        e.getenv = [vars = vars](const char* name) -> std::optional<std::string> {
            auto it = vars.find(name);
            if (it == vars.end()) return std::nullopt;
            return it->second;
        };
        e.is_dir = [dirs = dirs](const std::string& p) { return dirs.count(p) > 0; };
        e.fqdn = [f = fqdn] { return f; };
        e.uid = uid;
        return e;
    }
};

config_request req_for(node_kind n, const temp_dir& d) {
    config_request r;
    r.node = n;
    r.config_dir = d.path;
    return r;
}

bus_config ok(const config_request& r, const fake_env& e = {}) {
    auto c = resolve_config(r, e.get());
    if (!c) FAIL_CHECK(c.error().message);
    REQUIRE(c.has_value());
    return *c;
}

// (sock_dir, sock_dir_source)
using dir_src = std::pair<std::string, std::string>;
dir_src sock(const config_request& r, const fake_env& e = {}) {
    auto c = ok(r, e);
    return {c.sock_dir, c.sock_dir_source};
}

// "<pub> <pull>" as describe() writes them.
std::string endpoints(const bus_config& c) {
    auto eps = bus_paths(c);
    REQUIRE(eps);
    return eps->pub.describe() + " " + eps->pull.describe();
}

template <typename T>
failure error_of(const result<T>& r) {
    REQUIRE_FALSE(r.has_value());
    return r.error();
}

failure err(const config_request& r, const fake_env& e = {}) { return error_of(resolve_config(r, e.get())); }

#define CHECK_FAILS(expr, st, msg)             \
    do {                                       \
        const failure f_ = (expr);             \
        CHECK(f_.code == (st));                \
        CHECK(f_.message == std::string(msg)); \
    } while (0)

}  // namespace

TEST_CASE("parse_node") {
    CHECK(*parse_node("master") == node_kind::master);
    CHECK(*parse_node("minion") == node_kind::minion);
    CHECK(to_string(node_kind::master) == "master");
    CHECK(to_string(node_kind::minion) == "minion");
    CHECK_FAILS(error_of(parse_node("syndic")), errc::invalid, "unknown node 'syndic' (expected master or minion)");
}

TEST_CASE("sock_dir: each source in order of precedence") {
    temp_dir d;
    const std::string cfgfile = d.put("minion", "sock_dir: /srv/from-file\n");
    fake_env e;
    e.vars["TAGBUS_SOCK_DIR"] = "/srv/from-env";
    e.vars["XDG_RUNTIME_DIR"] = "/run/user/1000";
    e.dirs.insert("/var/run/salt/minion");
    auto r = req_for(node_kind::minion, d);
    r.sock_dir = "/srv/from-flag";

    CHECK(sock(r, e) == dir_src{"/srv/from-flag", "command line"});
    r.sock_dir.reset();
    CHECK(sock(r, e) == dir_src{"/srv/from-env", "TAGBUS_SOCK_DIR"});
    e.vars["TAGBUS_SOCK_DIR"] = "";  // empty counts as unset
    CHECK(sock(r, e) == dir_src{"/srv/from-file", cfgfile});
    CHECK(ok(r, e).config_file == cfgfile);
    fs::remove(cfgfile);
    CHECK(sock(r, e) == dir_src{"/var/run/salt/minion", "Salt's default"});
    CHECK(ok(r, e).config_file.empty());
    e.dirs.clear();
    CHECK(sock(r, e) == dir_src{"/run/user/1000/tagbus/minion", "tagbus default"});
    e.vars["XDG_RUNTIME_DIR"] = "";
    CHECK(sock(r, e) == dir_src{"/tmp/tagbus-1000/minion", "tagbus default"});

    r.node = node_kind::master;
    e.vars.clear();
    e.uid = 0;
    CHECK(sock(r, e) == dir_src{"/tmp/tagbus-0/master", "tagbus default"});
    e.dirs.insert("/var/run/salt/master");
    CHECK(sock(r, e) == dir_src{"/var/run/salt/master", "Salt's default"});

    r.sock_dir = "";
    CHECK_FAILS(err(r, e), errc::invalid, "empty sock_dir on the command line");
}

TEST_CASE("config files: <node>.d/*.conf in name order, later keys win") {
    temp_dir d;
    d.put("master", "sock_dir: /s/main\nhash_type: md5\nnested: {a: 1, b: 2}\nlist: [x]\n");
    const std::string b = d.put("master.d/20-b.conf", "sock_dir: /s/b\nnested: {b: 3}\nlist: [y, x]\n");
    d.put("master.d/10-a.conf", "sock_dir: /s/a\nipc_mode: tcp\nnested: {c: 4}\n");
    d.put("master.d/30-c.conf.bak", "sock_dir: /s/ignored\n");
    d.put("master.d/.40-hidden.conf", "sock_dir: /s/hidden\n");
    d.put("minion.d/x.conf", "sock_dir: /s/other-node\n");
    auto c = ok(req_for(node_kind::master, d));
    CHECK(c.sock_dir == "/s/b");
    CHECK(c.sock_dir_source == b);
    CHECK(c.tcp);
    CHECK(c.hash_type == "md5");
    CHECK(c.config_file == d.path + "/master");

    // Included files merge into each other key by key and list by list (dictupdate), but their
    // result replaces the main file's keys whole (dict.update).
    const value* nested = nullptr;
    const value* list = nullptr;
    for (const auto& m : c.options) {
        if (*m.key.str() == "nested") nested = &m.val;
        if (*m.key.str() == "list") list = &m.val;
    }
    REQUIRE(nested);
    REQUIRE(list);
    CHECK(*nested == value(map_t{{"c", 4}, {"b", 3}}));
    CHECK(*list == value(array_t{"y", "x"}));
}

TEST_CASE("config files: only .d files, default_include and include") {
    temp_dir d;
    const std::string only = d.put("minion.d/a.conf", "sock_dir: /s/only-d\n");
    CHECK(sock(req_for(node_kind::minion, d)) == dir_src{"/s/only-d", only});
    CHECK(ok(req_for(node_kind::minion, d)).config_file.empty());

    // default_include replaces minion.d/*.conf; include is read after it.
    d.put("minion", "default_include: extra/*.yml\ninclude: [late.conf, 'opt/*.conf']\nsock_dir: /s/main\n");
    const std::string extra = d.put("extra/one.yml", "sock_dir: /s/extra\nid: from-extra\n");
    CHECK(sock(req_for(node_kind::minion, d)) == dir_src{"/s/extra", extra});
    const std::string late = d.put("late.conf", "sock_dir: /s/late\n");
    d.put("opt/z.conf", "include: nested.conf\n");
    d.put("opt/nested.conf", "id: from-nested\n");
    auto c = ok(req_for(node_kind::minion, d));
    CHECK(sock(req_for(node_kind::minion, d)) == dir_src{"/s/late", late});
    CHECK(c.id == "from-nested");

    // ~ in an include is the HOME of the injected environment.
    d.put("minion", "include: ~/mine.conf\n");
    d.put("home/mine.conf", "sock_dir: /s/home\n");
    fake_env e;
    e.vars["HOME"] = d.path + "/home";
    CHECK(ok(req_for(node_kind::minion, d), e).sock_dir == "/s/home");

    d.put("minion", "include: 42\n");
    CHECK_FAILS(err(req_for(node_kind::minion, d)), errc::config,
                "invalid include 42 in " + d.path + "/minion (expected a file pattern or a list of them)");
    d.put("minion", "default_include: [loop.conf]\n");
    d.put("loop.conf", "include: loop.conf\n");
    CHECK_FAILS(err(req_for(node_kind::minion, d)), errc::config,
                "includes nested deeper than 16 at " + d.path + "/loop.conf");
}

TEST_CASE("config files: errors name the file") {
    temp_dir d;
    auto r = req_for(node_kind::minion, d);

    d.put("minion", "- a\n- b\n");
    CHECK_FAILS(err(r), errc::config,
                "invalid config file " + d.path + "/minion: expected a mapping of options, not a list");
    d.put("minion", "just words\n");
    CHECK_FAILS(err(r), errc::config,
                "invalid config file " + d.path + "/minion: expected a mapping of options, not a string");
    d.put("minion", "# only comments\n");
    CHECK(ok(r).config_file == d.path + "/minion");

    // The position and reason are the YAML loader's; config adds the file name after "invalid YAML".
    const std::string bad_yaml = "a: 1\n  b: 2\n";
    const std::string x = d.put("minion.d/x.conf", bad_yaml);
    const std::string why = error_of(salt_yaml_load(bad_yaml)).message;
    REQUIRE(why.rfind("invalid YAML at line 2, column ", 0) == 0);
    CHECK_FAILS(err(r), errc::config, "invalid YAML in " + x + why.substr(12));
    fs::remove(d.path + "/minion.d/x.conf");

    fs::remove(d.path + "/minion");
    fs::create_directory(d.path + "/minion");
    CHECK_FAILS(err(r), errc::config, "cannot read " + d.path + "/minion: Is a directory");
    fs::remove(d.path + "/minion");

    // Permission checks do not apply to root.
    if (::geteuid() != 0) {
        const std::string p = d.put("minion", "id: x\n");
        ::chmod(p.c_str(), 0);
        CHECK_FAILS(err(r), errc::config, "cannot read " + p + ": Permission denied");
    }
}

TEST_CASE("config files: what the YAML parser must never see") {
    temp_dir d;
    auto r = req_for(node_kind::minion, d);

    // Issue 9, defect 12: six bytes that made yaml-cpp run for 22 s and 1.9 GB. PyYAML reads them
    // as the string ':a ,', which is not a mapping of options.
    const std::string p = d.put("minion", "&c:a\n,");
    CHECK_FAILS(err(r), errc::config, "invalid config file " + p + ": expected a mapping of options, not a string");
    d.put("minion", "- a\n,");
    CHECK_FAILS(err(r), errc::config, "invalid YAML in " + p + " at line 2, column 1: expected <block end>, but found ','");

    // Larger than 1 MiB: refused before parsing, whatever it holds.
    d.put("minion", "id: x\n" + std::string(max_config_size, '#'));
    CHECK_FAILS(err(r), errc::config, "cannot read " + p + ": larger than 1 MiB, the limit for a config file");
    d.put("minion", "id: x\n" + std::string(max_config_size - 6, '#'));
    CHECK(ok(r).id == "x");
}

TEST_CASE("a config folder that was asked for must exist") {
    temp_dir d;
    auto r = req_for(node_kind::minion, d);
    r.config_dir = d.path + "/nope";
    CHECK_FAILS(err(r), errc::config, "cannot read config folder " + d.path + "/nope: No such file or directory");
    const std::string f = d.put("file", "");
    r.config_dir = f;
    CHECK_FAILS(err(r), errc::config, "cannot read config folder " + f + ": Not a directory");
    // The default /etc/salt may be missing: a machine without Salt.
    r.config_dir.reset();
    fake_env e;
    e.vars["TAGBUS_SOCK_DIR"] = d.path;
    if (!fs::exists("/etc/salt")) CHECK(ok(r, e).config_file.empty());
}

TEST_CASE("root_dir re-roots sock_dir as Salt's prepend_root_dir does") {
    struct row {
        const char* root_dir;
        const char* sock_dir;
        const char* expect;
    };
    const row rows[] = {
        {"/srv/r", "/var/run/salt/minion", "/srv/r/var/run/salt/minion"},
        {"/srv/r", "/srv/r/sock", "/srv/r/sock"},
        {"/srv/r/", "/srv/r/sock", "/srv/r/sock"},
        {"/srv/r", "run/sock", "/srv/r/run/sock"},
        {"/srv/r", "/srv/rx/sock", "/srv/r/srv/rx/sock"},
        {"/srv/r", "/srv/r", "/srv/r/srv/r"},  // Salt re-roots a path equal to root_dir again
        {"/", "/var/run/salt/minion", "/var/run/salt/minion"},
        {"/", "/var/run//salt/./minion/", "/var/run/salt/minion"},  // Salt normalises too
        {"/", "rel", "/rel"},
        {"/srv/./r", "/a/../b", "/srv/r/b"},
    };
    for (const auto& x : rows) {
        CAPTURE(x.root_dir);
        CAPTURE(x.sock_dir);
        temp_dir d;
        d.put("minion", std::string("root_dir: '") + x.root_dir + "'\nsock_dir: '" + x.sock_dir + "'\n");
        CHECK(ok(req_for(node_kind::minion, d)).sock_dir == x.expect);
    }

    // Salt's default moves under root_dir too; env and command line never do.
    temp_dir d;
    d.put("master", "root_dir: /srv/r\n");
    fake_env e;
    e.dirs.insert("/srv/r/var/run/salt/master");
    CHECK(sock(req_for(node_kind::master, d), e) == dir_src{"/srv/r/var/run/salt/master", "Salt's default"});
    e.vars["TAGBUS_SOCK_DIR"] = "/elsewhere";
    CHECK(ok(req_for(node_kind::master, d), e).sock_dir == "/elsewhere");

    d.put("master", "root_dir: [1]\n");
    CHECK_FAILS(err(req_for(node_kind::master, d)), errc::config,
                "invalid root_dir (a list) in " + d.path + "/master (expected a non-empty string)");
}

TEST_CASE("sock_dir more than 10 characters longer than cachedir becomes <cachedir>/.salt-unix") {
    struct row {
        const char* yaml;
        const char* expect;
        bool moved;
    };
    const row rows[] = {
        // the default cachedir /var/cache/salt/minion is 22 characters: the limit is 32
        {"sock_dir: /var/run/salt/minion/0123456789xy\n", "/var/cache/salt/minion/.salt-unix", true},
        {"sock_dir: /var/run/salt/minion/0123456789x\n", "/var/run/salt/minion/0123456789x", false},
        {"cachedir: /c\nsock_dir: /var/run/xyz\n", "/var/run/xyz", false},   // 12 characters
        {"cachedir: /c\nsock_dir: /var/run/xyzw\n", "/c/.salt-unix", true},  // 13 characters
        {"cachedir: /c/\nsock_dir: /var/run/xyzwv\n", "/c/.salt-unix", true},
        {"cachedir: /master/cache\nsock_dir: /m/s\n", "/m/s", false},
        // compared as written, then both re-rooted
        {"root_dir: /srv/r\ncachedir: /c\nsock_dir: /var/run/xyzw\n", "/srv/r/c/.salt-unix", true},
        {"root_dir: /a/very/long/root\ncachedir: /c\nsock_dir: /s\n", "/a/very/long/root/s", false},
        // Python counts characters, not bytes: 11 characters in 21 bytes
        {"cachedir: /c\nsock_dir: /\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\n",
         "/\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", false},
    };
    for (const auto& x : rows) {
        CAPTURE(x.yaml);
        temp_dir d;
        const std::string f = d.put("minion", x.yaml);
        CHECK(sock(req_for(node_kind::minion, d)) ==
              dir_src{x.expect, x.moved ? f + ", too long: Salt uses <cachedir>/.salt-unix" : f});
    }

    // Only a sock_dir from a config file: a long one from the environment is used as given.
    temp_dir d;
    d.put("minion", "cachedir: /c\n");
    fake_env e;
    e.vars["TAGBUS_SOCK_DIR"] = "/a/rather/long/sock/dir/from/the/env";
    CHECK(ok(req_for(node_kind::minion, d), e).sock_dir == "/a/rather/long/sock/dir/from/the/env");
}

TEST_CASE("ipc_mode tcp: ports, ipv6 and endpoints") {
    temp_dir d;
    auto master = req_for(node_kind::master, d);
    auto minion = req_for(node_kind::minion, d);

    CHECK_FALSE(ok(master).tcp);
    minion.ipc_mode = "tcp";
    CHECK(endpoints(ok(minion)) == "tcp://127.0.0.1:4510 tcp://127.0.0.1:4511");
    minion.ipc_mode.reset();

    d.put("master", "ipc_mode: tcp\n");
    auto c = ok(master);
    CHECK(c.tcp);
    REQUIRE(bus_paths(c));
    CHECK(bus_paths(c)->pub.tcp);
    CHECK(bus_paths(c)->pub.host == "127.0.0.1");
    CHECK(endpoints(c) == "tcp://127.0.0.1:4512 tcp://127.0.0.1:4513");

    d.put("master",
          "ipc_mode: tcp\nipv6: true\ntcp_master_pub_port: 5512\ntcp_master_pull_port: ' 5513 '\n"
          "tcp_pub_port: 1\n");
    c = ok(master);
    CHECK(c.ipv6);
    CHECK(bus_paths(c)->pub.host == "::1");
    CHECK(endpoints(c) == "tcp://[::1]:5512 tcp://[::1]:5513");

    d.put("minion", "ipc_mode: tcp\ntcp_pub_port: '6510'\ntcp_pull_port: +6511\ntcp_master_pub_port: 7\n");
    CHECK(endpoints(ok(minion)) == "tcp://127.0.0.1:6510 tcp://127.0.0.1:6511");

    // --ipc-mode wins over the file, both ways.
    minion.ipc_mode = "ipc";
    CHECK_FALSE(ok(minion).tcp);
    d.put("minion", "ipc_mode: ipc\n");
    minion.ipc_mode = "tcp";
    CHECK(ok(minion).tcp);
    minion.ipc_mode = "udp";
    CHECK_FAILS(err(minion), errc::invalid, "invalid --ipc-mode 'udp' (expected ipc or tcp)");
    minion.ipc_mode.reset();

    const std::string f = d.path + "/minion";
    struct row {
        const char* yaml;
        std::string message;
    };
    const row rows[] = {
        {"ipc_mode: udp\n", "invalid ipc_mode 'udp' in " + f + " (expected ipc or tcp)"},
        {"ipc_mode: 1\n", "invalid ipc_mode 1 in " + f + " (expected a string)"},
        {"tcp_pub_port: abc\n", "invalid tcp_pub_port 'abc' in " + f + " (expected a port number from 1 to 65535)"},
        {"tcp_pub_port: 0\n", "invalid tcp_pub_port 0 in " + f + " (expected a port number from 1 to 65535)"},
        {"tcp_pull_port: 65536\n", "invalid tcp_pull_port 65536 in " + f + " (expected a port number from 1 to 65535)"},
        {"tcp_pull_port: -5\n", "invalid tcp_pull_port -5 in " + f + " (expected a port number from 1 to 65535)"},
        {"tcp_pull_port: 4511.0\n",
         "invalid tcp_pull_port 4511.0 in " + f + " (expected a port number from 1 to 65535)"},
        {"tcp_pull_port: true\n", "invalid tcp_pull_port True in " + f + " (expected a port number from 1 to 65535)"},
        {"tcp_pull_port: ''\n", "invalid tcp_pull_port '' in " + f + " (expected a port number from 1 to 65535)"},
        {"ipv6: 'yes'\n", "invalid ipv6 'yes' in " + f + " (expected True or False)"},
        {"max_event_size: big\n", "invalid max_event_size 'big' in " + f + " (expected a positive number of bytes)"},
        {"max_event_size: 0\n", "invalid max_event_size 0 in " + f + " (expected a positive number of bytes)"},
        {"hash_type: sha999\n", "invalid hash_type 'sha999' in " + f + " (expected a hashlib name such as sha256)"},
        {"hash_type: ''\n", "invalid hash_type '' in " + f + " (expected a non-empty string)"},
        {"sock_dir: [a]\n", "invalid sock_dir (a list) in " + f + " (expected a non-empty string)"},
        {"cachedir: {a: 1}\n", "invalid cachedir (a mapping) in " + f + " (expected a non-empty string)"},
        {"id: [a]\n", "invalid id (a list) in " + f + " (expected a string)"},
        {"file_client: 5\n", "invalid file_client 5 in " + f + " (expected a string)"},
        {"use_master_when_local: maybe\n",
         "invalid use_master_when_local 'maybe' in " + f + " (expected True or False)"},
    };
    for (const auto& x : rows) {
        CAPTURE(x.yaml);
        d.put("minion", x.yaml);
        CHECK_FAILS(err(minion), errc::config, x.message);
    }
    // The key is named with the .d file that set it.
    d.put("minion", "ipc_mode: tcp\n");
    const std::string g = d.put("minion.d/p.conf", "tcp_pub_port: 99999\n");
    CHECK_FAILS(err(minion), errc::config,
                "invalid tcp_pub_port 99999 in " + g + " (expected a port number from 1 to 65535)");
}

TEST_CASE("other options: max_event_size, hash_type, masterless, null values") {
    temp_dir d;
    auto r = req_for(node_kind::minion, d);
    auto c = ok(r);
    CHECK(c.max_event_size == 1048576);
    CHECK(c.hash_type == "sha256");
    CHECK_FALSE(c.masterless);
    CHECK_FALSE(c.use_master_when_local);
    CHECK_FALSE(c.ipv6);

    d.put("minion", "max_event_size: '2048'\nhash_type: MD5\nfile_client: local\nuse_master_when_local: True\n");
    c = ok(r);
    CHECK(c.max_event_size == 2048);
    CHECK(c.hash_type == "md5");
    CHECK(c.masterless);
    CHECK(c.use_master_when_local);

    d.put("minion", "master_type: disable\n");
    CHECK(ok(r).masterless);
    d.put("minion", "master_type: failover\nfile_client: remote\n");
    CHECK_FALSE(ok(r).masterless);

    // An option written with no value counts as unset.
    d.put("minion", "sock_dir:\nipc_mode:\ntcp_pub_port:\nhash_type:\nipv6:\nframing:\n");
    c = ok(r);
    CHECK(c.sock_dir_source == "tagbus default");
    CHECK_FALSE(c.tcp);
    CHECK(c.pub_port == 4510);
    CHECK(c.hash_type == "sha256");
}

TEST_CASE("id: --id > config id > minion_id file > FQDN") {
    temp_dir d;
    auto r = req_for(node_kind::minion, d);
    fake_env e;
    e.fqdn = "web01.example.com";

    CHECK(ok(r, e).id == "web01.example.com");
    e.fqdn = "";
    CHECK(ok(r, e).id == "localhost");
    e.fqdn = "web01.example.com";

    d.put("minion_id",
          " \xEF\xBB\xBF"
          "cached-id \t\nsecond line\n");
    CHECK(ok(r, e).id == "cached-id");
    // Salt strips whitespace before it drops the BOM, so blanks after a BOM stay.
    d.put("minion_id", "\xEF\xBB\xBF cached-id\n");
    CHECK(ok(r, e).id == " cached-id");
    d.put("minion_id", "\n");
    CHECK(ok(r, e).id == "web01.example.com");
    d.put("minion_id", "cached-id");

    struct row {
        const char* yaml;
        const char* id;
    };
    const row rows[] = {
        {"id: web01\n", "web01"},
        {"id: 123\n", "123"},  // Salt converts a numeric id with str()
        {"id: 0\n", "0"},
        {"id: -7\n", "-7"},
        {"id: 1.5\n", "1.5"},
        {"id: 1e20\n", "1e20"},  // YAML 1.1 floats need a dot: this one is a string
        {"id: 1.0e+20\n", "1e+20"},
        {"id: 100000.0\n", "100000.0"},
        {"id: true\n", "True"},
        {"id:\n", "None"},  // str(None): what a real minion hashes
        {"id: ''\n", "cached-id"},
        {"minion_id_caching: false\n", "web01.example.com"},
        {"append_domain: example.org\n", "cached-id.example.org"},
        {"id: a.example.org\nappend_domain: example.org\n", "a.example.org"},
        {"id: fqdn.\nappend_domain: example.org\n", "fqdn."},
    };
    for (const auto& x : rows) {
        CAPTURE(x.yaml);
        d.put("minion", x.yaml);
        CHECK(ok(r, e).id == x.id);
    }

    // An IP address from the host name gets no domain appended; --id is taken as given.
    fs::remove(d.path + "/minion_id");
    d.put("minion", "append_domain: example.org\n");
    e.fqdn = "10.1.2.3";
    CHECK(ok(r, e).id == "10.1.2.3");
    r.id = "given";
    CHECK(ok(r, e).id == "given");

    // A master's bus does not depend on the id, so it never looks one up.
    auto m = req_for(node_kind::master, d);
    d.put("minion_id", "cached-id\n");
    CHECK(ok(m, e).id.empty());
    d.put("master", "id: mymaster\n");
    CHECK(ok(m, e).id == "mymaster");
}

TEST_CASE("minion_hash: the SALT-WIRE §1.1 table and every hashlib name") {
    struct row {
        const char* id;
        const char* type;
        const char* hash;
    };
    const row rows[] = {
        {"web01", "sha256", "1f94fe445b"},     {"minion1", "sha256", "1e9498c860"},
        {"localhost", "sha256", "49960de588"}, {"web01", "md5", "2f527604e1"},
        {"minion1", "md5", "c5a7daa544"},      {"localhost", "md5", "421aa90e07"},
        {"web01", "SHA256", "1f94fe445b"},     {"web01", "Md5", "2f527604e1"},
        {"web01", "sha1", "7f1f968061"},       {"web01", "sha224", "9e7dc7a526"},
        {"web01", "sha384", "1c5f330096"},     {"web01", "sha512", "a55d597b4a"},
        {"web01", "sha3_224", "59d97997e1"},   {"web01", "sha3_256", "a6c2fa2817"},
        {"web01", "sha3_384", "ccd4d87448"},   {"web01", "sha3_512", "1093a43ed1"},
        {"web01", "blake2b", "bc1bb2f8af"},    {"web01", "blake2s", "0d31cf9f16"},
        {"web01", "sha512_224", "d98ea3f312"}, {"web01", "sha512_256", "55b24b985b"},
    };
    for (const auto& x : rows) {
        CAPTURE(x.type);
        auto h = minion_hash(x.id, x.type);
        REQUIRE(h);
        CHECK(*h == x.hash);
    }
    for (const char* bad : {"foo", "sha3-256", "SHA-256", "shake_128", ""})
        CHECK_FAILS(error_of(minion_hash("web01", bad)), errc::config,
                    "unknown hash_type '" + std::string(bad) + "'");
}

TEST_CASE("bus_paths: socket names and the sun_path limit") {
    bus_config c;
    c.node = node_kind::master;
    c.sock_dir = "/var/run/salt/master";
    REQUIRE(bus_paths(c));
    CHECK_FALSE(bus_paths(c)->pub.tcp);
    CHECK(bus_paths(c)->pub.path == "/var/run/salt/master/master_event_pub.ipc");
    CHECK(endpoints(c) == "/var/run/salt/master/master_event_pub.ipc /var/run/salt/master/master_event_pull.ipc");
    c.sock_dir = "/run/x/";
    CHECK(endpoints(c) == "/run/x/master_event_pub.ipc /run/x/master_event_pull.ipc");

    c.node = node_kind::minion;
    c.sock_dir = "/var/run/salt/minion";
    c.id = "web01";
    CHECK(endpoints(c) ==
          "/var/run/salt/minion/minion_event_1f94fe445b_pub.ipc /var/run/salt/minion/minion_event_1f94fe445b_pull.ipc");
    c.hash_type = "md5";
    CHECK(bus_paths(c)->pub.path == "/var/run/salt/minion/minion_event_2f527604e1_pub.ipc");
    c.hash_type = "nope";
    CHECK_FAILS(error_of(bus_paths(c)), errc::config, "unknown hash_type 'nope'");

    // The minion pull name is the longest: 33 bytes after "<sock_dir>/".
    c.hash_type = "sha256";
    const std::string fits(107 - 34, 'd');
    c.sock_dir = "/" + fits;
    auto eps = bus_paths(c);
    REQUIRE(eps);
    CHECK(eps->pull.path.size() == 107);
    c.sock_dir = "/" + fits + "d";
    CHECK_FAILS(error_of(bus_paths(c)), errc::config,
                "socket path /" + fits +
                    "d/minion_event_1f94fe445b_pull.ipc is 108 bytes; the limit is 107 "
                    "(choose a shorter sock_dir)");

    c.node = node_kind::master;
    c.sock_dir = "/" + std::string(100, 'm');
    CHECK_FAILS(error_of(bus_paths(c)), errc::config,
                "socket path " + c.sock_dir +
                    "/master_event_pub.ipc is 122 bytes; the limit is 107 "
                    "(choose a shorter sock_dir)");
    c.tcp = true;  // no path, no limit
    c.pub_port = 4512;
    CHECK(bus_paths(c)->pub.describe() == "tcp://127.0.0.1:4512");
}

TEST_CASE("framing: --framing > TAGBUS_FRAMING > config > legacy") {
    temp_dir d;
    auto r = req_for(node_kind::master, d);
    fake_env e;
    CHECK(ok(r, e).pull_framing == framing::legacy);

    const std::string f = d.put("master", "framing: prefixed\n");
    CHECK(ok(r, e).pull_framing == framing::prefixed);
    e.vars["TAGBUS_FRAMING"] = "legacy";
    CHECK(ok(r, e).pull_framing == framing::legacy);
    r.framing = "prefixed";
    CHECK(ok(r, e).pull_framing == framing::prefixed);
    e.vars["TAGBUS_FRAMING"] = "";
    r.framing.reset();
    CHECK(ok(r, e).pull_framing == framing::prefixed);

    r.framing = "auto";
    CHECK_FAILS(err(r, e), errc::invalid, "invalid --framing 'auto' (expected legacy or prefixed)");
    r.framing.reset();
    e.vars["TAGBUS_FRAMING"] = "Legacy";
    CHECK_FAILS(err(r, e), errc::config, "invalid TAGBUS_FRAMING 'Legacy' (expected legacy or prefixed)");
    e.vars.clear();
    d.put("master", "framing: lengthy\n");
    CHECK_FAILS(err(r, e), errc::config, "invalid framing 'lengthy' in " + f + " (expected legacy or prefixed)");
    d.put("master", "framing: 4\n");
    CHECK_FAILS(err(r, e), errc::config, "invalid framing 4 in " + f + " (expected a string)");
    // A bad --framing is reported before a bad file is even read.
    d.put("master", "framing: [\n");
    r.framing = "x";
    CHECK(err(r, e).code == errc::invalid);
}

TEST_CASE("environment::process is the real process") {
    auto env = environment::process();
    CHECK(env.uid == static_cast<unsigned>(::getuid()));
    CHECK(env.is_dir("/"));
    CHECK(env.is_dir("/tmp"));
    CHECK_FALSE(env.is_dir("/dev/null"));
    CHECK_FALSE(env.is_dir("/nonexistent/tagbus"));
    CHECK_FALSE(env.fqdn().empty());
    ::setenv("TAGBUS_TEST_VALUE", "x y", 1);
    CHECK(env.getenv("TAGBUS_TEST_VALUE") == std::optional<std::string>("x y"));
    ::unsetenv("TAGBUS_TEST_VALUE");
    CHECK_FALSE(env.getenv("TAGBUS_TEST_VALUE").has_value());

    // With the real environment and no config, the default ends in the node name.
    temp_dir d;
    auto c = resolve_config(req_for(node_kind::minion, d), env);
    REQUIRE(c);
    CHECK(c->sock_dir.ends_with("/minion"));
}
