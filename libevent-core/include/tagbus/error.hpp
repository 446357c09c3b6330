// The library's error kinds. They are not exit codes: tools/common maps them to the project's
// exit-code table in one place.
#pragma once

namespace tagbus::inline v0 {

enum class errc : int {
    invalid = 1,  ///< a bad argument: a word, a value of the wrong type, an option out of range
    data,         ///< bad input data: YAML/JSON, a tag, an event that cannot be fired or decoded
    unavailable,  ///< the bus (socket) is not there, refused us, or went away
    internal,     ///< a bug in the library (or a callback that threw)
    io,           ///< reading or writing a file or stream failed
    timeout,      ///< the wait ran out: try again
    config,       ///< a configuration file or setting is wrong
};

}  // namespace tagbus
