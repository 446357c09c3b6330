// event-bridge out: the bus's events into a JetStream stream, through the spool.
//
// bus → (match, loop check) → spool.append → spool.next → publish (window) → ack → spool.acknowledged
//
// Order: records leave the spool in index order and are published in that order; after a failed
// publish everything from the first unacknowledged record is sent again (the engine removes the
// duplicates by message id), so the stream holds each event once, in the order the bus gave them.
//
// A window of publishes in flight could still be stored out of order when the stream's leader
// changes: the first publishes of a window find no leader and are refused while the later ones
// reach the new leader and are stored. So after a failure the bridge sends nothing new until every
// publish in flight has its answer (settling), then sends one event at a time until one is taken
// (probing), and only then opens the window again. It starts, and starts again after a new
// connection, by probing.
#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <unordered_map>

#include "bridge.hpp"
#include "echo.hpp"
#include "engine/spool.hpp"
#include "engine/subject.hpp"
#include "net/client.hpp"
#include "net/loop.hpp"
#include "render/output.hpp"
#include "salt/match.hpp"
#include "tagbus/event.hpp"
#include "wire/skim.hpp"

namespace tagbus::bridge {

namespace {

std::string new_run_id() {
    unsigned char b[6] = {};
    if (getrandom(b, sizeof b, 0) != static_cast<ssize_t>(sizeof b)) {
        const auto t = static_cast<unsigned long long>(std::chrono::system_clock::now().time_since_epoch().count());
        for (int i = 0; i < 6; ++i) b[i] = static_cast<unsigned char>(t >> (8 * i)) ^ static_cast<unsigned char>(getpid() >> i);
    }
    char hex[13];
    for (int i = 0; i < 6; ++i) std::snprintf(hex + 2 * i, 3, "%02x", b[i]);
    return hex;
}

class out_bridge {
public:
    out_bridge(const out_settings& s, const endpoint& pub, engine::spool sp, std::string sock_dir)
        : s_(s), pub_(pub), spool_(std::move(sp)), echo_(echo_ring::for_sock_dir(sock_dir)), run_id_(new_run_id()) {
        for (const auto& t : s_.tagmatch) matchers_.emplace_back(t);
    }

    int run() {
        auto e = engine::connect_nats(s_.nats, [this] { loop_.wake(); });
        if (!e) return cli::fail(tool, e.error());
        engine_ = std::move(*e);
        loop_.on_wake([this] { on_engine(); }, true);
        if (auto r = engine_->ensure_stream(s_.stream); !r) return cli::fail(tool, r.error());
        say("publishing " + pub_.describe() + " into stream " + s_.stream.name + " at " + engine_->describe() +
            " as " + s_.prefix + "." + subject_token(s_.source_id) + ".<tag> (run " + run_id_ + ", spool " +
            (spool_.on_disk() ? spool_.dir() : std::string("in memory")) + ")");

        subscriber_options so;
        so.pub = pub_;
        so.wait_for_bus = true;
        sub_.emplace(loop_, so,
                     subscriber_handlers{[this](std::string_view body) { on_body(body); }, [this] { on_batch_end(); },
                                         [this](link_state st, const failure* f) { on_bus(st, f); }});
        loop_.on_signal(SIGTERM, [this] { begin_drain(); });
        loop_.on_signal(SIGINT, [this] { begin_drain(); });
        sync_tick();
        sub_->start();
        pump();  // what a previous run left in the spool goes first
        loop_.run();
        sub_.reset();
        return code_;
    }

private:
    void say(const std::string& m) const { cli::say(tool, "out: " + m); }

