// The project's one exit-code table (man/fragments/exit-status.man documents it).
// Values follow BSD sysexits where one fits; never 77 (meson's SKIP) and never 126 or above.
#pragma once

namespace tagbus {

enum class status : int {
    ok = 0,            ///< done
    no = 1,            ///< the answer is no: state-event's count was not reached before --timeout
    usage = 64,        ///< bad command line (CLI11's own errors map here too)
    data = 65,         ///< bad input data: YAML/JSON, a tag, an event that cannot be fired
    unavailable = 69,  ///< the bus (socket) is not there or refused us
    software = 70,     ///< internal error: a bug
    io = 74,           ///< reading or writing a file or stream failed
    tempfail = 75,     ///< temporary failure: try again (e.g. a send timed out)
    config = 78,       ///< a configuration file or setting is wrong
};

inline int exit_code(status s) { return static_cast<int>(s); }

}  // namespace tagbus
