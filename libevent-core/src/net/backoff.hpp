// How long to wait before the next connection attempt: `min`, doubling up to `max`, back to
// `min` after a success. Every client that retries (subscriber, async publisher, a publisher
// facing a full listen backlog, the forwarder through the async publisher) uses this one rule.
#pragma once

#include <algorithm>
#include <cstdint>

namespace tagbus::inline v0::detail {

class backoff {
public:
    backoff(std::uint64_t min_ms, std::uint64_t max_ms) : min_(min_ms), max_(std::max(max_ms, min_ms)), next_(min_ms) {}
    /// The wait before this attempt; the one after it is twice as long (at most max).
    std::uint64_t next() {
        const std::uint64_t wait = next_;
        next_ = std::min(std::max<std::uint64_t>(next_, 1) * 2, max_);
        return wait;
    }
    /// After a success: the next wait is min again.
    void reset() { next_ = min_; }

private:
    std::uint64_t min_, max_, next_;
};

}  // namespace tagbus::inline v0::detail
