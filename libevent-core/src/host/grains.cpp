// grains: the host-independent part of salt.grains.core (os, kernel, cpu, memory, process,
// locale, kernel parameters, ids) and the merge with static grains. Network facts are in
// grains_net.cpp, hardware and virtualisation in grains_hw.cpp.
#include "host/grains.hpp"

#include <fcntl.h>
#include <grp.h>
#include <langinfo.h>
#include <locale.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>

#include "host/digest.hpp"
#include "host/grains_detail.hpp"
#include "salt/yaml.hpp"

extern char** environ;

namespace tagbus::inline v0 {
namespace detail {

std::optional<std::string> grains_ctx::env(std::string_view name) const {
    if (req.env) {
        for (const auto& [k, v] : *req.env)
            if (k == name) return v;
        return std::nullopt;
    }
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
}

std::optional<std::string> grains_read(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buf[16384];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    if (n < 0) return std::nullopt;
    return text;
}

bool grains_exists(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
}

std::string grains_path(const std::string& dir, std::string_view rel) {
    std::string p = dir;
    if (p.empty() || p.back() != '/') p += '/';
    p += rel;
    return p;
}

std::string_view grains_strip(std::string_view s) {
    const char* ws = " \t\n\r\v\f";
    const auto b = s.find_first_not_of(ws);
    if (b == std::string_view::npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::vector<std::string_view> grains_split(std::string_view s) {
    std::vector<std::string_view> out;
    const char* ws = " \t\n\r\v\f";
    std::size_t i = 0;
    while ((i = s.find_first_not_of(ws, i)) != std::string_view::npos) {
        const auto e = std::min(s.find_first_of(ws, i), s.size());
        out.push_back(s.substr(i, e - i));
        i = e;
    }
    return out;
}

namespace {

using detail::grains_set;

std::string first_line(std::string_view s) { return std::string(grains_strip(s.substr(0, s.find('\n')))); }

// ---- kernel: platform.uname() ---------------------------------------------------------------

void kernel_grains(grains_ctx& c, map_t& out) {
    struct utsname u {};
    ::uname(&u);
    // /proc/sys/kernel carries the same uname fields; reading them lets tests fake the kernel.
    auto field = [&](const char* file, const char* fallback) {
        auto t = grains_read(grains_path(c.req.proc, std::string("sys/kernel/") + file));
        return t ? first_line(*t) : std::string(fallback);
    };
    c.nodename = field("hostname", u.nodename);
    c.cpuarch = u.machine;
    grains_set(out, "kernel", field("ostype", u.sysname));
    grains_set(out, "nodename", c.nodename);
    grains_set(out, "kernelrelease", field("osrelease", u.release));
    grains_set(out, "kernelversion", field("version", u.version));
    grains_set(out, "cpuarch", c.cpuarch);
}

// ---- os: freedesktop os-release and Salt's name maps ----------------------------------------

// platform.freedesktop_os_release(): NAME=value lines, value optionally quoted, \-escapes undone.
std::map<std::string, std::string> parse_os_release(std::string_view text) {
    std::map<std::string, std::string> info{{"NAME", "Linux"}, {"ID", "linux"}, {"PRETTY_NAME", "Linux"}};
    while (!text.empty()) {
        std::string_view line = grains_take_line(text);
        const auto eq = line.find('=');
        if (eq == 0 || eq == std::string_view::npos) continue;
        const auto name = line.substr(0, eq);
        if (!std::all_of(name.begin(), name.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; }))
            continue;
        std::string_view v = line.substr(eq + 1);
        if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) v = v.substr(1, v.size() - 2);
        std::string val;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (v[i] == '\\' && i + 1 < v.size() && std::strchr("\\$\"'`", v[i + 1])) ++i;
            val += v[i];
        }
        info[std::string(name)] = std::move(val);
    }
    return info;
}

// salt.grains.core._derive_os_grain: drop "linux"/"GNU/Linux" words, map the short name.
std::string derive_os(std::string_view fullname) {
    static const std::map<std::string_view, std::string_view> os_name_map{
        {"redhatente", "RedHat"}, {"gentoobase", "Gentoo"}, {"archarm", "Arch ARM"}, {"arch", "Arch"},
        {"debian", "Debian"}, {"raspbian", "Raspbian"}, {"fedoraremi", "Fedora"}, {"chapeau", "Chapeau"},
        {"korora", "Korora"}, {"amazonami", "Amazon"}, {"alt", "ALT"}, {"enterprise", "OEL"},
        {"oracleserv", "OEL"}, {"cloudserve", "CloudLinux"}, {"cloudlinux", "CloudLinux"},
        {"virtuozzo", "VirtuozzoLinux"}, {"almalinux", "AlmaLinux"}, {"pidora", "Fedora"},
        {"scientific", "ScientificLinux"}, {"synology", "Synology"}, {"nilrt", "NILinuxRT"},
        {"poky", "Poky"}, {"manjaro", "Manjaro"}, {"manjarolin", "Manjaro"}, {"univention", "Univention"},
        {"antergos", "Antergos"}, {"sles", "SUSE"}, {"void", "Void"}, {"slesexpand", "RES"},
        {"linuxmint", "Mint"}, {"neon", "KDE neon"}, {"pop", "Pop"}, {"rocky", "Rocky"},
        {"alibabaclo", "Alinux"}, {"mendel", "Mendel"}};
    // re.sub(r"\W(?:gnu/)?linux", "", name, flags=re.I)
    std::string name;
    auto lower = [](std::string_view s) {
        std::string l(s);
        for (auto& ch : l) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        return l;
    };
    const std::string low = lower(fullname);
    for (std::size_t i = 0; i < fullname.size();) {
        const unsigned char ch = static_cast<unsigned char>(fullname[i]);
        if (!std::isalnum(ch) && ch != '_' && ch < 0x80) {
            std::string_view rest = std::string_view(low).substr(i + 1);
            std::size_t skip = 0;
            if (rest.starts_with("gnu/linux")) skip = 9;
            else if (rest.starts_with("linux")) skip = 5;
            if (skip) {
                i += 1 + skip;
                continue;
            }
        }
        name += fullname[i++];
    }
    const std::string distro(grains_strip(name));
    std::string shortname;
    for (char ch : lower(distro))
        if (ch != ' ') shortname += ch;
    if (shortname.size() > 10) shortname.resize(10);
    if (auto it = os_name_map.find(shortname); it != os_name_map.end()) return std::string(it->second);
    return distro;
}

std::string os_family(const std::string& os) {
    static const std::map<std::string_view, std::string_view> family{
        {"Ubuntu", "Debian"}, {"Fedora", "RedHat"}, {"Chapeau", "RedHat"}, {"Korora", "RedHat"},
        {"FedBerry", "RedHat"}, {"CentOS", "RedHat"}, {"CentOS Stream", "RedHat"}, {"GoOSe", "RedHat"},
        {"Scientific", "RedHat"}, {"ScientificLinux", "RedHat"}, {"Amazon", "RedHat"}, {"CloudLinux", "RedHat"},
        {"OVS", "RedHat"}, {"OEL", "RedHat"}, {"XCP", "RedHat"}, {"XCP-ng", "RedHat"}, {"XenServer", "RedHat"},
        {"RES", "RedHat"}, {"Sangoma", "RedHat"}, {"VMware Photon OS", "RedHat"}, {"AlmaLinux", "RedHat"},
        {"Rocky", "RedHat"}, {"VirtuozzoLinux", "RedHat"}, {"Alinux", "RedHat"}, {"Mandrake", "Mandriva"},
        {"ESXi", "VMware"}, {"Mint", "Debian"}, {"VMwareESX", "VMware"}, {"Bluewhite64", "Bluewhite"},
        {"Slamd64", "Slackware"}, {"SLES", "Suse"}, {"SUSE Enterprise Server", "Suse"}, {"SLED", "Suse"},
        {"openSUSE", "Suse"}, {"SUSE", "Suse"}, {"openSUSE Leap", "Suse"}, {"openSUSE Tumbleweed", "Suse"},
        {"SLES_SAP", "Suse"}, {"Arch ARM", "Arch"}, {"Manjaro", "Arch"}, {"Antergos", "Arch"},
        {"EndeavourOS", "Arch"}, {"ALT", "RedHat"}, {"Trisquel", "Debian"}, {"GCEL", "Debian"},
        {"Linaro", "Debian"}, {"elementary OS", "Debian"}, {"elementary", "Debian"}, {"Univention", "Debian"},
        {"ScientificLinux", "RedHat"}, {"Raspbian", "Debian"}, {"Devuan", "Debian"}, {"antiX", "Debian"},
        {"Kali", "Debian"}, {"neon", "Debian"}, {"KDE neon", "Debian"}, {"Cumulus", "Debian"},
        {"Deepin", "Debian"}, {"NILinuxRT", "NILinuxRT"}, {"KDE neon", "Debian"}, {"Void", "Void"},
        {"IDMS", "Debian"}, {"Funtoo", "Gentoo"}, {"AIX", "AIX"}, {"TurnKey", "Debian"}, {"Pop", "Debian"},
        {"Alpine", "Alpine"}, {"AstraLinuxCE", "Debian"}, {"AstraLinuxSE", "Debian"}, {"Mendel", "Debian"},
        {"Debian", "Debian"}, {"Parrot OS", "Debian"}, {"Gentoo", "Gentoo"}, {"Arch", "Arch"}};
    if (auto it = family.find(os); it != family.end()) return std::string(it->second);
    return os;
}

// dpkg --print-architecture, without running dpkg: dpkg's arch file, else uname's machine mapped.
std::string dpkg_arch(const grains_ctx& c) {
    if (auto t = grains_read(grains_path(c.req.var, "lib/dpkg/arch"))) {
        auto a = first_line(*t);
        if (!a.empty()) return a;
    }
    static const std::map<std::string_view, std::string_view> arch{
        {"x86_64", "amd64"}, {"i386", "i386"}, {"i486", "i386"}, {"i586", "i386"}, {"i686", "i386"},
        {"aarch64", "arm64"}, {"armv7l", "armhf"}, {"armv6l", "armel"}, {"ppc64le", "ppc64el"},
        {"ppc64", "ppc64"}, {"s390x", "s390x"}, {"riscv64", "riscv64"}, {"mips64", "mips64el"},
        {"loongarch64", "loong64"}};
    if (auto it = arch.find(c.cpuarch); it != arch.end()) return std::string(it->second);
    return c.cpuarch;
}

void os_grains(const grains_ctx& c, map_t& out) {
    auto text = grains_read(grains_path(c.req.etc, "os-release"));
    if (!text) text = grains_read(grains_path(c.req.usr, "lib/os-release"));
    std::string os, fullname, release, codename;
    bool have_release = false;
    auto debver = grains_read(grains_path(c.req.etc, "debian_version"));
    if (text) {
        auto info = parse_os_release(*text);
        fullname = std::string(grains_strip(info["NAME"]));
        os = derive_os(fullname);
        if (info.count("VERSION_ID")) release = info["VERSION_ID"], have_release = true;
        if (info.count("VERSION_CODENAME")) {
            codename = info["VERSION_CODENAME"];
        } else if (info.count("PRETTY_NAME")) {
            // Salt's lsb fallback: Debian's "... (bookworm)" names the release in parentheses.
            codename = info["PRETTY_NAME"];
            if (info["ID"] == "debian" && codename.ends_with(')')) {
                const auto open = codename.rfind('(');
                if (open != std::string::npos) codename = codename.substr(open + 1, codename.size() - open - 2);
            }
        }
        grains_set(out, "lsb_distrib_id", fullname);
        if (have_release) grains_set(out, "lsb_distrib_release", release);
        grains_set(out, "lsb_distrib_codename", codename);
    } else if (debver) {
        os = "Debian";
        fullname = "Debian GNU/Linux";
    } else {
        os = fullname = "Linux";
    }
    // Debian testing/sid ship no VERSION_ID; a numeric debian_version still names the major.
    if (!have_release && os == "Debian" && debver) {
        auto v = first_line(*debver);
        auto major = v.substr(0, v.find('.'));
        if (!major.empty() && std::all_of(major.begin(), major.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
            release = major, have_release = true;
    }
    const std::string family = os_family(os);
    grains_set(out, "os", os);
    grains_set(out, "os_family", family);
    grains_set(out, "osfullname", fullname);
    grains_set(out, "oscodename", codename);
    grains_set(out, "osarch", family == "Debian" ? dpkg_arch(c) : c.cpuarch);
    if (!have_release || release.empty()) return;
    grains_set(out, "osrelease", release);
    // osrelease_info: the dotted parts, digits as ints (Python's str.isdigit), others as strings.
    array_t info;
    std::string_view rest = release;
    while (true) {
        const auto dot = rest.find('.');
        const auto part = rest.substr(0, dot);
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), n);
        if (!part.empty() && ec == std::errc{} && p == part.data() + part.size()) info.emplace_back(n);
        else info.emplace_back(part);
        if (dot == std::string_view::npos) break;
        rest.remove_prefix(dot + 1);
    }
    const value first = info.front();
    grains_set(out, "osrelease_info", info);
    if (std::get_if<std::uint64_t>(&first.v)) grains_set(out, "osmajorrelease", first);
    static const std::vector<std::string_view> by_os{"Debian", "FreeBSD", "OpenBSD", "NetBSD", "Mac", "Raspbian"};
    const bool use_os = std::find(by_os.begin(), by_os.end(), os) != by_os.end();
    const std::string fname = use_os ? os : fullname;
    std::string ver;
    if (fname == "Ubuntu" || fname == "Pop") ver = release;
    else if (auto* u = std::get_if<std::uint64_t>(&first.v)) ver = std::to_string(*u);
    else ver = *first.str();
    grains_set(out, "osfinger", fname + "-" + ver);
}

// ---- cpu and memory: _linux_cpudata, _linux_memdata ------------------------------------------

void cpu_grains(grains_ctx& c, map_t& out) {
    std::optional<value> num, model, flags;
    if (auto t = grains_read(grains_path(c.req.proc, "cpuinfo"))) c.cpuinfo = std::move(*t);
    std::string_view text = c.cpuinfo;
    auto to_int = [](std::string_view s) -> std::optional<std::uint64_t> {
        std::uint64_t n = 0;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
        if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
        return n;
    };
    while (!text.empty()) {
        const std::string_view line = grains_take_line(text);
        // line.split(":"): the value is only what lies between the first and second colon.
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        const auto key = grains_strip(line.substr(0, colon));
        auto rest = line.substr(colon + 1);
        const auto val = grains_strip(rest.substr(0, rest.find(':')));
        if (key == "processor") {
            if (auto n = to_int(val)) num = value(*n + 1);
        } else if (key == "# processors") {
            if (auto n = to_int(val)) num = value(*n);
        } else if (key == "vendor_id" || key == "model name") {
            model = value(val);
        } else if (key == "flags" || key == "Features") {
            array_t f;
            for (auto w : grains_split(val)) f.emplace_back(w);
            flags = value(std::move(f));
        } else if (key == "Processor") {
            model = value(val.substr(0, val.find('-')));
            num = value(1u);
        }
    }
    grains_set(out, "num_cpus", num ? *num : value(0u));
    grains_set(out, "cpu_model", model ? *model : value("Unknown"));
    grains_set(out, "cpu_flags", flags ? *flags : value(array_t{}));
}

void mem_grains(const grains_ctx& c, map_t& out) {
    std::uint64_t mem = 0, swap = 0;
    if (auto t = grains_read(grains_path(c.req.proc, "meminfo"))) {
        std::string_view text = *t;
        while (!text.empty()) {
            const std::string_view line = grains_take_line(text);
            const auto colon = line.find(':');
            if (colon == std::string_view::npos) continue;
            const auto key = grains_strip(line.substr(0, colon));
            if (key != "MemTotal" && key != "SwapTotal") continue;
            auto words = grains_split(line.substr(colon + 1));
            std::uint64_t kb = 0;
            if (words.empty() || std::from_chars(words[0].data(), words[0].data() + words[0].size(), kb).ec != std::errc{})
                continue;
            (key == "MemTotal" ? mem : swap) = kb / 1024;  // Salt: int(kB) // 1024, MiB
        }
    }
    grains_set(out, "mem_total", mem);
    grains_set(out, "swap_total", swap);
}

// ---- process, user, environment ------------------------------------------------------------

void process_grains(const grains_ctx& c, map_t& out) {
    grains_set(out, "pid", static_cast<std::int64_t>(::getpid()));
    char cwd[4096];
    grains_set(out, "cwd", ::getcwd(cwd, sizeof cwd) ? std::string(cwd) : std::string());
    const uid_t uid = ::geteuid();
    grains_set(out, "uid", static_cast<std::uint64_t>(uid));
    grains_set(out, "gid", static_cast<std::uint64_t>(::getegid()));
    // salt.utils.user: username from the effective uid, groupname = that user's primary group.
    struct passwd pw, *pwp = nullptr;
    char buf[16384];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &pwp) == 0 && pwp) {
        grains_set(out, "username", std::string(pw.pw_name));
        struct group gr, *grp = nullptr;
        char gbuf[16384];
        if (::getgrgid_r(pw.pw_gid, &gr, gbuf, sizeof gbuf, &grp) == 0 && grp)
            grains_set(out, "groupname", std::string(gr.gr_name));
    }
    grains_set(out, "shell", c.env("SHELL").value_or("/bin/sh"));
    const std::string path(grains_strip(c.env("PATH").value_or("")));
    grains_set(out, "path", path);
    array_t sys;
    std::string_view rest = path;
    while (true) {
        const auto colon = rest.find(':');
        sys.emplace_back(rest.substr(0, colon));
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    grains_set(out, "systempath", std::move(sys));
}

// locale.normalize() for the names a minion's environment plausibly holds; Python's full
// locale_alias table is ~1000 entries, this covers its defaults for common languages.
std::string normalize_locale(const std::string& name) {
    static const std::map<std::string_view, std::string_view> alias{
        {"c", "C"}, {"posix", "C"}, {"c.utf8", "en_US.UTF-8"}, {"c.ascii", "C"}, {"c.en", "C"},
        {"c.iso88591", "en_US.ISO8859-1"}, {"en", "en_US.ISO8859-1"}, {"en_us", "en_US.ISO8859-1"},
        {"en_gb", "en_GB.ISO8859-1"}, {"en_au", "en_AU.ISO8859-1"}, {"en_ca", "en_CA.ISO8859-1"},
        {"en_ie", "en_IE.ISO8859-1"}, {"en_nz", "en_NZ.ISO8859-1"}, {"en_in", "en_IN.ISO8859-1"},
        {"de", "de_DE.ISO8859-1"}, {"de_de", "de_DE.ISO8859-1"}, {"de_at", "de_AT.ISO8859-1"},
        {"de_ch", "de_CH.ISO8859-1"}, {"fr", "fr_FR.ISO8859-1"}, {"fr_fr", "fr_FR.ISO8859-1"},
        {"fr_ca", "fr_CA.ISO8859-1"}, {"fr_be", "fr_BE.ISO8859-1"}, {"fr_ch", "fr_CH.ISO8859-1"},
        {"es", "es_ES.ISO8859-1"}, {"es_es", "es_ES.ISO8859-1"}, {"es_mx", "es_MX.ISO8859-1"},
        {"it", "it_IT.ISO8859-1"}, {"it_it", "it_IT.ISO8859-1"}, {"nl", "nl_NL.ISO8859-1"},
        {"nl_nl", "nl_NL.ISO8859-1"}, {"pt", "pt_PT.ISO8859-1"}, {"pt_pt", "pt_PT.ISO8859-1"},
        {"pt_br", "pt_BR.ISO8859-1"}, {"sv", "sv_SE.ISO8859-1"}, {"sv_se", "sv_SE.ISO8859-1"},
        {"da_dk", "da_DK.ISO8859-1"}, {"fi_fi", "fi_FI.ISO8859-15"}, {"nb_no", "nb_NO.ISO8859-1"},
        {"pl", "pl_PL.ISO8859-2"}, {"pl_pl", "pl_PL.ISO8859-2"}, {"cs_cz", "cs_CZ.ISO8859-2"},
        {"hu_hu", "hu_HU.ISO8859-2"}, {"ru", "ru_RU.UTF-8"}, {"ru_ru", "ru_RU.UTF-8"},
        {"uk_ua", "uk_UA.KOI8-U"}, {"ja", "ja_JP.eucJP"}, {"ja_jp", "ja_JP.eucJP"},
        {"ko_kr", "ko_KR.eucKR"}, {"zh_cn", "zh_CN.gb2312"}, {"zh_tw", "zh_TW.big5"},
        {"tr_tr", "tr_TR.ISO8859-9"}, {"el_gr", "el_GR.ISO8859-7"}, {"he_il", "he_IL.ISO8859-8"}};
    static const std::map<std::string_view, std::string_view> enc{
        {"utf8", "UTF-8"}, {"iso88591", "ISO8859-1"}, {"iso885915", "ISO8859-15"}, {"iso88592", "ISO8859-2"},
        {"iso88595", "ISO8859-5"}, {"iso88597", "ISO8859-7"}, {"iso88599", "ISO8859-9"}, {"latin1", "ISO8859-1"},
        {"koi8r", "KOI8-R"}, {"koi8u", "KOI8-U"}, {"eucjp", "eucJP"}, {"euckr", "eucKR"}, {"gb2312", "gb2312"},
        {"gbk", "GBK"}, {"gb18030", "GB18030"}, {"big5", "big5"}, {"ascii", "ISO8859-1"}};
    std::string code;
    for (char ch : name) code += ch == ':' ? '.' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string modifier;
    if (auto at = code.find('@'); at != std::string::npos) modifier = code.substr(at + 1), code.resize(at);
    std::string lang = code, encoding;
    if (auto dot = code.find('.'); dot != std::string::npos) {
        lang = code.substr(0, dot);
        encoding = code.substr(dot + 1);
        encoding = encoding.substr(0, encoding.find('.'));
    }
    std::string norm_enc;
    for (char ch : encoding)
        if (ch != '-' && ch != '_') norm_enc += ch;
    std::string lookup = lang + (encoding.empty() ? "" : "." + norm_enc);
    if (auto it = alias.find(lookup + (modifier.empty() ? "" : "@" + modifier)); it != alias.end())
        return std::string(it->second);
    // Python's table maps every euro-zone "xx_yy@euro" to ISO8859-15.
    if (encoding.empty() && modifier == "euro")
        if (auto it = alias.find(lang); it != alias.end())
            return std::string(it->second.substr(0, it->second.find('.'))) + ".ISO8859-15";
    if (!encoding.empty()) {
        if (auto it = alias.find(lang); it != alias.end() && modifier.empty()) {
            std::string base(it->second);
            base = base.substr(0, base.find('.'));
            auto e = enc.find(norm_enc);
            return base + "." + (e != enc.end() ? std::string(e->second) : encoding);
        }
    }
    return name;
}

void locale_grains(const grains_ctx& c, map_t& out) {
    auto nonempty = [&](const char* n) -> std::optional<std::string> {
        auto v = c.env(n);
        if (v && !v->empty()) return v;
        return std::nullopt;
    };
    auto lc_all = nonempty("LC_ALL"), lc_ctype = nonempty("LC_CTYPE");
    const std::string ctype_name = lc_all ? *lc_all : lc_ctype ? *lc_ctype : nonempty("LANG").value_or("C");
    // What Python's stdio would use: nl_langinfo(CODESET) of the environment's LC_CTYPE, but
    // UTF-8 when that locale is C/POSIX or cannot be loaded (PEP 538 coercion, PEP 540 UTF-8 mode).
    std::string codeset;
    bool legacy = ctype_name == "C" || ctype_name == "POSIX";
    if (!legacy) {
        locale_t loc = ::newlocale(LC_CTYPE_MASK, ctype_name.c_str(), static_cast<locale_t>(nullptr));
        if (loc) {
            codeset = ::nl_langinfo_l(CODESET, loc);
            ::freelocale(loc);
        } else {
            legacy = true;
        }
    }
    // PEP 538: without LC_ALL, a legacy C locale makes Python set LC_CTYPE=C.UTF-8 for itself.
    if (legacy && !lc_all) lc_ctype = "C.UTF-8";
    std::string name = "C";
    if (lc_all) name = *lc_all;
    else if (lc_ctype) name = *lc_ctype;
    else if (auto lang = nonempty("LANG")) name = *lang;
    else if (auto language = nonempty("LANGUAGE")) name = language->substr(0, language->find(':'));
    // locale.getdefaultlocale() -> _parse_localename(normalize(name)); ValueError -> "unknown".
    value language("unknown"), encoding("unknown");
    std::string code = normalize_locale(name);
    std::string mod;
    if (auto at = code.find('@'); at != std::string::npos) mod = code.substr(at + 1), code.resize(at);
    if (mod == "euro" && code.find('.') == std::string::npos) {
        language = code, encoding = "iso-8859-15";
    } else if (auto dot = code.find('.'); dot != std::string::npos) {
        auto e = code.substr(dot + 1);
        language = code.substr(0, dot), encoding = e.substr(0, e.find('.'));
    } else if (code == "C") {
        language = nullptr, encoding = nullptr;
    } else if (code == "UTF-8") {
        language = nullptr, encoding = "UTF-8";
    }
    map_t info;
    grains_set(info, "defaultlanguage", language);
    grains_set(info, "defaultencoding", encoding);
    grains_set(info, "detectedencoding", legacy || codeset.empty() || codeset == "UTF-8" ? std::string("utf-8") : codeset);
    // datetime.now(dateutil.tz.tzlocal()).tzname(): the abbreviation in effect now.
    std::time_t now = std::time(nullptr);
    struct tm tm {};
    ::localtime_r(&now, &tm);
    grains_set(info, "timezone", tm.tm_zone ? std::string(tm.tm_zone) : std::string("unknown"));
    grains_set(out, "locale_info", std::move(info));
}

// ---- kernel parameters: shlex.split(/proc/cmdline), each "k=v" split once --------------------

std::optional<std::vector<std::string>> shlex_split(std::string_view s) {
    std::vector<std::string> out;
    std::string tok;
    bool in_tok = false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char ch = s[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
            if (in_tok) out.push_back(std::move(tok)), tok.clear(), in_tok = false;
        } else if (ch == '\\') {
            if (++i >= s.size()) return std::nullopt;  // "No escaped character"
            tok += s[i], in_tok = true;
        } else if (ch == '\'' || ch == '"') {
            in_tok = true;
            for (++i;; ++i) {
                if (i >= s.size()) return std::nullopt;  // "No closing quotation"
                if (s[i] == ch) break;
                if (ch == '"' && s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '"' || s[i + 1] == '\\')) ++i;
                tok += s[i];
            }
        } else {
            tok += ch, in_tok = true;
        }
    }
    if (in_tok) out.push_back(std::move(tok));
    return out;
}

