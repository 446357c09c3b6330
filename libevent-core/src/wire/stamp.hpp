// The _stamp of an event fired now (private to the library).
#pragma once

#include <string>

namespace tagbus::inline v0::detail {

/// format_stamp(now), formatted once per microsecond and thread: a pipelined sender fires
/// several events in one. Valid until the next call on the same thread.
const std::string& stamp_now();

}  // namespace tagbus::inline v0::detail
