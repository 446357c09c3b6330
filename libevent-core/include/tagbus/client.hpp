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

#include "tagbus/frame.hpp"
#include "tagbus/loop.hpp"
#include "tagbus/paths.hpp"
#include "tagbus/result.hpp"

namespace tagbus {

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
    /// closed the connection" (status::unavailable; status::data for a malformed frame). `lost`
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

private:
    struct impl;
    std::unique_ptr<impl> p_;
};

/// A blocking publisher for short-lived tools (event-fire): one connection to the pull socket,
/// driven by a private loop. Frames are written in order; close() waits until all are written.
/// Salt's pull socket never answers, so nothing is read. connect() sets SIGPIPE to ignored when it
/// has the default disposition (a bus that goes away is a write error, status::unavailable).
class publisher {
public:
    /// Connects within `timeout`. Errors name the endpoint: status::unavailable for a missing or
    /// refusing socket ("cannot connect to X: No such file or directory"), status::tempfail on timeout.
    static result<publisher> connect(const endpoint& pull, std::chrono::milliseconds timeout);
    publisher(publisher&&) noexcept;
    publisher& operator=(publisher&&) noexcept;
    ~publisher();

    /// Queues one already framed message (see append_frame); writes without waiting when the
    /// socket takes it. Returns an error when the connection has failed.
    result<void> send(std::string_view frame_bytes);
    /// Waits until everything queued is written (or `timeout`: status::tempfail "timed out writing
    /// to X after N ms"), then closes. Afterwards send() and close() fail (status::software).
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
