// This host's name as Salt finds it (salt.utils.network.get_fqhostname, socket.getfqdn), and the
// addresses that go with it: what a minion's id falls back to, and what the network grains build on.
#pragma once

#include <sys/socket.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace tagbus::inline v0 {

/// salt.utils.network.get_fqhostname() for this host: getaddrinfo's canonical name for
/// gethostname(), else socket.getfqdn()'s answer; "localhost" when the host has no name.
/// The `fqdn` grain and a minion's id fallback both come from here.
std::string host_fqdn();

namespace detail {

/// An address as Python's ipaddress module prints it (IPv6 never in dotted-quad form).
std::string ip6_text(const unsigned char (&a)[16]);

// An address as ipaddress sorts it: IPv4 before IPv6, then by numeric value.
struct ip_addr {
    int family = AF_INET;
    std::array<unsigned char, 16> b{};
    auto operator<=>(const ip_addr&) const = default;

    std::string text() const;
    bool loopback() const;
};

std::optional<ip_addr> from_sockaddr(const sockaddr* sa);
/// getaddrinfo's addresses for `host` (sorted, unique); none when it does not resolve.
std::vector<ip_addr> resolve(const std::string& host, int family);
/// socket.getfqdn(name).
std::string getfqdn(const std::string& name);
/// salt.utils.network.get_fqhostname for `hostname`; `addrs` gets the FQDN's addresses.
std::string fqhostname(const std::string& hostname, std::vector<ip_addr>& addrs);

}  // namespace detail
}  // namespace tagbus
