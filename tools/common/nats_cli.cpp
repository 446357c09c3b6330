#include "nats_cli.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <CLI/CLI.hpp>

namespace tagbus::cli {

void add_nats_options(CLI::App& app, nats_options& o, bool with_server) {
    auto* g = app.add_option_group("NATS", "NATS connection (also NATS_URL, NATS_USER, NATS_PASSWORD,\nNATS_TOKEN, NATS_CREDS, NATS_NKEY)");
    if (with_server)
        g->add_option("-s,--server", o.servers, "NATS URL(s): nats://HOST:PORT[,...]")->type_name("URL")->delimiter(',');
    g->add_option("--user", o.user, "NATS user name")->type_name("NAME");
    g->add_option("--password", o.password, "NATS password (@FILE: read it from FILE)")->type_name("PASS");
    g->add_option("--token", o.token, "NATS token (@FILE: read it from FILE)")->type_name("TOKEN");
    g->add_option("--creds", o.creds, "NATS .creds file (JWT and nkey seed)")->type_name("FILE");
    g->add_option("--nkey", o.nkey, "NATS nkey seed file (a user seed, SU...)")->type_name("FILE");
    g->add_flag("--tls", o.tls, "require TLS");
    g->add_option("--tls-ca", o.tls_ca, "CA certificates to trust (PEM)")->type_name("FILE");
    g->add_option("--tls-cert", o.tls_cert, "client certificate (PEM)")->type_name("FILE");
    g->add_option("--tls-key", o.tls_key, "client certificate's key (PEM)")->type_name("FILE");
}

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    return v ? v : "";
}

// "@FILE" → the file's first line; anything else as given.
result<std::string> secret(const std::string& flag, const std::string& given) {
    if (given.empty() || given[0] != '@') return given;
    std::ifstream f(given.substr(1));
    if (!f) return failure{errc::config, "cannot read " + flag + " file " + given.substr(1)};
    std::string line;
    std::getline(f, line);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) return failure{errc::config, flag + " file " + given.substr(1) + " is empty"};
    return line;
}

}  // namespace

result<engine::connect_options> nats_connect_options(const nats_options& o, const std::string& client_name) {
    engine::connect_options c;
    c.name = client_name;
    if (!o.servers.empty()) {
        c.servers = o.servers;
    } else if (std::string url = env("NATS_URL"); !url.empty()) {
        std::stringstream ss(url);
        for (std::string part; std::getline(ss, part, ',');)
            if (!part.empty()) c.servers.push_back(part);
    }
    if (c.servers.empty()) return failure{errc::invalid, "no NATS server: give --server nats://HOST:PORT (or set NATS_URL)"};
    for (auto& s : c.servers) {
        if (s.find("://") == std::string::npos) s = "nats://" + s;  // host:port, as the nats CLI takes it
        if (s.rfind("nats://", 0) != 0 && s.rfind("tls://", 0) != 0)
            return failure{errc::invalid, "invalid --server '" + s + "' (expected nats://HOST:PORT or tls://HOST:PORT)"};
    }
    c.user = o.user.empty() ? env("NATS_USER") : o.user;
    auto pw = secret("--password", o.password.empty() ? env("NATS_PASSWORD") : o.password);
    if (!pw) return pw.error();
    c.password = *pw;
    auto tok = secret("--token", o.token.empty() ? env("NATS_TOKEN") : o.token);
    if (!tok) return tok.error();
    c.token = *tok;
    c.creds_file = o.creds.empty() ? env("NATS_CREDS") : o.creds;
    c.nkey_file = o.nkey.empty() ? env("NATS_NKEY") : o.nkey;
    c.tls = o.tls;
    c.tls_ca = o.tls_ca;
    c.tls_cert = o.tls_cert;
    c.tls_key = o.tls_key;
    for (const std::string* f : {&c.creds_file, &c.nkey_file, &c.tls_ca, &c.tls_cert, &c.tls_key})
        if (!f->empty() && std::ifstream(*f).fail())
            return failure{errc::config, "cannot read " + *f + " (given for a NATS credential or TLS file)"};
    if (!c.password.empty() && c.user.empty()) return failure{errc::invalid, "--password needs --user"};
    return c;
}

}  // namespace tagbus::cli
