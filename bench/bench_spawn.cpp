// bench-spawn: whole-process wall time of a command, fork+exec to exit, over RUNS runs.
//   bench-spawn RUNS COMMAND [ARG...]
// stdout goes to a pipe that is drained (a real reader, as for "printed"); stderr to /dev/null.
// Each run is killed after 5 s. Prints the median and min in ms and how many runs failed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "bench_common.hpp"

namespace {
constexpr const char* prog = "bench-spawn";

/// Runs argv once; returns ms, or -1 when it failed or timed out.
double run_once(char** argv) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) bench::die(prog, std::string("cannot create pipe: ") + std::strerror(errno));
    const std::uint64_t start = bench::now_ns();
    const pid_t pid = fork();
    if (pid < 0) bench::die(prog, std::string("cannot fork: ") + std::strerror(errno));
    if (pid == 0) {
        dup2(out[1], 1);
        const int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(out[1]);
    char buf[4096];
    const std::uint64_t deadline = start + 5'000'000'000u;
    bool timed_out = false;
    for (;;) {
        const auto now = bench::now_ns();
        if (now > deadline) {
            kill(pid, SIGKILL);
            timed_out = true;
            break;
        }
        pollfd p{out[0], POLLIN, 0};
        if (poll(&p, 1, static_cast<int>((deadline - now) / 1'000'000 + 1)) <= 0) continue;
        if (read(out[0], buf, sizeof buf) <= 0) break;
    }
    int st = 0;
    waitpid(pid, &st, 0);
    const double ms = static_cast<double>(bench::now_ns() - start) / 1e6;
    close(out[0]);
    if (timed_out || !WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    return ms;
}
}  // namespace

int main(int argc, char** argv) {
    if (argc < 3) bench::die(prog, "usage: bench-spawn RUNS COMMAND [ARG...]");
    const auto runs = bench::number<unsigned>(prog, argv[1]);
    std::vector<double> ms;
    unsigned failed = 0;
    for (unsigned i = 0; i < runs; ++i) {
        const double t = run_once(argv + 2);
        if (t < 0)
            ++failed;
        else
            ms.push_back(t);
    }
    const double mn = ms.empty() ? 0 : *std::min_element(ms.begin(), ms.end());
    std::printf("runs=%u failed=%u median_ms=%.3f min_ms=%.3f\n", runs, failed, bench::percentile(ms, 0.5), mn);
    return failed == 0 ? 0 : 1;
}
