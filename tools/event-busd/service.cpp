#include "service.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

using tagbus::errc;
using tagbus::fail;

namespace busd {
namespace {

constexpr int first_listen_fd = 3;  // SD_LISTEN_FDS_START

bool parse_number(const char* text, long& out) {
    const std::string_view s(text);
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && end == s.data() + s.size() && !s.empty();
}

}  // namespace

tagbus::result<std::vector<int>> listen_fds() {
    const char* pid_text = std::getenv("LISTEN_PID");
    const char* fds_text = std::getenv("LISTEN_FDS");
    // Copied before unsetenv: the variables' storage goes with them.
    const std::string pid_s = pid_text ? pid_text : "", fds_s = fds_text ? fds_text : "";
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (pid_text == nullptr || fds_text == nullptr) return std::vector<int>{};
    long pid = 0, n = 0;
    if (!parse_number(pid_s.c_str(), pid) || pid <= 0)
        return fail(errc::config, "socket activation: LISTEN_PID '" + pid_s + "' is not a process id");
    if (pid != static_cast<long>(getpid())) return std::vector<int>{};  // meant for another process
    if (!parse_number(fds_s.c_str(), n) || n < 0 || n > 1024)
        return fail(errc::config, "socket activation: LISTEN_FDS '" + fds_s + "' is not a number of descriptors");
    std::vector<int> fds;
    for (int fd = first_listen_fd; fd < first_listen_fd + n; ++fd) {
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0)
            return fail(errc::config, "socket activation: descriptor " + std::to_string(fd) + " of LISTEN_FDS=" + fds_s +
                                          " is not open");
        fds.push_back(fd);
    }
    return fds;
}

tagbus::result<void> notify(std::string_view state) {
    const char* where = std::getenv("NOTIFY_SOCKET");
    if (where == nullptr || *where == '\0') return {};
    const std::string path = where;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    // A path needs its terminating NUL in sun_path; an abstract name's bytes fill it exactly.
    if ((path[0] != '/' && path[0] != '@') || path.size() > sizeof addr.sun_path - (path[0] == '@' ? 0 : 1))
        return fail(errc::config, "NOTIFY_SOCKET '" + path + "' is neither a socket path nor @name");
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';  // abstract: the name is the bytes after the NUL
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (path[0] == '@' ? 0 : 1));
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(errc::io, "cannot tell the service manager " + std::string(state) + ": " + std::strerror(errno));
    const ssize_t sent = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr), len);
    const int err = errno;
    close(fd);
    if (sent != static_cast<ssize_t>(state.size()))
        return fail(errc::io, "cannot tell the service manager " + std::string(state) + " at " + path + ": " +
                                  std::strerror(sent < 0 ? err : EMSGSIZE));
    return {};
}

}  // namespace busd
