// The two service-manager protocols event-busd speaks, as systemd documents them
// (sd_listen_fds(3), sd_notify(3)): sockets handed over in LISTEN_FDS, and readiness to
// NOTIFY_SOCKET. Written here rather than linked from libsystemd, which would bring six more
// libraries and about 1 MiB of resident memory into a daemon that otherwise holds 3.5 MiB,
// for some forty lines of a stable, documented interface.
#pragma once

#include <string_view>
#include <vector>

#include "tagbus/result.hpp"

namespace busd {

/// The descriptors handed over (from 3 on), when LISTEN_PID is this process: empty when there
/// are none or they are another process's. LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are
/// removed from the environment either way, so nothing started later takes them for its own.
/// Error (errc::config): a LISTEN_FDS or LISTEN_PID that is not a number.
tagbus::result<std::vector<int>> listen_fds();

/// Sends `state` ("READY=1", "STOPPING=1") to NOTIFY_SOCKET (a path, or "@name" for an abstract
/// socket); nothing when it is unset. A failure is returned for the caller to log: the service
/// manager then times out the start, which is its own report.
tagbus::result<void> notify(std::string_view state);

}  // namespace busd
