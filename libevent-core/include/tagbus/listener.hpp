// Listening to a bus with the semantics of Salt's salt.utils.event get_event (SALT-WIRE §5).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "tagbus/destination.hpp"
#include "tagbus/event.hpp"
#include "tagbus/export.hpp"
#include "tagbus/match.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

class event_range;

/// One persistent connection to a bus's pub socket, read only while get_event waits (as Salt's
/// client does). Not thread-safe, except interrupt(). Blocking: it runs its own event loop.
class TAGBUS_API listener {
public:
    /// Makes the listener; the first connect is tried here and, if the bus is not there yet, again
    /// inside every get_event (as Salt does). Errors only for the destination itself.
    static result<listener> open(const destination& from);
    listener(listener&&) noexcept;
    listener& operator=(listener&&) noexcept;
    ~listener();

    /// The next event whose tag matches `tag` under `type`, first from the pending queue, then
    /// from the socket. `wait`: how long to wait in all (0: forever); an event that does not match
    /// shortens the wait that is left, it never restarts it. `no_block`: only what has already
    /// arrived. Returns nullopt when the wait ends without a match, when interrupt() was called,
    /// and (as Salt) for an event that cannot be decoded. An event that does not match is kept in
    /// the pending queue if it matches a subscription, else dropped. Error: errc::invalid for a
    /// regex Python's re would refuse.
    result<std::optional<event>> get_event(std::chrono::milliseconds wait = std::chrono::seconds(5),
                                           std::string_view tag = {}, match_type type = match_type::startswith,
                                           bool no_block = false);

    /// Events matching `tag` under `type` that arrive while get_event waits for another tag are
    /// kept for a later call (at most max_pending; past it the oldest is dropped and counted).
    result<void> subscribe(std::string_view tag, match_type type = match_type::startswith);
    /// Forgets the subscription; pending events that no other subscription matches are dropped.
    void unsubscribe(std::string_view tag, match_type type = match_type::startswith);

    /// An endless range of matching events, get_event with a 5 s wait over and over, skipping
    /// the empty answers (iter_events). It ends only on an error (see last_error()) or interrupt().
    event_range iter_events(std::string_view tag = {}, match_type type = match_type::startswith);

    /// Makes a get_event that is waiting, or the next one, return nullopt at once. Callable from
    /// any thread while the listener exists, and from a signal handler (it only sets an atomic
    /// flag and calls uv_async_send, which libuv documents as async-signal-safe).
    void interrupt();

    /// For a program with its own event loop (asyncio, select, poll): a file descriptor that
    /// becomes readable when the bus has sent something or interrupt() was called, so that
    /// get_event(no_block=true) may have an answer. Wait for it at most poll_timeout()
    /// milliseconds (-1: as long as you like), then call get_event(no_block=true) until it gives
    /// nothing: the listener's own timers (reconnecting to a bus that went away) run in those
    /// calls. The descriptor belongs to the listener; never read it or close it.
    int poll_fd() const;
    int poll_timeout() const;
    /// Whether the last get_event returned nullopt because of interrupt().
    bool interrupted() const;
    bool connected() const;
    /// How many times the connection was lost and made again: each is a gap, since events fired
    /// meanwhile are gone (Salt has no replay). The pending queue is cleared at each loss.
    std::uint64_t gaps() const;
    std::size_t pending() const;
    std::uint64_t pending_dropped() const;
    /// How many matching events could not be decoded (each a nullopt from get_event, as Salt's
    /// None), and why the last one could not ("truncated msgpack at byte 12"), for a warning.
    std::uint64_t undecodable() const;
    const std::string& undecodable_reason() const;
    static constexpr std::size_t max_pending = 10000;

    struct impl;

private:
    explicit listener(std::unique_ptr<impl> p);
    std::unique_ptr<impl> p_;
    friend class event_range;
};

/// See listener::iter_events. Input range: each step blocks until the next matching event.
class TAGBUS_API event_range {
public:
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = event;
        using difference_type = std::ptrdiff_t;
        using pointer = const event*;
        using reference = const event&;
        iterator() = default;
        const event& operator*() const { return *range_->current_; }
        const event* operator->() const { return &*range_->current_; }
        iterator& operator++() {
            if (!range_->next()) range_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(const iterator& o) const { return range_ == o.range_; }

    private:
        friend class event_range;
        explicit iterator(event_range* r) : range_(r) {}
        event_range* range_ = nullptr;
    };
    iterator begin() { return next() ? iterator(this) : iterator(); }
    iterator end() { return iterator(); }
    /// Why the range ended, if an error ended it.
    const std::optional<failure>& last_error() const { return error_; }

private:
    friend class listener;
    event_range(listener& l, std::string tag, match_type type) : l_(&l), tag_(std::move(tag)), type_(type) {}
    bool next();
    listener* l_;
    std::string tag_;
    match_type type_;
    std::optional<event> current_;
    std::optional<failure> error_;
};

}  // namespace tagbus