    void on_body(std::string_view body) {
        if (draining_) return;
        auto parts = split_body(body);
        if (!parts) {
            if (!warned_bad_body_) say("skipped an event that cannot be decoded: " + parts.error().message);
            warned_bad_body_ = true;
            return;
        }
        const auto [tag, packed] = *parts;
        if (!matchers_.empty()) {
            bool any = false;
            for (const auto& m : matchers_) any = any || m(tag);
            if (!any) return;
        }
        if (echo_ && echo_->contains(body)) {  // it came in through a bridge: never back out
            ++echoes_;
            return;
        }
        ++taken_;
        engine::spool_record r;
        auto subject = subject_of(s_.prefix, s_.source_id, tag);
        if (!subject) {  // the prefix was checked at start-up; cannot happen
            say(subject.error().message);
            return;
        }
        r.subject = std::move(*subject);
        r.msg_id = message_id(s_.source_id, run_id_, taken_);
        r.tag.assign(tag);
        if (auto st = packed_map_str(packed, "_stamp")) r.stamp.assign(*st);
        if (s_.format == "json") {
            output_options oo;
            oo.format = output_format::json_lines;
            auto rendered = format_packed_event(tag, packed, oo, r.payload);
            if (!rendered || rendered->drop) {
                r.payload.assign(body);  // not JSON-able: the Salt body, marked as such
                r.format = "salt";
            } else {
                if (!r.payload.empty() && r.payload.back() == '\n') r.payload.pop_back();
                r.format = "json";
            }
        } else {
            r.payload.assign(body);
            r.format = "salt";
        }
        auto kept = spool_.append(r);
        if (!kept) return fatal(kept.error());
        if (!*kept) {
            if (lost_run_ == 0) {
                lost_first_ = taken_;
                say("spool full (" + std::to_string(spool_.bytes()) + " bytes, --spool-max " + std::to_string(s_.spool_max) +
                    "): events are being lost from event #" + std::to_string(taken_) + " ('" + std::string(tag) + "') on");
            }
            ++lost_run_;
            ++lost_;
            return;
        }
        if (lost_run_ > 0) end_loss_run();
    }

    void end_loss_run() {
        say("lost " + std::to_string(lost_run_) + " events (#" + std::to_string(lost_first_) + "-#" +
            std::to_string(lost_first_ + lost_run_ - 1) + ") while the spool was full; " + std::to_string(lost_) +
            " lost since start");
        lost_run_ = 0;
    }

    void on_batch_end() {
        if (auto f = spool_.flush(); !f) return fatal(f.error());
        pump();
    }

    void on_bus(link_state st, const failure* f) {
        switch (st) {
            case link_state::connected: say("reading " + pub_.describe()); break;
            case link_state::lost: say((f ? f->message : "lost the bus") + "; reconnecting"); break;
            case link_state::reconnected: say("reconnected to " + pub_.describe() + "; events fired meanwhile are lost"); break;
            case link_state::unavailable: fatal(f ? *f : failure{errc::unavailable, "cannot connect to " + pub_.describe()}); break;
        }
    }

    void pump() {
        if (stopped_ || paused_ || retry_timer_ || settling_) return;
        const std::size_t window = probing_ ? 1 : s_.window;
        while (inflight_.size() < window) {
            auto r = spool_.next();
            if (!r) return fatal(r.error());
            if (!*r) break;
            engine::outgoing m;
            engine::spool_record& rec = **r;
            m.subject = std::move(rec.subject);
            m.msg_id = std::move(rec.msg_id);
            m.tag = std::move(rec.tag);
            m.stamp = std::move(rec.stamp);
            m.format = std::move(rec.format);
            m.payload = std::move(rec.payload);
            if (auto p = engine_->publish(m); !p) {
                if (p.error().code == errc::data) {  // never publishable: counted and logged, not retried
                    say("dropped event " + m.msg_id + ": " + p.error().message + " (raise max_payload in nats-server)");
                    ++lost_;
                    spool_.acknowledged(rec.index);
                    continue;
                }
                failed("cannot publish: " + p.error().message);
                return;
            }
            inflight_[m.msg_id] = rec.index;
        }
        if (draining_) check_drained();
    }

    // A publish failed: nothing new is sent until every publish in flight has its answer and a
    // pause has passed; then everything from the first unacknowledged record goes again, one at a
    // time until the stream takes one.
    void failed(const std::string& why) {
        if (!retrying_) say(why + "; resending from the first unacknowledged event");
        retrying_ = true;
        settling_ = true;
        probing_ = true;
        if (retry_timer_) return;
        retry_timer_ = loop_.after(500, [this] {
            retry_timer_ = 0;
            resend_when_settled();
            pump();  // a new connection may have come meanwhile: nothing to settle, send again
        });
    }

    void resend_when_settled() {
        if (!settling_ || retry_timer_ || !inflight_.empty()) return;
        settling_ = false;
        spool_.rewind();
        pump();
    }

