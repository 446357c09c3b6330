#include <doctest/doctest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "host/grains.hpp"
#include "salt/send_data.hpp"

using namespace tagbus;
namespace fs = std::filesystem;

namespace {

// A fake host (proc, sys, etc, run, usr, var, root) under /tmp, removed at the end of the test.
struct fake_host {
    std::string path;
    std::vector<std::pair<std::string, std::string>> env{{"SHELL", "/bin/zsh"}, {"PATH", " /usr/sbin:/usr/bin "}, {"LC_ALL", "C"}};

    fake_host() {
        char tmpl[] = "/tmp/tagbus-grains-XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~fake_host() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    fake_host(const fake_host&) = delete;
    fake_host& operator=(const fake_host&) = delete;

    void put(const std::string& rel, const std::string& text) const {
        const fs::path full = fs::path(path) / rel;
        fs::create_directories(full.parent_path());
        std::ofstream(full, std::ios::binary) << text;
    }
    void mkdir(const std::string& rel) const { fs::create_directories(fs::path(path) / rel); }
    // An executable shell script (a stand-in for a command Salt runs).
    void script(const std::string& rel, const std::string& body) const {
        put(rel, "#!/bin/sh\n" + body);
        fs::permissions(fs::path(path) / rel, fs::perms::owner_all);
    }
    // A symlink at `rel` pointing to `target` (as written, relative or not).
    void link(const std::string& rel, const std::string& target) const {
        const fs::path full = fs::path(path) / rel;
        fs::create_directories(full.parent_path());
        fs::create_symlink(target, full);
    }

    grains_request request() const {
        grains_request r;
        r.id = "web01";
        r.proc = path + "/proc";
        r.sys = path + "/sys";
        r.etc = path + "/etc";
        r.run = path + "/run";
        r.usr = path + "/usr";
        r.var = path + "/var";
        r.root = path + "/root";
        r.config_dir = path + "/salt";
        r.env = &env;
        return r;
    }
};

const value* get(const map_t& m, std::string_view key) {
    for (const auto& e : m)
        if (e.key.str() && *e.key.str() == key) return &e.val;
    return nullptr;
}

value strs(std::initializer_list<const char*> items) {
    array_t a;
    for (const char* s : items) a.emplace_back(s);
    return a;
}

value pair(const char* k, value v) { return array_t{value(k), std::move(v)}; }

map_t obj(std::initializer_list<std::pair<const char*, value>> items) {
    map_t m;
    for (const auto& [k, v] : items) m.push_back(member{value(k), v});
    return m;
}

// A Debian 12 machine: a KVM guest with an Intel iGPU, a Tesla, a Cirrus VGA, one disk, one SSD.
void debian_host(const fake_host& h) {
    h.put("proc/sys/kernel/ostype", "Linux\n");
    h.put("proc/sys/kernel/hostname", "localhost\n");
    h.put("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");
    h.put("proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n");
    h.put("proc/cpuinfo",
          "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\n"
          "flags\t\t: fpu vme sse2\n\n"
          "processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz\n"
          "flags\t\t: fpu vme sse2\n\n");
    h.put("proc/meminfo", "MemTotal:       16318712 kB\nMemFree:         1234567 kB\nSwapTotal:        999420 kB\n");
    h.put("proc/cmdline",
          "BOOT_IMAGE=/vmlinuz-6.1.0 root=UUID=abc=d ro quiet \"acpi_osi=Windows 2020\" foo='a b' --\n");
    h.put("proc/net/route",
          "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
          "eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
          "eth0\t0001A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n");
    h.put("proc/net/ipv6_route",
          "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
          "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
          "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
          "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n");
    h.put("etc/os-release",
          "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
          "VERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n");
    h.put("etc/debian_version", "12.5\n");
    h.put("etc/machine-id", "0123456789abcdef0123456789abcdef\n");
    h.put("etc/resolv.conf",
          "# generated\n"
          "domain example.com\n"
          "search example.com corp.example.com # trailing comment\n"
          "nameserver 10.0.0.2\n"
          "nameserver 2001:db8:0:0::53\n"
          "nameserver 10.0.0.2\n"
          "nameserver bogus\n"
          "nameserver\n"
          "sortlist 130.155.160.0/255.255.240.0 130.155.0.0 10.1.2.3/8\n"
          "options ndots:2 timeout:1\n"
          "options rotate\n");
    h.link("sys/block/sda", "../devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda");
    h.put("sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda/queue/rotational", "1\n");
    h.link("sys/block/nvme0n1", "../devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1");
    h.put("sys/devices/pci0000:00/0000:00:1d.0/nvme/nvme0/nvme0n1/queue/rotational", "0\n");
    h.link("sys/block/sr0", "../devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0");
    h.mkdir("sys/devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0");
    h.script("root/usr/bin/systemd-detect-virt", "echo qemu\n");
    auto dev = [&](const std::string& slot, const char* cls, const char* vendor, const char* device) {
        h.put("sys/bus/pci/devices/" + slot + "/class", std::string(cls) + "\n");
        h.put("sys/bus/pci/devices/" + slot + "/vendor", std::string(vendor) + "\n");
        h.put("sys/bus/pci/devices/" + slot + "/device", std::string(device) + "\n");
    };
    dev("0000:01:00.0", "0x030200", "0x10de", "0x1eb8");
    dev("0000:00:1f.0", "0x060100", "0x8086", "0xa304");
    dev("0000:00:02.0", "0x030000", "0x8086", "0x3e92");
    dev("0000:00:03.0", "0x030000", "0x1013", "0x00b8");
    h.put("usr/share/misc/pci.ids",
          "# pci.ids\n"
          "1013  Cirrus Logic\n\t00b8  GD 5446\n"
          "10de  NVIDIA Corporation\n\t1eb7  TU104\n\t1eb8  TU104GL [Tesla T4]\n\t\t10de 12a2  Tesla T4\n"
          "8086  Intel Corporation\n\t3e92  CoffeeLake-S GT2 [UHD Graphics 630]\n");
    h.put("sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c", std::string("\x06\0\0\0\x01", 5));
    h.put("sys/class/dmi/id/sys_vendor", "QEMU\n");
    h.put("sys/class/dmi/id/product_name", "Standard PC (Q35 + ICH9, 2009)\n");
    h.put("sys/class/dmi/id/product_uuid", "ABCDEF01-2345-6789-ABCD-EF0123456789\n");
    h.put("sys/class/dmi/id/bios_version", "1.16.2-debian-1.16.2-1\n");
    h.put("sys/class/dmi/id/bios_date", "04/01/2014\n");
    h.mkdir("run/systemd/system");
    h.put("usr/bin/systemctl", "");
    h.put("usr/bin/localectl", "");
    h.put("usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-252.so",
          std::string("\x7f" "ELX junk\0+PAM is not it\0+PAM +AUDIT -SELINUX default-hierarchy=unified\0tail", 76));
    h.put("var/lib/dpkg/arch", "arm64\ni386\n");
    h.mkdir("root");
}

}  // namespace

TEST_CASE("a fake Debian 12 host: exact values and types") {
    fake_host h;
    debian_host(h);
    const auto req = h.request();
    auto g = collect_grains(req);
    REQUIRE(g);
    const map_t& m = *g;

    const std::vector<std::pair<const char*, value>> expected{
        {"id", "web01"},
        {"kernel", "Linux"},
        {"nodename", "localhost"},
        {"localhost", "localhost"},
        {"kernelrelease", "6.1.0-18-amd64"},
        {"kernelversion", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"},
        {"os", "Debian"},
        {"os_family", "Debian"},
        {"osfullname", "Debian GNU/Linux"},
        {"osrelease", "12"},
        {"osrelease_info", array_t{value(12u)}},
        {"osmajorrelease", 12u},
        {"oscodename", "bookworm"},
        {"osfinger", "Debian-12"},
        {"osarch", "arm64"},
        {"lsb_distrib_id", "Debian GNU/Linux"},
        {"lsb_distrib_release", "12"},
        {"lsb_distrib_codename", "bookworm"},
        {"num_cpus", 2u},
        {"cpu_model", "Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz"},
        {"cpu_flags", strs({"fpu", "vme", "sse2"})},
        {"mem_total", 15936u},
        {"swap_total", 975u},
        {"kernelparams", array_t{pair("BOOT_IMAGE", "/vmlinuz-6.1.0"), pair("root", "UUID=abc=d"), pair("ro", nullptr),
                                 pair("quiet", nullptr), pair("acpi_osi", "Windows 2020"), pair("foo", "a b"),
                                 pair("--", nullptr)}},
        {"machine_id", "0123456789abcdef0123456789abcdef"},
        {"server_id", 291040525u},
        {"shell", "/bin/zsh"},
        {"path", "/usr/sbin:/usr/bin"},
        {"systempath", strs({"/usr/sbin", "/usr/bin"})},
        {"ip4_gw", "192.168.1.1"},
        {"ip6_gw", false},
        {"ip_gw", true},
        {"dns", obj({{"nameservers", strs({"10.0.0.2", "2001:db8::53"})},
                     {"ip4_nameservers", strs({"10.0.0.2"})},
                     {"ip6_nameservers", strs({"2001:db8::53"})},
                     {"sortlist", strs({"130.155.160.0/255.255.240.0", "130.155.0.0/255.255.0.0"})},
                     {"domain", "example.com"},
                     {"search", strs({"example.com", "corp.example.com"})},
                     {"options", strs({"ndots:2", "rotate"})}})},
        {"disks", strs({"sda"})},
        {"ssds", strs({"nvme0n1"})},
        {"gpus", array_t{value(obj({{"vendor", "intel"}, {"model", "CoffeeLake-S GT2 [UHD Graphics 630]"}})),
                         value(obj({{"vendor", "unknown"}, {"model", "GD 5446"}})),
                         value(obj({{"vendor", "nvidia"}, {"model", "TU104GL [Tesla T4]"}}))}},
        {"num_gpus", 3u},
        {"efi", true},
        {"efi-secure-boot", true},
        {"init", "systemd"},
        {"systemd", obj({{"version", "252"}, {"features", "+PAM +AUDIT -SELINUX default-hierarchy=unified"}})},
        {"virtual", "qemu"},
        {"manufacturer", "QEMU"},
        {"productname", "Standard PC (Q35 + ICH9, 2009)"},
        {"uuid", "abcdef01-2345-6789-abcd-ef0123456789"},
        {"biosversion", "1.16.2-debian-1.16.2-1"},
        {"biosreleasedate", "04/01/2014"},
    };
    for (const auto& row : expected) {
        const auto& key = row.first;
        const auto& want = row.second;
        CAPTURE(key);
        const value* got = get(m, key);
        REQUIRE(got != nullptr);
        CHECK(*got == want);
    }
    CHECK(get(m, "serialnumber") == nullptr);  // no product_serial file
    CHECK(get(m, "virtual_subtype") == nullptr);

    const value* li = get(m, "locale_info");
    REQUIRE(li != nullptr);
    REQUIRE(li->map());
    REQUIRE(li->map()->size() == 4);
    CHECK((*li->map())[0] == member{value("defaultlanguage"), value(nullptr)});
    CHECK((*li->map())[1] == member{value("defaultencoding"), value(nullptr)});
    CHECK((*li->map())[2] == member{value("detectedencoding"), value("utf-8")});
    CHECK((*li->map())[3].key == value("timezone"));
    CHECK((*li->map())[3].val.str() != nullptr);

    // sorted by key
    for (std::size_t i = 1; i < m.size(); ++i) CHECK(*m[i - 1].key.str() < *m[i].key.str());
}

TEST_CASE("os fallbacks, cpuinfo variants and unreadable sources") {
    fake_host h;
    h.mkdir("proc");
    h.mkdir("etc");

    SUBCASE("nothing readable leaves Salt's fallback values") {
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "num_cpus") == value(0u));
        CHECK(*get(*g, "cpu_model") == value("Unknown"));
        CHECK(*get(*g, "cpu_flags") == value(array_t{}));
        CHECK(*get(*g, "mem_total") == value(0u));
        CHECK(*get(*g, "swap_total") == value(0u));
        CHECK(*get(*g, "ip4_gw") == value(false));
        CHECK(*get(*g, "ip6_gw") == value(false));
        CHECK(*get(*g, "efi") == value(false));
        CHECK(*get(*g, "disks") == value(array_t{}));
        CHECK(*get(*g, "gpus") == value(array_t{}));
        CHECK(*get(*g, "num_gpus") == value(0u));
        CHECK(*get(*g, "init") == value("unknown"));
        for (const char* absent : {"dns", "machine_id", "kernelparams", "systemd", "osrelease", "osfinger"}) {
            CAPTURE(absent);
            CHECK(get(*g, absent) == nullptr);
        }
    }
    SUBCASE("ARM cpuinfo") {
        h.put("proc/cpuinfo",
              "Processor\t: ARMv6-compatible processor rev 7 (v6l)\nBogoMIPS\t: 697.95\n"
              "Features\t: swp half thumb\nHardware\t: BCM2708\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "cpu_model") == value("ARMv6"));
        CHECK(*get(*g, "num_cpus") == value(1u));
        CHECK(*get(*g, "cpu_flags") == strs({"swp", "half", "thumb"}));
    }
    SUBCASE("a value is cut at its second colon, as line.split(':') does") {
        h.put("proc/cpuinfo", "processor : 3\nmodel name : Foo: Bar\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "cpu_model") == value("Foo"));
        CHECK(*get(*g, "num_cpus") == value(4u));
    }
    SUBCASE("Ubuntu: osfinger keeps the whole release") {
        h.put("etc/os-release", "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION_CODENAME=jammy\nID=ubuntu\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "os") == value("Ubuntu"));
        CHECK(*get(*g, "os_family") == value("Debian"));
        CHECK(*get(*g, "osrelease_info") == value(array_t{value(22u), value(4u)}));
        CHECK(*get(*g, "osfinger") == value("Ubuntu-22.04"));
    }
    SUBCASE("Rocky: os from NAME without 'Linux', osfinger from osfullname and the major") {
        h.put("etc/os-release", "NAME=\"Rocky Linux\"\nVERSION_ID=\"9.3\"\nID=\"rocky\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "os") == value("Rocky"));
        CHECK(*get(*g, "os_family") == value("RedHat"));
        CHECK(*get(*g, "osfullname") == value("Rocky Linux"));
        CHECK(*get(*g, "osmajorrelease") == value(9u));
        CHECK(*get(*g, "osfinger") == value("Rocky Linux-9"));
        CHECK(*get(*g, "oscodename") == value("Rocky Linux 9.3 (Blue Onyx)"));
    }
    SUBCASE("Debian sid: no VERSION_ID, codename from PRETTY_NAME, no osrelease") {
        h.put("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\nNAME=\"Debian GNU/Linux\"\nID=debian\n");
        h.put("etc/debian_version", "trixie/sid\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "os") == value("Debian"));
        CHECK(*get(*g, "oscodename") == value("Debian GNU/Linux trixie/sid"));
        CHECK(get(*g, "osrelease") == nullptr);
    }
    SUBCASE("an unbalanced quote in the kernel command line: no kernelparams, as Salt's ValueError") {
        h.put("proc/cmdline", "root=/dev/sda1 foo=\"bar\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(get(*g, "kernelparams") == nullptr);
    }
    SUBCASE("a default route without a gateway is True") {
        h.put("proc/net/route", "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                                "tun0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "ip4_gw") == value(true));
        CHECK(*get(*g, "ip_gw") == value(true));
    }
    SUBCASE("an IPv6 default route via a gateway") {
        h.put("proc/net/ipv6_route", "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
                                     "fe800000000000000000000000000001 00000400 00000002 00000000 00000003     eth0\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "ip6_gw") == value("fe80::1"));
        CHECK(*get(*g, "ip_gw") == value(true));
    }
    SUBCASE("systemd-resolved's resolv.conf wins over /etc/resolv.conf") {
        h.put("etc/resolv.conf", "nameserver 127.0.0.53\n");
        h.put("run/systemd/resolve/resolv.conf", "nameserver 192.0.2.53\nnameserver fe80::1%eth0\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        const value* dns = get(*g, "dns");
        REQUIRE(dns);
        CHECK((*dns->map())[0].val == strs({"192.0.2.53", "fe80::1%eth0"}));
    }
    SUBCASE("containers") {
        // /.dockerenv is not among Salt's sources (only systemd-detect-virt reads it, and Salt
        // does not map its "docker"): Docker is found through PID 1's cgroup v1 paths.
        h.put("root/.dockerenv", "");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "virtual") == value("physical"));
        CHECK(get(*g, "virtual_subtype") == nullptr);
        h.put("proc/1/cgroup", "12:pids:/docker/0123abcd\n");
        g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "virtual") == value("container"));
        CHECK(*get(*g, "virtual_subtype") == value("Docker"));
        h.put("proc/1/cgroup", "1:name=systemd:/lxc/c1\n");
        g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "virtual_subtype") == value("LXC"));
    }
}

TEST_CASE("locale_info follows Python's getdefaultlocale and stdio encoding") {
    struct row {
        std::vector<std::pair<std::string, std::string>> env;
        value language, encoding;
    };
    const std::vector<row> rows{
        {{{"LC_ALL", "C"}}, nullptr, nullptr},
        {{{"LC_ALL", "POSIX"}, {"LANG", "de_DE.UTF-8"}}, nullptr, nullptr},
        {{{"LC_ALL", "C.UTF-8"}}, "en_US", "UTF-8"},  // Python's alias table: c.utf8 -> en_US.UTF-8
        {{{"LC_ALL", "de_DE.utf8"}}, "de_DE", "UTF-8"},
        {{{"LC_ALL", "fr_FR"}}, "fr_FR", "ISO8859-1"},
        {{{"LC_ALL", "de_DE@euro"}}, "de_DE", "ISO8859-15"},
        {{{"LC_ALL", "xx_YY.UTF-8"}}, "xx_YY", "UTF-8"},
        {{{"LC_ALL", "garbage"}}, "unknown", "unknown"},
        {{}, "en_US", "UTF-8"},                    // C locale: PEP 538 sets LC_CTYPE=C.UTF-8
        {{{"LANG", "C"}}, "en_US", "UTF-8"},
    };
    for (const auto& r : rows) {
        fake_host h;
        h.env = r.env;
        CAPTURE(r.env.empty() ? std::string("(empty)") : r.env[0].second);
        auto g = collect_grains(h.request());
        REQUIRE(g);
        const value* li = get(*g, "locale_info");
        REQUIRE(li);
        CHECK((*li->map())[0].val == r.language);
        CHECK((*li->map())[1].val == r.encoding);
        CHECK((*li->map())[2].val == value("utf-8"));
    }
}

TEST_CASE("server_id is Salt's sha256-based integer") {
    fake_host h;
    for (auto [id, want] : {std::pair{"web01", 291040525u}, std::pair{"minion", 279719642u}, std::pair{"", 2018687061u}}) {
        auto req = h.request();
        req.id = id;
        auto g = collect_grains(req);
        REQUIRE(g);
        CHECK(*get(*g, "server_id") == value(want));
        CHECK(*get(*g, "id") == value(id));
    }
}

TEST_CASE("static grains: the grains file, then the config's grains: map") {
    fake_host h;
    debian_host(h);
    auto req = h.request();

    SUBCASE("merge order and key order") {
        h.put("salt/grains", "roles:\n  - web\nos: CustomOS\nAaa: first\n");
        const value config(obj({{"roles", strs({"db"})}, {"zzz", 1u}}));
        req.config_grains = &config;
        auto g = collect_grains(req);
        REQUIRE(g);
        CHECK(*get(*g, "os") == value("CustomOS"));
        CHECK(*get(*g, "roles") == strs({"db"}));
        CHECK(*get(*g, "zzz") == value(1u));
        CHECK(*(*g)[0].key.str() == "Aaa");
        CHECK(*g->back().key.str() == "zzz");
    }
    SUBCASE("an empty grains file adds nothing") {
        h.put("salt/grains", "# nothing yet\n");
        auto g = collect_grains(req);
        REQUIRE(g);
        CHECK(*get(*g, "os") == value("Debian"));
    }
    SUBCASE("invalid YAML names the file and the line") {
        h.put("salt/grains", "roles:\n  - web\nbad: [1, 2\n");
        auto g = collect_grains(req);
        REQUIRE_FALSE(g);
        CHECK(g.error().code == errc::config);
        CHECK(g.error().message == "invalid YAML in " + h.path + "/salt/grains at line 4, column 1: end of sequence flow not found");
    }
    SUBCASE("a grains file that is not a mapping") {
        h.put("salt/grains", "- web\n- db\n");
        auto g = collect_grains(req);
        REQUIRE_FALSE(g);
        CHECK(g.error().code == errc::config);
        CHECK(g.error().message == "invalid grains file " + h.path + "/salt/grains: not a mapping");
    }
}

// A KVM microVM (Firecracker-like): the CPU's hypervisor flag, no DMI, no PCI bus, a virtio disk.
void microvm_host(const fake_host& h) {
    h.put("proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC @0\n");
    h.put("proc/cpuinfo", "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
                          "flags\t\t: fpu vme hypervisor\n\n");
    h.put("proc/1/cgroup", "0::/\n");
    h.put("proc/self/status", "Name:\tevent-send\nPid:\t42\n");
    h.mkdir("root/usr/bin");
}

TEST_CASE("virtual: Salt's _virtual from the same commands and files") {
    struct row {
        const char* name;
        std::vector<std::pair<std::string, std::string>> scripts;  // root-relative path -> body
        std::vector<std::pair<std::string, std::string>> files;    // fake-host path -> contents
        const char* path_env;                                       // PATH, or nullptr for the fixture's
        const char* virt;
        const char* subtype;  // nullptr: no virtual_subtype grain
    };
    const std::string sdv = "usr/bin/systemd-detect-virt";
    const std::vector<row> rows{
        {"microVM without systemd-detect-virt, virt-what or dmidecode: physical, as Salt says", {}, {}, nullptr,
         "physical", nullptr},
        {"systemd-detect-virt says kvm", {{sdv, "echo kvm\n"}}, {}, nullptr, "kvm", nullptr},
        {"systemd-detect-virt found through PATH only", {{"opt/virt/bin/systemd-detect-virt", "echo kvm\n"}}, {},
         "/opt/virt/bin", "kvm", nullptr},
        {"systemd-detect-virt says none (exit 1)", {{sdv, "echo none; exit 1\n"}}, {}, nullptr, "physical", nullptr},
        {"systemd-detect-virt microsoft", {{sdv, "echo microsoft\n"}}, {}, nullptr, "VirtualPC", nullptr},
        {"systemd-detect-virt vmware", {{sdv, "echo vmware\n"}}, {}, nullptr, "VMware", nullptr},
        {"systemd-detect-virt lxc", {{sdv, "echo lxc\n"}}, {}, nullptr, "container", "LXC"},
        {"systemd-detect-virt amazon", {{sdv, "echo amazon\n"}}, {}, nullptr, "Nitro", "Amazon EC2"},
        {"docker under cgroup v2: Salt has no mapping for systemd-detect-virt's docker", {{sdv, "echo docker\n"}},
         {{"root/.dockerenv", ""}}, nullptr, "physical", nullptr},
        {"docker under cgroup v1", {{sdv, "echo docker\n"}}, {{"proc/1/cgroup", "12:memory:/docker/0123abcd\n"}},
         nullptr, "container", "Docker"},
        {"kubernetes pod", {}, {{"proc/1/cgroup", "4:cpu:/kubepods/besteffort/pod1\n"}}, nullptr, "virtual",
         "kubernetes"},
        {"lxc from PID 1's environment", {}, {{"proc/1/environ", std::string("TERM=linux\0container=lxc\0", 26)}},
         nullptr, "container", "LXC"},
        {"virt-what replaces the other commands", {{sdv, "echo vmware\n"}, {"usr/sbin/virt-what", "echo kvm\n"}}, {},
         nullptr, "kvm", nullptr},
        {"virt-what LPAR", {{"usr/sbin/virt-what", "echo ibm_power-lpar_shared\n"}}, {}, nullptr, "LPAR", "shared"},
        {"dmidecode after systemd-detect-virt gives no answer",
         {{sdv, "echo none; exit 1\n"}, {"usr/sbin/dmidecode", "echo 'System Information'; echo '\tManufacturer: QEMU'\n"}},
         {}, nullptr, "kvm", nullptr},
        {"dmidecode that fails (not root), then lspci with /proc/bus/pci",
         {{"usr/sbin/dmidecode", "echo denied >&2; exit 1\n"},
          {"usr/bin/lspci", "echo '00:02.0 SCSI storage controller: Red Hat, Inc. Virtio block device'\n"}},
         {{"proc/bus/pci/devices", ""}}, nullptr, "kvm", nullptr},
        {"lspci is not run without /proc/bus/pci", {{"usr/bin/lspci", "echo 'VMware SVGA II'\n"}}, {}, nullptr,
         "physical", nullptr},
        {"Amazon EC2 on Nitro from dmidecode -t system",
         {{sdv, "echo amazon-not-matched-first; exit 1\n"},
          {"usr/sbin/dmidecode",
           "if [ \"$1\" = -t ]; then printf 'System Information\\n\\tManufacturer: Amazon EC2\\n\\tProduct Name: "
           "m5.large\\n'; else echo '\tVendor: Amazon EC2'; echo '\tManufacturer: QEMU'; fi\n"}},
         {}, nullptr, "Nitro", "Amazon EC2 (m5.large)"},
        {"QEMU Virtual CPU in cpuinfo", {}, {{"proc/cpuinfo", "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n"}},
         nullptr, "kvm", nullptr},
        {"product_name under /sys/devices/virtual/dmi", {}, {{"sys/devices/virtual/dmi/id/product_name", "VirtualBox\n"}},
         nullptr, "VirtualBox", nullptr},
        {"OpenVZ container from envID", {}, {{"proc/self/status", "Name:\tx\nenvID:\t101\n"}}, nullptr, "openvzve",
         nullptr},
        {"Xen PV guest", {}, {{"proc/xen/capabilities", ""}}, nullptr, "xen", "Xen PV DomU"},
        {"Xen dom0", {}, {{"proc/xen/capabilities", "control_d\n"}}, nullptr, "xen", "Xen Dom0"},
        {"an lx-branded zone stops at the kernel version", {{sdv, "echo kvm\n"}},
         {{"proc/sys/kernel/version", "BrandZ virtual linux\n"}}, nullptr, "zone", nullptr},
    };
    for (const auto& r : rows) {
        const std::string name = r.name;
        CAPTURE(name);
        fake_host h;
        microvm_host(h);
        for (const auto& [rel, body] : r.scripts) h.script("root/" + rel, body);
        for (const auto& [rel, text] : r.files) h.put(rel, text);
        if (r.path_env)
            for (auto& [k, v] : h.env)
                if (k == "PATH") v = r.path_env;
        auto g = collect_grains(h.request());
        REQUIRE(g);
        const value* virt = get(*g, "virtual");
        REQUIRE(virt != nullptr);
        CHECK(*virt == value(r.virt));
        const value* sub = get(*g, "virtual_subtype");
        if (r.subtype) {
            REQUIRE(sub != nullptr);
            CHECK(*sub == value(r.subtype));
        } else {
            CHECK(sub == nullptr);
        }
    }
}

TEST_CASE("virtual: a root other than PID 1's is a chroot") {
    fake_host h;
    microvm_host(h);
    h.mkdir("elsewhere");
    SUBCASE("different root") {
        h.link("proc/1/root", h.path + "/elsewhere");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "virtual") == value("virtual"));
        CHECK(*get(*g, "virtual_subtype") == value("chroot"));
    }
    SUBCASE("same root") {
        h.link("proc/1/root", h.path + "/root");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "virtual") == value("physical"));
        CHECK(get(*g, "virtual_subtype") == nullptr);
    }
}

