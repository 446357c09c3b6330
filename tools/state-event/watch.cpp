#include "watch.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/subject.hpp"
#include "net/client.hpp"
#include "engine/message.hpp"
#include "tagbus/event.hpp"
#include "tagbus/value.hpp"
#include "py/py.hpp"

using namespace tagbus;

namespace {

result<void> set_count(watch_settings& ws, const value& v) {
    if (const auto* b = std::get_if<bool>(&v.v)) ws.count = *b ? 1 : 0;
    else if (const auto* i = std::get_if<std::int64_t>(&v.v)) ws.count = *i;
    else if (const auto* u = std::get_if<std::uint64_t>(&v.v))
        ws.count = *u > static_cast<std::uint64_t>(std::numeric_limits<long long>::max())
                       ? std::numeric_limits<long long>::max()
                       : static_cast<long long>(*u);
    else if (const auto* d = std::get_if<double>(&v.v)) {
        ws.count_is_float = true;
        ws.fcount = *d;
    } else
        return fail(errc::invalid, "count must be a number, not " + std::string(cli::kind_name(v)));
    return {};
}

}  // namespace

result<watch_settings> build_watch(const std::vector<std::string>& words, const std::optional<std::string>& tagmatch_flag,
                                   const std::optional<long long>& count_flag, bool quiet_flag, bool pretty_flag,
                                   const cli::connection_options& conn) {
    watch_settings ws;
    ws.conn = conn;
    // state.event's signature, in order: positionals bind to it as Python binds them.
    const salt_args args = parse_salt_args(words);
    auto bound = cli::bind_words(args, {{"tagmatch", tagmatch_flag.has_value(), "--tagmatch"},
                                        {"count", count_flag.has_value(), "--count"},
                                        {"quiet", quiet_flag, "--quiet"},
                                        {"sock_dir", conn.sock_dir.has_value(), "--sock-dir"},
                                        {"pretty", pretty_flag, "--pretty"},
                                        {"node", conn.node.has_value(), "--node"}});
    if (!bound) return bound.error();
    const auto& b = *bound;

    // The tagmatch word is YAML-converted like every Salt word; a non-string matches nothing.
    if (tagmatch_flag) ws.matcher.emplace(*tagmatch_flag);
    else if (!b["tagmatch"]) ws.matcher.emplace("*");
    else if (const auto* s = b["tagmatch"]->str()) ws.matcher.emplace(*s);

    if (count_flag) ws.count = *count_flag;
    else if (b["count"])
        if (auto r = set_count(ws, *b["count"]); !r) return r.error();
    ws.quiet = quiet_flag || (b["quiet"] && truthy(*b["quiet"]));
    if (b["sock_dir"] && !b["sock_dir"]->is_nil()) {  // sock_dir=None is Salt's default: the node's own sock_dir
        auto s = cli::word_string("sock_dir", *b["sock_dir"]);
        if (!s) return s.error();
        ws.conn.sock_dir = *s;
    }
    ws.output.pretty = pretty_flag || (b["pretty"] && truthy(*b["pretty"]));
    if (b["node"]) {
        auto s = cli::word_string("node", *b["node"]);
        if (!s) return s.error();
        ws.conn.node = *s;
    }
    return ws;
}

namespace {

class watcher {
public:
    watcher(std::string_view tool, const watch_settings& ws, const endpoint& pub)
        : tool_(tool), ws_(ws), pub_(pub), count_(ws.count), fcount_(ws.fcount) {}

    int run() {
        if (ws_.from) return run_from(*ws_.from);
        subscriber_options so;
        so.pub = pub_;
        so.wait_for_bus = ws_.wait_for_bus;
        sub_.emplace(loop_, so,
                     subscriber_handlers{[this](std::string_view body) { on_body(body); },
                                         [this] { flush(); },
                                         [this](link_state s, const failure* e) { on_state(s, e); }});
        loop_.on_signal(SIGINT, [this] { finish(0); });
        loop_.on_signal(SIGTERM, [this] { finish(0); });
        if (ws_.timeout_ms)
            loop_.after(*ws_.timeout_ms, [this] {
                if (ws_.wait_for_bus && !connected_) {
                    // --wait-for-bus and the bus never came: that is not a "no" but a missing bus.
                    done_ = true;
                    char secs[32];
                    std::snprintf(secs, sizeof secs, "%g", static_cast<double>(*ws_.timeout_ms) / 1000.0);
                    code_ = cli::fail(tool_, {errc::unavailable, "cannot connect to " + pub_.describe() +
                                                                       ": the bus never appeared within " + secs + " s"});
                    loop_.stop();
                    return;
                }
                // A bounded count not reached is a "no"; an unbounded watch answers like grep.
                bool bounded = ws_.count_is_float ? ws_.fcount >= 0 : ws_.count >= 0;
                finish(bounded || matched_ == 0 ? 1 : 0);
            });
        sub_->start();
        loop_.run();
        return code_;
    }

private:
    // The same watch over a stream's messages: each payload is the Salt body the bus carried, so
    // it prints with the same bytes.
    int run_from(const watch_settings::replay& r) {
        auto e = engine::connect_nats(r.nats, [this] { loop_.wake(); });
        if (!e) return cli::fail(tool_, e.error());
        engine_ = std::move(*e);
        loop_.on_wake([this, &r] {
            if (done_) return;
            engine::polled p = engine_->poll();
            for (const auto& l : p.links) cli::say(tool_, l.text);
            for (const auto& m : p.messages) {
                if (done_) break;
                if (m.format.empty() || m.format == "salt") {
                    on_body(m.payload);
                } else if (auto body = engine::event_body(m, r.prefix)) {
                    on_body(*body);
                } else {
                    warn_undecodable(body.error());
                }
            }
            flush();
        }, true);
        if (auto c = engine_->consume(r.consume); !c) return cli::fail(tool_, c.error());
        if (ws_.conn.verbose) cli::say(tool_, "reading stream " + r.consume.stream + " at " + engine_->describe());
        loop_.on_signal(SIGINT, [this] { finish(0); });
        loop_.on_signal(SIGTERM, [this] { finish(0); });
        if (ws_.timeout_ms)
            loop_.after(*ws_.timeout_ms, [this] {
                bool bounded = ws_.count_is_float ? ws_.fcount >= 0 : ws_.count >= 0;
                finish(bounded || matched_ == 0 ? 1 : 0);
            });
        loop_.run();
        return code_;
    }

