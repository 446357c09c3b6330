// event-api's HTTP side: salt-api's /events (server-sent events), /ws and /hook over libh2o on
// the same libuv loop as the bus subscription, every stream a sink of the library's fan-out hub
// (a slow client is bounded and dropped as a slow bus subscriber is). SALT-WIRE §9.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tagbus/destination.hpp"
#include "tokens.hpp"

namespace event_api {

struct server_options {
    std::string host = "0.0.0.0";
    std::uint16_t port = 8000;
    std::optional<std::string> ssl_crt, ssl_key;  ///< both, or neither with disable_ssl
    bool webhook_disable_auth = false;
    /// Every stream as salt-api writes it: no id lines, no replay, no keep-alive comments, no
    /// server-side filter (a client may still ask for them with ?ids=1 etc.).
    bool strict = false;
    std::size_t ring = 10000;          ///< events kept for Last-Event-ID replay (0: none)
    std::uint64_t keepalive_ms = 15000;
    std::size_t max_clients = 10000;   ///< streams at once
    std::size_t max_header_bytes = 16384;
    double rate = 50;                  ///< requests a second per client address (a burst of twice that)
    std::size_t client_queue = 16u << 20;  ///< bytes unwritten before a stream is dropped
    std::size_t max_body = 1u << 20;   ///< a hook's request body
    bool verbose = false;
};

/// Serves until SIGTERM or SIGINT (exit 0) or a fatal error. Logs to stderr, one line each.
/// Returns the exit code.
int run_server(std::string_view tool, const server_options& o, token_store& tokens, const tagbus::destination& bus);

}  // namespace event_api
