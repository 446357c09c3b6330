// event-bridge in: a durable JetStream consumer whose messages are fired into the local bus.
//
// Delivery (issue 5's rule): a batch of messages is fired over one connection to the bus's pull
// socket, half-closed, and acknowledged to NATS only once the bus has closed its end (it read them
// all). The ids of the fired messages are written to a file before the acknowledgments, so a
// message NATS delivers again (the bridge died before acknowledging) is recognised and not fired
// twice.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <fstream>
#include <optional>
#include <unordered_set>

#include "bridge.hpp"
#include "echo.hpp"
#include "engine/message.hpp"
#include "engine/subject.hpp"
#include "net/client.hpp"
#include "net/loop.hpp"
#include "tagbus/event.hpp"
#include "wire/frame.hpp"

namespace tagbus::bridge {

namespace {

// The ids of messages fired lately, kept in a file: one id a line, appended; rewritten with only
// the last `keep` when it grows past twice that.
class recent_ids {
public:
    static result<recent_ids> open(const std::string& path) {
        recent_ids r;
        r.path_ = path;
        std::ifstream in(path);
        std::string line;
        while (std::getline(in, line))
            if (!line.empty()) r.remember(line);
        r.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (r.fd_ < 0) return failure{errc::io, "cannot write " + path + ": " + std::strerror(errno)};
        r.lines_ = r.order_.size();
        return r;
    }
    recent_ids(recent_ids&& o) noexcept
        : path_(std::move(o.path_)), fd_(std::exchange(o.fd_, -1)), set_(std::move(o.set_)), order_(std::move(o.order_)), lines_(o.lines_) {}
    ~recent_ids() {
        if (fd_ >= 0) ::close(fd_);
    }
    bool contains(const std::string& id) const { return set_.count(id) != 0; }
    // Appends the ids (one write): they are on disk before NATS hears of them.
    result<void> add(const std::vector<std::string>& ids) {
        std::string text;
        for (const auto& id : ids) {
            remember(id);
            text += id;
            text += '\n';
        }
        for (std::size_t off = 0; off < text.size();) {
            ssize_t n = ::write(fd_, text.data() + off, text.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return failure{errc::io, "cannot write " + path_ + ": " + std::strerror(errno)};
            off += static_cast<std::size_t>(n);
        }
        lines_ += ids.size();
        if (lines_ > 2 * keep) return compact();
        return {};
    }

private:
    recent_ids() = default;
    static constexpr std::size_t keep = 200000;
    void remember(const std::string& id) {
        if (!set_.insert(id).second) return;
        order_.push_back(id);
        if (order_.size() > keep) {
            set_.erase(order_.front());
            order_.pop_front();
        }
    }
    result<void> compact() {
        const std::string tmp = path_ + ".tmp";
        {
            std::ofstream out(tmp, std::ios::trunc);
            for (const auto& id : order_) out << id << '\n';
            if (!out.flush()) return failure{errc::io, "cannot write " + tmp};
        }
        if (::rename(tmp.c_str(), path_.c_str()) != 0) return failure{errc::io, "cannot replace " + path_ + ": " + std::strerror(errno)};
        ::close(fd_);
        fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
        if (fd_ < 0) return failure{errc::io, "cannot write " + path_ + ": " + std::strerror(errno)};
        lines_ = order_.size();
        return {};
    }
    std::string path_;
    int fd_ = -1;
    std::unordered_set<std::string> set_;
    std::deque<std::string> order_;
    std::size_t lines_ = 0;
};

class in_bridge {
public:
    in_bridge(const in_settings& s, const endpoint& pull, framing f, recent_ids ids, std::string sock_dir)
        : s_(s), pull_(pull), framing_(f), ids_(std::move(ids)), echo_(echo_ring::for_sock_dir(sock_dir)) {}

    int run() {
        auto e = engine::connect_nats(s_.nats, [this] { loop_.wake(); });
        if (!e) return cli::fail(tool, e.error());
        engine_ = std::move(*e);
        loop_.on_wake([this] { take(); }, true);
        engine::consume_options c;
        c.stream = s_.stream;
        c.durable = s_.durable;
        c.subjects = s_.subjects;
        c.max_ack_pending = s_.batch * 8;
        if (auto r = engine_->consume(c); !r) return cli::fail(tool, r.error());
        say("firing stream " + s_.stream + (s_.subjects.empty() ? std::string() : " (" + s_.subjects.front() + ")") +
            " from " + engine_->describe() + " into " + pull_.describe() + " as durable consumer " + s_.durable);
        loop_.on_signal(SIGTERM, [this] { finish(0); });
        loop_.on_signal(SIGINT, [this] { finish(0); });
        loop_.run();
        return code_;
    }

private:
    void say(const std::string& m) const { cli::say(tool, "in: " + m); }

