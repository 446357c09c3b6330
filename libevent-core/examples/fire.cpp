// Fires one event from a program, as salt-call event.fire '{"status": "done", "items": 3}' myapp/batch
// would: prints "fired" once the bus has read it, else the error (exit 1).
#include <cstdio>

#include <tagbus/tagbus.hpp>

int main(int argc, char** argv) {
    const char* tag = argc > 1 ? argv[1] : "myapp/batch";
    tagbus::destination_options where;
    where.node = tagbus::node_kind::master;
    auto bus = tagbus::destination::resolve(where);
    if (!bus) return std::fprintf(stderr, "fire: %s\n", bus.error().message.c_str()), 1;
    tagbus::map_t data;
    data.push_back({tagbus::value("status"), tagbus::value("done")});
    data.push_back({tagbus::value("items"), tagbus::value(3)});
    if (auto r = tagbus::fire_event(*bus, tag, tagbus::value(std::move(data))); !r)
        return std::fprintf(stderr, "fire: %s\n", r.error().message.c_str()), 1;
    std::puts("fired");
}
