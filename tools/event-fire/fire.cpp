#include "fire.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "cli.hpp"
#include "tagbus/event.hpp"
#include "tagbus/fire.hpp"
#include "render/json.hpp"
#include "render/lines.hpp"
#include "render/output.hpp"
#include "salt/yaml.hpp"

using namespace tagbus;

result<std::chrono::milliseconds> timeout_word_ms(const value& v) {
    double ms = -1;
    if (const auto* u = std::get_if<std::uint64_t>(&v.v)) ms = static_cast<double>(*u);
    else if (const auto* d = std::get_if<double>(&v.v)) ms = *d;
    if (!(ms >= 0) || ms > 86400e3)
        return fail(errc::invalid, "timeout must be a number of milliseconds, not " +
                                       std::string(v.str() ? "'" + *v.str() + "'" : cli::kind_name(v)));
    return std::chrono::milliseconds(static_cast<long long>(ms + 0.5));
}

result<double> parse_rate(std::string_view text) {
    double d = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc{} || p != text.data() + text.size() || !std::isfinite(d) || !(d > 0))
        return fail(errc::invalid, "invalid --rate '" + std::string(text) + "' (expected events per second, a number above 0)");
    return d;
}

namespace {

// How many brackets `text` leaves open, ignoring those inside quotes (YAML flow style).
int open_brackets(std::string_view text, int depth) {
    char quote = 0;
    for (char c : text) {
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '{' || c == '[') {
            ++depth;
        } else if (c == '}' || c == ']') {
            --depth;
        }
    }
    return depth;
}

std::string shell_quote(std::string_view w) {
    const bool plain = !w.empty() && w.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                         "0123456789/_.:@%+=,-") == std::string_view::npos;
    if (plain) return std::string(w);
    std::string out = "'";
    for (char c : w) {
        if (c == '\'') out += "'\\''";
        else out.push_back(c);
    }
    return out + "'";
}

}  // namespace

std::optional<std::string> split_words_hint(std::string_view tool, const std::vector<std::string>& raw) {
    if (raw.size() < 2 || raw[0].empty() || (raw[0][0] != '{' && raw[0][0] != '[')) return std::nullopt;
    int depth = open_brackets(raw[0], 0);
    if (depth <= 0) return std::nullopt;
    std::size_t k = 1;
    std::string joined = raw[0];
    for (; k < raw.size() && depth > 0; ++k) {
        joined += " " + raw[k];
        depth = open_brackets(raw[k], depth);
    }
    if (depth != 0) return std::nullopt;  // not closed by later words: a plain YAML error says more
    std::string cmd = std::string(tool) + " " + shell_quote(joined);
    if (k == raw.size()) cmd += " TAG";
    for (; k < raw.size(); ++k) cmd += " " + raw[k];
    return "DATA looks split by the shell; quote it: " + cmd;
}

result<event> make_event(std::string_view tool, value data, const std::string& data_text, const value& tag,
                         const std::string& tag_text) {
    if (!data.map()) {
        // TAG and DATA the other way round: salt-call event.fire takes DATA first.
        if (tag.map() && !data.array())
            return fail(errc::invalid, "DATA comes first, then TAG (as in salt-call event.fire DATA TAG): " +
                                           std::string(tool) + " " + shell_quote(tag_text) + " " +
                                           shell_quote(data_text));
        // yamlify keeps unparseable YAML as the original string; say why it did not parse.
        if (data.str() && !data_text.empty() && (data_text[0] == '{' || data_text[0] == '[')) {
            auto parsed = salt_yaml_load(data_text);
            if (!parsed) return fail(errc::data, "cannot parse DATA: " + parsed.error().message);
        }
        return fail(errc::data, "DATA must be a map, not " + std::string(cli::kind_name(data)));
    }
    std::string tag_str;
    if (const auto* s = tag.str()) tag_str = *s;
    else if (tag.map() || tag.array()) return fail(errc::data, "TAG must be a string, not " + std::string(cli::kind_name(tag)));
    else tag_str = tag_text;
    if (auto ok = check_tag(tag_str); !ok) return ok.error();
    return event{std::move(tag_str), std::move(data)};
}

namespace {

std::string events(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " event" : " events"); }

