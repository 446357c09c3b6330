// Clients of a bus: the subscriber (pub socket; reconnect with backoff and a gap report), the
// publisher (pull socket; connect timeout, full flush) and the async publisher (pull socket, for
// daemons: queue, reconnect with backoff). All socket code for clients lives here.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "wire/frame.hpp"
#include "net/loop.hpp"
#include "host/paths.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

enum class link_state {
    connected,    ///< first connection made
    lost,         ///< the bus went away (EOF, error, or a malformed frame); reconnecting
    reconnected,  ///< back after `lost`: events fired in between are gone (Salt has no replay)
    unavailable,  ///< the first connect failed and wait_for_bus is off; the subscriber has stopped
};

struct subscriber_options {
    endpoint pub;
    std::size_t max_frame = default_max_frame;
    bool wait_for_bus = false;  ///< retry the first connect (with backoff) instead of `unavailable`
    std::uint64_t backoff_min_ms = 50;
    std::uint64_t backoff_max_ms = 1000;  ///< Salt's clients retry about every second
};

struct subscriber_handlers {
    /// One frame's body; the view is valid during the call only.
    std::function<void(std::string_view body)> on_body;
    /// After the frames of one read have been delivered: the place to flush buffered output.
    std::function<void()> on_batch_end;
    /// Connection changes; `err` says why for lost / unavailable (names the endpoint): "cannot
    /// connect to X: No such file or directory" (unavailable), "lost connection to X: the bus
    /// closed the connection" (errc::unavailable; errc::data for a malformed frame). `lost`
    /// comes once per outage; failed reconnects in between are silent, as are the retries of the
    /// first connect with wait_for_bus. Any handler may call stop() or destroy the subscriber.
    std::function<void(link_state, const failure* err)> on_state;
};

/// Reads the pub socket continuously, many frames per wakeup, never writing to it.
class subscriber {
public:
    subscriber(event_loop& loop, subscriber_options opts, subscriber_handlers handlers);
    ~subscriber();
    subscriber(const subscriber&) = delete;
    subscriber& operator=(const subscriber&) = delete;
    void start();
    /// Closes the connection and cancels reconnects; no handler is called afterwards.
    void stop();
    /// Stops reading (true) until called with false: what the bus sends waits in the socket and
    /// in the bus's queue for us, and the bus applies its own bound. For a consumer whose own
    /// receivers are all behind (event-api's fan-out hub).
    void pause(bool on);

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

/// A blocking publisher for short-lived tools (event-fire, event-send): one connection to the
/// pull socket, driven by a private loop. Frames are buffered and written in order, many per
/// write. Salt's pull socket never answers, so the only acknowledgement there is is the bus
/// closing its end after reading our EOF (Salt's buses and event-busd do): close() waits for it.
///
/// Every wait for the bus (a full socket, close()) is bounded by the timeout given to connect()
/// counted as time WITHOUT PROGRESS: a bus that keeps reading, however slowly, is waited for.
/// connect() sets SIGPIPE to ignored when it has the default disposition. No exception ever
/// unwinds through libuv: one thrown by the wait hook becomes a errc::internal error.
class publisher {
public:
    /// Connects within `timeout`, which also becomes the no-progress bound of later waits.
    /// Errors name the endpoint: errc::unavailable for a missing or refusing socket ("cannot
    /// connect to X: No such file or directory"); errc::timeout on timeout ("timed out
    /// connecting to X after N ms") and for a bus whose listen backlog stays full (EAGAIN, retried
    /// until the timeout): "cannot connect to X: the bus is busy: its listen backlog stayed full
    /// for N ms (is the bus process stopped or overloaded?); try again later".
    static result<publisher> connect(const endpoint& pull, std::chrono::milliseconds timeout);
    publisher(publisher&&) noexcept;
    publisher& operator=(publisher&&) noexcept;
    ~publisher();

    /// Queues already framed bytes (see append_frame). Nothing is written until 64 KiB are
    /// buffered (or flush()); past 1 MiB buffered it waits for the socket. Errors: errc::timeout
    /// "timed out writing to X: the bus took nothing for N ms"; errc::unavailable when the bus
    /// went away ("cannot write to X: the bus went away (Broken pipe)", "lost connection to X: the
    /// bus closed the connection").
    result<void> send(std::string_view frame_bytes);
    /// Writes everything buffered and waits until the socket has taken it (not yet read by the bus).
    result<void> flush();
    /// Flushes, then waits until `when` (pacing), noticing a bus that goes away meanwhile.
    result<void> pause_until(std::chrono::steady_clock::time_point when);
    /// While send/flush/close wait for the bus, `hook` is called about every 250 ms (a tool's
    /// progress display). It may throw: the wait then fails with errc::internal.
    void on_wait(std::function<void()> hook);
    /// Flushes, half-closes (shutdown of the write side) and waits until the bus closes its end:
    /// only then has it read everything. `timeout` bounds the time without progress. Errors:
    /// errc::timeout "timed out waiting for X to read what was sent: no progress for N ms (about
    /// B bytes unread)", or "... X read everything but did not close the connection within N ms";
    /// errc::unavailable "X closed the connection before reading everything (Connection reset
    /// by peer)". Afterwards send() and close() fail (errc::internal "the publisher is closed").
    result<void> close(std::chrono::milliseconds timeout);

private:
    publisher();
    struct impl;
    std::unique_ptr<impl> p_;
};

struct async_publisher_options {
    endpoint pull;
    std::size_t max_queue = 10000;  ///< messages kept while the bus is away or slow; send() refuses more
    std::uint64_t backoff_min_ms = 50;
    std::uint64_t backoff_max_ms = 1000;
};

/// A publisher for daemons, on the caller's event_loop: messages (each one or more whole frames)
/// are queued and written in order, many per write. It connects at the first send(); after a
/// failed connect or a lost connection it retries with backoff (min doubling to max) while
/// anything is queued, and stays idle otherwise until the next send(). A message leaves the queue
/// only once the socket has taken all of it; the messages of a write that failed are written
/// again, whole, on the next connection (the bus discards a frame cut short by a disconnect).
/// What the kernel accepted before the bus died is gone: Salt's pull socket has no acks.
class async_publisher {
public:
    /// `on_state` (may be empty): `connected` for each connection made, first or after an outage;
    /// `lost` once per outage, when a live connection breaks or a connect fails after success or
    /// at the start, with `err` naming the endpoint ("cannot connect to X: No such file or
    /// directory", "lost connection to X: the bus closed the connection"). It may call stop().
    async_publisher(event_loop& loop, async_publisher_options opts,
                    std::function<void(link_state, const failure* err)> on_state);
    /// Closes the connection; queued messages are discarded.
    ~async_publisher();
    async_publisher(const async_publisher&) = delete;
    async_publisher& operator=(const async_publisher&) = delete;

    /// Queues one message; false (nothing queued) when max_queue messages are waiting or after stop().
    bool send(std::string message);
    /// Messages waiting, including those being written.
    std::size_t queued() const;
    bool connected() const;
    /// Closes the connection, cancels retries and discards the queue; send() refuses afterwards.
    void stop();

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
