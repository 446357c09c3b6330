// Waits up to 10 s for one salt/auth event on the master bus and prints who knocked, as
//   salt.utils.event.get_event(wait=10, tag="salt/auth", full=True)
// would return it. The bus is found as every tagbus tool finds it (TAGBUS_SOCK_DIR, /etc/salt/master...).
// Exit 0 with "salt/auth id=<minion> act=<accept|pend|reject>", 1 when none came, 2 on an error.
#include <cstdio>

#include <tagbus/tagbus.hpp>

int main() {
    using namespace std::chrono_literals;
    auto bus = tagbus::destination::resolve();
    if (!bus) return std::fprintf(stderr, "wait_auth: %s\n", bus.error().message.c_str()), 2;
    auto events = tagbus::listener::open(*bus);
    if (!events) return std::fprintf(stderr, "wait_auth: %s\n", events.error().message.c_str()), 2;
    std::puts("waiting for salt/auth");
    std::fflush(stdout);
    auto ev = events->get_event(10s, "salt/auth");
    if (!ev) return std::fprintf(stderr, "wait_auth: %s\n", ev.error().message.c_str()), 2;
    if (!*ev) return std::puts("no salt/auth event within 10 s"), 1;
    auto field = [&](const char* key) -> std::string {
        if (const auto* m = (*ev)->data.map())
            for (const auto& kv : *m)
                if (kv.key.str() && *kv.key.str() == key && kv.val.str()) return *kv.val.str();
        return "?";
    };
    std::printf("%s id=%s act=%s\n", (*ev)->tag.c_str(), field("id").c_str(), field("act").c_str());
}
