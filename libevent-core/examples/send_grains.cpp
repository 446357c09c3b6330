// Sends an event to the master with some of this host's grains, as
//   salt-call event.send myco/deploy/done '{"app": "web"}' with_grains='[id, kernel]'
// would: prints the route taken once the bus has read the event, else the error (exit 1).
#include <cstdio>

#include <tagbus/tagbus.hpp>

int main(int argc, char** argv) {
    const char* tag = argc > 1 ? argv[1] : "myco/deploy/done";
    tagbus::destination_options where;
    where.node = tagbus::node_kind::minion;  // event.send runs on a minion
    auto minion = tagbus::destination::resolve(where);
    if (!minion) return std::fprintf(stderr, "send_grains: %s\n", minion.error().message.c_str()), 1;
    tagbus::send_options call;
    tagbus::map_t data;
    data.push_back({tagbus::value("app"), tagbus::value("web")});
    call.data = tagbus::value(std::move(data));
    call.with_grains = tagbus::value(tagbus::array_t{tagbus::value("id"), tagbus::value("kernel")});
    auto sent = tagbus::send(*minion, tag, call);
    if (!sent) return std::fprintf(stderr, "send_grains: %s\n", sent.error().message.c_str()), 1;
    switch (sent->route) {
        case tagbus::send_route::local_bus: std::puts("sent on the minion's own bus (masterless)"); break;
        case tagbus::send_route::minion_bus: std::puts("sent through the minion's bus"); break;
        case tagbus::send_route::master_bus: std::puts("sent on the master's bus"); break;
    }
}
