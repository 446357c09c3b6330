// How much a log line matters, for the callbacks through which the library reports what a bus or
// a forwarder did (it never prints).
#pragma once

namespace tagbus::inline v0 {

enum class log_level { error, warning, info, debug };

}  // namespace tagbus
