// destination: the one "config → socket paths" resolution every tool and program goes through.
#include "tagbus/destination.hpp"

#include <unistd.h>

#include "api/destination_impl.hpp"

namespace tagbus::inline v0 {

destination::destination(std::shared_ptr<const impl> p) : p_(std::move(p)) {}

config_request to_config_request(const destination_options& o) {
    config_request req;
    req.node = o.node;
    req.sock_dir = o.sock_dir;
    req.config_dir = o.config_dir;
    req.id = o.id;
    req.framing = o.framing;
    req.ipc_mode = o.ipc_mode;
    req.given_by = o.given_by;
    req.opts = o.opts;
    return req;
}

result<destination> destination::resolve(const destination_options& o) {
    auto cfg = resolve_config(to_config_request(o), environment::process());
    if (!cfg) return cfg.error();
    auto eps = bus_paths(*cfg);
    if (!eps) return eps.error();
    if (auto r = check_sock_dir(*cfg, static_cast<unsigned>(::getuid())); !r)
        return fail(r.error().code, r.error().message + "; remove it or " + o.choose_other_sock_dir, r.error().sys_errno);
    return destination(std::make_shared<const impl>(impl{std::move(*cfg), std::move(*eps), o.config_dir}));
}

node_kind destination::node() const { return p_->cfg.node; }
const std::string& destination::sock_dir() const { return p_->cfg.sock_dir; }
const std::string& destination::sock_dir_source() const { return p_->cfg.sock_dir_source; }
std::size_t destination::max_event_size() const { return p_->cfg.max_event_size; }
const std::string& destination::id() const { return p_->cfg.id; }
const map_t& destination::config() const { return p_->cfg.options; }

std::string destination::pull_address() const { return p_->eps.pull.describe(); }
std::string destination::pub_address() const { return p_->eps.pub.describe(); }

std::string destination::describe() const {
    return "node " + std::string(to_string(p_->cfg.node)) + ", sock_dir " + p_->cfg.sock_dir + " (from " +
           p_->cfg.sock_dir_source + ")\npub " + p_->eps.pub.describe() + ", pull " + p_->eps.pull.describe();
}

}  // namespace tagbus