// A recorded `_stamp` ("2024-05-01T12:34:56.789012", optionally "+00:00") in microseconds since
// the epoch; nothing when it is missing or does not parse.
std::optional<std::int64_t> stamp_us(const value& data) {
    const map_t* m = data.map();
    if (!m) return std::nullopt;
    const std::string* text = nullptr;
    for (const auto& mem : *m)
        if (const auto* k = mem.key.str(); k && *k == "_stamp") text = mem.val.str();
    if (!text) return std::nullopt;
    std::string_view s = *text;
    if (s.ends_with("+00:00")) s.remove_suffix(6);
    auto num = [&](std::size_t at, std::size_t len, int& out) {
        if (at + len > s.size()) return false;
        auto [p, ec] = std::from_chars(s.data() + at, s.data() + at + len, out);
        return ec == std::errc{} && p == s.data() + at + len;
    };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, us = 0;
    if (s.size() < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':') return std::nullopt;
    if (!num(0, 4, y) || !num(5, 2, mo) || !num(8, 2, d) || !num(11, 2, h) || !num(14, 2, mi) || !num(17, 2, sec))
        return std::nullopt;
    if (s.size() > 19) {
        if (s[19] != '.' || s.size() > 26 || s.size() == 20 || !num(20, s.size() - 20, us)) return std::nullopt;
        for (std::size_t i = s.size() - 20; i < 6; ++i) us *= 10;
    }
    using namespace std::chrono;
    const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
    if (!ymd.ok() || h > 23 || mi > 59 || sec > 59) return std::nullopt;
    const auto t = sys_days(ymd) + hours(h) + minutes(mi) + seconds(sec) + microseconds(us);
    return duration_cast<microseconds>(t.time_since_epoch()).count();
}

// The count and rate of a replay on stderr: redrawn in place on a terminal at most 4 times a
// second, else a line a second; the last line when it is over.
class progress_meter {
public:
    progress_meter(std::string_view tool, bool on)
        : tool_(tool), on_(on), tty_(on && isatty(STDERR_FILENO) == 1), start_(clock::now()), last_(start_) {}

    void update(std::uint64_t sent) {
        if (!on_) return;
        const auto now = clock::now();
        if (now - last_ < (tty_ ? std::chrono::milliseconds(250) : std::chrono::milliseconds(1000))) return;
        const double secs = std::chrono::duration<double>(now - last_).count();
        const auto rate = static_cast<std::uint64_t>(static_cast<double>(sent - last_sent_) / secs + 0.5);
        const std::uint64_t before = last_sent_;
        last_ = now;
        last_sent_ = sent;
        show(events(sent) + (sent == before ? " sent, waiting for the bus" : " sent (" + std::to_string(rate) + "/s)"),
             false);
    }

    /// The summary once the bus has read everything.
    void finish(std::uint64_t sent, std::uint64_t skipped) {
        if (!on_) return;
        const double secs = std::chrono::duration<double>(clock::now() - start_).count();
        char took[32];
        std::snprintf(took, sizeof took, "%.1f", secs);
        const auto rate = secs > 0 ? static_cast<std::uint64_t>(static_cast<double>(sent) / secs + 0.5) : sent;
        std::string line = events(sent) + " sent in " + took + " s (" + std::to_string(rate) + "/s)";
        if (skipped > 0) line += ", " + std::to_string(skipped) + " bad line" + (skipped == 1 ? "" : "s") + " skipped";
        show(line, true);
    }

    /// Ends a line redrawn in place, so that what is printed next starts on its own line.
    void interrupt() {
        if (drawn_) std::cerr << '\n' << std::flush;
        drawn_ = false;
    }

private:
    using clock = std::chrono::steady_clock;
    void show(const std::string& text, bool last) {
        if (tty_) {
            std::cerr << "\r" << tool_ << ": " << text << "\033[K";
            if (last) std::cerr << '\n';
            std::cerr << std::flush;
            drawn_ = !last;
        } else {
            cli::say(tool_, text);
        }
    }
    std::string_view tool_;
    bool on_;
    bool tty_;
    clock::time_point start_;
    clock::time_point last_;
    std::uint64_t last_sent_ = 0;
    bool drawn_ = false;
};

}  // namespace

int fire_one(std::string_view tool, const fire_target& t, const event& ev) {
    auto s = sender::open(t.to, fire_options{t.budget});
    if (!s) return cli::fail(tool, s.error());
    trim_report trimmed;
    if (auto r = s->fire(ev.tag, ev.data, &trimmed); !r) return cli::fail(tool, r.error());
    if (trimmed.over) cli::say(tool, "warning: " + describe_trim(ev.tag, trimmed));
    if (auto r = s->close(); !r) return cli::fail(tool, r.error());
    if (t.verbose) cli::say_sent(tool, t.to.pull_address(), s->last_body());
    return 0;
}

namespace {

// Lines from a file descriptor, read in large blocks.
class line_reader {
public:
    explicit line_reader(int fd) : fd_(fd) {}

    /// The next line without its "\n" (a last line without one too); nothing at the end of the
    /// input or on a read error (error() then says so).
    std::optional<std::string_view> next() {
        for (;;) {
            // Where the last search for a newline stopped: a long line read in many blocks is
            // searched once, not once per block.
            const std::size_t from = std::max(pos_, scanned_);
            if (const void* nl = std::memchr(buf_.data() + from, '\n', buf_.size() - from)) {
                const auto end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf_.data());
                const std::string_view line(buf_.data() + pos_, end - pos_);
                pos_ = end + 1;
                return line;
            }
            scanned_ = buf_.size();
            if (eof_) {
                if (pos_ == buf_.size()) return std::nullopt;
                const std::string_view line(buf_.data() + pos_, buf_.size() - pos_);
                pos_ = buf_.size();
                return line;
            }
            fill();
        }
    }

