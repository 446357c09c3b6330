#include "tagbus/replay.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>

#include "engine/message.hpp"
#include "engine/stream.hpp"
#include "tagbus/event.hpp"

namespace tagbus::inline v0 {

struct replay::impl {
    // The engine's threads only say "something is there"; next() takes it.
    std::mutex mu;
    std::condition_variable cv;
    bool ready = false;
    std::atomic<bool> interrupted{false};
    std::unique_ptr<engine::stream_engine> eng;
    std::deque<engine::incoming> queue;
    std::string prefix;
    std::uint64_t skipped = 0;
    std::string skip_reason;
};

replay::replay(std::unique_ptr<impl> p) : p_(std::move(p)) {}
replay::replay(replay&&) noexcept = default;
replay& replay::operator=(replay&&) noexcept = default;
replay::~replay() = default;

result<replay> replay::open(const replay_options& o) {
    if (o.stream.empty()) return fail(errc::invalid, "no stream given");
    engine::connect_options c;
    c.servers = o.servers;
    c.name = "tagbus replay";
    c.user = o.user;
    c.password = o.password;
    c.token = o.token;
    c.creds_file = o.creds_file;
    c.nkey_file = o.nkey_file;
    c.tls = o.tls;
    c.tls_ca = o.tls_ca;
    c.tls_cert = o.tls_cert;
    c.tls_key = o.tls_key;
    for (auto& s : c.servers)
        if (s.find("://") == std::string::npos) s = "nats://" + s;
    auto p = std::make_unique<impl>();
    impl* raw = p.get();
    auto e = engine::connect_nats(c, [raw] {
        std::lock_guard lk(raw->mu);
        raw->ready = true;
        raw->cv.notify_all();
    });
    if (!e) return e.error();
    p->eng = std::move(*e);
    p->prefix = o.prefix;
    engine::consume_options co;
    co.stream = o.stream;
    co.headers = false;
    if (!o.subject.empty()) co.subjects = {o.subject};
    switch (o.from) {
        case replay_options::start::now: co.start.how = engine::start_position::kind::new_only; break;
        case replay_options::start::all: co.start.how = engine::start_position::kind::all; break;
        case replay_options::start::sequence:
            if (o.sequence == 0) return fail(errc::invalid, "stream sequences count from 1");
            co.start.how = engine::start_position::kind::sequence;
            co.start.sequence = o.sequence;
            break;
        case replay_options::start::time:
            co.start.how = engine::start_position::kind::time;
            co.start.time_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(o.since.time_since_epoch()).count();
            break;
    }
    if (auto r = p->eng->consume(co); !r) return r.error();
    return replay(std::move(p));
}

result<std::optional<replayed_event>> replay::next(std::chrono::milliseconds wait) {
    impl& p = *p_;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        if (p.interrupted.exchange(false)) return std::optional<replayed_event>();
        while (!p.queue.empty()) {
            engine::incoming m = std::move(p.queue.front());
            p.queue.pop_front();
            auto body = engine::event_body(m, p.prefix);
            auto parts = body ? split_body(*body) : result<std::pair<std::string_view, std::string_view>>(body.error());
            if (!parts) {
                ++p.skipped;
                p.skip_reason = "message " + std::to_string(m.stream_sequence) + " on " + m.subject + ": " + parts.error().message;
                continue;
            }
            replayed_event ev;
            ev.tag.assign(parts->first);
            ev.body = std::move(*body);
            ev.sequence = m.stream_sequence;
            ev.stored = std::chrono::system_clock::time_point(
                std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(m.time_ns)));
            return std::optional<replayed_event>(std::move(ev));
        }
        engine::polled got = p.eng->poll();
        for (auto& m : got.messages) p.queue.push_back(std::move(m));
        if (!p.queue.empty()) continue;
        std::unique_lock lk(p.mu);
        if (!p.ready) {
            if (wait.count() == 0) p.cv.wait(lk, [&] { return p.ready || p.interrupted.load(); });
            else if (!p.cv.wait_until(lk, deadline, [&] { return p.ready || p.interrupted.load(); }))
                return std::optional<replayed_event>();
        }
        p.ready = false;
    }
}

void replay::interrupt() {
    p_->interrupted = true;
    std::lock_guard lk(p_->mu);
    p_->cv.notify_all();
}

std::uint64_t replay::skipped() const { return p_->skipped; }
const std::string& replay::skip_reason() const { return p_->skip_reason; }

}  // namespace tagbus
