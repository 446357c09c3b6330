// Socket names in sock_dir (SALT-WIRE §1.1) and TCP endpoints (§1.2). Sans-I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "host/config.hpp"
#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

/// One side of the bus: a Unix socket path, or a loopback TCP host and port.
struct endpoint {
    bool tcp = false;
    std::string path;  ///< Unix socket path (when !tcp)
    std::string host;  ///< "127.0.0.1" or "::1" (when tcp)
    std::uint16_t port = 0;
    /// "/run/salt/master/master_event_pub.ipc" or "tcp://127.0.0.1:4512", for messages.
    std::string describe() const;
};

struct bus_endpoints {
    endpoint pub;
    endpoint pull;
};

/// First 10 lowercase hex digits of hash_type(id): "web01" sha256 -> "1f94fe445b". hash_type is any
/// hashlib name, case-insensitive (md5, sha1, sha224, sha256, sha384, sha512, sha3_256, blake2b...).
/// Error (errc::config): "unknown hash_type 'foo'".
result<std::string> minion_hash(std::string_view id, std::string_view hash_type);

/// Whether `hash_type` (any case) names one of hashlib's digests, without loading libcrypto: a
/// master only checks the setting, a minion computes its digest when it needs its socket names.
bool known_hash_type(std::string_view hash_type);

/// The longest Unix socket path the kernel takes (sun_path is 108 bytes with its NUL).
inline constexpr std::size_t max_socket_path = 107;

/// The endpoints for a resolved configuration. A Unix path longer than max_socket_path is an error
/// (errc::config) naming the path and its length, since libuv 1.44 would silently truncate it.
result<bus_endpoints> bus_paths(const bus_config& cfg);

/// Whether `cfg.sock_dir` is safe for user `uid` to run or reach a bus in, as tmux checks
/// /tmp/tmux-<uid>: another user who controls the folder could swap the sockets, feed forged events
/// to subscribers and read what publishers send. Refused (errc::config, message "unsafe sock_dir
/// <dir>: <why>"): a symbolic link, something not a folder, a folder owned by a user other than
/// `uid` or root, or one others may write to (group or other write) without the sticky bit. The
/// built-in default /tmp/tagbus-<uid>/<node> also needs /tmp/tagbus-<uid> to be `uid`'s with mode
/// 0700; it is created so (mkdir 0700) when missing, by clients too, so nobody else can take the
/// name first. A sock_dir that does not exist yet passes (nothing to reach; event-busd creates it).
/// Nothing to check with ipc_mode tcp.
result<void> check_sock_dir(const bus_config& cfg, unsigned uid);

/// /tmp/tagbus-<uid>: the private folder of the built-in default sock_dir (when no
/// XDG_RUNTIME_DIR is set).
std::string default_private_dir(unsigned uid);

}  // namespace tagbus
