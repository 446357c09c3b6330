// Reading a bus's history back from the NATS JetStream stream event-bridge fills (issue 13):
// the replay Salt's bus never had.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tagbus/export.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

struct replay_options {
    std::vector<std::string> servers;  ///< nats://HOST:PORT or tls://HOST:PORT, one or more
    std::string stream;
    /// Where the replay starts; after the history it goes on with live events.
    enum class start { now, all, sequence, time } from = start::now;
    std::uint64_t sequence = 0;                    ///< start::sequence: the first stream sequence
    std::chrono::system_clock::time_point since{};  ///< start::time: events stored at or after it
    std::string subject;                           ///< a subject filter ("salt.web1.>"); empty: all
    std::string prefix = "salt";                   ///< event-bridge's --prefix, to read tags of JSON messages
    std::string user, password, token, creds_file, nkey_file;  ///< NATS authentication
    bool tls = false;
    std::string tls_ca, tls_cert, tls_key;
};

/// One event from the stream: its tag and its body bytes exactly as the bus carried them (decode
/// them with decode_body), with where the stream keeps it.
struct replayed_event {
    std::string tag;
    std::string body;
    std::uint64_t sequence = 0;
    std::chrono::system_clock::time_point stored;
};

/// An ordered reader of the stream (NATS's ordered consumer: in stream order, nothing
/// acknowledged, nothing left behind on the server). Blocking; not thread-safe except interrupt().
class TAGBUS_API replay {
public:
    /// Connects and starts reading. Errors: errc::unavailable (no server, no such stream, libnats
    /// not installed), errc::config (authentication or TLS refused), errc::invalid (bad options).
    static result<replay> open(const replay_options& options);
    replay(replay&&) noexcept;
    replay& operator=(replay&&) noexcept;
    ~replay();
    /// The next event, waiting at most `wait` (0: forever); nullopt when the wait ends or
    /// interrupt() was called. A message that is not an event is skipped (skipped() counts it,
    /// skip_reason() says why).
    result<std::optional<replayed_event>> next(std::chrono::milliseconds wait = std::chrono::seconds(5));
    /// Makes a waiting next(), or the next one, return nullopt at once. Any thread.
    void interrupt();
    std::uint64_t skipped() const;
    const std::string& skip_reason() const;

private:
    struct impl;
    explicit replay(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
