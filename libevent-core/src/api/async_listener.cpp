// async_listener: the library's own loop (subscriber, reconnect timers) embedded in a caller's
// libuv loop. Our loop's backend descriptor is watched from the caller's loop, and a timer there
// stands for our loop's next timer; each wakeup runs two non-blocking turns of ours. The two
// handles on the caller's loop are closed through libuv and freed by their close callbacks,
// whatever becomes of the listener.
#include "tagbus/async_listener.hpp"

#include <uv.h>

#include <exception>
#include <optional>

#include "api/destination_impl.hpp"
#include "net/client.hpp"
#include "net/guard.hpp"
#include "net/loop.hpp"
#include "salt/match.hpp"

namespace tagbus::inline v0 {
namespace {

// The handles on the caller's loop: freed once both close callbacks have run.
struct caller_handles {
    uv_poll_t poll{};
    uv_timer_t timer{};
    void* pump = nullptr;  // the impl to run, or nullptr once closed
    int open = 0;
};

void on_handle_closed(uv_handle_t* h) {
    auto* c = static_cast<caller_handles*>(h->data);
    if (--c->open == 0) delete c;
}

}  // namespace

struct async_listener::impl {
    event_loop loop;
    std::optional<subscriber> sub;
    std::optional<event_matcher> matches;
    async_handlers h;
    caller_handles* caller = nullptr;

    void report(const std::string& what) {
        if (h.on_error)
            detail::guard_callback([&] { h.on_error(failure{errc::internal, what}); }, [](const std::string&) {});
    }

    void on_body(std::string_view body) {
        auto parts = split_body(body);
        if (!parts || !(*matches)(parts->first)) return;
        auto ev = decode_body(body);
        if (!ev || !h.on_event) return;
        detail::guard_callback([&] { h.on_event(*ev); },
                               [this](const std::string& what) { report("the event handler threw: " + what); });
    }

    void on_state(link_state s, const failure* why) {
        if (!h.on_link) return;
        const link_event e = s == link_state::connected ? link_event::connected
                             : s == link_state::reconnected ? link_event::reconnected
                                                            : link_event::lost;
        detail::guard_callback([&] { h.on_link(e, why); },
                               [this](const std::string& what) { report("the link handler threw: " + what); });
    }

    // Two non-blocking turns of our loop (watchers that callbacks of the first start are only
    // registered with the backend by the next), then the caller's timer set for our next timer.
    void pump() {
        for (int turn = 0; turn < 2 && caller; ++turn) {
            try {
                loop.poll();
            } catch (...) {
                report(detail::current_exception_text());
            }
        }
        if (!caller) return;  // a handler closed the listener
        const int timeout = uv_backend_timeout(static_cast<uv_loop_t*>(loop.native()));
        uv_timer_stop(&caller->timer);
        if (timeout >= 0) uv_timer_start(&caller->timer, on_timer, static_cast<std::uint64_t>(timeout), 0);
    }

    static void on_poll(uv_poll_t* p, int, int) {
        auto* c = static_cast<caller_handles*>(p->data);
        if (c->pump) static_cast<impl*>(c->pump)->pump();
    }
    static void on_timer(uv_timer_t* t) {
        auto* c = static_cast<caller_handles*>(t->data);
        if (c->pump) static_cast<impl*>(c->pump)->pump();
    }

    void close() {
        if (sub) sub->stop();
        if (!caller) return;
        caller->pump = nullptr;
        uv_close(reinterpret_cast<uv_handle_t*>(&caller->poll), on_handle_closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&caller->timer), on_handle_closed);
        caller = nullptr;
    }
};

async_listener::async_listener() : p_(std::make_unique<impl>()) {}
async_listener::async_listener(async_listener&&) noexcept = default;
async_listener& async_listener::operator=(async_listener&& o) noexcept {
    if (this != &o) {
        close();
        p_ = std::move(o.p_);
    }
    return *this;
}
async_listener::~async_listener() { close(); }

void async_listener::close() {
    if (p_) p_->close();
}

result<async_listener> async_listener::open(uv_loop_s* loop, const destination& from, std::string_view tag,
                                            match_type type, async_handlers handlers) try {
    auto m = make_event_matcher(type, tag);
    if (!m) return m.error();
    async_listener l;
    impl* self = l.p_.get();
    self->matches.emplace(std::move(*m));
    self->h = std::move(handlers);
    subscriber_options so;
    so.pub = from.details().eps.pub;
    so.wait_for_bus = true;
    self->sub.emplace(self->loop, so,
                      subscriber_handlers{[self](std::string_view body) { self->on_body(body); }, nullptr,
                                          [self](link_state s, const failure* e) { self->on_state(s, e); }});
    auto* c = new caller_handles;
    if (int rc = uv_poll_init(loop, &c->poll, uv_backend_fd(static_cast<uv_loop_t*>(self->loop.native()))); rc < 0) {
        delete c;
        return fail(errc::internal, std::string("cannot watch the listener's loop: ") + uv_strerror(rc), -rc);
    }
    uv_timer_init(loop, &c->timer);
    c->poll.data = c->timer.data = c;
    c->open = 2;
    c->pump = self;
    self->caller = c;
    uv_poll_start(&c->poll, UV_READABLE, impl::on_poll);
    self->sub->start();
    self->pump();  // the first connect
    return l;
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("cannot open a listener: ") + e.what());
}

}  // namespace tagbus