TEST_CASE("disks and ssds: Salt's _linux_disks skips virtual block devices") {
    fake_host h;
    microvm_host(h);
    struct dev {
        const char* name;
        const char* target;
        const char* rotational;  // nullptr: no queue/rotational file
    };
    const std::vector<dev> devs{
        {"vda", "../devices/pci0000:00/0000:00:02.0/virtio1/block/vda", "1\n"},
        {"nvme0n1", "../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1", "0\n"},
        {"loop0", "../devices/virtual/block/loop0", "0\n"},
        {"loop1", "../devices/virtual/block/loop1", "1\n"},
        {"zram0", "../devices/virtual/block/zram0", "0\n"},
        {"dm-0", "../devices/virtual/block/dm-0", "0\n"},
        {"ram0", "../devices/virtual/block/ram0", "0\n"},
        {"sr0", "../devices/pci0000:00/0000:00:1f.2/ata2/host1/target1:0:0/1:0:0:0/block/sr0", nullptr},
        {"vdb", "../devices/platform/virtio-mmio.1/virtio2/block/vdb", "2\n"},
    };
    for (const auto& d : devs) {
        h.link(std::string("sys/block/") + d.name, d.target);
        const std::string dir = std::string("sys/block/") + d.target;
        h.mkdir(fs::path(dir).lexically_normal().string());
        if (d.rotational) h.put(fs::path(dir + "/queue/rotational").lexically_normal().string(), d.rotational);
    }
    SUBCASE("only real devices, by their rotational flag") {
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(*get(*g, "disks") == strs({"vda"}));
        CHECK(*get(*g, "ssds") == strs({"nvme0n1"}));
    }
    SUBCASE("an entry that is not a symlink: Salt's disks function fails and sets neither grain") {
        h.put("sys/block/odd/queue/rotational", "0\n");
        auto g = collect_grains(h.request());
        REQUIRE(g);
        CHECK(get(*g, "disks") == nullptr);
        CHECK(get(*g, "ssds") == nullptr);
    }
}

