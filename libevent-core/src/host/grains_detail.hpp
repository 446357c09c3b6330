// Internals shared by grains.cpp (os, kernel, cpu, memory, process, merge), grains_net.cpp
// (hostname, interfaces, gateways, dns) and grains_hw.cpp (virtual, disks, gpus, efi, systemd).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/grains.hpp"

namespace tagbus::inline v0::detail {

/// The request plus the facts several grain groups share.
struct grains_ctx {
    const grains_request& req;
    std::string nodename;  ///< uname nodename, which is also Python's socket.gethostname()
    std::string cpuarch;   ///< uname machine
    std::string cpuinfo;   ///< /proc/cpuinfo, read once
    /// An environment variable as Salt's minion would see it; nullopt when unset.
    std::optional<std::string> env(std::string_view name) const;
};

/// A small file's whole contents; nullopt when it cannot be opened or read.
std::optional<std::string> grains_read(const std::string& path);
/// Whether a path exists (Python's os.path.exists: follows symlinks).
bool grains_exists(const std::string& path);
/// `dir` + "/" + `rel` without doubling the slash.
std::string grains_path(const std::string& dir, std::string_view rel);
/// The first line of `text` (without its '\n'), which then holds the rest.
inline std::string_view grains_take_line(std::string_view& text) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    return line;
}
/// Python's str.strip() over ASCII whitespace, and str.split() with no arguments.
std::string_view grains_strip(std::string_view s);
std::vector<std::string_view> grains_split(std::string_view s);

void grains_net(const grains_ctx& c, map_t& out);  // localhost fqdn host domain ipv4 ... dns fqdns
void grains_hw(const grains_ctx& c, map_t& out);   // virtual disks ssds gpus efi systemd dmi

inline void grains_set(map_t& m, std::string key, value v) { m.push_back(member{value(std::move(key)), std::move(v)}); }

}  // namespace tagbus::detail
