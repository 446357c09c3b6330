// fire_event: one event onto a bus's pull socket, delivery confirmed by the bus closing its end.
#include "tagbus/fire.hpp"

#include <cstring>
#include <exception>

#include "api/destination_impl.hpp"
#include "net/client.hpp"
#include "render/lines.hpp"
#include "salt/master_event.hpp"
#include "tagbus/event.hpp"
#include "wire/frame.hpp"
#include "wire/msgpack.hpp"
#include "wire/stamp.hpp"

namespace tagbus::inline v0 {
namespace {

// encode_body(tag, copy of data, max, true, report) without the copy in the common case: the map
// is packed as it is with the stamp written in place of (or after) its "_stamp". Only data that
// needs trimming, or holds "_stamp" twice, takes the copy.
bool is_stamp_key(const value& key) {
    const std::string* k = key.str();
    return k != nullptr && k->size() == 6 && std::memcmp(k->data(), "_stamp", 6) == 0;
}

result<void> stamped_body(std::string_view tag, const value& data, std::size_t max_event_size, std::string& body,
                          trim_report* report, bool stamp_it = true) {
    if (auto ok = check_tag(tag); !ok) return ok.error();
    const map_t* m = data.map();
    if (!m) return fail(errc::data, "event data must be a map, not " + std::string(kind_name(data)));
    body.assign(tag);
    body.append("\n\n");
    const std::size_t head = body.size();
    if (!stamp_it) {  // the data carries the _stamp it is to be sent with
        pack(data, body);
        if (body.size() - head + 33 <= max_event_size) {
            if (report) *report = trim_report{};
            return {};
        }
        value copy = data;
        auto b = encode_body(tag, copy, max_event_size, false, report);
        if (!b) return b.error();
        body = std::move(*b);
        return {};
    }
    const std::string& stamp = detail::stamp_now();
    std::size_t stamps = 0;
    for (const member& kv : *m)
        if (is_stamp_key(kv.key)) ++stamps;
    if (stamps <= 1) {
        detail::pack_len(body, m->size() + (stamps == 0 ? 1 : 0), 0x80, 16, 0, 0xde, 0xdf);
        for (const member& kv : *m) {
            pack(kv.key, body);
            if (is_stamp_key(kv.key)) detail::pack_str(body, stamp);
            else pack(kv.val, body);
        }
        if (stamps == 0) {
            detail::pack_str(body, "_stamp");
            detail::pack_str(body, stamp);
        }
        if (body.size() - head + 33 <= max_event_size) {
            if (report) *report = trim_report{};
            return {};
        }
    }
    value copy = data;  // Salt stamps and trims the caller's map; ours stays as given
    auto b = encode_body(tag, copy, max_event_size, true, report);
    if (!b) return b.error();
    body = std::move(*b);
    return {};
}

}  // namespace

result<void> fire_event(const destination& to, std::string_view tag, const value& data, const fire_options& o) try {
    const auto& d = to.details();
    std::string body;
    if (auto r = stamped_body(tag, data, d.cfg.max_event_size, body, nullptr, o.stamp); !r) return r.error();
    std::string frame;
    append_frame(frame, body, d.cfg.pull_framing);
    auto pub = publisher::connect(d.eps.pull, o.timeout);
    if (!pub) return pub.error();
    if (auto r = pub->send(frame); !r) return r.error();
    return pub->close(o.timeout);
} catch (const std::bad_alloc&) {
    return fail(errc::internal, "out of memory while firing an event");
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while firing an event: ") + e.what());
}

result<void> fire_master(const destination& to, std::string_view tag, const value& data, const fire_options& o) try {
    if (to.node() != node_kind::minion)
        return fail(errc::invalid, "fire_master goes through a minion's bus, and " + to.sock_dir() + " is a master's");
    if (auto r = check_tag(tag); !r) return r.error();
    return fire_event(to, fire_master_tag, value(fire_master_request(data, tag)), o);
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while firing an event: ") + e.what());
}

// --- sender ---------------------------------------------------------------------------------------

struct sender::impl {
    std::optional<publisher> pub;
    framing frames = framing::legacy;
    std::size_t max_event_size = 0;
    std::chrono::milliseconds timeout{0};
    bool stamp = true;
    std::string body;   // the last event's
    std::string frame;  // scratch
    std::uint64_t count = 0;

    result<void> queue() {
        frame.clear();
        append_frame(frame, body, frames);
        if (auto r = pub->send(frame); !r) return r;
        ++count;
        return {};
    }
};

sender::sender() : p_(std::make_unique<impl>()) {}
sender::sender(sender&&) noexcept = default;
sender& sender::operator=(sender&&) noexcept = default;
sender::~sender() {
    if (p_ && p_->pub) (void)close();
}

result<sender> sender::open(const destination& to, const fire_options& o) try {
    const auto& d = to.details();
    sender s;
    s.p_->frames = d.cfg.pull_framing;
    s.p_->max_event_size = d.cfg.max_event_size;
    s.p_->timeout = o.timeout;
    s.p_->stamp = o.stamp;
    auto pub = publisher::connect(d.eps.pull, o.timeout);
    if (!pub) return pub.error();
    s.p_->pub.emplace(std::move(*pub));
    return s;
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while connecting: ") + e.what());
}

namespace {
failure closed() { return {errc::internal, "the sender is closed"}; }
}  // namespace

result<void> sender::fire(std::string_view tag, const value& data, trim_report* trimmed) try {
    if (!p_ || !p_->pub) return closed();
    if (auto r = stamped_body(tag, data, p_->max_event_size, p_->body, trimmed, p_->stamp); !r) return r;
    return p_->queue();
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while firing an event: ") + e.what());
}

result<void> sender::fire_line(std::string_view line, trim_report* trimmed) try {
    if (!p_ || !p_->pub) return closed();
    if (auto r = line_body(line, p_->max_event_size, p_->body, trimmed); !r) return r;
    return p_->queue();
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while firing an event: ") + e.what());
}

std::string_view sender::last_body() const { return p_ ? std::string_view(p_->body) : std::string_view(); }
std::uint64_t sender::count() const { return p_ ? p_->count : 0; }

result<void> sender::flush() try {
    if (!p_ || !p_->pub) return closed();
    return p_->pub->flush();
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while writing: ") + e.what());
}

result<void> sender::pause_until(std::chrono::steady_clock::time_point when) try {
    if (!p_ || !p_->pub) return closed();
    return p_->pub->pause_until(when);
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while pausing: ") + e.what());
}

void sender::on_wait(std::function<void()> hook) {
    if (p_ && p_->pub) p_->pub->on_wait(std::move(hook));
}

result<void> sender::close() try {
    if (!p_ || !p_->pub) return closed();
    auto r = p_->pub->close(p_->timeout);
    p_->pub.reset();
    return r;
} catch (const std::exception& e) {
    if (p_) p_->pub.reset();
    return fail(errc::internal, std::string("internal error while closing: ") + e.what());
}

}  // namespace tagbus
