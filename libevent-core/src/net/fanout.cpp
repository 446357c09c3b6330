// fanout_hub: the policy of fanout.hpp. Pausing is checked after a block is queued or a sink
// leaves, resuming only for the sink whose write completed: a backlog only grows when a block is
// queued and only shrinks when a write completes, so no block costs a scan of every sink.
#include "net/fanout.hpp"

#include <malloc.h>

#include <utility>

#include "net/guard.hpp"
#include "net/handle.hpp"

namespace tagbus::inline v0 {

namespace {
// Blocks are recycled so a steady stream allocates nothing; huge ones are not worth keeping.
constexpr std::size_t pool_keep_capacity = 1u << 20;
constexpr std::size_t pool_max_blocks = 64;
constexpr std::size_t pool_idle_blocks = 2;  // what a trim leaves in the pool
// Dropping a sink with at least this much unwritten hands the freed memory back to the system
// (malloc_trim) that long afterwards: a stalled sink's backlog ends up in the middle of the heap,
// which free() does not return, and an idle daemon would keep its worst sink's peak for good.
constexpr std::size_t trim_threshold = 1u << 20;
constexpr std::uint64_t trim_delay_ms = 1000;
// A sink's write vectors shrink back after a burst: 10,000 idle sinks must not each keep room
// for the longest queue they once had.
constexpr std::size_t queue_keep_capacity = 16;
}  // namespace

struct fanout_hub::timer_node {
    uv_timer_t h{};
    fanout_hub* owner = nullptr;
};

fanout_sink::~fanout_sink() {
    // No virtual call from here (the transport is gone): leave the hub without its checks.
    if (hub_ != nullptr) hub_->unlink(this);
    fanout_hub::release_list(nullptr, queue_);
    fanout_hub::release_list(nullptr, in_flight_);
}

std::size_t fanout_sink::unwritten() const { return queued_bytes_ - in_flight_bytes_ + transport_backlog(); }

fanout_hub::fanout_hub(uv_loop_t* loop, fanout_options opts) : loop_(loop), opts_(std::move(opts)) {
    for (auto** t : {&stall_timer_, &trimmer_}) {
        *t = new timer_node;
        (*t)->owner = this;
        uv_timer_init(loop_, &(*t)->h);
        (*t)->h.data = *t;
        uv_unref(reinterpret_cast<uv_handle_t*>(&(*t)->h));  // a hub alone does not keep a loop going
    }
}

fanout_hub::~fanout_hub() {
    shut();
    while (!sinks_.empty()) remove(sinks_.back());
    for (auto* b : pool_) delete b;
}

void fanout_hub::shut() {
    shut_ = true;
    paused_ = false;
    for (auto** t : {&stall_timer_, &trimmer_}) {
        if (*t == nullptr) continue;
        (*t)->owner = nullptr;
        detail::close_node(*t, (*t)->h);
        *t = nullptr;
    }
}

void fanout_hub::add(fanout_sink* s) {
    s->hub_ = this;
    s->slot_ = sinks_.size();
    sinks_.push_back(s);
    check_resume(s);
}

void fanout_hub::remove(fanout_sink* s) {
    if (s->hub_ != this) return;
    forget(s);
    // Fewer sinks: with none left the producer goes on; otherwise all the rest may be behind.
    check_resume(nullptr);
    check_pause();
}

void fanout_hub::forget(fanout_sink* s) {
    if (trimmer_ != nullptr && s->unwritten() >= trim_threshold)
        uv_timer_start(
            &trimmer_->h,
            [](uv_timer_t* h) {
                if (auto* self = static_cast<timer_node*>(h->data)->owner)
                    detail::guard_loop(h->loop, [self] { self->trim(); });
            },
            trim_delay_ms, 0);
    unlink(s);
}

void fanout_hub::unlink(fanout_sink* s) {
    sinks_[s->slot_] = sinks_.back();
    sinks_[s->slot_]->slot_ = s->slot_;
    sinks_.pop_back();
    // The queue goes back now, while the pool is reachable; the in-flight write keeps its
    // references until the transport is done with it (a closed stream completes it with an error).
    for (auto* b : s->queue_) s->queued_bytes_ -= b->bytes.size();
    release_list(this, s->queue_);
    s->hub_ = nullptr;
}

detail::shared_block* fanout_hub::acquire() {
    detail::shared_block* b;
    if (pool_.empty()) {
        b = new detail::shared_block;
    } else {
        b = pool_.back();
        pool_.pop_back();
        b->bytes.clear();
    }
    b->refs = 1;
    return b;
}

void fanout_hub::release(detail::shared_block* b) {
    if (--b->refs != 0) return;
    if (!shut_ && pool_.size() < pool_max_blocks && b->bytes.capacity() <= pool_keep_capacity) {
        pool_.push_back(b);
    } else {
        delete b;
    }
}

void fanout_hub::release_list(fanout_hub* hub, std::vector<detail::shared_block*>& blocks) {
    for (auto* b : blocks) {
        if (hub != nullptr) {
            hub->release(b);
        } else if (--b->refs == 0) {
            delete b;
        }
    }
    blocks.clear();
}

void fanout_hub::publish(detail::shared_block* b) {
    b->refs += sinks_.size();
    full_.clear();
    for (auto* s : sinks_) {
        s->queue_.push_back(b);
        s->queued_bytes_ += b->bytes.size();
        if (!s->writing_) start_write(s);
        if (s->unwritten() > opts_.max_buffer) full_.push_back(s);
    }
    // Dropped, not waited for: a slow sink must never slow the others down.
    for (auto* s : full_) evict(s, fanout_drop::over_bound);
    check_pause();
}

void fanout_hub::start_write(fanout_sink* s) {
    // One write for everything queued: the peer gets as many blocks per syscall as it takes.
    s->in_flight_.swap(s->queue_);
    s->bufs_.clear();
    s->in_flight_bytes_ = 0;
    for (auto* b : s->in_flight_) {
        s->bufs_.push_back(uv_buf_init(b->bytes.data(), static_cast<unsigned>(b->bytes.size())));
        s->in_flight_bytes_ += b->bytes.size();
    }
    if (!s->write(s->bufs_.data(), static_cast<unsigned>(s->bufs_.size()))) {
        // Only a transport that is closing refuses outright; its owner removes the sink.
        s->queued_bytes_ -= s->in_flight_bytes_;
        s->in_flight_bytes_ = 0;
        release_list(this, s->in_flight_);
        return;
    }
    s->writing_ = true;
}

void fanout_hub::written(fanout_sink* s, int status) {
    fanout_hub* hub = s->hub_;  // null once the sink was removed: its blocks are its own
    s->writing_ = false;
    s->queued_bytes_ -= s->in_flight_bytes_;
    s->in_flight_bytes_ = 0;
    release_list(hub, s->in_flight_);
    if (s->in_flight_.capacity() > queue_keep_capacity) std::vector<detail::shared_block*>().swap(s->in_flight_);
    if (s->bufs_.capacity() > queue_keep_capacity) std::vector<uv_buf_t>().swap(s->bufs_);
    if (hub == nullptr || status < 0) return;
    if (!s->queue_.empty()) hub->start_write(s);
    hub->check_resume(s);
}

// The rule: the producer is paused while there is at least one sink and every sink has more than
// half of max_buffer unwritten (a slow one alone is dropped at the bound instead, the others keep
// it from pausing). It goes on once a sink is down to a quarter (checked as its writes complete),
// a new one comes, or none is left.
void fanout_hub::check_pause() {
    if (shut_ || paused_ || sinks_.empty()) return;
    const std::size_t high = opts_.max_buffer / 2;
    for (auto* s : sinks_) {
        if (s->unwritten() <= high) return;
    }
    paused_ = true;
    for (auto* s : sinks_) s->unwritten_at_check_ = s->unwritten();
    if (stall_timer_ != nullptr)
        uv_timer_start(&stall_timer_->h, [](uv_timer_t* h) {
            if (auto* self = static_cast<timer_node*>(h->data)->owner)
                detail::guard_loop(h->loop, [self] { self->check_stalled(); });
        }, opts_.stall_timeout_ms, opts_.stall_timeout_ms);
    if (opts_.pause) opts_.pause(true);
}

void fanout_hub::check_resume(fanout_sink* shrunk) {
    if (shut_ || !paused_) return;
    if (!sinks_.empty() && (shrunk == nullptr || shrunk->unwritten() > opts_.max_buffer / 4)) return;
    paused_ = false;
    if (stall_timer_ != nullptr) uv_timer_stop(&stall_timer_->h);
    if (opts_.pause) opts_.pause(false);
}

// While the producer waits, a sink whose backlog has not shrunk at all for stall_timeout_ms is
// stalled rather than slow (a stopped process, a reader that never reads): it is dropped, as it
// would be at max_buffer had the producer not been paused, so that it cannot hold everyone for
// good. Sinks that made any progress are given another period.
void fanout_hub::check_stalled() {
    if (shut_ || !paused_) return;
    full_.clear();  // rare: only while paused, once a period
    for (auto* s : sinks_) {
        const std::size_t now = s->unwritten();
        if (now >= s->unwritten_at_check_) full_.push_back(s);
        s->unwritten_at_check_ = now;
    }
    for (auto* s : std::exchange(full_, {})) evict(s, fanout_drop::stalled);
}

void fanout_hub::evict(fanout_sink* s, fanout_drop why) {
    const std::size_t unwritten = s->unwritten();
    forget(s);
    if (opts_.evicted) opts_.evicted(s, why, unwritten);  // the owner says why and closes it
    check_resume(nullptr);
    check_pause();
}

void fanout_hub::trim() {
    // The pool is for a steady stream; after a burst it would keep its full size for nothing.
    while (pool_.size() > pool_idle_blocks) {
        delete pool_.back();
        pool_.pop_back();
    }
    malloc_trim(0);
}

}  // namespace tagbus