    void on_body(std::string_view body) {
        if (done_) return;
        auto parts = split_body(body);
        if (!parts) return warn_undecodable(parts.error());
        auto [tag, packed] = *parts;
        if (!ws_.matcher || !(*ws_.matcher)(tag)) return;
        // quiet=True prints nothing, so Salt never json.dumps the event and never crashes on it:
        // it is rendered only to learn whether Salt drops it, and plain data not even that.
        if (ws_.quiet && packed_json_plain(packed)) {
            ++matched_;
            if (count_step()) finish(0);
            return;
        }
        const std::size_t mark = out_.size();
        auto rendered = format_packed_event(tag, packed, ws_.output, out_);
        if (!rendered) return warn_undecodable(rendered.error());
        const render_outcome& r = *rendered;
        if (r.drop) return;  // Salt drops these silently and does not count them
        if (ws_.quiet) out_.resize(mark);
        if (!ws_.quiet && (r.issues & ~warned_)) {
            cli::say(tool_, "warning: Salt's state.event cannot print event '" + std::string(tag) +
                                "'; printed anyway (" + describe_issues(r.issues & ~warned_) + ")");
            warned_ |= r.issues;
        }
        ++matched_;
        if (count_step()) finish(0);
    }

    // Salt: `if count > 0: count -= 1` then `if count == 0: break`.
    bool count_step() {
        if (ws_.count_is_float) {
            if (fcount_ > 0) fcount_ -= 1;
            return fcount_ == 0;
        }
        if (count_ > 0) --count_;
        return count_ == 0;
    }

    void warn_undecodable(const failure& f) {
        if (warned_undecodable_) return;
        warned_undecodable_ = true;
        cli::say(tool_, "warning: skipped an event that cannot be decoded (Salt drops it too): " + f.message);
    }

    void on_state(link_state s, const failure* e) {
        switch (s) {
            case link_state::connected:
                connected_ = true;
                if (ws_.conn.verbose) cli::say(tool_, "connected to " + pub_.describe());
                break;
            case link_state::lost:
                cli::say(tool_, "lost the bus: " + (e ? e->message : pub_.describe()) + "; reconnecting");
                break;
            case link_state::reconnected:
                cli::say(tool_, "reconnected to " + pub_.describe() + "; events fired meanwhile are lost");
                break;
            case link_state::unavailable:
                done_ = true;
                code_ = cli::fail(tool_, e ? *e : failure{errc::unavailable, "cannot connect to " + pub_.describe()});
                loop_.stop();
                break;
        }
    }

    void flush() {
        std::size_t off = 0;
        while (off < out_.size()) {
            ssize_t n = ::write(1, out_.data() + off, out_.size() - off);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                // The reader went away (EPIPE) or stdout failed: stop quietly for EPIPE.
                if (errno != EPIPE) cli::say(tool_, std::string("cannot write to stdout: ") + std::strerror(errno));
                out_.clear();
                done_ = true;
                code_ = cli::exit_code(errc::io);
                if (sub_) sub_->stop();
                loop_.stop();
                return;
            }
            off += static_cast<std::size_t>(n);
        }
        out_.clear();
    }

    void finish(int code) {
        if (done_) return;
        flush();  // a failed write has already finished the run with errc::io
        if (done_) return;
        done_ = true;
        code_ = code;
        if (sub_) sub_->stop();
        loop_.stop();
    }

    std::unique_ptr<engine::stream_engine> engine_;

    std::string_view tool_;
    const watch_settings& ws_;
    endpoint pub_;
    event_loop loop_;
    std::optional<subscriber> sub_;
    std::string out_;
    long long count_;
    double fcount_;
    unsigned long long matched_ = 0;
    unsigned warned_ = 0;
    bool warned_undecodable_ = false;
    bool done_ = false;
    bool connected_ = false;  // the first connection was made (for --wait-for-bus --timeout)
    int code_ = 0;
};

}  // namespace

int run_watch(std::string_view tool, const watch_settings& ws, const endpoint& pub) {
    watcher w(tool, ws, pub);
    return w.run();
}
