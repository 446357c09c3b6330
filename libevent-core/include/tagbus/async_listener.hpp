// Listening on a caller's libuv loop: each matching event is handed to a callback as it arrives.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "tagbus/destination.hpp"
#include "tagbus/event.hpp"
#include "tagbus/export.hpp"
#include "tagbus/match.hpp"
#include "tagbus/result.hpp"

struct uv_loop_s;  // libuv's uv_loop_t

namespace tagbus::inline v0 {

/// What happened to the connection to the bus.
enum class link_event {
    connected,    ///< the first connection is made
    lost,         ///< the bus went away; reconnecting (with backoff up to 1 s)
    reconnected,  ///< back after `lost`: events fired in between are gone (Salt has no replay)
};

struct async_handlers {
    /// Each event whose tag matches, in the order the bus sent them. An event that cannot be
    /// decoded is skipped, as Salt's client skips it.
    std::function<void(const event&)> on_event;
    /// Connection changes (may be empty); `why` names the socket for `lost`.
    std::function<void(link_event, const failure* why)> on_link;
    /// A handler threw: the exception's text (may be empty). The listener goes on.
    std::function<void(const failure&)> on_error;
};

/// A subscriber on a loop the program runs (uv_run): the asynchronous flavour of listener, for
/// programs that serve other things on the same loop. A bus that is not there yet is waited for
/// (connected comes when it appears). Handlers run on the loop's thread; they may close() the
/// listener. The listener keeps the loop alive while open; closing it (or destroying it) lets
/// the loop end once the handles it used are closed, which the loop's next turn does.
class TAGBUS_API async_listener {
public:
    /// Errors: errc::invalid for a regex Python's re would refuse.
    static result<async_listener> open(uv_loop_s* loop, const destination& from, std::string_view tag,
                                       match_type type, async_handlers handlers);
    async_listener(async_listener&&) noexcept;
    async_listener& operator=(async_listener&&) noexcept;
    ~async_listener();
    /// Stops listening; no handler is called afterwards.
    void close();

private:
    async_listener();
    struct impl;
    std::unique_ptr<impl> p_;
};

}  // namespace tagbus
