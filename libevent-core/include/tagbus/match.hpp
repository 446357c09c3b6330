// get_event's match types (SALT-WIRE §5).
#pragma once

namespace tagbus::inline v0 {

/// startswith: the tag starts with the search tag (an empty one matches every tag); endswith;
/// find: contains it; regex: Python's re.match (anchored at the start only); fnmatch: a shell
/// glob over the whole tag, `*` crossing '/'.
enum class match_type { startswith, endswith, find, regex, fnmatch };

}  // namespace tagbus
