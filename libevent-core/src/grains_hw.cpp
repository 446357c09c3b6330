// grains: the hardware part of salt.grains.core (virtual, disks, gpus, efi, init, systemd and
// the DMI firmware fields), from sysfs and procfs instead of the commands Salt runs
// (systemd-detect-virt, dmidecode, lspci, systemctl).
#include <dirent.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <map>

#include "grains_detail.hpp"

namespace tagbus::detail {
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

// The hypervisor's CPUID signature (leaf 0x40000000) as systemd-detect-virt names it.
std::string cpuid_hypervisor() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    __cpuid(0x40000000, eax, ebx, ecx, edx);
    char sig[13] = {};
    std::memcpy(sig, &ebx, 4);
    std::memcpy(sig + 4, &ecx, 4);
    std::memcpy(sig + 8, &edx, 4);
    static const std::pair<std::string_view, std::string_view> known[] = {
        {"XenVMMXenVMM", "xen"}, {"KVMKVMKVM", "kvm"}, {"Linux KVM Hv", "kvm"}, {"TCGTCGTCGTCG", "qemu"},
        {"VMwareVMware", "vmware"}, {"Microsoft Hv", "microsoft"}, {"bhyve bhyve ", "bhyve"},
        {"QNXQVMBSQG", "qnx"}, {"ACRNACRNACRN", "acrn"}, {" lrpepyh  vr", "parallels"}, {"SRESRESRESRE", "sre"}};
    for (const auto& [s, name] : known)
        if (std::string_view(sig) == s) return std::string(name);
#endif
    return "";
}

// What systemd-detect-virt prints (containers first, then hypervisors), from the files and the
// CPUID leaf it reads itself; "" for none.
std::string detect_virt(const grains_ctx& c) {
    const auto& r = c.req;
    if (auto env = grains_read(grains_path(r.proc, "1/environ"))) {
        std::string_view e = *env;
        for (std::size_t i = 0; i < e.size();) {
            auto z = e.find('\0', i);
            auto var = e.substr(i, z == std::string_view::npos ? std::string_view::npos : z - i);
            if (var.starts_with("container=") && var.size() > 10) return std::string(var.substr(10));
            if (z == std::string_view::npos) break;
            i = z + 1;
        }
    }
    if (auto t = read_line(grains_path(r.run, "systemd/container")); !t.empty()) return t;
    if (grains_exists(grains_path(r.root, ".dockerenv"))) return "docker";
    if (grains_exists(grains_path(r.run, ".containerenv"))) return "podman";
    const std::string osrel = read_line(grains_path(r.proc, "sys/kernel/osrelease"));
    if (contains(osrel, "Microsoft") || contains(osrel, "WSL")) return "wsl";
    if (grains_exists(grains_path(r.proc, "vz")) && !grains_exists(grains_path(r.proc, "bc"))) return "openvz";

    // detect_vm(): DMI first only for vendors it names more precisely than CPUID, then the
    // CPUID hypervisor leaf, Xen, and DMI again.
    static const std::pair<std::string_view, std::string_view> dmi_vendors[] = {
        {"KVM", "kvm"}, {"OpenStack", "kvm"}, {"KubeVirt", "kvm"}, {"Amazon EC2", "amazon"},
        {"QEMU", "qemu"}, {"VMware", "vmware"}, {"VMW", "vmware"}, {"innotek GmbH", "oracle"},
        {"VirtualBox", "oracle"}, {"Oracle Corporation", "oracle"}, {"Xen", "xen"}, {"Bochs", "bochs"},
        {"Parallels", "parallels"}, {"BHYVE", "bhyve"}, {"Hyper-V", "microsoft"},
        {"Apple Virtualization", "apple"}, {"Google Compute Engine", "google"}, {"Google", "google"}};
    std::string dmi;
    for (const char* f : {"product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version"}) {
        const std::string v = read_line(grains_path(r.sys, std::string("class/dmi/id/") + f));
        for (const auto& [prefix, name] : dmi_vendors)
            if (dmi.empty() && !v.empty() && v.starts_with(prefix)) dmi = name;
    }
    if (dmi == "oracle" || dmi == "amazon") return dmi;
    // /proc/cpuinfo's "hypervisor" flag is CPUID leaf 1's hypervisor bit.
    const bool hv = contains(c.cpuinfo, " hypervisor");
    if (hv) {
        if (auto name = cpuid_hypervisor(); !name.empty()) return name;
    }
    if (grains_exists(grains_path(r.proc, "xen"))) return "xen";
    if (!dmi.empty()) return dmi;
    return hv ? "vm-other" : "";
}