void kernelparams_grains(const grains_ctx& c, map_t& out) {
    auto text = grains_read(grains_path(c.req.proc, "cmdline"));
    if (!text) return;
    auto words = shlex_split(*text);
    if (!words) return;  // Salt's grain function raises ValueError: no grain
    array_t params;
    for (const auto& w : *words) {
        const auto eq = w.find('=');
        value val;
        if (eq != std::string::npos) {
            std::string_view v = std::string_view(w).substr(eq + 1);
            while (!v.empty() && v.front() == '"') v.remove_prefix(1);
            while (!v.empty() && v.back() == '"') v.remove_suffix(1);
            val = value(v);
        }
        params.emplace_back(array_t{value(w.substr(0, eq)), std::move(val)});
    }
    grains_set(out, "kernelparams", std::move(params));
}

// ---- ids ------------------------------------------------------------------------------------

void id_grains(const grains_ctx& c, map_t& out) {
    grains_set(out, "id", c.req.id);
    // salt.grains.core.get_server_id: abs(int(sha256(id).hexdigest(), 16) % 2**31), i.e. the
    // digest's last four bytes, big-endian, with the top bit cleared.
    // Without libcrypto the grain is left out, as a grain that cannot be computed is in Salt.
    if (auto d = detail::digest("SHA256", c.req.id); d && d->size() == 32) {
        const auto* md = reinterpret_cast<const unsigned char*>(d->data());
        const std::uint32_t tail = (std::uint32_t(md[28]) << 24) | (std::uint32_t(md[29]) << 16) |
                                   (std::uint32_t(md[30]) << 8) | md[31];
        grains_set(out, "server_id", static_cast<std::uint64_t>(tail & 0x7fffffffu));
    }
    // get_machine_id: the first of the two files that exists, stripped.
    for (const auto& p : {grains_path(c.req.etc, "machine-id"), grains_path(c.req.var, "lib/dbus/machine-id")}) {
        if (!grains_exists(p)) continue;
        if (auto t = grains_read(p)) grains_set(out, "machine_id", std::string(grains_strip(*t)));
        break;
    }
}

