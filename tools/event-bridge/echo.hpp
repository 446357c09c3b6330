// No loops (issue 13): the events an `in` bridge fires into a bus are noted in a small ring shared
// through a file in the bus's sock_dir (`.event-bridge-echo`, mapped by every bridge of that bus);
// an `out` bridge on the same bus skips a body it finds there, so an event that came in through a
// bridge is never sent out again. The ring holds a 64-bit digest of each body fired (the body is
// fired byte for byte as it was published, so the `out` side sees the same bytes); it keeps the
// last 65,536, far more than a bus holds in flight.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace tagbus::bridge {

class echo_ring {
public:
    /// Maps (creating) the ring for the bus whose sockets are in `sock_dir`; nullopt (with a
    /// warning on stderr) when the folder is not writable: loops are then not prevented.
    static std::optional<echo_ring> for_sock_dir(const std::string& sock_dir);
    echo_ring(echo_ring&&) noexcept;
    echo_ring& operator=(echo_ring&&) = delete;
    ~echo_ring();

    /// Notes a body about to be fired (the `in` side).
    void note(std::string_view body);
    /// Whether a body was noted (the `out` side).
    bool contains(std::string_view body);

    static constexpr std::uint64_t slots = 65536;

private:
    echo_ring(void* map, std::size_t size) : map_(map), size_(size) {}
    void remember(std::uint64_t digest);
    void* map_;
    std::size_t size_;
    std::uint64_t seen_ = 0;  // ring entries read into set_
    std::unordered_set<std::uint64_t> set_;
    std::deque<std::uint64_t> order_;
    std::vector<std::uint64_t> unfinished_;  // slots claimed but not yet written when read
};

}  // namespace tagbus::bridge
