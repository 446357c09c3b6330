// Where a bus is: the socket paths (or TCP ports), the framing and the size cap, resolved once
// from the node, a sock_dir, the Salt config folder, a minion id and the environment, with the one
// precedence rule every tagbus tool uses (see libtagbus(3), "DESTINATION").
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "tagbus/export.hpp"
#include "tagbus/node.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

/// Each field unset means "not given": the next source in the precedence rule decides.
struct destination_options {
    node_kind node = node_kind::master;
    std::optional<std::string> sock_dir;    ///< beats TAGBUS_SOCK_DIR and the config files
    std::optional<std::string> config_dir;  ///< Salt's config folder; default /etc/salt
    std::optional<std::string> id;          ///< a minion's id (else config `id`, minion_id, FQDN)
    std::optional<std::string> framing;     ///< "legacy" | "prefixed" (else TAGBUS_FRAMING, config)
    std::optional<std::string> ipc_mode;    ///< "ipc" | "tcp" (else config `ipc_mode`)
    /// Where a given sock_dir (and id) came from, for describe() and messages: "the program"
    /// unless the caller says otherwise (the tools say "command line").
    std::string given_by = "the program";
    /// How the caller picks another sock_dir, ending the message for an unsafe one ("...; remove
    /// it or choose another sock_dir"); the tools say "choose another with --sock-dir".
    std::string choose_other_sock_dir = "choose another sock_dir";
    /// Salt's options as a program already holds them (the dict salt.config returns): when given,
    /// they are read instead of the config files, which are not opened. The keys used: sock_dir,
    /// id, hash_type, ipc_mode, ipv6, tcp_pub_port / tcp_pull_port (minion),
    /// tcp_master_pub_port / tcp_master_pull_port (master), max_event_size, framing, root_dir,
    /// cachedir, file_client, master_type. A sock_dir above still beats theirs.
    std::optional<map_t> opts;
};

class TAGBUS_API destination {
public:
    /// Resolves the configuration (reads the config files; connects to nothing; creates the
    /// private default folder /tmp/tagbus-<uid> when that is the answer). Errors: errc::config
    /// for an unreadable or invalid config file (naming file and line) and for a sock_dir another
    /// user could take over; errc::invalid for a bad framing, ipc_mode or an empty sock_dir.
    static result<destination> resolve(const destination_options& options = {});

    node_kind node() const;
    /// The socket folder, and where it came from ("TAGBUS_SOCK_DIR", "/etc/salt/minion", ...).
    const std::string& sock_dir() const;
    const std::string& sock_dir_source() const;
    /// The config's max_event_size: larger events are trimmed as Salt trims them.
    std::size_t max_event_size() const;
    /// A minion's id, which names its sockets (empty for a master whose config sets none).
    const std::string& id() const;
    /// Every key the config files (or the given opts) set, later files winning: what a program
    /// that wants the rest of Salt's options reads.
    const map_t& config() const;
    /// Two lines for a verbose mode: "node master, sock_dir /run/x (from TAGBUS_SOCK_DIR)" and
    /// "pub /run/x/master_event_pub.ipc, pull /run/x/master_event_pull.ipc".
    std::string describe() const;
    /// Where events are fired and where they are read: a socket path, or "127.0.0.1:4506" in
    /// ipc_mode tcp.
    std::string pull_address() const;
    std::string pub_address() const;

    struct impl;
    /// The resolved details, for the library's own modules.
    const impl& details() const { return *p_; }

private:
    explicit destination(std::shared_ptr<const impl> p);
    std::shared_ptr<const impl> p_;
};

}  // namespace tagbus
