// Prints job returns as they come, matched with an fnmatch glob as
//   for ev in event.iter_events(tag="salt/job/*/ret/*", match_type="fnmatch", full=True)
// would. Each line: "<jid> <minion> retcode=<n>". Stops after N returns (first argument, default
// unbounded) or at Ctrl-C.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <tagbus/tagbus.hpp>

namespace {
tagbus::listener* running = nullptr;
}

int main(int argc, char** argv) {
    const long limit = argc > 1 ? std::atol(argv[1]) : -1;
    auto bus = tagbus::destination::resolve();
    if (!bus) return std::fprintf(stderr, "job_returns: %s\n", bus.error().message.c_str()), 2;
    auto events = tagbus::listener::open(*bus);
    if (!events) return std::fprintf(stderr, "job_returns: %s\n", events.error().message.c_str()), 2;
    running = &*events;
    std::signal(SIGINT, [](int) { running->interrupt(); });  // interrupt() is async-signal-safe
    long seen = 0;
    auto returns = events->iter_events("salt/job/*/ret/*", tagbus::match_type::fnmatch);
    for (const tagbus::event& ev : returns) {
        // salt/job/<jid>/ret/<minion>
        const std::string& t = ev.tag;
        const auto jid_at = std::string("salt/job/").size();
        const auto ret_at = t.find("/ret/", jid_at);
        long long retcode = -1;
        if (const auto* m = ev.data.map())
            for (const auto& kv : *m)
                if (kv.key.str() && *kv.key.str() == "retcode") {
                    if (const auto* u = std::get_if<std::uint64_t>(&kv.val.v)) retcode = static_cast<long long>(*u);
                    if (const auto* i = std::get_if<std::int64_t>(&kv.val.v)) retcode = *i;
                }
        std::printf("%s %s retcode=%lld\n", t.substr(jid_at, ret_at - jid_at).c_str(), t.substr(ret_at + 5).c_str(), retcode);
        std::fflush(stdout);
        if (++seen == limit) break;
    }
    if (returns.last_error()) return std::fprintf(stderr, "job_returns: %s\n", returns.last_error()->message.c_str()), 2;
}
