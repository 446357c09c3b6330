// event_loop: a uv_loop_t with one-shot timers and signal watchers. Every handle is heap-allocated
// and freed only by its close callback (the uvw rule: a handle keeps itself alive until libuv has
// finished with it), so cancelling a timer from inside its own callback is safe.
#include "net/loop.hpp"
#include "net/handle.hpp"

#include <uv.h>

#include "net/guard.hpp"

#include <csignal>
#include <exception>
#include <unordered_map>
#include <utility>
#include <vector>

namespace tagbus::inline v0 {

namespace detail {

void ignore_sigpipe() {
    // libuv writes with write(2)/writev(2), which raise SIGPIPE when the peer has gone. Only a
    // default disposition is changed: an application that installed its own handler keeps it.
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
        std::signal(SIGPIPE, SIG_IGN);
    }
}

namespace {

struct timer_node {
    uv_timer_t handle{};
    event_loop::timer_id id = 0;
    std::function<void()> cb;
    void* owner = nullptr;  // event_loop::impl while registered; null once fired or cancelled
};

struct signal_node {
    uv_signal_t handle{};
    std::function<void()> cb;
};

struct wake_node {
    uv_async_t handle{};
    std::function<void()> cb;
};

void close_foreign(uv_handle_t* h, void*) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
}

}  // namespace
}  // namespace detail

struct event_loop::impl {
    uv_loop_t loop{};
    timer_id next_id = 1;
    std::unordered_map<timer_id, detail::timer_node*> timers;
    std::vector<detail::signal_node*> signals;
    detail::wake_node* waker = nullptr;
    std::exception_ptr failed;  // thrown by a callback; run() rethrows it

    static void on_timer(uv_timer_t* t) {
        auto* node = static_cast<detail::timer_node*>(t->data);
        auto* self = static_cast<impl*>(node->owner);
        // Unregister before the call: the callback may cancel this id or schedule new timers.
        self->timers.erase(node->id);
        node->owner = nullptr;
        auto cb = std::move(node->cb);
        detail::close_node(node, node->handle);
        if (cb) detail::guard_loop(t->loop, cb);
    }

    static void on_wake(uv_async_t* a) {
        auto* node = static_cast<detail::wake_node*>(a->data);
        if (node->cb) detail::guard_loop(a->loop, node->cb);
    }
    static void on_signal(uv_signal_t* s, int) {
        auto* node = static_cast<detail::signal_node*>(s->data);
        if (node->cb) detail::guard_loop(s->loop, node->cb);
    }
};

event_loop::event_loop() : p_(std::make_unique<impl>()) {
    detail::ignore_sigpipe();
    uv_loop_init(&p_->loop);
    p_->loop.data = p_.get();
}

event_loop::~event_loop() {
    for (auto& [id, node] : p_->timers) {
        node->owner = nullptr;
        detail::close_node(node, node->handle);
    }
    p_->timers.clear();
    for (auto* node : p_->signals) {
        detail::close_node(node, node->handle);
    }
    p_->signals.clear();
    if (p_->waker) detail::close_node(p_->waker, p_->waker->handle);
    p_->waker = nullptr;
    // Clients and servers close their own handles when they are destroyed (before the loop, as
    // they are declared after it); their close callbacks run here. A handle someone forgot to
    // close is closed without a callback rather than hanging: uv_loop_close must succeed.
    for (int round = 0; round < 4; ++round) {
        uv_run(&p_->loop, UV_RUN_NOWAIT);
        if (uv_loop_close(&p_->loop) == 0) return;
        uv_walk(&p_->loop, detail::close_foreign, nullptr);
    }
}

void event_loop::run() {
    uv_run(&p_->loop, UV_RUN_DEFAULT);
    // A callback threw (see guard.hpp): it surfaces here, where only C++ frames are left.
    if (p_->failed) std::rethrow_exception(std::exchange(p_->failed, nullptr));
}

void event_loop::stop() { uv_stop(&p_->loop); }

void event_loop::poll() {
    uv_run(&p_->loop, UV_RUN_NOWAIT);
    if (p_->failed) std::rethrow_exception(std::exchange(p_->failed, nullptr));
}

void event_loop::on_wake(std::function<void()> cb, bool keeps_running) {
    if (!p_->waker) {
        auto* node = new detail::wake_node;
        node->handle.data = node;
        uv_async_init(&p_->loop, &node->handle, impl::on_wake);
        p_->waker = node;
    }
    if (keeps_running) uv_ref(reinterpret_cast<uv_handle_t*>(&p_->waker->handle));
    else uv_unref(reinterpret_cast<uv_handle_t*>(&p_->waker->handle));
    p_->waker->cb = std::move(cb);
}

void event_loop::wake() {
    if (p_->waker) uv_async_send(&p_->waker->handle);
}

event_loop::timer_id event_loop::after(std::uint64_t ms, std::function<void()> cb) {
    auto* node = new detail::timer_node;
    node->id = p_->next_id++;
    node->cb = std::move(cb);
    node->owner = p_.get();
    node->handle.data = node;
    uv_timer_init(&p_->loop, &node->handle);
    uv_timer_start(&node->handle, impl::on_timer, ms, 0);
    p_->timers.emplace(node->id, node);
    return node->id;
}

void event_loop::cancel(timer_id id) {
    auto it = p_->timers.find(id);
    if (it == p_->timers.end()) return;  // already fired or cancelled: nothing to do
    auto* node = it->second;
    p_->timers.erase(it);
    node->owner = nullptr;
    node->cb = nullptr;
    detail::close_node(node, node->handle);
}

void event_loop::on_signal(int signum, std::function<void()> cb) {
    auto* node = new detail::signal_node;
    node->cb = std::move(cb);
    node->handle.data = node;
    uv_signal_init(&p_->loop, &node->handle);
    uv_signal_start(&node->handle, impl::on_signal, signum);
    // A signal watcher alone does not keep run() going: run() returns when the real work is done.
    uv_unref(reinterpret_cast<uv_handle_t*>(&node->handle));
    p_->signals.push_back(node);
}

void* event_loop::native() const { return &p_->loop; }

void detail::fail_loop(void* uv_loop) noexcept {
    auto* loop = static_cast<uv_loop_t*>(uv_loop);
    if (auto* self = static_cast<event_loop::impl*>(loop->data); self != nullptr && !self->failed)
        self->failed = std::current_exception();
    uv_stop(loop);
}

}  // namespace tagbus