TEST_CASE("select_grains keeps the requested keys in the order of the map") {
    const map_t all = obj({{"a", 1u}, {"b", 2u}, {"c", 3u}});
    CHECK(select_grains(all, {"c", "a", "missing"}) == obj({{"a", 1u}, {"c", 3u}}));
    CHECK(select_grains(all, {}).empty());
}

TEST_CASE("this host: every core grain with its type") {
    grains_request req;
    req.id = "test-minion";
    req.config_dir = "/nonexistent-tagbus-config";
    const auto t0 = std::chrono::steady_clock::now();
    auto g = collect_grains(req);
    const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(g);
    MESSAGE("collect_grains took " << ms << " ms for " << g->size() << " grains");

    enum kind { str, uint, arr, map, boolean, str_or_bool };
    const std::vector<std::pair<const char*, kind>> keys{
        {"id", str}, {"host", str}, {"fqdn", str}, {"domain", str}, {"nodename", str}, {"localhost", str},
        {"kernel", str}, {"kernelrelease", str}, {"kernelversion", str}, {"os", str}, {"os_family", str},
        {"osfullname", str}, {"osrelease", str}, {"osrelease_info", arr}, {"osmajorrelease", uint},
        {"oscodename", str}, {"osfinger", str}, {"osarch", str}, {"cpuarch", str}, {"num_cpus", uint},
        {"cpu_model", str}, {"cpu_flags", arr}, {"mem_total", uint}, {"swap_total", uint}, {"ipv4", arr},
        {"ipv6", arr}, {"fqdn_ip4", arr}, {"fqdn_ip6", arr}, {"fqdns", arr}, {"ip_interfaces", map},
        {"ip4_interfaces", map}, {"ip6_interfaces", map}, {"hwaddr_interfaces", map}, {"ip4_gw", str_or_bool},
        {"ip6_gw", str_or_bool}, {"ip_gw", boolean}, {"dns", map}, {"machine_id", str}, {"server_id", uint},
        {"shell", str}, {"path", str}, {"init", str}, {"virtual", str}, {"uid", uint}, {"gid", uint},
        {"username", str}, {"groupname", str}, {"pid", uint}, {"cwd", str}, {"locale_info", map},
        {"kernelparams", arr}, {"disks", arr}, {"ssds", arr}, {"gpus", arr}, {"num_gpus", uint}, {"efi", boolean},
        {"efi-secure-boot", boolean}};
    for (const auto& row : keys) {
        const auto& key = row.first;
        const auto& k = row.second;
        CAPTURE(key);
        const value* v = get(*g, key);
        REQUIRE(v != nullptr);
        const bool is_str = v->str() != nullptr, is_bool = std::get_if<bool>(&v->v) != nullptr;
        switch (k) {
            case str: CHECK(is_str); break;
            case uint: CHECK(std::get_if<std::uint64_t>(&v->v) != nullptr); break;
            case arr: CHECK(v->array() != nullptr); break;
            case map: CHECK(v->map() != nullptr); break;
            case boolean: CHECK(is_bool); break;
            case str_or_bool: CHECK((is_str || is_bool)); break;
        }
    }
    if (::access("/usr/bin/systemctl", X_OK) == 0 && ::access("/usr/bin/localectl", X_OK) == 0) {
        const value* sd = get(*g, "systemd");
        REQUIRE(sd != nullptr);
        REQUIRE(sd->map());
        CHECK((*sd->map())[0].key == value("version"));
        CHECK((*sd->map())[1].key == value("features"));
    }
    for (const auto& p : *get(*g, "kernelparams")->array()) {
        REQUIRE(p.array());
        CHECK(p.array()->size() == 2);
    }
    const auto& v4 = *get(*g, "ipv4")->array();
    CHECK(std::find(v4.begin(), v4.end(), value("127.0.0.1")) != v4.end());
    CHECK(*get(*g, "id") == value("test-minion"));
    CHECK(*get(*g, "pid") == value(static_cast<std::uint64_t>(::getpid())));
}
