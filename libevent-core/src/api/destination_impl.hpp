// What a destination resolved to, for the api layer's own modules.
#pragma once

#include <optional>
#include <string>

#include "host/config.hpp"
#include "host/paths.hpp"
#include "tagbus/destination.hpp"

namespace tagbus::inline v0 {

struct destination::impl {
    bus_config cfg;
    bus_endpoints eps;
    /// The Salt config folder as given (nothing: /etc/salt, which then need not exist); a master
    /// found for this destination is looked for the same way.
    std::optional<std::string> config_dir;
    std::string config_folder() const { return config_dir.value_or("/etc/salt"); }
};

/// The host layer's request for the program's options (the one precedence rule lives there).
config_request to_config_request(const destination_options& o);

}  // namespace tagbus
