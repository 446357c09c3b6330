// listener: salt.utils.event's get_event over one persistent subscriber connection (SALT-WIRE §5).
#include "tagbus/listener.hpp"

#include <atomic>
#include <deque>
#include <exception>
#include <vector>

#include <uv.h>

#include "api/destination_impl.hpp"
#include "net/client.hpp"
#include "net/loop.hpp"
#include "salt/match.hpp"

namespace tagbus::inline v0 {

struct listener::impl {
    event_loop loop;
    std::optional<subscriber> sub;  // after the loop: destroyed first
    // Bodies read from the socket, not looked at yet: one buffer for all of them (no allocation
    // per event), emptied whenever the last one is taken, which is before the next read.
    struct {
        std::string bytes;
        std::vector<std::pair<std::size_t, std::size_t>> at;  // offset and size in `bytes`
        std::size_t next = 0;
        bool empty() const { return next == at.size(); }
        void push(std::string_view body) {
            if (empty()) {
                bytes.clear();
                at.clear();
                next = 0;
            }
            at.emplace_back(bytes.size(), body.size());
            bytes.append(body);
        }
        std::string_view pop() {
            const auto [offset, size] = at[next++];
            return std::string_view(bytes).substr(offset, size);
        }
    } inbox;
    std::deque<std::string> waiting;  // bodies kept for a subscription (the pending queue)
    struct subscription {
        std::string tag;
        match_type type;
        event_matcher matches;
    };
    std::vector<subscription> subs;
    // The last get_event's tag and match type, compiled: a loop asking for the same tag does not
    // compile it again for every event.
    std::optional<subscription> last;
    // The waiting get_event's matcher. Until it has its answer, what arrives is sorted at once:
    // the answer (or an undecodable body, Salt's None) goes to the inbox and stops the loop, a
    // subscribed body to the pending queue, any other is dropped without a copy. After the
    // answer, the rest of the read waits in the inbox, unexamined, for the next call (Salt's
    // client leaves it in the socket).
    const event_matcher* want = nullptr;
    bool answered = false;
    std::atomic<bool> interrupt{false};
    bool interrupted = false;  // the last get_event ended because of interrupt()
    bool connected = false;
    std::uint64_t gaps = 0, dropped = 0, bad = 0;
    std::string bad_reason;

    // Salt's answer for an event it cannot decode: None, counted and explained.
    std::optional<event> undecodable(const failure& why) {
        ++bad;
        bad_reason = why.message;
        return std::nullopt;
    }

    void on_body(std::string_view body) {
        if (!want || answered) {
            inbox.push(body);
            return;
        }
        auto parts = split_body(body);
        if (!parts || (*want)(parts->first)) {
            inbox.push(body);
            answered = true;
            loop.stop();
        } else if (subscribed(parts->first)) {
            keep(std::string(body));
        }
    }

    void on_state(link_state s) {
        switch (s) {
            case link_state::connected: connected = true; break;
            case link_state::reconnected:
                connected = true;
                ++gaps;
                break;
            case link_state::lost:
            case link_state::unavailable:
                connected = false;
                waiting.clear();  // Salt clears its pending queue on a disconnect
                break;
        }
    }

    bool subscribed(std::string_view tag) const {
        for (const auto& s : subs)
            if (s.matches(tag)) return true;
        return false;
    }

    void keep(std::string body) {
        if (waiting.size() >= max_pending) {
            waiting.pop_front();
            ++dropped;
        }
        waiting.push_back(std::move(body));
    }

    // The answer from what has been read, if there is one: an event, or nullopt for an
    // undecodable one. Events that do not match go to the pending queue or away.
    std::optional<std::optional<event>> take(const event_matcher& m) {
        while (!inbox.empty()) {
            const std::string_view body = inbox.pop();
            auto parts = split_body(body);
            if (!parts) return undecodable(parts.error());
            if (m(parts->first)) {
                auto ev = decode_body(body);
                if (!ev) return undecodable(ev.error());
                return std::optional<event>(std::move(*ev));
            }
            if (subscribed(parts->first)) keep(std::string(body));
        }
        return std::nullopt;
    }

