// The fan-out hub: one producer's bytes to many receivers, each bounded. Blocks of outgoing bytes
// are shared (counted, never copied) by every receiver's queue; a receiver too far behind is
// dropped so it never slows the others; when every receiver is behind, the producer is paused
// until one catches up; a receiver that makes no progress at all while the producer waits is
// dropped as stalled. event-busd's pub socket is one kind of receiver (a sink); an HTTP stream is
// another: the policy is written once, here, and the sink is only the transport.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tagbus::inline v0 {

class fanout_hub;

namespace detail {
/// Outgoing bytes shared by every queue they are in; freed (or pooled) by the last reference.
struct shared_block {
    std::string bytes;
    std::size_t refs = 0;
};
}  // namespace detail

/// A receiver: the transport under one queue of the hub. The hub calls write() with everything
/// queued whenever the sink is not writing; the sink calls fanout_hub::written() when that write
/// has completed (or failed). A sink may outlive the hub's interest in it (remove(), or the
/// hub's destruction): blocks still handed to its transport are then released when it is
/// destroyed, without the hub.
class fanout_sink {
public:
    virtual ~fanout_sink();

    /// Starts writing `n` buffers, each one shared block's bytes, which stay valid until written()
    /// is called for this sink. False: the transport refused at once (it is closing); the hub
    /// releases the buffers and expects the sink to be removed.
    virtual bool write(const uv_buf_t* bufs, unsigned n) = 0;
    /// Bytes the transport accepted from the current write but has not yet sent to its peer.
    virtual std::size_t transport_backlog() const = 0;

    /// Bytes queued for this sink and not yet sent: its queue and what its transport still holds.
    std::size_t unwritten() const;

private:
    friend class fanout_hub;
    fanout_hub* hub_ = nullptr;
    std::size_t slot_ = 0;
    bool writing_ = false;
    std::vector<detail::shared_block*> queue_;      // waiting for the next write
    std::vector<detail::shared_block*> in_flight_;  // handed to the current write
    std::vector<uv_buf_t> bufs_;
    std::size_t queued_bytes_ = 0;        // queued or in flight
    std::size_t in_flight_bytes_ = 0;     // the in-flight part of queued_bytes_
    std::size_t unwritten_at_check_ = 0;  // while the producer is paused: see the stall check
};

enum class fanout_drop {
    over_bound,  ///< more than max_buffer unwritten
    stalled,     ///< nothing sent for stall_timeout_ms while the producer was paused
};

struct fanout_options {
    /// A sink with more than this many bytes unwritten is dropped. When every sink has more than
    /// half of it, the producer is paused until one is down to a quarter. Keep it well above
    /// twice one block (a block lands on every sink at once).
    std::size_t max_buffer = 16u << 20;
    /// While the producer is paused, a sink that sends nothing at all for this long is dropped.
    std::uint64_t stall_timeout_ms = 2000;
    /// pause(true): stop producing (stop reading the producer's inputs); pause(false): go on.
    std::function<void(bool)> pause;
    /// A sink the hub dropped (it has already forgotten it: remove() is not needed), why, and the
    /// bytes it had unwritten: the owner says so in its own words and closes it. It may not
    /// destroy the hub.
    std::function<void(fanout_sink*, fanout_drop why, std::size_t unwritten)> evicted;
};

class fanout_hub {
public:
    fanout_hub(uv_loop_t* loop, fanout_options opts);
    /// Forgets every sink (their in-flight blocks are released by the sinks) and frees the pool.
    ~fanout_hub();
    fanout_hub(const fanout_hub&) = delete;
    fanout_hub& operator=(const fanout_hub&) = delete;

    /// A new sink has nothing queued: a producer paused for the others may go on.
    void add(fanout_sink* s);
    /// The sink leaves (its peer went away, or its owner closes it): its queue is released, its
    /// in-flight write stays with it. Calling it for a sink not in the hub does nothing.
    void remove(fanout_sink* s);

    /// An empty block with one reference, the caller's: fill it, publish() it, release() it.
    detail::shared_block* acquire();
    /// Queues `b` to every sink (one reference each) and starts their writes; drops sinks over
    /// the bound; may pause the producer.
    void publish(detail::shared_block* b);
    void release(detail::shared_block* b);

    /// The sink's write completed (status 0) or failed (<0, the sink is then removed by its
    /// owner): its blocks are released, the next write starts, the producer may go on. For a
    /// sink no hub holds any more (removed, or its hub is gone) only its blocks are released.
    static void written(fanout_sink* s, int status);

    bool paused() const { return paused_; }
    std::size_t size() const { return sinks_.size(); }
    /// Stops everything: no more pause or resume calls, no timer (the hub's owner is stopping).
    void shut();

private:
    struct timer_node;
    void forget(fanout_sink* s);
    void unlink(fanout_sink* s);
    void start_write(fanout_sink* s);
    void check_pause();
    void check_resume(fanout_sink* shrunk);
    void check_stalled();
    void evict(fanout_sink* s, fanout_drop why);
    void trim();
    static void release_list(fanout_hub* hub, std::vector<detail::shared_block*>& blocks);
    friend class fanout_sink;

    uv_loop_t* loop_;
    fanout_options opts_;
    bool paused_ = false;
    bool shut_ = false;
    std::vector<fanout_sink*> sinks_;  // unordered: a sink knows its slot
    std::vector<fanout_sink*> full_;   // scratch for publish()
    std::vector<detail::shared_block*> pool_;
    timer_node* stall_timer_ = nullptr;  // runs while the producer is paused
    timer_node* trimmer_ = nullptr;      // hands memory back after a big drop
};

}  // namespace tagbus