    void take() {
        if (stopped_) return;
        engine::polled p = engine_->poll();
        for (const auto& l : p.links) say(l.text);
        for (auto& m : p.messages) waiting_.push_back(std::move(m));
        fire_waiting();
    }

    void fire_waiting() {
        while (!stopped_ && !retry_timer_ && !waiting_.empty()) {
            std::vector<engine::incoming> batch;
            std::string frames;
            std::vector<std::string> ids;
            std::unordered_set<std::string> in_batch;
            while (!waiting_.empty() && batch.size() < static_cast<std::size_t>(s_.batch)) {
                engine::incoming m = std::move(waiting_.front());
                waiting_.pop_front();
                std::string id = m.msg_id.empty() ? s_.stream + ":" + std::to_string(m.stream_sequence) : m.msg_id;
                std::string body;
                if (!in_batch.insert(id).second) {  // delivered twice within one batch
                    ++duplicates_;
                    engine_->ack(m);
                    continue;
                }
                if (auto why = prepare(m, id, body)) {
                    if (!why->empty()) {
                        ++refused_;
                        say("skipped message " + std::to_string(m.stream_sequence) + " on " + m.subject + ": " + *why);
                    }
                    engine_->ack(m);  // handled: it must not come again
                    continue;
                }
                append_frame(frames, body, framing_);
                if (echo_) echo_->note(body);
                ids.push_back(std::move(id));
                batch.push_back(std::move(m));
            }
            if (batch.empty()) continue;
            if (auto r = fire(frames); !r) {
                // Not fired (or not confirmed): NATS sends them again; retry after a pause.
                if (!failing_) say(r.error().message + "; retrying (NATS keeps the messages)");
                failing_ = true;
                for (auto& m : batch) waiting_.push_front(std::move(m));  // order kept: reversed twice
                std::reverse(waiting_.begin(), waiting_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
                retry_timer_ = loop_.after(500, [this] {
                    retry_timer_ = 0;
                    fire_waiting();
                });
                return;
            }
            if (failing_) say("the bus takes events again");
            failing_ = false;
            if (auto r = ids_.add(ids); !r) return fatal(r.error());
            for (const auto& m : batch) engine_->ack(m);
            fired_ += batch.size();
        }
    }

    // The body to fire for `m`, or why not: a reason to log, or "" for a silent skip (a duplicate,
    // this node's own event).
    std::optional<std::string> prepare(const engine::incoming& m, const std::string& id, std::string& body) {
        if (ids_.contains(id)) {
            ++duplicates_;
            return std::string();
        }
        auto parts = tag_of(s_.prefix, m.subject);
        if (!parts) return parts.error().message;
        if (!s_.source_id.empty() && parts->source_id == s_.source_id) {
            ++own_;
            return std::string();  // this node's own event, back from the stream
        }
        auto b = engine::event_body(m, s_.prefix);
        if (!b) return b.error().message;
        body = std::move(*b);
        return std::nullopt;
    }

    result<void> fire(const std::string& frames) {
        const auto timeout = std::chrono::milliseconds(s_.fire_timeout_ms);
        auto pub = publisher::connect(pull_, timeout);
        if (!pub) return pub.error();
        if (auto r = pub->send(frames); !r) return r;
        return pub->close(timeout);
    }

    void fatal(const failure& f) {
        code_ = cli::fail(tool, f);
        finish(code_);
    }

    void finish(int code) {
        if (stopped_) return;
        stopped_ = true;
        // What was taken but not fired is simply not acknowledged: NATS sends it again.
        if (engine_) engine_->drain(2000);
        say("fired " + std::to_string(fired_) + " events, skipped " + std::to_string(duplicates_) + " already fired, " +
            std::to_string(own_) + " of this node's own, " + std::to_string(refused_) + " that were not events");
        code_ = code;
        loop_.stop();
    }

    const in_settings& s_;
    endpoint pull_;
    framing framing_;
    recent_ids ids_;
    std::optional<echo_ring> echo_;
    event_loop loop_;
    std::unique_ptr<engine::stream_engine> engine_;
    std::deque<engine::incoming> waiting_;
    event_loop::timer_id retry_timer_ = 0;
    std::uint64_t fired_ = 0, duplicates_ = 0, own_ = 0, refused_ = 0;
    bool failing_ = false, stopped_ = false;
    int code_ = 0;
};

}  // namespace

int run_in(const in_settings& s, const endpoint& pull, framing f, const std::string& sock_dir) {
    if (::mkdir(s.state_dir.c_str(), 0700) != 0 && errno != EEXIST)
        return cli::fail(tool, {errc::io, "cannot create the state folder " + s.state_dir + ": " + std::strerror(errno)});
    auto ids = recent_ids::open(s.state_dir + "/" + subject_token(s.stream) + "." + subject_token(s.durable) + ".ids");
    if (!ids) return cli::fail(tool, ids.error());
    in_bridge b(s, pull, f, std::move(*ids), sock_dir);
    return b.run();
}

}  // namespace tagbus::bridge