    /// Whether a whole line is at hand, or more input can be read without waiting.
    bool more_at_hand() const {
        if (std::memchr(buf_.data() + pos_, '\n', buf_.size() - pos_) != nullptr || eof_) return true;
        pollfd p{fd_, POLLIN, 0};
        return ::poll(&p, 1, 0) > 0;
    }

    bool error() const { return error_; }

private:
    void fill() {
        buf_.erase(0, pos_);
        scanned_ -= std::min(scanned_, pos_);
        pos_ = 0;
        const std::size_t have = buf_.size();
        buf_.resize(have + block);
        ssize_t n;
        do n = ::read(fd_, buf_.data() + have, block);
        while (n < 0 && errno == EINTR);
        buf_.resize(have + static_cast<std::size_t>(n > 0 ? n : 0));
        if (n <= 0) {
            eof_ = true;
            error_ = n < 0;
        }
    }

    static constexpr std::size_t block = 256 * 1024;
    int fd_;
    std::string buf_;
    std::size_t pos_ = 0;
    std::size_t scanned_ = 0;  // bytes before this hold no newline after pos_
    bool eof_ = false;
    bool error_ = false;
};

}  // namespace

int fire_lines(std::string_view tool, const fire_target& t, const replay_options& opts, int fd) {
    auto pub = sender::open(t.to, fire_options{t.budget});
    if (!pub) return cli::fail(tool, pub.error());
    progress_meter meter(tool, opts.progress);
    std::uint64_t sent = 0;
    pub->on_wait([&] { meter.update(sent); });
    line_reader in(fd);
    std::size_t lineno = 0;
    std::uint64_t skipped = 0;
    std::optional<failure> bad;
    std::optional<failure> lost;  // the bus failed us: stop at once
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    clock::time_point prev_due = start;
    std::optional<std::int64_t> prev_stamp;
    while (!bad && !lost) {
        const auto line = in.next();
        if (!line) break;
        ++lineno;
        if (line->empty()) continue;
        // Pacing: each event has a due time, and waits for it (what went before is written out
        // first) before it is stamped, so that its _stamp is its time of firing.
        std::optional<clock::time_point> due;
        if (opts.rate > 0) {
            due = start + std::chrono::duration_cast<clock::duration>(
                              std::chrono::duration<double>(static_cast<double>(sent) / opts.rate));
        } else if (opts.realtime) {
            std::string tag;
            value data;
            if (auto r = parse_event_line(*line, tag, data); !r) bad = r.error();
            else if (const auto stamp = stamp_us(data)) {
                // The gap to the previous stamped line; a line without a stamp goes at once.
                due = prev_stamp ? prev_due + std::chrono::microseconds(std::max<std::int64_t>(0, *stamp - *prev_stamp))
                                 : clock::now();
                prev_stamp = stamp;
                prev_due = *due;
            }
        }
        if (!bad && due && *due > clock::now()) {
            if (auto r = pub->pause_until(*due); !r) {
                lost = r.error();
                break;
            }
        }
        trim_report trimmed;
        if (!bad) {
            if (auto r = pub->fire_line(*line, &trimmed); !r) {
                if (r.error().code == errc::data) bad = r.error();
                else lost = r.error();
            }
        }
        if (lost) break;
        if (bad) {
            bad->message = "line " + std::to_string(lineno) + ": " + bad->message;
            if (!opts.skip_bad_lines) break;
            meter.interrupt();
            cli::say(tool, "warning: " + bad->message + "; skipped");
            bad.reset();
            ++skipped;
            continue;
        }
        ++sent;
        if (trimmed.over) {
            meter.interrupt();
            const auto parts = split_body(pub->last_body());
            cli::say(tool, "warning: line " + std::to_string(lineno) + ": " +
                               describe_trim(parts ? parts->first : std::string_view(), trimmed));
        }
        if (t.verbose) cli::say_sent(tool, t.to.pull_address(), pub->last_body());
        // Writes are coalesced while more input is at hand; when none is, what we have goes out
        // now (a live `state-event | event-fire --lines` is not held back).
        if (!in.more_at_hand()) {
            if (auto r = pub->flush(); !r) {
                lost = r.error();
                break;
            }
        }
        if ((sent & 63) == 0) meter.update(sent);
    }
    meter.interrupt();
    if (lost) {
        lost->message += " (after " + events(sent) + ")";
        if (lost->code == errc::timeout) lost->message += "; a longer --timeout waits out a bus paused for a slow subscriber";
        return cli::fail(tool, *lost);
    }
    // Everything accepted before a bad line is still delivered.
    if (auto r = pub->close(); !r) {
        if (bad) cli::say(tool, bad->message);
        return cli::fail(tool, r.error());
    }
    if (bad) {
        bad->message += "; stopped after " + events(sent) + " sent (--skip-bad-lines goes on past bad lines)";
        return cli::fail(tool, *bad);
    }
    if (in.error()) return cli::fail(tool, {errc::io, "cannot read stdin"});
    meter.finish(sent, skipped);
    return 0;
}
