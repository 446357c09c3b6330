// event-api: salt-api's /events, /ws and /hook for any bus (event-busd or a Salt master's
// sock_dir), with a live page. Settings: the command line, then the master config's
// rest_cherrypy section (salt-api's own), then salt-api's defaults.
#include <sys/stat.h>

#include <cstdint>
#include <charconv>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "api/destination_impl.hpp"
#include "cli.hpp"
#include "server.hpp"
#include "tokens.hpp"

using namespace tagbus;

namespace {

constexpr std::string_view tool = "event-api";

const value* find_key(const map_t& m, std::string_view key) {
    for (const auto& kv : m)
        if (const auto* k = kv.key.str(); k && *k == key) return &kv.val;
    return nullptr;
}

// A rest_cherrypy setting as text, or an error naming it.
result<std::optional<std::string>> text_setting(const map_t& section, std::string_view key) {
    const value* v = find_key(section, key);
    if (!v || v->is_nil()) return std::optional<std::string>{};
    if (const auto* s = v->str()) return std::optional<std::string>{*s};
    if (const auto* i = std::get_if<std::int64_t>(&v->v)) return std::optional<std::string>{std::to_string(*i)};
    if (const auto* u = std::get_if<std::uint64_t>(&v->v)) return std::optional<std::string>{std::to_string(*u)};
    return fail(errc::config, "rest_cherrypy: " + std::string(key) + " must be a string or a number");
}

result<std::optional<bool>> bool_setting(const map_t& section, std::string_view key) {
    const value* v = find_key(section, key);
    if (!v || v->is_nil()) return std::optional<bool>{};
    if (const auto* b = std::get_if<bool>(&v->v)) return std::optional<bool>{*b};
    return fail(errc::config, "rest_cherrypy: " + std::string(key) + " must be True or False");
}

bool is_loopback(const std::string& host) {
    return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

bool is_dir(const std::string& p) {
    struct stat st{};
    return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

// For the numeric options: CLI11 would wrap a negative number round into a huge unsigned one.
const CLI::Validator non_negative(
    [](std::string& v) { return !v.empty() && v.front() == '-' ? std::string("must be 0 or more") : std::string(); },
    "", "not negative");

static int tool_main(int argc, char** argv) {
    cli::connection_options conn;
    event_api::server_options o;
    std::optional<std::string> host, tokens_file, salt_token_dir, ssl_crt, ssl_key, keepalive;
    std::optional<unsigned> port;
    bool disable_ssl = false, webhook_disable_auth = false;
    CLI::App app{"Serve a Salt event bus over HTTP as salt-api does: /events, /ws, /hook, a page.",
                 std::string(tool)};
    cli::setup_app(app);
    app.add_option("--host", host, "address to listen on [rest_cherrypy host, 0.0.0.0]")->type_name("ADDR");
    app.add_option("--port", port, "port to listen on [rest_cherrypy port, 8000]")->type_name("N")->check(CLI::Range(0, 65535));
    app.add_option("--ssl-crt", ssl_crt, "TLS certificate (PEM) [rest_cherrypy ssl_crt]")->type_name("FILE");
    app.add_option("--ssl-key", ssl_key, "TLS private key (PEM) [rest_cherrypy ssl_key]")->type_name("FILE");
    app.add_flag("--disable-ssl", disable_ssl, "serve plain HTTP [rest_cherrypy disable_ssl]");
    app.add_option("--tokens", tokens_file, "tokens file: one token a line, optional expiry")->type_name("FILE");
    app.add_option("--salt-token-dir", salt_token_dir, "Salt's eauth token store [the master's token_dir]")
        ->type_name("DIR");
    app.add_flag("--webhook-disable-auth", webhook_disable_auth, "POST /hook without a token");
    app.add_flag("--strict", o.strict, "salt-api's exact bytes: no ids, replay,\nkeep-alive");
    app.add_option("--ring", o.ring, "events kept for Last-Event-ID replay [10000]")->type_name("N")->check(non_negative);
    app.add_option("--keepalive", keepalive, "a keep-alive comment every SECONDS; 0: none [15]")->type_name("SECONDS");
    app.add_option("--max-clients", o.max_clients, "streams served at once [10000]")->type_name("N")->check(non_negative);
    app.add_option("--max-header-bytes", o.max_header_bytes, "largest request head [16384]")->type_name("N")->check(non_negative);
    app.add_option("--rate", o.rate, "requests a second per client address; 0: any [50]")->type_name("N")->check(non_negative);
    app.add_option("--client-queue", o.client_queue, "bytes a client may fall behind before it is\ndropped [16777216]")
        ->type_name("BYTES")
        ->check(non_negative);
    cli::add_connection_options(app, conn, false);
    if (auto code = cli::parse(app, argc, argv)) return *code;
    o.verbose = conn.verbose;
    if (keepalive) {
        auto k = cli::parse_seconds("--keepalive", *keepalive);
        if (!k) return cli::fail(tool, k.error());
        o.keepalive_ms = static_cast<std::uint64_t>(*k * 1000.0 + 0.5);
    }

    auto bus = cli::resolve_destination(tool, conn, node_kind::master);
    if (!bus) return cli::fail(tool, bus.error());

    // salt-api's own settings, where the command line is silent.
    const map_t& config = bus->config();
    map_t section;
    if (const value* rc = find_key(config, "rest_cherrypy")) {
        if (const auto* m = rc->map()) section = *m;
        else if (!rc->is_nil()) return cli::fail(tool, failure{errc::config, "rest_cherrypy in the master config must be a map"});
    }
    auto cfg_text = [&](std::string_view key, std::optional<std::string>& into) -> std::optional<int> {
        if (into) return std::nullopt;
        auto v = text_setting(section, key);
        if (!v) return cli::fail(tool, v.error());
        into = *v;
        return std::nullopt;
    };
    for (auto [key, into] : {std::pair<std::string_view, std::optional<std::string>*>{"host", &host}, {"ssl_crt", &ssl_crt},
                             {"ssl_key", &ssl_key}})
        if (auto code = cfg_text(key, *into)) return *code;
    if (!port) {
        std::optional<std::string> p;
        if (auto code = cfg_text("port", p)) return *code;
        if (p) {
            unsigned n = 0;
            auto [ptr, ec] = std::from_chars(p->data(), p->data() + p->size(), n);
            if (ec != std::errc{} || ptr != p->data() + p->size() || n > 65535)
                return cli::fail(tool, failure{errc::config, "rest_cherrypy: port '" + *p + "' is not a port number"});
            port = n;
        }
    }
    for (auto [key, flag] : {std::pair<std::string_view, bool*>{"disable_ssl", &disable_ssl}, {"webhook_disable_auth", &webhook_disable_auth}}) {
        if (*flag) continue;
        auto v = bool_setting(section, key);
        if (!v) return cli::fail(tool, v.error());
        *flag = v->value_or(false);
    }
    o.host = host.value_or("0.0.0.0");
    o.port = static_cast<std::uint16_t>(port.value_or(8000));
    o.webhook_disable_auth = webhook_disable_auth;
    if (disable_ssl) {
        if (!is_loopback(o.host))
            cli::say(tool, "warning: serving plain HTTP on " + o.host + ": tokens and events cross the network unencrypted");
    } else {
        if (!ssl_crt || !ssl_key)
            return cli::usage(tool, "give --ssl-crt FILE and --ssl-key FILE (or rest_cherrypy ssl_crt and ssl_key), or --disable-ssl");
        o.ssl_crt = ssl_crt;
        o.ssl_key = ssl_key;
    }

    event_api::token_store tokens;
    if (tokens_file)
        if (auto r = tokens.set_tokens_file(*tokens_file); !r) return cli::fail(tool, r.error());
    if (salt_token_dir) {
        if (!is_dir(*salt_token_dir))
            return cli::fail(tool, failure{errc::config, "--salt-token-dir " + *salt_token_dir + " is not a folder"});
        tokens.set_salt_token_dir(*salt_token_dir);
    } else if (!bus->details().cfg.config_file.empty() && bus->node() == node_kind::master) {
        // The master's token_dir (default <cachedir>/tokens), as salt-api reads it.
        std::optional<std::string> dir;
        if (const value* t = find_key(config, "token_dir"); t && t->str()) dir = *t->str();
        else if (const value* c = find_key(config, "cachedir"); c && c->str()) dir = *c->str() + "/tokens";
        else dir = "/var/cache/salt/master/tokens";
        if (is_dir(*dir)) tokens.set_salt_token_dir(*dir);
    }
    if (tokens.empty())
        return cli::fail(tool, failure{errc::config, "no token source: give --tokens FILE or --salt-token-dir DIR "
                                                     "(or run where the master config names a token_dir)"});
    if (o.verbose && !tokens.salt_token_dir().empty()) cli::say(tool, "Salt tokens from " + tokens.salt_token_dir());
    // One descriptor per client connection, and --max-clients of them.
    if (auto warn = cli::raise_open_files_limit(o.max_clients + 1024, std::to_string(o.max_clients) + " clients"))
        cli::say(tool, "warning: " + *warn);
    return event_api::run_server(tool, o, tokens, *bus);
}

int main(int argc, char** argv) { return cli::guarded_main(tool, tool_main, argc, argv); }
