// paths: the names Salt gives its event sockets (SALT-WIRE §1.1) and the loopback TCP endpoints
// used instead with ipc_mode: tcp (§1.2). Sans-I/O apart from loading libcrypto for a digest.
#include "host/paths.hpp"

#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "host/digest.hpp"

namespace tagbus::inline v0 {

namespace detail {
namespace {

// Salt picks the digest with getattr(hashlib, opts["hash_type"]) after lower-casing it, so the
// accepted words are hashlib's attribute names; OpenSSL knows the same functions by other names.
struct digest_name {
    std::string_view hashlib;
    const char* openssl;
};

constexpr std::array<digest_name, 14> digests{{
    {"md5", "MD5"},
    {"sha1", "SHA1"},
    {"sha224", "SHA224"},
    {"sha256", "SHA256"},
    {"sha384", "SHA384"},
    {"sha512", "SHA512"},
    {"sha3_224", "SHA3-224"},
    {"sha3_256", "SHA3-256"},
    {"sha3_384", "SHA3-384"},
    {"sha3_512", "SHA3-512"},
    // hashlib.blake2b()/blake2s() default to their largest digest size.
    {"blake2b", "BLAKE2B-512"},
    {"blake2s", "BLAKE2S-256"},
    // Not hashlib attributes, but hashlib.new() names them; accepting them costs nothing.
    {"sha512_224", "SHA512-224"},
    {"sha512_256", "SHA512-256"},
}};

const char* openssl_name(std::string_view hash_type) {
    std::string lower(hash_type);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    for (const auto& d : digests)
        if (d.hashlib == lower) return d.openssl;
    return nullptr;
}

// sockaddr_un.sun_path ends with a NUL; libuv 1.44 truncates a longer path without a word.
result<void> check_length(const endpoint& e) {
    if (e.tcp || e.path.size() <= max_socket_path) return {};
    return fail(errc::config, "socket path " + e.path + " is " + std::to_string(e.path.size()) +
                                    " bytes; the limit is " + std::to_string(max_socket_path) +
                                    " (choose a shorter sock_dir)");
}

// os.path.join(sock_dir, name), as Salt builds the socket paths.
std::string in_dir(const std::string& dir, std::string_view name) {
    std::string out = dir;
    if (!out.empty() && !out.ends_with('/')) out += '/';
    return out.append(name);
}

std::string user_name(unsigned uid) {
    std::string who = "uid " + std::to_string(uid);
    if (const passwd* pw = ::getpwuid(static_cast<uid_t>(uid))) who = std::string(pw->pw_name) + " (" + who + ")";
    return who;
}

std::string octal(unsigned mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
    return buf;
}

// The tmux rules for one folder; `exists` says whether there was anything to check.
result<void> check_folder(std::string dir, unsigned uid, bool private_0700, bool& exists) {
    // "dir/" would follow a symbolic link.
    while (dir.size() > 1 && dir.ends_with('/')) dir.pop_back();
    struct stat st {};
    exists = false;
    if (::lstat(dir.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return fail(errc::config, "unsafe sock_dir " + dir + ": cannot check it: " + std::strerror(errno));
    }
    exists = true;
    auto unsafe = [&](const std::string& why) { return fail(errc::config, "unsafe sock_dir " + dir + ": " + why); };
    if (S_ISLNK(st.st_mode)) return unsafe("it is a symbolic link");
    if (!S_ISDIR(st.st_mode)) return unsafe("it is not a folder");
    if (st.st_uid != uid && (private_0700 || st.st_uid != 0))
        return unsafe("it belongs to " + user_name(st.st_uid) + ", not to " +
                      (private_0700 ? "you" : "you or root"));
    if (private_0700 && (st.st_mode & 07777) != 0700)
        return unsafe("its mode is " + octal(st.st_mode) + ", not 0700");
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX))
        return unsafe("others may write to it (mode " + octal(st.st_mode) + ", no sticky bit)");
    return {};
}

}  // namespace
}  // namespace detail

std::string default_private_dir(unsigned uid) { return "/tmp/tagbus-" + std::to_string(uid); }

result<void> check_sock_dir(const bus_config& cfg, unsigned uid) {
    if (cfg.tcp) return {};
    const std::string priv = default_private_dir(uid);
    bool exists = false;
    if (cfg.sock_dir_source == "tagbus default" && cfg.sock_dir.starts_with(priv + "/")) {
        // Created private before anything else can take the name (tmux does the same).
        if (::mkdir(priv.c_str(), 0700) == 0) ::chmod(priv.c_str(), 0700);
        if (auto r = detail::check_folder(priv, uid, true, exists); !r) return r;
    }
    return detail::check_folder(cfg.sock_dir, uid, false, exists);
}

std::string endpoint::describe() const {
    if (!tcp) return path;
    // An IPv6 literal needs brackets before the port (RFC 3986), as in tcp://[::1]:4512.
    const bool v6 = host.find(':') != std::string::npos;
    return "tcp://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool known_hash_type(std::string_view hash_type) { return detail::openssl_name(hash_type) != nullptr; }

result<std::string> minion_hash(std::string_view id, std::string_view hash_type) {
    const char* name = detail::openssl_name(hash_type);
    if (!name) return fail(errc::config, "unknown hash_type '" + std::string(hash_type) + "'");
    auto digest = detail::digest(name, id);
    if (!digest) {
        const failure& f = digest.error();
        if (f.code != errc::config) return f;
        return fail(errc::config,
                    "hash_type '" + std::string(hash_type) + "' is not available from this system's OpenSSL");
    }
    // Salt keeps hexdigest()[:10]: 5 bytes of the digest, lower-case hex.
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (char ch : *digest) {
        if (out.size() == 10) break;
        const auto byte = static_cast<unsigned char>(ch);
        out += hex[byte >> 4];
        out += hex[byte & 0xF];
    }
    return out;
}

result<bus_endpoints> bus_paths(const bus_config& cfg) {
    bus_endpoints eps;
    if (cfg.tcp) {
        // Salt 3006/3007 bind 127.0.0.1 whatever `ipv6` says; current upstream binds ::1 with it.
        const std::string host = cfg.ipv6 ? "::1" : "127.0.0.1";
        eps.pub = endpoint{true, {}, host, cfg.pub_port};
        eps.pull = endpoint{true, {}, host, cfg.pull_port};
        return eps;
    }
    if (cfg.node == node_kind::master) {
        eps.pub.path = detail::in_dir(cfg.sock_dir, "master_event_pub.ipc");
        eps.pull.path = detail::in_dir(cfg.sock_dir, "master_event_pull.ipc");
    } else {
        auto h = minion_hash(cfg.id, cfg.hash_type);
        if (!h) return h.error();
        eps.pub.path = detail::in_dir(cfg.sock_dir, "minion_event_" + *h + "_pub.ipc");
        eps.pull.path = detail::in_dir(cfg.sock_dir, "minion_event_" + *h + "_pull.ipc");
    }
    for (const auto* e : {&eps.pub, &eps.pull})
        if (auto ok = detail::check_length(*e); !ok) return ok.error();
    return eps;
}

}  // namespace tagbus
