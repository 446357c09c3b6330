// This host's FQDN and address resolution, as salt.utils.network and Python's socket module do it.
#include "host/hostname.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace tagbus::inline v0 {
namespace detail {

std::string ip6_text(const unsigned char (&a)[16]) {
    // ipaddress.IPv6Address.__str__: the longest run (first on ties) of two or more zero
    // hextets becomes "::"; hextets in lower-case hex without leading zeros.
    unsigned h[8];
    for (int i = 0; i < 8; ++i) h[i] = (unsigned(a[2 * i]) << 8) | a[2 * i + 1];
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (h[i] != 0) { ++i; continue; }
        int j = i;
        while (j < 8 && h[j] == 0) ++j;
        if (j - i > best_len) best = i, best_len = j - i;
        i = j;
    }
    if (best_len < 2) best = -1;
    std::string out;
    char buf[8];
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        auto r = std::to_chars(buf, buf + sizeof buf, h[i], 16);
        out.append(buf, r.ptr);
    }
    return out;
}

std::string ip_addr::text() const {
        if (family == AF_INET) {
            char buf[INET_ADDRSTRLEN];
            ::inet_ntop(AF_INET, b.data(), buf, sizeof buf);
            return buf;
        }
        unsigned char a[16];
        std::memcpy(a, b.data(), 16);
        return ip6_text(a);
}

bool ip_addr::loopback() const {
        if (family == AF_INET) return b[0] == 127;
        static const std::array<unsigned char, 16> one{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        return b == one;
}

std::optional<ip_addr> from_sockaddr(const sockaddr* sa) {
    if (!sa) return std::nullopt;
    ip_addr a;
    a.family = sa->sa_family;
    if (sa->sa_family == AF_INET) std::memcpy(a.b.data(), &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
    else if (sa->sa_family == AF_INET6) std::memcpy(a.b.data(), &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr, 16);
    else return std::nullopt;
    return a;
}

std::vector<ip_addr> resolve(const std::string& host, int family) {
    std::vector<ip_addr> out;
    addrinfo hints{};
    hints.ai_family = family;
    addrinfo* res = nullptr;
    if (::getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0) return out;
    for (auto* p = res; p; p = p->ai_next)
        if (auto a = from_sockaddr(p->ai_addr)) out.push_back(*a);
    ::freeaddrinfo(res);
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

// socket.getfqdn(name): the first of gethostbyaddr(name)'s names that contains a dot.
std::string getfqdn(const std::string& name) {
    auto addrs = resolve(name, AF_UNSPEC);
    if (addrs.empty()) return name;
    hostent he{}, *res = nullptr;
    char buf[8192];
    int herr = 0;
    const ip_addr& a = addrs.front();
    if (::gethostbyaddr_r(a.b.data(), a.family == AF_INET ? 4 : 16, a.family, &he, buf, sizeof buf, &res, &herr) != 0 || !res)
        return name;
    if (std::strchr(he.h_name, '.')) return he.h_name;
    for (char** al = he.h_aliases; al && *al; ++al)
        if (std::strchr(*al, '.')) return *al;
    return he.h_name;
}

// salt.utils.network.get_fqhostname: getaddrinfo's canonical name, else socket.getfqdn().
// `addrs` gets the FQDN's addresses: those of the same answer, which getaddrinfo gives for the
// canonical name too (Salt asks again, once per family; see grains_net).
std::string fqhostname(const std::string& hostname, std::vector<ip_addr>& addrs) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_CANONNAME;
    addrinfo* res = nullptr;
    if (::getaddrinfo(hostname.c_str(), "0", &hints, &res) == 0) {
        std::string canon;
        for (auto* p = res; p; p = p->ai_next) {
            if (canon.empty() && p->ai_canonname && *p->ai_canonname) canon = p->ai_canonname;
            if (auto a = from_sockaddr(p->ai_addr)) addrs.push_back(*a);
        }
        ::freeaddrinfo(res);
        std::sort(addrs.begin(), addrs.end());
        addrs.erase(std::unique(addrs.begin(), addrs.end()), addrs.end());
        if (!canon.empty()) return canon;
    }
    std::string fqdn = getfqdn(hostname);
    addrs = resolve(fqdn, AF_UNSPEC);
    return fqdn;
}

}  // namespace detail

std::string host_fqdn() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') return "localhost";
    std::vector<detail::ip_addr> addrs;
    return detail::fqhostname(host, addrs);
}

}  // namespace tagbus