    std::optional<std::optional<event>> from_pending(const event_matcher& m) {
        for (auto it = waiting.begin(); it != waiting.end(); ++it) {
            auto parts = split_body(*it);
            if (!parts || !m(parts->first)) continue;
            auto ev = decode_body(*it);
            waiting.erase(it);
            if (!ev) return undecodable(ev.error());
            return std::optional<event>(std::move(*ev));
        }
        return std::nullopt;
    }
};

listener::listener(std::unique_ptr<impl> p) : p_(std::move(p)) {}
listener::listener(listener&&) noexcept = default;
listener& listener::operator=(listener&&) noexcept = default;
listener::~listener() = default;

result<listener> listener::open(const destination& from) try {
    auto p = std::make_unique<impl>();
    impl* self = p.get();
    subscriber_options so;
    so.pub = from.details().eps.pub;
    so.wait_for_bus = true;  // as Salt's client: a missing bus is tried again in every get_event
    p->sub.emplace(p->loop, so,
                   subscriber_handlers{[self](std::string_view body) { self->on_body(body); }, nullptr,
                                       [self](link_state s, const failure*) { self->on_state(s); }});
    p->loop.on_wake([self] { self->loop.stop(); });
    p->sub->start();
    p->loop.poll();  // the first connect
    return listener(std::move(p));
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("cannot open a listener: ") + e.what());
}

result<std::optional<event>> listener::get_event(std::chrono::milliseconds wait, std::string_view tag, match_type type,
                                                 bool no_block) try {
    impl& s = *p_;
    s.interrupted = false;
    if (!s.last || s.last->type != type || s.last->tag != tag) {
        auto compiled = make_event_matcher(type, tag);
        if (!compiled) return compiled.error();
        s.last.reset();
        s.last.emplace(impl::subscription{std::string(tag), type, std::move(*compiled)});
    }
    const event_matcher* m = &s.last->matches;
    if (s.interrupt.exchange(false)) {
        s.interrupted = true;
        return std::optional<event>();
    }
    if (auto r = s.from_pending(*m)) return std::move(*r);
    if (auto r = s.take(*m)) return std::move(*r);
    if (no_block) {
        s.loop.poll();
        if (auto r = s.take(*m)) return std::move(*r);
        return std::optional<event>();
    }
    using clock = std::chrono::steady_clock;
    const bool forever = wait.count() <= 0;  // Salt: wait=0 waits forever
    const auto deadline = clock::now() + wait;
    s.want = m;
    s.answered = false;
    struct reset {
        impl& s;
        ~reset() { s.want = nullptr; }
    } guard{s};
    for (;;) {
        std::optional<event_loop::timer_id> timer;
        if (!forever) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now()).count();
            if (left <= 0) return std::optional<event>();
            timer = s.loop.after(static_cast<std::uint64_t>(left), [&s] { s.loop.stop(); });
        }
        s.loop.run();
        if (timer) s.loop.cancel(*timer);
        if (auto r = s.take(*m)) return std::move(*r);
        if (s.interrupt.exchange(false)) {
            s.interrupted = true;
            return std::optional<event>();
        }
        if (!forever && clock::now() >= deadline) return std::optional<event>();
    }
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("get_event failed: ") + e.what());
}

result<void> listener::subscribe(std::string_view tag, match_type type) {
    auto m = make_event_matcher(type, tag);
    if (!m) return m.error();
    p_->subs.push_back({std::string(tag), type, std::move(*m)});
    return {};
}

void listener::unsubscribe(std::string_view tag, match_type type) {
    auto& subs = p_->subs;
    for (auto it = subs.begin(); it != subs.end(); ++it)
        if (it->tag == tag && it->type == type) {
            subs.erase(it);
            break;
        }
    std::deque<std::string> kept;
    for (auto& body : p_->waiting) {
        auto parts = split_body(body);
        if (parts && p_->subscribed(parts->first)) kept.push_back(std::move(body));
    }
    p_->waiting = std::move(kept);
}

event_range listener::iter_events(std::string_view tag, match_type type) { return event_range(*this, std::string(tag), type); }

void listener::interrupt() {
    p_->interrupt = true;
    p_->loop.wake();
}

int listener::poll_fd() const { return uv_backend_fd(static_cast<uv_loop_t*>(p_->loop.native())); }
int listener::poll_timeout() const { return uv_backend_timeout(static_cast<uv_loop_t*>(p_->loop.native())); }

bool listener::interrupted() const { return p_->interrupted; }
bool listener::connected() const { return p_->connected; }
std::uint64_t listener::gaps() const { return p_->gaps; }
std::size_t listener::pending() const { return p_->waiting.size(); }
std::uint64_t listener::pending_dropped() const { return p_->dropped; }
std::uint64_t listener::undecodable() const { return p_->bad; }
const std::string& listener::undecodable_reason() const { return p_->bad_reason; }

bool event_range::next() {
    for (;;) {
        auto r = l_->get_event(std::chrono::seconds(5), tag_, type_);
        if (!r) {
            error_ = r.error();
            return false;
        }
        if (*r) {
            current_ = std::move(**r);
            return true;
        }
        if (l_->p_->interrupted) return false;
    }
}

}  // namespace tagbus
