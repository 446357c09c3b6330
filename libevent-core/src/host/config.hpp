// Where the bus is and how to talk to it: sock_dir resolution (DESIGN.md), Salt's master/minion
// config files with their .d/*.conf and root_dir re-rooting (SALT-WIRE §1.1a), ipc_mode and ports,
// id and hash_type, max_event_size, and our framing knob. Reads files only; the environment and
// the host name come in through `environment` so tests can set them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wire/frame.hpp"
#include "tagbus/result.hpp"
#include "tagbus/node.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

// node_kind: tagbus/node.hpp

/// "master" | "minion"; error (errc::invalid): "unknown node 'x' (expected master or minion)".
result<node_kind> parse_node(std::string_view word);
std::string_view to_string(node_kind n);

/// What the command line said (each optional: unset means "not given").
struct config_request {
    node_kind node = node_kind::master;
    std::optional<std::string> sock_dir;    ///< sock_dir= / --sock-dir
    std::optional<std::string> config_dir;  ///< -c / --config-dir; default /etc/salt
    std::optional<std::string> id;          ///< --id
    std::optional<std::string> framing;     ///< --framing
    std::optional<std::string> ipc_mode;    ///< --ipc-mode (ipc | tcp)
    std::string given_by = "command line";  ///< the source named for a given sock_dir / id
    /// Salt's options as a program already holds them (salt.config's dict): read instead of the
    /// config files, which are then not opened (config_dir only locates minion_id).
    std::optional<map_t> opts;
};

/// The process environment and host facts, injectable for tests.
struct environment {
    std::function<std::optional<std::string>(const char*)> getenv;  ///< TAGBUS_SOCK_DIR, TAGBUS_FRAMING, XDG_RUNTIME_DIR
    std::function<bool(const std::string&)> is_dir;                 ///< for Salt's default /var/run/salt/<node>
    std::function<std::string()> fqdn;                               ///< Salt's id fallback
    unsigned uid = 0;
    static environment process();  ///< the real one
    /// The process's environment variables, in environ order (event.send's with_env).
    static std::vector<std::pair<std::string, std::string>> variables();
};

struct bus_config {
    node_kind node = node_kind::master;
    std::string sock_dir;
    std::string sock_dir_source;  ///< for --verbose and errors: "command line", "TAGBUS_SOCK_DIR",
                                  ///< the file that set it ("/etc/salt/minion.d/x.conf", plus
                                  ///< ", too long: Salt uses <cachedir>/.salt-unix" when Salt's
                                  ///< length rule moved it), "Salt's default", "tagbus default"
    bool tcp = false;             ///< ipc_mode: tcp
    bool ipv6 = false;            ///< Salt's `ipv6` option (TCP host ::1 on newer Salt)
    std::uint16_t pub_port = 0;   ///< tcp_master_pub_port (4512) / tcp_pub_port (4510)
    std::uint16_t pull_port = 0;  ///< tcp_master_pull_port (4513) / tcp_pull_port (4511)
    std::string id;               ///< minion id (--id, config `id`, <config_dir>/minion_id, else FQDN;
                                  ///< append_domain applied). A master only takes --id or `id:`.
    std::string id_source;        ///< where `id` came from, for messages: "command line", the config
                                  ///< file, <config_dir>/minion_id, "the host name"; empty if unset
    std::string hash_type = "sha256";
    std::size_t max_event_size = 1048576;
    framing pull_framing = framing::legacy;  ///< --framing > TAGBUS_FRAMING > config `framing:` > legacy
    std::string config_file;      ///< the node's config file when one was read, else empty
    bool masterless = false;      ///< file_client: local or master_type: disable (minion config)
    bool use_master_when_local = false;
    map_t options;                ///< every key the config files set (later files win), for other tools
};

/// The largest config file read (1 MiB; Salt's own are a few KiB): a bigger one is an error
/// rather than a long wait in the YAML parser.
inline constexpr std::size_t max_config_size = 1 << 20;

/// Resolves the configuration. A config_dir given in the request must be an existing folder
/// (errc::config: "cannot read config folder /x: No such file or directory"). Config files: <config_dir>/<node>, then its `default_include` glob
/// (default <node>.d/*.conf) and `include:` globs, nested includes too, each in name order (a missing
/// file is fine; an unreadable or invalid one is an error, errc::config, naming the file and line).
/// root_dir re-roots a config-file sock_dir and Salt's default as Salt does (SALT-WIRE §1.1a).
/// sock_dir order: request > TAGBUS_SOCK_DIR > config file > Salt's default when that folder exists
/// > $XDG_RUNTIME_DIR/tagbus/<node> or /tmp/tagbus-<uid>/<node>. A key written with no value counts
/// as unset (except `id:`, which Salt reads as "None"). Bad values: errc::config naming key, value
/// and file ("invalid tcp_pub_port 'abc' in /etc/salt/minion (expected a port number ...)"); a bad
/// --framing / --ipc-mode / empty sock_dir: errc::invalid.
result<bus_config> resolve_config(const config_request& req, const environment& env);

}  // namespace tagbus
