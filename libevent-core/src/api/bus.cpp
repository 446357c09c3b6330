// bus: event-busd's server and a minion bus's forwarder on a loop of their own.
#include "tagbus/bus.hpp"

#include <unistd.h>

#include <exception>

#include "api/destination_impl.hpp"
#include "net/forwarder.hpp"
#include "net/loop.hpp"
#include "net/server.hpp"

namespace tagbus::inline v0 {

namespace {

forward_request forward_request_of(const destination& where, const bus_options& o) {
    forward_request req;
    req.master_sock_dir = o.master_sock_dir;
    req.config_dir = where.details().config_dir;
    req.off = !o.forward;
    req.max_queue = o.forward_queue;
    return req;
}

}  // namespace

result<std::optional<std::string>> forward_address(const destination& where, const bus_options& o) try {
    auto target = forward_target(where.details().cfg, forward_request_of(where, o), environment::process());
    if (!target) return target.error();
    if (!*target) return std::optional<std::string>();
    return std::optional<std::string>((*target)->master_pull.describe());
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while finding the master bus: ") + e.what());
}

struct bus::impl {
    event_loop loop;
    std::unique_ptr<forwarder> fwd;  // before the server: the server's on_event offers to it
    std::unique_ptr<bus_server> server;
    bus_endpoints eps;
    bool running = false;

    void quit() {
        server->stop();
        if (fwd) fwd->stop();
        loop.stop();
    }
};

bus::bus() : p_(std::make_unique<impl>()) {}
bus::bus(bus&&) noexcept = default;
bus& bus::operator=(bus&&) noexcept = default;
bus::~bus() {
    if (!p_) return;
    if (p_->server) p_->server->stop();  // none when open() failed before making it
    if (p_->fwd) p_->fwd->stop();
}

result<bus> bus::open(const destination& where, bus_options o) try {
    const auto& d = where.details();
    server_options so;
    so.endpoints = d.eps;
    so.group = o.group;
    // Handed-over sockets are the bus's from here: closed on every way out (an exception too)
    // until the server holds them, which closes those it has not taken when it goes.
    so.listen_fds = std::move(o.listen_fds);
    struct close_unless_taken {
        std::vector<int>& fds;
        ~close_unless_taken() {
            for (int fd : fds) ::close(fd);
        }
    } handed_over{so.listen_fds};
    auto pub = parse_framing(o.pub_framing);
    if (!pub) return fail(errc::invalid, "invalid pub framing '" + o.pub_framing + "' (expected legacy or prefixed)");
    so.pub_framing = *pub;
    so.max_subscriber_buffer = o.max_subscriber_buffer;
    so.max_input_buffer = o.max_input_buffer;
    so.max_frame = o.max_frame;
    so.partial_frame_timeout_ms = static_cast<std::uint64_t>(o.partial_frame_timeout.count());
    so.log = o.log;
    bus b;
    impl* self = b.p_.get();
    self->eps = d.eps;
    auto target = forward_target(d.cfg, forward_request_of(where, o), environment::process());
    if (!target) return target.error();
    if (*target) {
        (*target)->log = o.forward_log;
        self->fwd = std::make_unique<forwarder>(self->loop, std::move(**target));
        so.on_event = [self](std::string_view body) { self->fwd->offer(body); };
    }
    self->server = std::make_unique<bus_server>(self->loop, std::move(so));
    self->loop.on_wake([self] { self->quit(); });
    for (int sig : o.stop_signals) self->loop.on_signal(sig, [self] { self->quit(); });
    if (auto r = self->server->start(); !r) return r.error();
    return b;
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while opening the bus: ") + e.what());
}

result<void> bus::run() try {
    p_->loop.run();
    p_->server->stop();  // also when run() ended for another reason: the socket files must go
    if (p_->fwd) p_->fwd->stop();
    return {};
} catch (const std::exception& e) {
    return fail(errc::internal, std::string("internal error while serving: ") + e.what());
}

void bus::stop() {
    if (p_) p_->loop.wake();
}

std::string bus::describe() const { return "pub " + p_->eps.pub.describe() + ", pull " + p_->eps.pull.describe(); }

}  // namespace tagbus
