// The event loop every tool runs on (libuv underneath; no libuv type in this header, so tools
// never touch libuv). Timers and signals, written once here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace tagbus::inline v0 {

namespace detail {
void fail_loop(void* uv_loop) noexcept;  // src/guard.hpp
}  // namespace detail

/// Creating a loop sets SIGPIPE to ignored when it still has the default disposition: a peer
/// that goes away must become a write error, not kill the process.
class event_loop {
public:
    event_loop();
    /// Closes its timers and signal watchers and runs until every pending close callback has
    /// fired (clients and servers on this loop are destroyed first), so the loop closes cleanly.
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    /// Runs until stop() is called or nothing is left to do. An exception thrown by a callback
    /// (a timer's, a signal's) stops the loop and is rethrown here, never through libuv.
    void run();
    /// Makes run() return after the current callback; safe to call from any callback.
    void stop();
    /// One turn of the loop without waiting: runs what is ready now (reads, connects, timers due).
    void poll();
    /// `cb` runs on the loop whenever wake() was called (several wakes may run it once). Only one
    /// such callback. It keeps run() going only with `keeps_running` (a program whose work comes
    /// from another thread: an engine's deliveries), else run() ends when nothing else is left.
    void on_wake(std::function<void()> cb, bool keeps_running = false);
    /// Thread-safe: makes the loop run the on_wake callback soon.
    void wake();

    using timer_id = std::uint64_t;
    /// Calls `cb` once after `ms` milliseconds. The returned id cancels it.
    timer_id after(std::uint64_t ms, std::function<void()> cb);
    void cancel(timer_id id);
    /// Calls `cb` on every delivery of `signum` (SIGINT, SIGTERM, SIGHUP...). A signal watcher
    /// alone does not keep run() going.
    void on_signal(int signum, std::function<void()> cb);

    /// The uv_loop_t*, for the library's own client and server modules only.
    void* native() const;

private:
    friend void detail::fail_loop(void* uv_loop) noexcept;
    struct impl;
    std::unique_ptr<impl> p_;
};

namespace detail {
/// Ignores SIGPIPE unless the application installed its own handler (libuv writes with writev).
void ignore_sigpipe();
}  // namespace detail

}  // namespace tagbus
