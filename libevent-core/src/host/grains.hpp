// Salt's core grains for this host, computed natively (no Python), with Salt's names, values and
// types, plus static grains from the minion's `grains` file and `grains:` config merged over them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/config.hpp"
#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

struct grains_request {
    std::string id;                 ///< the minion id (config `id`, minion_id file or FQDN), for the `id` grain
    std::string config_dir = "/etc/salt";  ///< where the static `grains` file is (<config_dir>/grains)
    const value* config_grains = nullptr;  ///< the minion config's `grains:` map, when set
    /// Where the host's facts are read; tests point these at a fake tree.
    std::string proc = "/proc", sys = "/sys", etc = "/etc";
    /// More of the same: /run (systemd-resolved, container markers), /usr (systemd, pci.ids),
    /// /var (dpkg's arch, dbus machine-id) and / itself (/.dockerenv).
    std::string run = "/run", usr = "/usr", var = "/var", root = "/";
    /// The environment Salt's minion would see (SHELL, PATH, LC_ALL/LC_CTYPE/LANG/LANGUAGE);
    /// nullptr: this process's environment.
    const std::vector<std::pair<std::string, std::string>>* env = nullptr;
};

/// Collects every core grain (a map in Salt's key order for `grains.items`, i.e. sorted by key).
/// Unreadable sources leave a grain at Salt's fallback value rather than failing; an invalid
/// static grains file is an error (errc::config) naming the file and line.
///
/// Merge order as Salt's loader: core grains, then `<config_dir>/grains` (a YAML map), then
/// `config_grains`; a later top-level key replaces an earlier one. The result is sorted by key
/// (string keys in code-point order; non-string keys from the YAML sources after them, in merge order).
/// Nested maps keep Salt's own order (interfaces in kernel index order, dns keys as Salt builds them).
result<map_t> collect_grains(const grains_request& req);

/// The grains event.send's with_grains sees on a minion: collect_grains with the minion's id, the
/// `grains:` of its config and the static grains file in `config_dir`.
result<map_t> minion_grains(const bus_config& minion, const std::string& config_dir);

}  // namespace tagbus
