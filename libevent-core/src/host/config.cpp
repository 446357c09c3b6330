// config: Salt's master/minion config files as salt.config loads them (load_config, include_config,
// apply_*_config, prepend_root_dir), then the tagbus precedence rules of DESIGN.md on top.
#include "host/config.hpp"
#include "host/hostname.hpp"

#include <fcntl.h>
#include <glob.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <vector>

#include "host/paths.hpp"
#include "salt/yaml.hpp"
#include "py/py.hpp"

namespace tagbus::inline v0 {

namespace detail {
namespace {

// Salt nests includes freely; Python would die of RecursionError on a loop, we stop earlier.
constexpr int max_include_depth = 16;

// Which file last set each top-level key, so errors and --verbose can name it.
using origin_map = std::map<std::string, std::string>;

struct layer {
    map_t opts;
    origin_map from;  // key -> file
};

value* find(map_t& m, std::string_view key) {
    for (auto& e : m)
        if (auto* s = e.key.str(); s && *s == key) return &e.val;
    return nullptr;
}

const value* find(const map_t& m, std::string_view key) { return find(const_cast<map_t&>(m), key); }

// Python dict assignment: an existing key keeps its position and takes the new value.
void set(map_t& m, const value& key, value val) {
    for (auto& e : m)
        if (e.key == key) {
            e.val = std::move(val);
            return;
        }
    m.push_back(member{key, std::move(val)});
}

// Top-level dict.update(): what Salt does between the main file and its include results.
void update(layer& dest, const layer& upd) {
    for (const auto& e : upd.opts) set(dest.opts, e.key, e.val);
    for (const auto& [k, f] : upd.from) dest.from[k] = f;
}

// salt.utils.dictupdate.update(dest, upd, recursive_update=True, merge_lists=True): how
// include_config merges one included file into the ones before it.
void deep_update(map_t& dest, const map_t& upd) {
    for (const auto& e : upd) {
        value* d = nullptr;
        for (auto& de : dest)
            if (de.key == e.key) d = &de.val;
        if (d && d->map() && e.val.map()) {
            deep_update(*d->map(), *e.val.map());
        } else if (auto* dl = d ? std::get_if<array_t>(&d->v) : nullptr; dl && e.val.array()) {
            for (const auto& item : *e.val.array())
                if (std::find(dl->begin(), dl->end(), item) == dl->end()) dl->push_back(item);
        } else {
            set(dest, e.key, e.val);
        }
    }
}

// Python's str() of a float (repr: shortest round-trip digits, exponent form outside 1e-4..1e16),
// because Salt turns a numeric `id:` into str(id).
std::string python_float(double d) {
    if (d != d) return "nan";
    if (d == 1.0 / 0.0) return "inf";
    if (d == -1.0 / 0.0) return "-inf";
    char buf[64];
    auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string_view sci(buf, static_cast<std::size_t>(r.ptr - buf));
    std::string sign = sci.front() == '-' ? "-" : "";
    if (!sign.empty()) sci.remove_prefix(1);
    auto epos = sci.find('e');
    std::string digits;
    for (char c : sci.substr(0, epos))
        if (c != '.') digits += c;
    int exp = 0;
    auto es = sci.substr(epos + 1);
    if (es.front() == '+') es.remove_prefix(1);
    std::from_chars(es.data(), es.data() + es.size(), exp);
    if (exp < -4 || exp >= 16) {
        std::string out = sign + digits.substr(0, 1);
        if (digits.size() > 1) out += "." + digits.substr(1);
        std::string e = std::to_string(exp < 0 ? -exp : exp);
        return out + (exp < 0 ? "e-" : "e+") + (e.size() < 2 ? "0" : "") + e;
    }
    if (exp < 0) return sign + "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
    auto point = static_cast<std::size_t>(exp) + 1;
    if (digits.size() <= point) return sign + digits + std::string(point - digits.size(), '0') + ".0";
    return sign + digits.substr(0, point) + "." + digits.substr(point);
}

// A value as an error message shows it: strings quoted, scalars as Python prints them.
std::string describe(const value& v) {
    if (auto* s = v.str()) return "'" + *s + "'";
    if (v.is_nil()) return "None";
    if (auto* b = std::get_if<bool>(&v.v)) return *b ? "True" : "False";
    if (auto* u = std::get_if<std::uint64_t>(&v.v)) return std::to_string(*u);
    if (auto* i = std::get_if<std::int64_t>(&v.v)) return std::to_string(*i);
    if (auto* d = std::get_if<double>(&v.v)) return python_float(*d);
    if (auto* f = std::get_if<float>(&v.v)) return python_float(*f);
    if (v.array()) return "(a list)";
    if (v.map()) return "(a mapping)";
    return "(a binary value)";
}

std::string normpath(std::string_view p) {
    if (p.empty()) return ".";
    std::size_t slashes = p.front() == '/' ? 1 : 0;
    if (p.starts_with("//") && !p.starts_with("///")) slashes = 2;  // POSIX leaves "//" alone
    std::vector<std::string_view> comps;
    std::size_t i = 0;
    while (i <= p.size()) {
        auto j = p.find('/', i);
        if (j == std::string_view::npos) j = p.size();
        auto c = p.substr(i, j - i);
        i = j + 1;
        if (c.empty() || c == ".") continue;
        if (c != ".." || (slashes == 0 && comps.empty()) || (!comps.empty() && comps.back() == ".."))
            comps.push_back(c);
        else if (!comps.empty())
            comps.pop_back();
    }
    std::string out(slashes, '/');
    for (std::size_t k = 0; k < comps.size(); ++k) {
        if (k) out += '/';
        out += comps[k];
    }
    return out.empty() ? "." : out;
}

std::string join(std::string_view a, std::string_view b) {
    if (b.starts_with('/') || a.empty()) return std::string(b);
    std::string out(a);
    if (!out.ends_with('/')) out += '/';
    return out + std::string(b);
}

std::string dirname(std::string_view p) {
    auto k = p.rfind('/');
    if (k == std::string_view::npos) return "";
    auto head = p.substr(0, k + 1);
    if (head.find_first_not_of('/') != std::string_view::npos)
        while (head.ends_with('/')) head.remove_suffix(1);
    return std::string(head);
}

// Python's str.strip() for ASCII whitespace.
std::string_view strip(std::string_view t) {
    constexpr std::string_view ws = " \t\n\r\f\v";
    auto b = t.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return t.substr(b, t.find_last_not_of(ws) - b + 1);
}

// Python's len() of a str: code points, not bytes (the .salt-unix rule compares lengths).
std::size_t py_len(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// salt.config.prepend_root_dir on Linux (ROOT_DIR "/", so its "default root" prefix is empty):
// strip <root_dir> when the path is already under it, then join and normalise. Note that a path
// equal to root_dir itself is re-rooted again; Salt does the same.
std::string reroot(std::string_view path, std::string_view root) {
    std::string_view rel = path;
    if (path.size() > root.size() && path.starts_with(root) && path[root.size()] == '/') rel = path.substr(root.size());
    while (rel.starts_with('/')) rel.remove_prefix(1);
    return normpath(join(root, rel));
}

// nullopt: the file does not exist (Salt skips a missing config file silently). A file larger
// than max_config_size is refused before it reaches the YAML parser (see config.hpp).
result<std::optional<std::string>> read_text(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) return std::optional<std::string>{};
    std::string text;
    char buf[8192];
    ssize_t n = fd < 0 ? -1 : 0;
    while (fd >= 0 && text.size() <= max_config_size &&
           ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR)))
        if (n > 0) text.append(buf, static_cast<std::size_t>(n));
    const int err = errno;
    if (fd >= 0) ::close(fd);
    if (n < 0) return fail(errc::config, "cannot read " + path + ": " + std::strerror(err));
    if (text.size() > max_config_size)
        return fail(errc::config, "cannot read " + path + ": larger than 1 MiB, the limit for a config file");
    return std::optional<std::string>{std::move(text)};
}

// What a non-empty, non-mapping YAML document holds.
const char* kind_of(const value& v) {
    if (v.str()) return "a string";
    if (v.array()) return "a list";
    return std::get_if<bool>(&v.v) ? "a boolean" : "a number";
}

// One config file: salt.config._read_conf_file. A missing file yields nothing.
result<std::optional<layer>> load_file(const std::string& path) {
    auto text = read_text(path);
    if (!text) return text.error();
    if (!*text) return std::optional<layer>{};
    auto doc = salt_yaml_load(**text);
    if (!doc) {
        std::string msg = doc.error().message;
        if (msg.starts_with("invalid YAML"))
            msg.insert(12, " in " + path);
        else
            msg = "invalid YAML in " + path + ": " + msg;
        return fail(errc::config, std::move(msg));
    }
    layer out;
    if (auto* m = doc->map()) {
        for (auto& e : *m) {
            if (auto* k = e.key.str()) out.from[*k] = path;
            set(out.opts, e.key, e.val);
        }
    } else if (truthy(*doc)) {
        return fail(errc::config,
                    "invalid config file " + path + ": expected a mapping of options, not " + kind_of(*doc));
    }
    return std::optional<layer>{std::move(out)};
}

result<std::vector<std::string>> glob_files(const std::string& pattern) {
    glob_t g{};
    int rc = ::glob(pattern.c_str(), GLOB_NOSORT, nullptr, &g);
    std::vector<std::string> files;
    if (rc == 0)
        for (std::size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
    ::globfree(&g);
    if (rc == GLOB_NOSPACE) return fail(errc::config, "cannot expand include " + pattern + ": out of memory");
    // Python's sorted() of str: code point order, which is byte order for UTF-8.
    std::sort(files.begin(), files.end());
    return files;
}

// salt.config.include_config: each pattern (a string or a list of them; relative to the including
// file's folder; ~ expanded) is globbed, matches read in name order, nested `include:` honoured.
result<layer> include_config(const value* include, const std::string& orig, const std::string& key,
                             const environment& env, int depth) {
    layer conf;
    if (!include || !truthy(*include)) return conf;
    if (depth > max_include_depth)
        return fail(errc::config, "includes nested deeper than " + std::to_string(max_include_depth) + " at " + orig);
    std::vector<std::string> patterns;
    auto bad = [&] {
        return fail(errc::config, "invalid " + key + " " + describe(*include) + " in " + orig +
                                        " (expected a file pattern or a list of them)");
    };
    if (auto* s = include->str())
        patterns.push_back(*s);
    else if (auto* a = include->array()) {
        for (const auto& p : *a) {
            if (!p.str()) return bad();
            patterns.push_back(*p.str());
        }
    } else {
        return bad();
    }
    for (auto pattern : patterns) {
        if (pattern == "~" || pattern.starts_with("~/"))
            if (auto home = env.getenv ? env.getenv("HOME") : std::nullopt; home && !home->empty())
                pattern = *home + pattern.substr(1);
        pattern = join(dirname(orig), pattern);
        auto files = glob_files(pattern);
        if (!files) return files.error();
        for (const auto& f : *files) {
            auto one = load_file(f);
            if (!one) return one.error();
            if (!*one) continue;  // vanished between glob and open
            layer& l = **one;
            auto nested = include_config(find(l.opts, "include"), f, "include", env, depth + 1);
            if (!nested) return nested.error();
            update(l, *nested);
            deep_update(conf.opts, l.opts);
            for (const auto& [k, from] : l.from) conf.from[k] = from;
        }
    }
    return conf;
}

// The merged options and where each came from. A key whose value is null counts as unset. A bad
// value records the first error (then reads as unset), so resolve_config checks once per phase.
struct options {
    const layer& l;
    mutable std::optional<failure> error;

    const value* get(std::string_view key) const {
        const value* v = find(l.opts, key);
        return v && !v->is_nil() ? v : nullptr;
    }
    std::string where(std::string_view key) const {
        auto it = l.from.find(std::string(key));
        return it == l.from.end() ? std::string("the config") : it->second;
    }
    void bad(std::string_view key, const value& v, std::string_view expected) const {
        if (!error)
            error = fail(errc::config, "invalid " + std::string(key) + " " + describe(v) + " in " + where(key) +
                                             " (expected " + std::string(expected) + ")");
    }

    std::optional<std::string> string(std::string_view key, bool nonempty = false) const {
        const value* v = get(key);
        if (v && v->str() && !(nonempty && v->str()->empty())) return *v->str();
        if (v) bad(key, *v, nonempty ? "a non-empty string" : "a string");
        return std::nullopt;
    }

    // Salt checks numeric options with int(value): an integer, or a string of decimal digits
    // with optional sign and surrounding whitespace.
    std::uint64_t number(std::string_view key, std::uint64_t dflt, std::uint64_t lo, std::uint64_t hi,
                         std::string_view expected) const {
        const value* v = get(key);
        if (!v) return dflt;
        std::uint64_t n = 0;
        bool good = false;
        if (auto* u = std::get_if<std::uint64_t>(&v->v)) {
            n = *u;
            good = true;
        } else if (auto* s = v->str()) {
            std::string_view t = strip(*s);
            if (t.starts_with('+')) t.remove_prefix(1);
            auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
            good = !t.empty() && ec == std::errc{} && p == t.data() + t.size();
        }
        if (good && n >= lo && n <= hi) return n;
        bad(key, *v, expected);
        return dflt;
    }

    // Salt tests these flags for truth; a string would always be true there, so refuse it.
    bool flag(std::string_view key) const {
        const value* v = get(key);
        if (!v) return false;
        if (auto* b = std::get_if<bool>(&v->v)) return *b;
        if (std::get_if<std::uint64_t>(&v->v) || std::get_if<std::int64_t>(&v->v)) return truthy(*v);
        bad(key, *v, "True or False");
        return false;
    }

    // Salt's _read_conf_file turns any `id:` into str(id) as it reads each file, so a number becomes
    // its digits and an empty `id:` becomes "None" (a real minion hashes that too).
    std::string id() const {
        const value* v = find(l.opts, "id");
        if (!v) return {};
        if (v->array() || v->map() || std::get_if<bin_t>(&v->v) || std::get_if<ext_t>(&v->v)) {
            bad("id", *v, "a string");
            return {};
        }
        return v->str() ? *v->str() : describe(*v);
    }
};

// <config_dir>/minion_id: first line, stripped, UTF-8 BOM dropped. Salt ignores an unreadable one.
std::string read_minion_id(const std::string& path) {
    auto text = read_text(path);
    if (!text || !*text) return {};
    std::string_view t = strip(std::string_view(**text).substr(0, (**text).find('\n')));
    if (t.starts_with("\xEF\xBB\xBF")) t.remove_prefix(3);
    return std::string(t);
}

// Salt does not append a domain to an id that looks like an IPv4 address.
bool looks_like_ipv4(std::string_view id) {
    return std::count(id.begin(), id.end(), '.') == 3 &&
           std::none_of(id.begin(), id.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
}

result<framing> framing_from(std::string_view word, errc code, const std::string& what) {
    auto f = parse_framing(word);
    if (!f) return fail(code, "invalid " + what + " '" + std::string(word) + "' (expected legacy or prefixed)");
    return *f;
}

std::optional<std::string> env_value(const environment& env, const char* name) {
    if (!env.getenv) return std::nullopt;
    auto v = env.getenv(name);
    if (v && v->empty()) return std::nullopt;
    return v;
}

std::string absolute_root(const std::string& root) {
    if (root.starts_with('/')) return normpath(root);
    std::error_code ec;
    auto cwd = std::filesystem::current_path(ec);
    return normpath(join(ec ? "/" : cwd.string(), root));
}

}  // namespace
}  // namespace detail

result<node_kind> parse_node(std::string_view word) {
    if (word == "master") return node_kind::master;
    if (word == "minion") return node_kind::minion;
    return fail(errc::invalid, "unknown node '" + std::string(word) + "' (expected master or minion)");
}

std::string_view to_string(node_kind n) { return n == node_kind::master ? "master" : "minion"; }

std::vector<std::pair<std::string, std::string>> environment::variables() {
    std::vector<std::pair<std::string, std::string>> out;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto eq = entry.find('=');
        if (eq == std::string_view::npos) continue;
        out.emplace_back(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
    }
    return out;
}

environment environment::process() {
    environment env;
    env.getenv = [](const char* name) -> std::optional<std::string> {
        const char* v = std::getenv(name);
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
    env.is_dir = [](const std::string& path) {
        struct stat st {};
        return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
    };
    env.fqdn = host_fqdn;  // Salt derives a missing minion id from get_fqhostname()
    env.uid = static_cast<unsigned>(::getuid());
    return env;
}

result<bus_config> resolve_config(const config_request& req, const environment& env) {
    bus_config cfg;
    cfg.node = req.node;
    const std::string node(to_string(req.node));
    const bool master = req.node == node_kind::master;

    // Command-line mistakes are usage errors and are reported before anything is read.
    std::optional<framing> req_framing;
    if (req.framing) {
        auto f = detail::framing_from(*req.framing, errc::invalid, "--framing");
        if (!f) return f.error();
        req_framing = *f;
    }
    if (req.ipc_mode && *req.ipc_mode != "ipc" && *req.ipc_mode != "tcp")
        return fail(errc::invalid, "invalid --ipc-mode '" + *req.ipc_mode + "' (expected ipc or tcp)");
    if (req.sock_dir && req.sock_dir->empty()) return fail(errc::invalid, "empty sock_dir on the command line");

    // salt.config.master_config / minion_config: the main file, then default_include, then include.
    const std::string config_dir = req.config_dir.value_or("/etc/salt");
    // A config folder that was asked for must be there: a mistyped one would otherwise read as
    // "no config" and send the tools to the default sock_dir without a word. (/etc/salt itself
    // may be absent: a machine without Salt.)
    if (req.config_dir) {
        struct stat st {};
        if (::stat(config_dir.c_str(), &st) != 0)
            return fail(errc::config, "cannot read config folder " + config_dir + ": " + std::strerror(errno));
        if (!S_ISDIR(st.st_mode))
            return fail(errc::config, "cannot read config folder " + config_dir + ": " + std::strerror(ENOTDIR));
    }
    detail::layer all;
    if (req.opts) {
        all.opts = *req.opts;
        for (const member& kv : all.opts)
            if (const std::string* k = kv.key.str()) all.from[*k] = "the options";
    } else {
        const std::string main_file = detail::join(config_dir, node);
        auto base = detail::load_file(main_file);
        if (!base) return base.error();
        if (*base) {
            all = std::move(**base);
            cfg.config_file = main_file;
        }
        const value default_include(node + ".d/*.conf");
        const value* di = detail::find(all.opts, "default_include");
        auto inc1 = detail::include_config(di ? di : &default_include, main_file, "default_include", env, 0);
        if (!inc1) return inc1.error();
        auto inc2 = detail::include_config(detail::find(all.opts, "include"), main_file, "include", env, 0);
        if (!inc2) return inc2.error();
        detail::update(all, *inc1);
        detail::update(all, *inc2);
    }
    const detail::options o{all, std::nullopt};

    // sock_dir (DESIGN.md, "Where sock_dir comes from").
    const std::string root = detail::absolute_root(o.string("root_dir", true).value_or("/"));
    const std::string cachedir = o.string("cachedir", true).value_or("/var/cache/salt/" + node);
    const auto file_sock = o.string("sock_dir", true);
    if (o.error) return *o.error;
    if (req.sock_dir) {
        cfg.sock_dir = *req.sock_dir;
        cfg.sock_dir_source = req.given_by;
    } else if (auto e = detail::env_value(env, "TAGBUS_SOCK_DIR")) {
        cfg.sock_dir = *e;
        cfg.sock_dir_source = "TAGBUS_SOCK_DIR";
    } else if (file_sock) {
        // apply_*_config: the length rule runs on the values as written, before re-rooting both.
        std::string s = *file_sock;
        cfg.sock_dir_source = o.where("sock_dir");
        if (detail::py_len(s) > detail::py_len(cachedir) + 10) {
            s = detail::join(cachedir, ".salt-unix");
            cfg.sock_dir_source += ", too long: Salt uses <cachedir>/.salt-unix";
        }
        cfg.sock_dir = detail::reroot(s, root);
    } else if (auto d = detail::reroot("/var/run/salt/" + node, root); env.is_dir && env.is_dir(d)) {
        cfg.sock_dir = d;
        cfg.sock_dir_source = "Salt's default";
    } else {
        if (auto x = detail::env_value(env, "XDG_RUNTIME_DIR"))
            cfg.sock_dir = detail::join(*x, "tagbus/" + node);
        else
            cfg.sock_dir = "/tmp/tagbus-" + std::to_string(env.uid) + "/" + node;
        cfg.sock_dir_source = "tagbus default";
    }

    // ipc_mode, ports, ipv6: only "tcp" switches Salt to TCP; we also refuse words it would ignore.
    const auto ipc = o.string("ipc_mode");
    if (ipc && *ipc != "ipc" && *ipc != "tcp") o.bad("ipc_mode", *o.get("ipc_mode"), "ipc or tcp");
    cfg.tcp = req.ipc_mode ? *req.ipc_mode == "tcp" : ipc == "tcp";
    const char* port_words = "a port number from 1 to 65535";
    cfg.pub_port = static_cast<std::uint16_t>(
        o.number(master ? "tcp_master_pub_port" : "tcp_pub_port", master ? 4512 : 4510, 1, 65535, port_words));
    cfg.pull_port = static_cast<std::uint16_t>(
        o.number(master ? "tcp_master_pull_port" : "tcp_pull_port", master ? 4513 : 4511, 1, 65535, port_words));
    cfg.ipv6 = o.flag("ipv6");
    cfg.max_event_size = static_cast<std::size_t>(
        o.number("max_event_size", cfg.max_event_size, 1, SIZE_MAX, "a positive number of bytes"));

    // hash_type: Salt lower-cases it, then looks it up in hashlib.
    if (auto ht = o.string("hash_type", true)) {
        std::transform(ht->begin(), ht->end(), ht->begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (known_hash_type(*ht))
            cfg.hash_type = *ht;
        else
            o.bad("hash_type", *o.get("hash_type"), "a hashlib name such as sha256");
    }
    cfg.masterless = o.string("file_client") == "local" || o.string("master_type") == "disable";
    cfg.use_master_when_local = o.flag("use_master_when_local");

    // id: --id > config `id` > minion_id file > FQDN. Only a minion's bus depends on the id, so a
    // master does not guess one (the FQDN lookup can stall for seconds on a host with broken DNS).
    const auto append_domain = o.string("append_domain");
    const value* caching = o.get("minion_id_caching");
    cfg.id = req.id.value_or(o.id());
    if (req.id) cfg.id_source = req.given_by;
    else if (!cfg.id.empty()) cfg.id_source = o.where("id");
    if (!req.id) {
        bool from_ip = false;
        if (cfg.id.empty() && !master && (!caching || truthy(*caching))) {
            cfg.id = detail::read_minion_id(detail::join(config_dir, "minion_id"));
            if (!cfg.id.empty()) cfg.id_source = detail::join(config_dir, "minion_id");
        }
        if (cfg.id.empty() && !master) {
            cfg.id_source = "the host name";
            cfg.id = env.fqdn ? env.fqdn() : std::string();
            if (cfg.id.empty()) cfg.id = "localhost";  // salt.utils.network.generate_minion_id
            from_ip = detail::looks_like_ipv4(cfg.id);
        }
        // salt.config._append_domain
        if (append_domain && !from_ip && !cfg.id.empty() && !cfg.id.ends_with(*append_domain) && !cfg.id.ends_with('.'))
            cfg.id += "." + *append_domain;
    }

    // framing: --framing > TAGBUS_FRAMING > config `framing:` > legacy.
    const auto file_framing = o.string("framing");
    if (o.error) return *o.error;
    if (req_framing) {
        cfg.pull_framing = *req_framing;
    } else if (auto e = detail::env_value(env, "TAGBUS_FRAMING")) {
        auto f = detail::framing_from(*e, errc::config, "TAGBUS_FRAMING");
        if (!f) return f.error();
        cfg.pull_framing = *f;
    } else if (file_framing) {
        auto f = parse_framing(*file_framing);
        if (!f)
            o.bad("framing", *o.get("framing"), "legacy or prefixed");
        else
            cfg.pull_framing = *f;
    }
    if (o.error) return *o.error;

    cfg.options = std::move(all.opts);
    return cfg;
}

}  // namespace tagbus