// salt.grains.core._virtual for Linux, with detect_virt() standing in for systemd-detect-virt
// and the DMI files for dmidecode.
void virtual_grains(const grains_ctx& c, map_t& out) {
    const auto& r = c.req;
    std::string virt = "physical", subtype;
    const std::string dv = detect_virt(c);
    if (dv == "qemu" || dv == "kvm" || dv == "oracle" || dv == "xen" || dv == "bochs" || dv == "chroot" ||
        dv == "uml" || dv == "systemd-nspawn") {
        virt = dv;
    } else if (contains(dv, "vmware")) {
        virt = "VMware";
    } else if (contains(dv, "microsoft")) {
        virt = "VirtualPC";
    } else if (contains(dv, "lxc")) {
        virt = "container", subtype = "LXC";
    } else if (contains(dv, "amazon")) {
        virt = "Nitro", subtype = "Amazon EC2";
    } else if (dv == "docker" || dv == "podman") {
        // systemd-detect-virt's answer, which Salt does not map (it finds Docker only through a
        // cgroup v1 path below): reported as Salt reports Docker under cgroup v1.
        virt = "container", subtype = dv == "docker" ? "Docker" : "Podman";
    } else {
        // dmidecode's answer, from the same DMI fields
        const std::string vendor = read_line(grains_path(r.sys, "class/dmi/id/sys_vendor"));
        const std::string bios = read_line(grains_path(r.sys, "class/dmi/id/bios_vendor"));
        const std::string product = read_line(grains_path(r.sys, "class/dmi/id/product_name"));
        if (vendor == "QEMU" || bios == "QEMU" || vendor.starts_with("Bochs") || bios.starts_with("Bochs")) virt = "kvm";
        if (contains(product, "BHYVE") || contains(vendor, "BHYVE")) virt = "bhyve";
        else if (vendor.starts_with("oVirt")) virt = "kvm", subtype = "ovirt";
        else if (product.starts_with("RHEV Hypervisor")) virt = "kvm", subtype = "rhev";
        else if (contains(product, "VirtualBox")) virt = "VirtualBox";
        else if (contains(product, "VMware") || contains(vendor, "VMware")) virt = "VMware";
        else if (vendor.starts_with("Microsoft") && contains(product, "Virtual Machine")) virt = "VirtualPC";
        else if (contains(vendor, "Parallels Software")) virt = "Parallels";
        else if (vendor.starts_with("Google")) virt = "kvm";
        else if (bios.starts_with("SeaBIOS")) virt = "kvm";
    }
    if (!subtype.empty() && virt == "physical") virt = "virtual";

    if (grains_exists(grains_path(r.proc, "vz"))) {
        if (grains_exists(grains_path(r.proc, "vz/version"))) virt = "openvzhn";
        else if (grains_exists(grains_path(r.proc, "vz/veinfo"))) virt = "openvzve";
    }
    if (auto st = grains_read(grains_path(r.proc, "self/status"))) {
        if (auto p = st->find("\nenvID:"); p != std::string::npos) {
            auto rest = grains_strip(std::string_view(*st).substr(p + 7, st->find('\n', p + 1) - p - 7));
            std::uint64_t id = 0;
            if (std::from_chars(rest.data(), rest.data() + rest.size(), id).ec == std::errc{}) virt = id ? "openvzve" : "openvzhn";
        }
    }
    if (grains_exists(grains_path(r.proc, "sys/xen")) || grains_exists(grains_path(r.sys, "bus/xen")) ||
        grains_exists(grains_path(r.proc, "xen"))) {
        if (grains_exists(grains_path(r.proc, "xen/xsd_kva"))) subtype = "Xen Dom0";
        else if (read_line(grains_path(r.sys, "class/dmi/id/product_name")) == "HVM domU") subtype = "Xen HVM DomU";
        else if (auto cap = grains_read(grains_path(r.proc, "xen/capabilities")))
            subtype = contains(*cap, "control_d") ? "Xen Dom0" : "Xen PV DomU";
        else if (grains_exists(grains_path(r.sys, "bus/xen/drivers/xenconsole"))) subtype = "Xen PV DomU";
        std::string low = subtype;
        for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        if (contains(low, "dom")) virt = "xen";
    }
    if (auto cg = grains_read(grains_path(r.proc, "1/cgroup"))) {
        if (contains(*cg, ":/lxc/")) virt = "container", subtype = "LXC";
        else if (contains(*cg, ":/kubepods/")) subtype = "kubernetes";
        else if (contains(*cg, ":/libpod_parent/")) subtype = "libpod";
        else if (contains(*cg, ":/system.slice/docker") || contains(*cg, ":/docker/") || contains(*cg, ":/docker-ce/docker/"))
            virt = "container", subtype = "Docker";
    }
    if (contains(c.cpuinfo, "QEMU Virtual CPU")) virt = "kvm";
    if (auto pn = grains_read(grains_path(r.sys, "devices/virtual/dmi/id/product_name"))) {
        if (contains(*pn, "VirtualBox")) virt = "VirtualBox";
        else if (contains(*pn, "RHEV Hypervisor")) virt = "kvm", subtype = "rhev";
        else if (contains(*pn, "oVirt Node")) virt = "kvm", subtype = "ovirt";
        else if (contains(*pn, "Google")) virt = "gce";
        else if (contains(*pn, "BHYVE")) virt = "bhyve";
    }
    grains_set(out, "virtual", virt);
    if (!subtype.empty()) grains_set(out, "virtual_subtype", subtype);
}

// salt.grains.disks._linux_disks: /sys/block/*/queue/rotational, in directory order.
void disk_grains(const grains_ctx& c, map_t& out) {
    array_t disks, ssds;
    const std::string block = grains_path(c.req.sys, "block");
    for (const auto& dev : list_dir(block)) {
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
