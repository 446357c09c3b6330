// Internal: the one guard every libuv callback runs its body under. libuv is C: an exception
// unwinding through its frames is undefined behaviour, so none may leave a callback.
//
// Two ways out, one per kind of callback:
//   - guard_callback(f, on_throw): for a callback that belongs to one connection; on_throw gets
//     the exception's text and drops (or stops) what threw, and everything else goes on.
//   - guard_loop(loop, f): for a callback with no better way out (a user's timer or signal
//     callback, a server-wide handle); the exception is kept, the loop stopped, and
//     event_loop::run() rethrows it to the caller, in C++ frames only (a tool's catch-all then
//     prints it and exits 70).
#pragma once

#include <exception>
#include <string>
#include <utility>

namespace tagbus::inline v0::detail {

/// The text of the exception being handled (inside a catch block only).
inline std::string current_exception_text() noexcept {
    try {
        throw;
    } catch (const std::exception& e) {
        try {
            return e.what();
        } catch (...) {
            return {};
        }
    } catch (...) {
        try {
            return "unknown exception";
        } catch (...) {
            return {};
        }
    }
}

/// Runs f(). When it throws, calls on_throw(text) (whose own exceptions are swallowed) and
/// returns false. Never lets an exception out.
template <typename F, typename OnThrow>
bool guard_callback(F&& f, OnThrow&& on_throw) noexcept {
    try {
        std::forward<F>(f)();
        return true;
    } catch (...) {
        std::string what = current_exception_text();
        try {
            std::forward<OnThrow>(on_throw)(what);
        } catch (...) {
        }
        return false;
    }
}

/// Keeps the exception being handled for the event_loop that owns `uv_loop` (a uv_loop_t*) and
/// stops that loop; event_loop::run() rethrows it. Only the first one is kept. Defined in loop.cpp.
void fail_loop(void* uv_loop) noexcept;

/// Runs f(); an exception goes to fail_loop(uv_loop) (see above). Never lets an exception out.
template <typename F>
void guard_loop(void* uv_loop, F&& f) noexcept {
    try {
        std::forward<F>(f)();
    } catch (...) {
        fail_loop(uv_loop);
    }
}

}  // namespace tagbus::detail
