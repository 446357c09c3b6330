// event-bridge: the bus beyond one machine, through NATS JetStream (issue 13).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "engine/stream.hpp"
#include "host/paths.hpp"

namespace tagbus::bridge {

constexpr std::string_view tool = "event-bridge";

struct out_settings {
    engine::connect_options nats;
    engine::stream_options stream;
    std::string prefix = "salt";
    std::string source_id;
    std::string spool_dir;                    // empty: in memory
    std::uint64_t spool_max = 1ull << 30;     // 1 GiB on disk, 256 MiB in memory
    std::string format = "salt";              // salt | json
    std::vector<std::string> tagmatch;        // Salt's expr_match, any of them; empty: all
    std::size_t window = 8192;                // unacknowledged publishes at most
    std::int64_t drain_timeout_ms = 10000;
    bool verbose = false;
};

struct in_settings {
    engine::connect_options nats;
    std::string stream;
    std::string durable;
    std::vector<std::string> subjects;  // --from; empty: the stream's own
    std::string prefix = "salt";
    std::string source_id;              // this node's: its own events never come back
    std::string state_dir;              // the persisted set of recent message ids
    int batch = 512;
    std::int64_t fire_timeout_ms = 5000;
    bool verbose = false;
};

int run_out(const out_settings& s, const endpoint& pub, const std::string& sock_dir);
int run_in(const in_settings& s, const endpoint& pull, framing f, const std::string& sock_dir);

}  // namespace tagbus::bridge