std::string key_text(const value& k) { return k.str() ? *k.str() : std::string(); }

void update(map_t& dest, const map_t& src) {
    for (const auto& m : src) {
        auto it = std::find_if(dest.begin(), dest.end(), [&](const member& d) { return d.key == m.key; });
        if (it != dest.end()) it->val = m.val;
        else dest.push_back(m);
    }
}

}  // namespace
}  // namespace detail

result<map_t> collect_grains(const grains_request& req) {
    using namespace detail;
    try {
        grains_ctx c{req, {}, {}, {}};
        map_t out;
        out.reserve(96);
        kernel_grains(c, out);
        os_grains(c, out);
        cpu_grains(c, out);
        mem_grains(c, out);
        process_grains(c, out);
        locale_grains(c, out);
        kernelparams_grains(c, out);
        id_grains(c, out);
        grains_net(c, out);
        grains_hw(c, out);

        // salt.grains.extra.config: <config_dir>/grains. Salt logs and skips a bad file; we
        // refuse it, since a typo there silently drops every static grain.
        const std::string gfile = grains_path(req.config_dir, "grains");
        struct stat st;
        if (::stat(gfile.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
            auto text = grains_read(gfile);
            if (!text) return fail(errc::config, "cannot read " + gfile + ": " + std::strerror(errno));
            auto doc = salt_yaml_load(*text);
            if (!doc) {
                std::string msg = doc.error().message;
                if (msg.starts_with("invalid YAML")) msg.insert(12, " in " + gfile);
                else msg = "invalid YAML in " + gfile + ": " + msg;
                return fail(errc::config, std::move(msg));
            }
            if (const map_t* m = doc->map()) update(out, *m);
            else if (!doc->is_nil()) return fail(errc::config, "invalid grains file " + gfile + ": not a mapping");
        }
        if (req.config_grains)
            if (const map_t* m = req.config_grains->map()) update(out, *m);

        std::stable_sort(out.begin(), out.end(), [](const member& a, const member& b) {
            const bool as = a.key.str() != nullptr, bs = b.key.str() != nullptr;
            if (as != bs) return as;
            return as && key_text(a.key) < key_text(b.key);
        });
        return out;
    } catch (const std::exception& e) {
        return fail(errc::internal, std::string("cannot collect grains: ") + e.what());
    }
}

result<map_t> minion_grains(const bus_config& minion, const std::string& config_dir) {
    grains_request req;
    req.id = minion.id;
    req.config_dir = config_dir;
    for (const auto& mem : minion.options)
        if (const auto* k = mem.key.str(); k && *k == "grains") req.config_grains = &mem.val;
    return collect_grains(req);
}

}  // namespace tagbus
