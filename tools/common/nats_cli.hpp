// NATS connection options as NATS users know them (the nats CLI's names and environment), shared
// by event-bridge and `state-event --from`.
#pragma once

#include <string>
#include <vector>

#include "engine/stream.hpp"
#include "tagbus/result.hpp"

namespace CLI {
class App;  // CLI/CLI.hpp is included where options are declared (cli.hpp says why)
}

namespace tagbus::cli {

struct nats_options {
    std::vector<std::string> servers;  // --server, repeatable and comma-separated
    std::string user, password, token, creds, nkey, tls_ca, tls_cert, tls_key;
    bool tls = false;
};

/// --server, --user, --password, --token, --creds, --nkey, --tls, --tls-ca, --tls-cert, --tls-key, in an
/// option group "NATS". Without `with_server` the caller takes the URLs its own way (state-event's
/// --from) and puts them into `servers`.
void add_nats_options(CLI::App& app, nats_options& o, bool with_server = true);

/// The engine's options: the flags, else NATS_URL, NATS_USER, NATS_PASSWORD, NATS_TOKEN,
/// NATS_CREDS, NATS_NKEY from the environment (secrets need not be on a command line). A password or token
/// may be given as @FILE (read from the file, its trailing newline dropped). Errors name the flag.
result<engine::connect_options> nats_connect_options(const nats_options& o, const std::string& client_name);

}  // namespace tagbus::cli