    void on_engine() {
        if (stopped_ || !engine_) return;
        engine::polled p = engine_->poll();
        for (const auto& l : p.links) {
            say(l.text);
            if (l.what == engine::link_event::kind::disconnected) paused_ = true;
            if (l.what == engine::link_event::kind::reconnected) {
                // A new connection: what was in flight on the old one has no answer coming, and is
                // sent again, in order, with everything after it.
                paused_ = false;
                settling_ = false;
                probing_ = true;
                inflight_.clear();
                spool_.rewind();
            }
        }
        for (const auto& a : p.acks) {
            auto it = inflight_.find(a.msg_id);
            if (it == inflight_.end()) continue;  // a second answer for a resent event
            if (a.ok) {
                spool_.acknowledged(it->second);
                ++published_;
                if (a.duplicate) ++duplicates_;
                if (!settling_) probing_ = false;  // the stream has a leader that takes events: open the window
                if (retrying_ && !settling_) {
                    retrying_ = false;
                    say("NATS takes events again");
                }
            } else {
                failed("NATS did not take event " + a.msg_id + ": " + a.error);
            }
            inflight_.erase(it);
        }
        resend_when_settled();
        pump();
    }

    void sync_tick() {
        if (auto r = spool_.sync(); !r) return fatal(r.error());
        if (lost_run_ > 0 && spool_.bytes() < s_.spool_max / 2) end_loss_run();
        sync_timer_ = loop_.after(1000, [this] { sync_tick(); });
    }

    void begin_drain() {
        if (draining_) return finish(0);  // a second signal: stop now (the spool keeps the rest)
        draining_ = true;
        if (sub_) sub_->stop();
        if (auto f = spool_.flush(); !f) return fatal(f.error());
        if (lost_run_ > 0) end_loss_run();
        say("draining: " + std::to_string(spool_.waiting()) + " events to acknowledge");
        loop_.after(static_cast<std::uint64_t>(s_.drain_timeout_ms), [this] { finish(0); });
        pump();
        check_drained();
    }

    void check_drained() {
        if (spool_.waiting() == 0) finish(0);
    }

    void fatal(const failure& f) {
        if (stopped_) return;
        code_ = cli::fail(tool, f);
        finish(code_);
    }

    void finish(int code) {
        if (stopped_) return;
        stopped_ = true;
        if (sub_) sub_->stop();
        if (lost_run_ > 0) end_loss_run();
        const std::uint64_t left = spool_.waiting();
        (void)spool_.sync();
        std::string summary = "took " + std::to_string(taken_) + " events, published " + std::to_string(published_) +
                              " (" + std::to_string(duplicates_) + " already in the stream), lost " + std::to_string(lost_) +
                              ", skipped " + std::to_string(echoes_) + " that came in through a bridge";
        if (left > 0 && spool_.on_disk()) {
            summary += "; " + std::to_string(left) + " not acknowledged stay in " + spool_.dir() + " for the next run";
        } else if (left > 0) {
            summary += "; " + std::to_string(left) + " not acknowledged are LOST (no --spool)";
            if (code == 0) code = cli::exit_code(errc::timeout);
        }
        say(summary);
        code_ = code;
        loop_.stop();
    }

    const out_settings& s_;
    endpoint pub_;
    engine::spool spool_;
    std::optional<echo_ring> echo_;
    std::string run_id_;
    std::vector<tag_matcher> matchers_;
    event_loop loop_;
    std::unique_ptr<engine::stream_engine> engine_;
    std::optional<subscriber> sub_;
    std::unordered_map<std::string, std::uint64_t> inflight_;  // msg id → spool index
    std::uint64_t taken_ = 0, published_ = 0, duplicates_ = 0, lost_ = 0, lost_run_ = 0, lost_first_ = 0, echoes_ = 0;
    event_loop::timer_id retry_timer_ = 0, sync_timer_ = 0;
    bool retrying_ = false, settling_ = false, probing_ = true, paused_ = false, draining_ = false, stopped_ = false, warned_bad_body_ = false;
    int code_ = 0;
};

}  // namespace

int run_out(const out_settings& s, const endpoint& pub, const std::string& sock_dir) {
    engine::spool sp = engine::spool::in_memory(s.spool_max);
    if (!s.spool_dir.empty()) {
        std::vector<std::string> notes;
        auto opened = engine::spool::open(s.spool_dir, s.spool_max, notes);
        if (!opened) return cli::fail(tool, opened.error());
        for (const auto& n : notes) cli::say(tool, "out: " + n);
        sp = std::move(*opened);
    }
    out_bridge b(s, pub, std::move(sp), sock_dir);
    return b.run();
}

}  // namespace tagbus::bridge
