// grains: the hardware part of salt.grains.core (virtual, disks, gpus, efi, init, systemd and
// the DMI firmware fields). Mostly from sysfs and procfs instead of the commands Salt runs
// (lspci, systemctl); `virtual` runs the commands Salt runs when they are installed.
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>

#include "host/grains_detail.hpp"

namespace tagbus::inline v0::detail {
namespace {

std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> out;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return out;
    while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.emplace_back(e->d_name);
    ::closedir(d);
    return out;
}

std::string read_line(const std::string& path) {
    auto t = grains_read(path);
    return t ? std::string(grains_strip(*t)) : std::string();
}

bool contains(std::string_view hay, std::string_view needle) { return hay.find(needle) != std::string_view::npos; }

bool is_dir(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool is_file(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// salt.utils.path.which on Linux: the first executable regular file (or symlink) named `exe`
// in $PATH as the minion sees it, then in /bin, /sbin, /usr/bin, /usr/sbin and /usr/local/bin
// when PATH lacks them. Absolute directories are looked up under req.root (tests point it at a
// fake tree); "" when there is none.
std::string salt_which(const grains_ctx& c, std::string_view exe) {
    std::vector<std::string> dirs;
    const std::string path = c.env("PATH").value_or("");
    for (std::size_t i = 0;;) {
        const auto colon = path.find(':', i);
        dirs.push_back(path.substr(i, colon == std::string::npos ? std::string::npos : colon - i));
        if (colon == std::string::npos) break;
        i = colon + 1;
    }
    for (const char* d : {"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin"})
        if (std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.emplace_back(d);
    for (const auto& d : dirs) {
        std::string full = d.empty() ? std::string(exe) : d + "/" + std::string(exe);
        if (full.starts_with("/")) full = grains_path(c.req.root, full.substr(1));
        struct stat st, lst;
        const bool file = ::stat(full.c_str(), &st) == 0 && S_ISREG(st.st_mode);
        const bool link = ::lstat(full.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode);
        if (::access(full.c_str(), X_OK) == 0 && (file || link)) return full;
    }
    return "";
}

// What Salt's cmd.run_all / cmd.run give for a command: its stdout (with stderr too when
// `with_stderr`, as cmd.run merges them), right-stripped, and the exit status. Salt waits
// without a bound; we stop a command after 5 s and count it as failed.
struct cmd_out {
    bool ran = false;  ///< started and ended on its own
    int status = 0;    ///< exit status; minus the signal number when a signal ended it
    std::string out;
};

cmd_out run_cmd(const grains_ctx& c, const std::vector<std::string>& argv, bool with_stderr = false) {
    cmd_out r;
    std::vector<std::string> env_s;
    if (c.req.env) {
        for (const auto& [k, v] : *c.req.env) env_s.push_back(k + "=" + v);
    } else {
        for (char** e = environ; e && *e; ++e) env_s.emplace_back(*e);
    }
    std::vector<char*> envp, args;
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<std::string> argv_s(argv);
    for (auto& a : argv_s) args.push_back(a.data());
    args.push_back(nullptr);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return r;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    if (with_stderr) posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    else posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv_s[0].c_str(), &fa, &at, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        return r;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    bool timed_out = false;
    char buf[4096];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{fds[0], POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) continue;
        const ssize_t got = ::read(fds[0], buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        if (r.out.size() < (std::size_t{4} << 20)) r.out.append(buf, static_cast<std::size_t>(got));
    }
    ::close(fds[0]);
    if (timed_out) ::kill(pid, SIGKILL);
    int ws = 0;
    while (::waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    if (timed_out) return r;
    r.ran = true;
    r.status = WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? -WTERMSIG(ws) : 0;
    r.out.erase(r.out.find_last_not_of(" \t\n\r\f\v") + 1);
    return r;
}

// Python's str.splitlines() for the line breaks a command prints (\n, \r\n, \r).
std::vector<std::string_view> split_lines(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        const auto e = s.find_first_of("\r\n", i);
        if (e == std::string_view::npos) {
            out.push_back(s.substr(i));
            break;
        }
        out.push_back(s.substr(i, e - i));
        i = e + (s[e] == '\r' && e + 1 < s.size() && s[e + 1] == '\n' ? 2 : 1);
    }
    return out;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

// salt.grains.core._virtual (3006) for Linux, step by step from the same sources. The commands
// Salt runs (systemd-detect-virt, virt-what, dmidecode, lspci, dmesg) are run here too, and only
// when salt_which() finds them, because their answers cannot be rebuilt cheaply and exactly (the
// whole of dmidecode's output is searched; virt-what and dmidecode need root). With none of them
// installed Salt decides from the files alone, so a KVM microVM without them is `physical`.
// Not covered: the `enable_lspci: False` minion option (lspci is tried whenever /proc/bus/pci exists).
void virtual_grains(const grains_ctx& c, map_t& out) {
    const auto& r = c.req;
    std::string virt = "physical", subtype;

    // An lx-branded zone says so in the kernel version (os.uname()); Salt stops there.
    if (read_line(grains_path(r.proc, "sys/kernel/version")) == "BrandZ virtual linux") {
        grains_set(out, "virtual", "zone");
        return;
    }

    std::vector<std::string_view> cmds{"systemd-detect-virt", "virt-what", "dmidecode"};
    if (!salt_which(c, "virt-what").empty()) cmds = {"virt-what"};
    if (grains_exists(grains_path(r.proc, "bus/pci"))) cmds.push_back("lspci");
    for (const auto cmd : cmds) {
        const std::string bin = salt_which(c, cmd);
        if (bin.empty()) continue;
        const cmd_out res = run_cmd(c, {bin});
        if (!res.ran || res.status > 0) continue;  // systemd-detect-virt exits 1 for "none"
        const std::string& o = res.out;
        if (cmd == "systemd-detect-virt") {
            static const std::string_view as_is[] = {"qemu", "kvm", "oracle", "xen", "bochs", "chroot", "uml", "systemd-nspawn"};
            if (std::find(std::begin(as_is), std::end(as_is), o) != std::end(as_is)) {
                virt = o;
                break;
            }
            if (contains(o, "vmware")) { virt = "VMware"; break; }
            if (contains(o, "microsoft")) { virt = "VirtualPC"; break; }
            if (contains(o, "lxc")) { virt = "container", subtype = "LXC"; break; }
            if (contains(o, "amazon")) { virt = "Nitro", subtype = "Amazon EC2"; break; }
            continue;  // docker, podman, wsl, vm-other...: Salt has no mapping and tries the next command
        }
        if (cmd == "virt-what") {
            for (const auto line : split_lines(o)) {
                if (line == "kvm" || line == "qemu" || line == "uml" || line == "xen") { virt = line; break; }
                if (contains(line, "lxc")) { virt = "container", subtype = "LXC"; break; }
                if (contains(line, "vmware")) { virt = "VMware"; break; }
                if (contains(line, "parallels")) { virt = "Parallels"; break; }
                if (contains(line, "hyperv")) { virt = "HyperV"; break; }
                if (line == "ibm_power-kvm") { virt = "kvm"; break; }
                if (line == "ibm_power-lpar_shared") { virt = "LPAR", subtype = "shared"; break; }
                if (line == "ibm_power-lpar_dedicated") { virt = "LPAR", subtype = "dedicated"; break; }
            }
            break;
        }
        if (cmd == "dmidecode") {
            if (contains(o, "Vendor: QEMU") || contains(o, "Manufacturer: QEMU") || contains(o, "Vendor: Bochs") ||
                contains(o, "Manufacturer: Bochs"))
                virt = "kvm";
            if (contains(o, "BHYVE")) virt = "bhyve";
            else if (contains(o, "Manufacturer: oVirt")) virt = "kvm", subtype = "ovirt";
            else if (contains(o, "Product Name: RHEV Hypervisor")) virt = "kvm", subtype = "rhev";
            else if (contains(o, "VirtualBox")) virt = "VirtualBox";
            else if (contains(o, "VMware")) virt = "VMware";
            else if (contains(o, ": Microsoft") && contains(o, "Virtual Machine")) virt = "VirtualPC";
            else if (contains(o, "Parallels Software")) virt = "Parallels";
            else if (contains(o, "Manufacturer: Google")) virt = "kvm";
            else if (contains(o, "Vendor: SeaBIOS")) virt = "kvm";
            break;
        }
        // lspci
        const std::string model = lower(o);
        if (contains(model, "vmware")) virt = "VMware";
        else if (contains(model, "virtualbox")) virt = "VirtualBox";
        else if (contains(model, "qemu") || contains(model, "virtio")) virt = "kvm";
        break;
    }

    // A process whose root is not PID 1's (os.stat results compared field by field; unreadable
    // /proc/1/root, as for a non-root user, skips the check).
    struct stat a, b;
    if (is_dir(r.proc) && ::stat(r.root.c_str(), &a) == 0 && ::stat(grains_path(r.proc, "1/root/.").c_str(), &b) == 0 &&
        (a.st_mode != b.st_mode || a.st_ino != b.st_ino || a.st_dev != b.st_dev || a.st_nlink != b.st_nlink ||
         a.st_uid != b.st_uid || a.st_gid != b.st_gid || a.st_size != b.st_size || a.st_atime != b.st_atime ||
         a.st_mtime != b.st_mtime || a.st_ctime != b.st_ctime))
        subtype = "chroot";
    if (is_dir(grains_path(r.proc, "vz"))) {
        if (is_file(grains_path(r.proc, "vz/version"))) virt = "openvzhn";
        else if (is_file(grains_path(r.proc, "vz/veinfo"))) virt = "openvzve";
    }
    if (auto st = grains_read(grains_path(r.proc, "self/status"))) {
        // ^envID:\s+(\d+)$ per line; the last match wins
        for (auto line : split_lines(*st)) {
            if (!line.starts_with("envID:")) continue;
            auto rest = line.substr(6);
            const auto ws = rest.find_first_not_of(" \t\f\v");
            if (ws == 0 || ws == std::string_view::npos) continue;
            rest = rest.substr(ws);
            if (rest.find_first_not_of("0123456789") != std::string_view::npos) continue;
            virt = rest.find_first_not_of('0') != std::string_view::npos ? "openvzve" : "openvzhn";
        }
    }
    if (is_dir(grains_path(r.proc, "sys/xen")) || is_dir(grains_path(r.sys, "bus/xen")) || is_dir(grains_path(r.proc, "xen"))) {
        if (is_file(grains_path(r.proc, "xen/xsd_kva"))) {
            subtype = "Xen Dom0";
        } else if (read_line(grains_path(r.sys, "class/dmi/id/product_name")) == "HVM domU") {
            subtype = "Xen HVM DomU";  // Salt's `productname` grain, read from the same file
        } else if (auto cap = is_file(grains_path(r.proc, "xen/capabilities")) ? grains_read(grains_path(r.proc, "xen/capabilities"))
                                                                                : std::nullopt) {
            subtype = contains(*cap, "control_d") ? "Xen Dom0" : "Xen PV DomU";
        } else if (is_dir(grains_path(r.sys, "bus/xen"))) {
            if (is_dir(grains_path(r.sys, "bus/xen/drivers/xenconsole"))) {
                subtype = "Xen PV DomU";
            } else if (auto dmesg = salt_which(c, "dmesg"); !dmesg.empty()) {
                if (contains(lower(run_cmd(c, {dmesg}, true).out), "xen:")) subtype = "Xen PV DomU";
            }
        }
        if (contains(lower(subtype), "dom")) virt = "xen";
    }
    if (contains(c.cpuinfo, "QEMU Virtual CPU")) virt = "kvm";
    if (auto pn = grains_read(grains_path(r.sys, "devices/virtual/dmi/id/product_name")); pn && is_file(grains_path(r.sys, "devices/virtual/dmi/id/product_name"))) {
        if (contains(*pn, "VirtualBox")) virt = "VirtualBox";
        else if (contains(*pn, "RHEV Hypervisor")) virt = "kvm", subtype = "rhev";
        else if (contains(*pn, "oVirt Node")) virt = "kvm", subtype = "ovirt";
        else if (contains(*pn, "Google")) virt = "gce";
        else if (contains(*pn, "BHYVE")) virt = "bhyve";
    }
    // containers after hypervisors, as Salt orders them
    if (auto cg = grains_read(grains_path(r.proc, "1/cgroup"))) {
        if (contains(*cg, ":/lxc/")) virt = "container", subtype = "LXC";
        else if (contains(*cg, ":/kubepods/")) subtype = "kubernetes";
        else if (contains(*cg, ":/libpod_parent/")) subtype = "libpod";
        else if (contains(*cg, ":/system.slice/docker") || contains(*cg, ":/docker/") || contains(*cg, ":/docker-ce/"))
            virt = "container", subtype = "Docker";
    }
    if (subtype != "LXC") {
        if (auto env = grains_read(grains_path(r.proc, "1/environ")); env && contains(*env, "container=lxc"))
            virt = "container", subtype = "LXC";
    }
    if (!subtype.empty() && virt == "physical") virt = "virtual";

    // Amazon EC2, from `dmidecode -t system` whatever its exit status
    if (virt == "qemu" || virt == "kvm" || virt == "xen" || virt == "amazon") {
        if (auto dmi = salt_which(c, "dmidecode"); !dmi.empty()) {
            const std::string o = run_cmd(c, {dmi, "-t", "system"}).out;
            if (contains(o, "Manufacturer: Amazon EC2")) {
                if (virt != "xen") virt = "Nitro";
                subtype = "Amazon EC2";
                // .*Product Name: ([^\r\n]*) with DOTALL: the last "Product Name: " and its line
                if (auto p = o.rfind("Product Name: "); p != std::string::npos) {
                    const auto v = p + 14;
                    subtype = "Amazon EC2 (" + o.substr(v, o.find_first_of("\r\n", v) - v) + ")";
                }
            } else {
                // .*Version: [^\r\n]+\.amazon.* with DOTALL
                for (auto p = o.find("Version: "); p != std::string::npos; p = o.find("Version: ", p + 1)) {
                    const auto v = p + 9, e = o.find_first_of("\r\n", v);
                    const auto line = std::string_view(o).substr(v, e == std::string::npos ? std::string::npos : e - v);
                    if (auto a = line.find(".amazon", 1); a != std::string_view::npos) {
                        subtype = "Amazon EC2";
                        break;
                    }
                }
            }
        }
    }
    grains_set(out, "virtual", virt);
    if (!subtype.empty()) grains_set(out, "virtual_subtype", subtype);
}

// salt.grains.disks._linux_disks: each /sys/block entry in directory order, except those whose
// link points under ../devices/virtual/ (loop, zram, ram, dm-*, md*, nbd...); rotational "0" is
// an SSD, "1" a disk. An entry that is not a symlink makes Salt's function raise, and the
// loader then sets neither grain.
void disk_grains(const grains_ctx& c, map_t& out) {
    array_t disks, ssds;
    const std::string block = grains_path(c.req.sys, "block");
    for (const auto& dev : list_dir(block)) {
        if (dev.starts_with(".")) continue;  // glob's * skips hidden names
        char target[4096];
        const ssize_t n = ::readlink((block + "/" + dev).c_str(), target, sizeof target);
        if (n < 0) return;
        if (std::string_view(target, static_cast<std::size_t>(n)).starts_with("../devices/virtual/")) continue;
        auto flag = grains_read(block + "/" + dev + "/queue/rotational");
        if (!flag || flag->empty()) continue;
        if ((*flag)[0] == '0') ssds.emplace_back(dev);
        else if ((*flag)[0] == '1') disks.emplace_back(dev);
    }
    grains_set(out, "disks", std::move(disks));
    grains_set(out, "ssds", std::move(ssds));
}

// A name from pci.ids: the vendor line "vvvv  Name", then within it "\tdddd  Name".
std::string pci_name(std::string_view db, std::string_view vendor, std::string_view device) {
    std::string key = "\n" + std::string(vendor) + "  ";
    auto v = db.find(key);
    if (v == std::string_view::npos) return "";
    const auto vend_end = db.find('\n', v + 1);
    if (device.empty()) return std::string(db.substr(v + key.size(), vend_end - v - key.size()));
    const std::string dkey = "\n\t" + std::string(device) + "  ";
    auto next_vendor = vend_end;
    while (next_vendor != std::string_view::npos && next_vendor + 1 < db.size() &&
           (db[next_vendor + 1] == '\t' || db[next_vendor + 1] == '#'))
        next_vendor = db.find('\n', next_vendor + 1);
    auto d = db.substr(0, next_vendor).find(dkey, vend_end);
    if (d == std::string_view::npos) return "";
    const auto e = db.find('\n', d + 1);
    return std::string(db.substr(d + dkey.size(), e - d - dkey.size()));
}

// salt.grains.core._linux_gpu_data over sysfs: PCI classes "VGA compatible controller" (0300),
// "3D controller" (0302) and "Display controller" (0380), names as lspci takes them from pci.ids.
void gpu_grains(const grains_ctx& c, map_t& out) {
    const std::string devs = grains_path(c.req.sys, "bus/pci/devices");
    auto slots = list_dir(devs);
    std::sort(slots.begin(), slots.end());  // lspci's order: domain, bus, device, function
    std::optional<std::string> db;
    array_t gpus;
    for (const auto& s : slots) {
        const std::string cls = read_line(devs + "/" + s + "/class");
        if (cls != "0x030000" && !cls.starts_with("0x0302") && !cls.starts_with("0x0380")) continue;
        auto id = [](std::string v) { return v.starts_with("0x") ? v.substr(2) : v; };
        const std::string vid = id(read_line(devs + "/" + s + "/vendor")), did = id(read_line(devs + "/" + s + "/device"));
        if (!db) {
            db = grains_read(grains_path(c.req.usr, "share/misc/pci.ids"));
            if (!db) db = grains_read(grains_path(c.req.usr, "share/hwdata/pci.ids"));
            if (!db) db = std::string();
        }
        std::string vname = pci_name(*db, vid, ""), model = pci_name(*db, vid, did);
        if (vname.empty()) {
            static const std::map<std::string_view, std::string_view> known{
                {"10de", "NVIDIA Corporation"}, {"1002", "Advanced Micro Devices, Inc. [AMD/ATI]"},
                {"1022", "Advanced Micro Devices, Inc. [AMD]"}, {"8086", "Intel Corporation"},
                {"15ad", "VMware"}, {"102b", "Matrox Electronics Systems Ltd."}, {"1a03", "ASPEED Technology, Inc."},
                {"1013", "Cirrus Logic"}};
            auto k = known.find(vid);
            vname = k != known.end() ? std::string(k->second) : "Vendor " + vid;
        }
        if (model.empty()) model = "Device " + did;
        // re.split("[^A-Za-z0-9]", vendor.lower()), then the first known vendor among the words
        std::vector<std::string> words(1);
        for (char ch : vname) {
            if (std::isalnum(static_cast<unsigned char>(ch)) && static_cast<unsigned char>(ch) < 0x80)
                words.back() += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            else
                words.emplace_back();
        }
        std::string vendor = "unknown";
        for (const char* k : {"nvidia", "amd", "ati", "intel", "cirrus logic", "vmware", "matrox", "aspeed"})
            if (std::find(words.begin(), words.end(), k) != words.end()) {
                vendor = k;
                break;
            }
        map_t g;
        grains_set(g, "vendor", vendor);
        grains_set(g, "model", model);
        gpus.emplace_back(std::move(g));
    }
    grains_set(out, "num_gpus", static_cast<std::uint64_t>(gpus.size()));
    grains_set(out, "gpus", std::move(gpus));
}

// salt.grains.core.uefi: efivarfs (or the old vars directory) present; SecureBoot's value byte.
void efi_grains(const grains_ctx& c, map_t& out) {
    std::string dir;
    for (const char* d : {"firmware/efi/efivars", "firmware/efi/vars"})
        if (grains_exists(grains_path(c.req.sys, d))) {
            dir = grains_path(c.req.sys, d);
            break;
        }
    bool secure = false;
    if (!dir.empty())
        for (const auto& name : list_dir(dir)) {
            if (!name.starts_with("SecureBoot-")) continue;
            std::string p = dir + "/" + name;
            struct stat st;
            if (::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) p += "/data";  // sysfs vars: the bare value
            if (auto v = grains_read(p); v && !v->empty()) secure = v->back() == 1;
        }
    grains_set(out, "efi", !dir.empty());
    grains_set(out, "efi-secure-boot", secure);
}

// The `init` grain: systemd when /run/systemd/system exists, else judged from PID 1's command.
void init_grains(const grains_ctx& c, map_t& out) {
    std::string init = "unknown";
    if (grains_exists(grains_path(c.req.run, "systemd/system"))) {
        init = "systemd";
    } else if (auto cmd = grains_read(grains_path(c.req.proc, "1/cmdline"))) {
        for (auto& ch : *cmd)
            if (ch == '\0') ch = ' ';
        auto words = grains_split(*cmd);
        auto has = [&](std::string_view base) {
            return std::any_of(words.begin(), words.end(), [&](std::string_view w) {
                return w == base || w.ends_with("/" + std::string(base));
            });
        };
        if (!words.empty() && words[0].ends_with("bin/init")) {
            // Salt greps the init binary for the names of the init systems it knows.
            std::string bin(words[0]);
            if (!bin.starts_with("/")) bin = "/sbin/" + bin;
            if (auto content = grains_read(bin)) {
                for (auto& ch : *content) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
                for (const char* k : {"upstart", "sysvinit", "systemd"})
                    if (contains(*content, k)) {
                        init = k;
                        break;
                    }
            }
        } else if (has("supervisord")) {
            init = "supervisord";
        } else if (has("dumb-init")) {
            init = "dumb-init";
        } else if (has("tini")) {
            init = "tini";
        } else if (words.size() == 1 && words[0] == "runit") {
            init = "runit";
        } else if (std::find(words.begin(), words.end(), "/sbin/my_init") != words.end()) {
            init = "runit";
        }
    }
    grains_set(out, "init", init);
}

// An ELF64 shared object's .rodata section, where string constants live (an eighth of
// libsystemd-shared); the whole file when it is not a little-endian ELF64 we can read.
std::string_view rodata(std::string_view file) {
    if (file.size() < sizeof(Elf64_Ehdr) || file.substr(0, 4) != ELFMAG || file[EI_CLASS] != ELFCLASS64 ||
        file[EI_DATA] != ELFDATA2LSB)
        return file;
    Elf64_Ehdr eh;
    std::memcpy(&eh, file.data(), sizeof eh);
    if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff > file.size() ||
        eh.e_shnum > (file.size() - eh.e_shoff) / sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum)
        return file;
    auto shdr = [&](std::size_t i) {
        Elf64_Shdr sh;
        std::memcpy(&sh, file.data() + eh.e_shoff + i * sizeof sh, sizeof sh);
        return sh;
    };
    const Elf64_Shdr names = shdr(eh.e_shstrndx);
    for (std::size_t i = 0; i < eh.e_shnum; ++i) {
        const Elf64_Shdr sh = shdr(i);
        if (sh.sh_name >= names.sh_size || names.sh_offset + sh.sh_name >= file.size()) continue;
        const char* name = file.data() + names.sh_offset + sh.sh_name;
        if (std::strncmp(name, ".rodata", file.size() - (names.sh_offset + sh.sh_name)) != 0) continue;
        if (sh.sh_offset > file.size() || sh.sh_size > file.size() - sh.sh_offset) return file;
        return file.substr(sh.sh_offset, sh.sh_size);
    }
    return file;
}

// The `systemd` grain is `systemctl --version` (first line's second word, second line), present
// when systemctl and localectl are installed. Without running it: the version is in the name of
// libsystemd-shared-<version>.so and the feature line is a string constant in that library.
void systemd_grains(const grains_ctx& c, map_t& out) {
    const auto& u = c.req.usr;
    if (!grains_exists(grains_path(u, "bin/systemctl")) || !grains_exists(grains_path(u, "bin/localectl"))) return;
    std::string lib, version;
    std::vector<std::string> dirs{grains_path(u, "lib/systemd")};
    for (const auto& d : list_dir(grains_path(u, "lib")))
        if (d.find("-linux-gnu") != std::string::npos) dirs.push_back(grains_path(u, "lib/" + d + "/systemd"));
    for (const auto& d : dirs) {
        for (const auto& f : list_dir(d))
            if (f.starts_with("libsystemd-shared-") && f.ends_with(".so")) {
                lib = d + "/" + f;
                version = f.substr(18, f.size() - 21);
                break;
            }
        if (!lib.empty()) break;
    }
    if (lib.empty()) return;
    std::string features;
    int fd = ::open(lib.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size > 0) {
        const std::size_t size = static_cast<std::size_t>(st.st_size);
        void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            const std::string_view bytes = rodata(std::string_view(static_cast<const char*>(m), size));
            // the feature line starts with "+PAM" or "-PAM" and is followed by the AUDIT flag
            for (const char* needle : {"PAM +AUDIT", "PAM -AUDIT"}) {
                for (auto p = bytes.find(needle); p != std::string_view::npos; p = bytes.find(needle, p + 1)) {
                    if (p < 2 || (bytes[p - 1] != '+' && bytes[p - 1] != '-') || bytes[p - 2] != '\0') continue;
                    const auto end = bytes.find('\0', p);
                    features = std::string(bytes.substr(p - 1, end - p + 1));
                    break;
                }
                if (!features.empty()) break;
            }
            ::munmap(m, size);
        }
    }
    if (fd >= 0) ::close(fd);
    map_t sd;
    grains_set(sd, "version", version);
    grains_set(sd, "features", features);
    grains_set(out, "systemd", std::move(sd));
}

// _hw_data: the DMI fields sysfs exposes (those readable without root).
void dmi_grains(const grains_ctx& c, map_t& out) {
    const std::string dir = grains_path(c.req.sys, "class/dmi/id");
    if (!grains_exists(dir)) return;
    static const std::pair<const char*, const char*> fields[] = {
        {"biosversion", "bios_version"}, {"productname", "product_name"}, {"manufacturer", "sys_vendor"},
        {"biosreleasedate", "bios_date"}, {"uuid", "product_uuid"}, {"serialnumber", "product_serial"}};
    for (const auto& [key, file] : fields) {
        auto t = grains_read(dir + "/" + file);
        if (!t) continue;
        std::string v(grains_strip(*t));
        if (std::string_view(key) == "uuid")
            for (auto& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        grains_set(out, key, v);
    }
}

}  // namespace

void grains_hw(const grains_ctx& c, map_t& out) {
    virtual_grains(c, out);
    disk_grains(c, out);
    gpu_grains(c, out);
    efi_grains(c, out);
    init_grains(c, out);
    systemd_grains(c, out);
    dmi_grains(c, out);
}

}  // namespace tagbus::detail
