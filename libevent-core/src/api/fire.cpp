// fire_event: one event onto a bus's pull socket, delivery confirmed by the bus closing its end.
#include "tagbus/fire.hpp"

#include <exception>

#include "api/destination_impl.hpp"
#include "net/client.hpp"
#include "salt/master_event.hpp"
#include "tagbus/event.hpp"
#include "wire/frame.hpp"

namespace tagbus::inline v0 {

result<void> fire_event(const destination& to, std::string_view tag, const value& data, const fire_options& o) try {
    const auto& d = to.details();
    value copy = data;  // Salt adds _stamp to (and trims) the caller's map; ours stays as given
    auto body = encode_body(tag, copy, d.cfg.max_event_size, true);
    if (!body) return body.error();
    std::string frame;
    append_frame(frame, *body, d.cfg.pull_framing);
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

}  // namespace tagbus
