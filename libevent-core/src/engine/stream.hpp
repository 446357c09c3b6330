// The one small interface event-bridge and replay use to reach an external, clustered stream
// engine (issue 13). NATS JetStream is the first implementation (nats.cpp); another engine
// implements the same class.
//
// Threading: an engine's own threads (the client library's) produce results; they are queued
// inside the engine and handed over only by poll(), on the caller's thread. `notify` (given at
// connect) is called from those threads when poll() has something to give: a tool calls its
// event loop's wake() there and poll() in the wake callback. Every other call is made from the
// caller's one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tagbus/result.hpp"

namespace tagbus::inline v0::engine {

/// How to reach the engine. Secrets (password, token, the contents of creds/nkey files) are never
/// put into a message.
struct connect_options {
    std::vector<std::string> servers;  ///< URLs: nats://host:port, tls://host:port
    std::string name;                  ///< the client's name, shown by the server
    std::string user, password, token;
    std::string creds_file;  ///< a .creds file (JWT and nkey seed)
    std::string nkey_file;   ///< a file holding an nkey seed (SU...)
    bool tls = false;        ///< require TLS even for nats:// URLs
    std::string tls_ca, tls_cert, tls_key;
    std::int64_t connect_timeout_ms = 5000;
    /// Whether connect() waits for a server (false: the first failure is an error, as a tool
    /// wants at start-up; a connection made once is always kept up by reconnecting).
    bool retry_first_connect = false;
    /// A publisher's connection: after an outage the engine makes a new connection rather than
    /// letting the client library resume the old one, so nothing written before the outage can
    /// reach the stream after what the caller resends (the caller resends everything
    /// unacknowledged when it hears `reconnected`, and the stream keeps the publish order).
    bool publisher = false;
};

/// A stream to create when missing (or to check when it exists).
struct stream_options {
    std::string name;
    std::vector<std::string> subjects;  ///< e.g. "salt.>"
    int replicas = 1;
    std::int64_t max_age_ns = 0;  ///< 0: no limit
    std::int64_t max_bytes = -1;  ///< -1: no limit
};

/// One message to publish.
struct outgoing {
    std::string subject;
    std::string msg_id;  ///< what the engine removes duplicates by
    std::string tag;     ///< the exact Salt tag (header Salt-Tag)
    std::string stamp;   ///< the event's _stamp, when it has one (header Salt-Stamp)
    std::string format;  ///< "salt" (the body bytes) or "json" (header Salt-Format)
    std::string payload;
};

/// A publish's outcome, matched to the publish by msg_id.
struct publish_result {
    std::string msg_id;
    bool ok = false;
    bool duplicate = false;  ///< the engine already had it (a resend after a crash)
    std::uint64_t sequence = 0;
    std::string error;       ///< when !ok: why ("timeout waiting for acknowledgment", ...)
};

/// One message delivered from a stream.
struct incoming {
    std::string subject;
    std::string msg_id, tag, stamp, format;  ///< from its headers (empty when absent)
    std::string payload;
    std::uint64_t stream_sequence = 0;
    std::int64_t time_ns = 0;  ///< when the stream stored it
    std::uint64_t delivered = 1;  ///< how many times it was delivered (redeliveries > 1)
    std::shared_ptr<void> handle;  ///< the engine's message, for ack()
};

/// Where a consumer starts.
struct start_position {
    enum class kind { all, new_only, sequence, time } how = kind::all;
    std::uint64_t sequence = 0;
    std::int64_t time_ns = 0;
};

struct consume_options {
    std::string stream;
    std::vector<std::string> subjects;  ///< filter; empty: the whole stream
    std::string durable;                ///< empty: an ordered, ephemeral consumer (replay), no acks
    start_position start;
    int max_ack_pending = 1024;         ///< durable consumers: unacknowledged messages at most
    /// Whether incoming messages get msg_id, tag and stamp from their headers; without, only the
    /// format is set (inferred from the payload), which is all a replay needs and much faster.
    bool headers = true;
};

/// Something that happened to the connection, for a log line.
struct link_event {
    enum class kind { disconnected, reconnected, closed, error } what;
    std::string text;
};

struct polled {
    std::vector<publish_result> acks;
    std::vector<incoming> messages;
    std::vector<link_event> links;
};

class stream_engine {
public:
    virtual ~stream_engine() = default;
    /// Creates the stream when missing; when it exists, checks that it takes `subjects`.
    virtual result<void> ensure_stream(const stream_options& s) = 0;
    /// Queues one publish; its result comes from poll(). Does not block on the network.
    /// errc::data for a message the engine can never take (over the server's max_payload);
    /// errc::unavailable while there is no connection.
    virtual result<void> publish(const outgoing& m) = 0;
    /// Starts delivering messages (poll() gives them). Messages of a durable consumer must be
    /// ack()ed, else they come again after the ack wait.
    virtual result<void> consume(const consume_options& c) = 0;
    virtual void ack(const incoming& m) = 0;
    /// Asks for redelivery later (the message could not be handled now).
    virtual void nak(const incoming& m) = 0;
    /// Takes what the engine's threads produced since the last call.
    virtual polled poll() = 0;
    /// Stops delivering and waits (at most timeout_ms) until queued publishes are sent and
    /// acknowledged; their results are still given by poll() afterwards.
    virtual void drain(std::int64_t timeout_ms) = 0;
    virtual bool connected() const = 0;
    /// Where the messages go, for log lines ("nats://a:4222 (3 servers)"), without secrets.
    virtual std::string describe() const = 0;
};

/// Connects to NATS JetStream. libnats is loaded on first use (errc::unavailable naming the
/// missing library when it is not installed: the tools that never use an engine never load it).
/// Errors: errc::unavailable (no server answered), errc::config (auth refused, bad TLS or creds
/// files), errc::invalid (a bad URL).
result<std::unique_ptr<stream_engine>> connect_nats(const connect_options& o, std::function<void()> notify);

/// Durations as NATS users write them: "90s", "10m", "2h", "7d", "1h30m", or plain seconds.
result<std::int64_t> parse_duration_ns(std::string_view text);
/// Sizes: "1048576", "64K", "512M", "10G" (powers of 1024), "1.5G".
result<std::int64_t> parse_size(std::string_view text);

}  // namespace tagbus::engine
