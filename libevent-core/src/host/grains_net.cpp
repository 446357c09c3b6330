// grains: the network part of salt.grains.core (hostname, ip_fqdn, ip_interfaces,
// hwaddr_interfaces, default_gateway, dns, fqdns), from getifaddrs, getaddrinfo and /proc.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>

#include "host/grains_detail.hpp"
#include "host/hostname.hpp"

namespace tagbus::inline v0::detail {
namespace {



// ipaddress.ip_address(text), optionally with an IPv6 "%scope".
std::optional<ip_addr> parse_ip(std::string_view text, std::string* scope = nullptr) {
    std::string s(text);
    ip_addr a;
    if (::inet_pton(AF_INET, s.c_str(), a.b.data()) == 1) return a;
    const auto pct = s.find('%');
    if (pct != std::string::npos) {
        if (!scope || pct + 1 == s.size()) return std::nullopt;
        *scope = s.substr(pct);
        s.resize(pct);
    }
    a.family = AF_INET6;
    if (::inet_pton(AF_INET6, s.c_str(), a.b.data()) == 1) return a;
    return std::nullopt;
}

struct iface {
    std::string name;
    std::vector<ip_addr> inet, inet6;
    std::optional<std::string> hwaddr;
};

// `ip link show` / `ip addr show` as Salt parses them: every interface in index order, its
// addresses in kernel order, `link/<type> <addr>` as hwaddr.
std::vector<iface> interfaces() {
    std::vector<iface> out;
    ifaddrs* ifa = nullptr;
    if (::getifaddrs(&ifa) != 0) return out;
    std::unique_ptr<ifaddrs, decltype(&::freeifaddrs)> guard(ifa, &::freeifaddrs);
    for (auto* p = ifa; p; p = p->ifa_next) {
        if (!p->ifa_name) continue;
        auto it = std::find_if(out.begin(), out.end(), [&](const iface& i) { return i.name == p->ifa_name; });
        if (it == out.end()) it = out.insert(out.end(), iface{p->ifa_name, {}, {}, {}});
        if (!p->ifa_addr) continue;
        if (p->ifa_addr->sa_family == AF_PACKET) {
            const auto* ll = reinterpret_cast<const sockaddr_ll*>(p->ifa_addr);
            const unsigned len = ll->sll_halen;
            if (len == 0) continue;  // link/none: Salt's parser skips the one-word line
            std::string hw;
            if (len == 4) {  // tunnels (sit, ipip, gre): ip prints an IPv4 address
                char buf[INET_ADDRSTRLEN];
                ::inet_ntop(AF_INET, ll->sll_addr, buf, sizeof buf);
                hw = buf;
            } else {
                static const char hex[] = "0123456789abcdef";
                for (unsigned i = 0; i < len && i < sizeof ll->sll_addr; ++i) {
                    if (i) hw += ':';
                    hw += hex[ll->sll_addr[i] >> 4];
                    hw += hex[ll->sll_addr[i] & 15];
                }
            }
            it->hwaddr = hw;
        } else if (auto a = from_sockaddr(p->ifa_addr)) {
            (a->family == AF_INET ? it->inet : it->inet6).push_back(*a);
        }
    }
    return out;
}

// salt.utils.network.ip_addrs / ip_addrs6: unique, sorted numerically.
array_t sorted_addrs(const std::vector<iface>& ifs, int family, bool loopback) {
    std::vector<ip_addr> all;
    for (const auto& i : ifs)
        for (const auto& a : family == AF_INET ? i.inet : i.inet6)
            if (loopback || !a.loopback()) all.push_back(a);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    array_t out;
    for (const auto& a : all) out.emplace_back(a.text());
    return out;
}




// salt.grains.core.default_gateway over /proc/net/route and /proc/net/ipv6_route (the main
// table `ip -N route show` prints): the first default route's gateway, True for a default
// route without one (e.g. over a tunnel), else False.
value gateway4(const grains_ctx& c) {
    auto text = grains_read(grains_path(c.req.proc, "net/route"));
    if (!text) return false;
    std::string_view t = *text;
    bool header = true;
    while (!t.empty()) {
        const auto words = grains_split(grains_take_line(t));
        if (std::exchange(header, false) || words.size() < 8) continue;
        std::uint32_t dest = 0, gw = 0, flags = 0, mask = 0;
        auto hex = [](std::string_view s, std::uint32_t& v) { return std::from_chars(s.data(), s.data() + s.size(), v, 16).ec == std::errc{}; };
        if (!hex(words[1], dest) || !hex(words[2], gw) || !hex(words[3], flags) || !hex(words[7], mask)) continue;
        if (dest != 0 || mask != 0 || !(flags & 0x1) || (flags & 0x200)) continue;  // RTF_UP, not RTF_REJECT
        if (!(flags & 0x2)) return true;                                             // no RTF_GATEWAY
        char buf[INET_ADDRSTRLEN];
        ::inet_ntop(AF_INET, &gw, buf, sizeof buf);  // the file holds the address in host order bytes
        return std::string(buf);
    }
    return false;
}

value gateway6(const grains_ctx& c) {
    auto text = grains_read(grains_path(c.req.proc, "net/ipv6_route"));
    if (!text) return false;
    std::string_view t = *text;
    while (!t.empty()) {
        const auto w = grains_split(grains_take_line(t));
        if (w.size() < 10 || w[0].size() != 32 || w[1] != "00" || w[0].find_first_not_of('0') != std::string_view::npos)
            continue;
        std::uint32_t flags = 0;
        if (std::from_chars(w[8].data(), w[8].data() + w[8].size(), flags, 16).ec != std::errc{}) continue;
        if (!(flags & 0x1) || (flags & 0x200) || w[9] == "lo") continue;
        if (w[4].size() != 32 || w[4].find_first_not_of('0') == std::string_view::npos) return true;
        unsigned char a[16];
        for (int i = 0; i < 16; ++i) std::from_chars(w[4].data() + 2 * i, w[4].data() + 2 * i + 2, a[i], 16);
        return ip6_text(a);
    }
    return false;
}

// ip_network(text).with_netmask for a resolv.conf sortlist entry (strict: no host bits set);
// an address alone gets its class's natural netmask.
std::optional<std::string> sortlist_entry(std::string_view raw) {
    const auto slash = raw.find('/');
    std::string scope;
    auto addr = parse_ip(raw.substr(0, slash));
    if (!addr) return std::nullopt;
    const int bits = addr->family == AF_INET ? 32 : 128;
    int prefix = bits;
    if (slash != std::string_view::npos) {
        const auto m = raw.substr(slash + 1);
        auto [p, ec] = std::from_chars(m.data(), m.data() + m.size(), prefix);
        if (ec != std::errc{} || p != m.data() + m.size() || prefix < 0 || prefix > bits) {
            // a netmask, or for IPv4 also a hostmask
            ip_addr mask;
            if (addr->family != AF_INET || ::inet_pton(AF_INET, std::string(m).c_str(), mask.b.data()) != 1)
                return std::nullopt;
            std::uint32_t v = (std::uint32_t(mask.b[0]) << 24) | (mask.b[1] << 16) | (mask.b[2] << 8) | mask.b[3];
            if (v & 0x80000000u) v = ~v;  // netmask -> hostmask
            if ((v & (v + 1)) != 0) return std::nullopt;
            prefix = 32 - std::popcount(v);
        }
    } else if (addr->family == AF_INET) {
        prefix = addr->b[0] >= 192 ? 24 : addr->b[0] >= 128 ? 16 : 8;  // natural_ipv4_netmask
        for (int i = prefix; i < 32; ++i) addr->b[i / 8] &= static_cast<unsigned char>(~(0x80u >> (i % 8)));
    }
    ip_addr mask;
    mask.family = addr->family;
    for (int i = 0; i < prefix; ++i) mask.b[i / 8] |= static_cast<unsigned char>(0x80u >> (i % 8));
    for (int i = 0; i < bits / 8; ++i)
        if (addr->b[i] & ~mask.b[i]) return std::nullopt;  // host bits set: ValueError
    return addr->text() + "/" + mask.text();
}

// salt.utils.dns.parse_resolv
std::optional<map_t> parse_resolv(const std::string& path) {
    auto text = grains_read(path);
    if (!text) return std::nullopt;
    array_t ns, ns4, ns6, search, sortlist, options;
    std::string domain;
    auto add = [](array_t& a, const std::string& s) {
        if (std::find(a.begin(), a.end(), value(s)) == a.end()) a.emplace_back(s);
    };
    std::string_view t = *text;
    while (!t.empty()) {
        auto words = grains_split(grains_take_line(t));
        if (words.empty()) continue;
        std::string directive(words[0]);
        for (auto& ch : directive) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::vector<std::string_view> arg;
        for (std::size_t i = 1; i < words.size() && words[i][0] != '#' && words[i][0] != ';'; ++i) arg.push_back(words[i]);
        if (directive == "nameserver" && !arg.empty()) {
            std::string scope;
            auto a = parse_ip(arg[0], &scope);
            if (!a) continue;  // Salt logs the ValueError
            const std::string s = a->text() + scope;
            add(ns, s);
            add(a->family == AF_INET ? ns4 : ns6, s);
        } else if (directive == "domain" && !arg.empty()) {
            domain = arg[0];
        } else if (directive == "search") {
            search.clear();
            for (auto a : arg) search.emplace_back(a);
        } else if (directive == "sortlist") {
            for (auto a : arg)
                if (auto e = sortlist_entry(a)) add(sortlist, *e);
        } else if (directive == "options" && !arg.empty()) {
            add(options, std::string(arg[0]));  // Salt keeps only the first option of each line
        }
    }
    map_t m;
    grains_set(m, "nameservers", std::move(ns));
    grains_set(m, "ip4_nameservers", std::move(ns4));
    grains_set(m, "ip6_nameservers", std::move(ns6));
    grains_set(m, "sortlist", std::move(sortlist));
    grains_set(m, "domain", domain);
    grains_set(m, "search", std::move(search));
    grains_set(m, "options", std::move(options));
    return m;
}

// /etc/hosts: address -> [canonical name, aliases...] of its first line, and name -> first address.
struct hosts_db {
    std::vector<std::pair<ip_addr, std::vector<std::string>>> lines;
    const std::vector<std::string>* by_addr(const ip_addr& a) const {
        for (const auto& [addr, names] : lines)
            if (addr == a) return &names;
        return nullptr;
    }
    const ip_addr* by_name(const std::string& n) const {
        for (const auto& [addr, names] : lines)
            if (std::find(names.begin(), names.end(), n) != names.end()) return &addr;
        return nullptr;
    }
};

hosts_db read_hosts(const std::string& path) {
    hosts_db db;
    auto text = grains_read(path);
    if (!text) return db;
    std::string_view t = *text;
    while (!t.empty()) {
        auto line = grains_take_line(t);
        line = line.substr(0, line.find('#'));
        auto w = grains_split(line);
        if (w.size() < 2) continue;
        auto a = parse_ip(w[0]);
        if (!a) continue;
        std::vector<std::string> names(w.begin() + 1, w.end());
        db.lines.emplace_back(*a, std::move(names));
    }
    return db;
}

// salt.utils.network.is_fqdn
bool is_fqdn(std::string_view h) {
    if (h.find('.') == std::string_view::npos || h.size() >= 255) return false;
    while (!h.empty() && h.back() == '.') h.remove_suffix(1);
    while (true) {
        const auto dot = h.find('.');
        const auto label = h.substr(0, dot);
        if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
        for (char ch : label)
            if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') return false;
        if (dot == std::string_view::npos) return true;
        h.remove_prefix(dot + 1);
    }
}

// network.fqdns: reverse lookups of every non-loopback address, plus socket.getfqdn() of each
// name. Answered from the hosts file only: a PTR query per address can take the resolver's
// whole timeout, which no grain is worth on every collection.
array_t fqdns(const grains_ctx& c, const std::vector<iface>& ifs) {
    const hosts_db db = read_hosts(grains_path(c.req.etc, "hosts"));
    std::vector<std::string> found;
    for (int fam : {AF_INET, AF_INET6}) {
        for (const auto& v : sorted_addrs(ifs, fam, false)) {
            auto a = parse_ip(*v.str());
            const auto* names = a ? db.by_addr(*a) : nullptr;
            if (!names || names->empty()) continue;
            std::string fq = names->front();  // socket.getfqdn(name) through the same file
            if (const ip_addr* back = db.by_name(fq))
                if (const auto* n2 = db.by_addr(*back)) {
                    auto dotted = std::find_if(n2->begin(), n2->end(), [](const std::string& s) { return s.find('.') != std::string::npos; });
                    fq = dotted != n2->end() ? *dotted : n2->front();
                }
            found.push_back(fq);
            for (std::size_t i = 1; i < names->size(); ++i)
                if (is_fqdn((*names)[i])) found.push_back((*names)[i]);
        }
    }
    std::sort(found.begin(), found.end());
    found.erase(std::unique(found.begin(), found.end()), found.end());
    array_t out;
    for (auto& f : found) out.emplace_back(std::move(f));
    return out;
}

}  // namespace

void grains_net(const grains_ctx& c, map_t& out) {
    // hostname(): localhost = socket.gethostname(); host and domain split the FQDN at its first dot.
    grains_set(out, "localhost", c.nodename);
    std::vector<ip_addr> fqdn_addrs;
    const std::string fqdn = fqhostname(c.nodename, fqdn_addrs);
    grains_set(out, "fqdn", fqdn);
    const auto dot = fqdn.find('.');
    grains_set(out, "host", fqdn.substr(0, dot));
    grains_set(out, "domain", dot == std::string::npos ? std::string() : fqdn.substr(dot + 1));

    const auto ifs = interfaces();
    array_t v4 = sorted_addrs(ifs, AF_INET, true), v6 = sorted_addrs(ifs, AF_INET6, true);
    // ip_fqdn(): Salt runs getaddrinfo(fqdn, family) per family, which for a name the hosts file
    // knows only as IPv4 sends an AAAA query to DNS (milliseconds, or the resolver's timeout).
    // The AF_UNSPEC answer above holds the same addresses without that round trip. Sorted: Salt
    // returns list(set(...)), whose order is arbitrary.
    for (auto [fam, key, have] : {std::tuple{AF_INET, "fqdn_ip4", !v4.empty()}, std::tuple{AF_INET6, "fqdn_ip6", !v6.empty()}}) {
        array_t a;
        if (have)
            for (const auto& ip : fqdn_addrs)
                if (ip.family == fam) a.emplace_back(ip.text());
        grains_set(out, key, std::move(a));
    }
    grains_set(out, "ipv4", std::move(v4));
    grains_set(out, "ipv6", std::move(v6));

    map_t ip_if, ip4_if, ip6_if, hw_if;
    for (const auto& i : ifs) {
        array_t all, four, six;
        for (const auto& a : i.inet) all.emplace_back(a.text()), four.emplace_back(a.text());
        for (const auto& a : i.inet6) all.emplace_back(a.text()), six.emplace_back(a.text());
        grains_set(ip_if, i.name, std::move(all));
        grains_set(ip4_if, i.name, std::move(four));
        grains_set(ip6_if, i.name, std::move(six));
        if (i.hwaddr) grains_set(hw_if, i.name, *i.hwaddr);
    }
    grains_set(out, "ip_interfaces", std::move(ip_if));
    grains_set(out, "ip4_interfaces", std::move(ip4_if));
    grains_set(out, "ip6_interfaces", std::move(ip6_if));
    grains_set(out, "hwaddr_interfaces", std::move(hw_if));

    value gw4 = gateway4(c), gw6 = gateway6(c);
    grains_set(out, "ip_gw", !(gw4 == value(false)) || !(gw6 == value(false)));
    grains_set(out, "ip4_gw", std::move(gw4));
    grains_set(out, "ip6_gw", std::move(gw6));

    // dns(): systemd-resolved's upstream list when it exists, else /etc/resolv.conf; no grain
    // when the file cannot be read.
    const std::string resolved = grains_path(c.req.run, "systemd/resolve/resolv.conf");
    auto dns = parse_resolv(grains_exists(resolved) ? resolved : grains_path(c.req.etc, "resolv.conf"));
    if (dns) grains_set(out, "dns", std::move(*dns));

    grains_set(out, "fqdns", fqdns(c, ifs));
}

}  // namespace tagbus::detail
