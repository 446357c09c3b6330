// What a destination resolved to, for the api layer's own modules.
#pragma once

#include "host/config.hpp"
#include "host/paths.hpp"
#include "tagbus/destination.hpp"

namespace tagbus::inline v0 {

struct destination::impl {
    bus_config cfg;
    bus_endpoints eps;
    std::string config_dir;  ///< the Salt config folder it was resolved from
};

}  // namespace tagbus
