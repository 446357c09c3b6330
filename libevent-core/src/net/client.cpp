// Clients of a bus. The subscriber and the async publisher live on the tool's event_loop and
// reconnect with backoff; the publisher drives a private loop so a short-lived tool can fire and
// exit without one.
// Connection handles are heap-allocated and deleted by their close callback only; `owner` is
// cleared when the client lets go, so late libuv callbacks touch nothing else.
#include "net/client.hpp"
#include "net/backoff.hpp"
#include "net/handle.hpp"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <uv.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/guard.hpp"

namespace tagbus::inline v0 {

namespace detail {
namespace {

// Large reads: a busy master bus delivers many frames per wakeup.
constexpr std::size_t sub_read_buffer_size = 64 * 1024;

std::string reason(int uv_err) { return std::strerror(-uv_err); }

union stream_handle {
    uv_pipe_t pipe;
    uv_tcp_t tcp;
};

uv_stream_t* as_stream(stream_handle& h) { return reinterpret_cast<uv_stream_t*>(&h); }
uv_handle_t* as_handle(stream_handle& h) { return reinterpret_cast<uv_handle_t*>(&h); }

/// Starts a connect on an initialised handle; returns a libuv error for an unusable address.
int start_connect(uv_loop_t* loop, stream_handle& h, uv_connect_t* req, const endpoint& ep, uv_connect_cb cb) {
    if (!ep.tcp) {
        uv_pipe_init(loop, &h.pipe, 0);
        uv_pipe_connect(req, &h.pipe, ep.path.c_str(), cb);
        return 0;
    }
    uv_tcp_init(loop, &h.tcp);
    sockaddr_storage addr{};
    int rc = ep.host.find(':') != std::string::npos
                 ? uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&addr))
                 : uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&addr));
    if (rc == 0) rc = uv_tcp_connect(req, &h.tcp, reinterpret_cast<sockaddr*>(&addr), cb);
    return rc;
}

struct subscriber_state;

struct sub_conn {
    stream_handle h{};
    uv_connect_t req{};
    subscriber_state* owner = nullptr;
};

// ---------------------------------------------------------------------------------------------
// subscriber

struct subscriber_state {
    event_loop& loop;
    subscriber_options opts;
    subscriber_handlers handlers;
    bool started = false;
    bool stopped = false;
    bool ever_connected = false;
    bool paused = false;  // reading stopped by pause(true): the bus keeps our events for us
    bool reading = false;
    bool linked = false;  // connected (the connect completed) and not lost since
    detail::backoff retry_wait;
    std::optional<event_loop::timer_id> retry;
    detail::sub_conn* conn = nullptr;
    frame_decoder decoder;
    std::unique_ptr<char[]> read_buffer;
    bool* alive = nullptr;  // set while a read callback runs, so a handler may destroy us

    subscriber_state(event_loop& l, subscriber_options o, subscriber_handlers h)
        : loop(l), opts(std::move(o)), handlers(std::move(h)), retry_wait(opts.backoff_min_ms, opts.backoff_max_ms),
          decoder(opts.max_frame), read_buffer(std::make_unique<char[]>(detail::sub_read_buffer_size)) {}

    ~subscriber_state() {
        if (alive) *alive = false;
        shut();
    }
    subscriber_state(const subscriber_state&) = delete;
    subscriber_state& operator=(const subscriber_state&) = delete;

    void connect();
    void on_connected(int status);
    void on_read(ssize_t nread);
    void lose(failure why);
    void schedule_retry();
    void drop_conn();
    void shut() {
        stopped = true;
        if (retry) loop.cancel(*retry);
        retry.reset();
        drop_conn();
    }
    void report(link_state s, const failure* err) {
        if (handlers.on_state) handlers.on_state(s, err);
    }
};


// Every entry from libuv runs under guard_loop: an exception from a handler stops the tool's loop
// and event_loop::run() rethrows it, never through libuv's frames.
void on_sub_connect(uv_connect_t* req, int status) {
    auto* c = static_cast<sub_conn*>(req->data);
    if (c->owner) guard_loop(req->handle->loop, [&] { c->owner->on_connected(status); });
}

void on_sub_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<sub_conn*>(h->data)->owner;
    *buf = self ? uv_buf_init(self->read_buffer.get(), static_cast<unsigned>(sub_read_buffer_size))
                : uv_buf_init(nullptr, 0);
}

void on_sub_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<sub_conn*>(s->data);
    if (c->owner) guard_loop(s->loop, [&] { c->owner->on_read(nread); });
}

}  // namespace
}  // namespace detail

// The header's opaque type; the state lives in detail:: so the callbacks above can name it.
struct subscriber::impl : detail::subscriber_state {
    using subscriber_state::subscriber_state;
};

void detail::subscriber_state::drop_conn() {
    reading = false;
    linked = false;
    if (conn == nullptr) return;
    conn->owner = nullptr;
    detail::close_node(conn, *detail::as_handle(conn->h));
    conn = nullptr;
}

void detail::subscriber_state::connect() {
    auto* uvloop = static_cast<uv_loop_t*>(loop.native());
    conn = new detail::sub_conn;
    conn->owner = this;
    conn->req.data = conn;
    int rc = detail::start_connect(uvloop, conn->h, &conn->req, opts.pub, detail::on_sub_connect);
    detail::as_handle(conn->h)->data = conn;
    if (rc < 0) {
        // Reported from the loop, like every other connect failure, never from inside start().
        retry = loop.after(0, [this, rc] {
            retry.reset();
            on_connected(rc);
        });
    }
}

void detail::subscriber_state::schedule_retry() {
    retry = loop.after(retry_wait.next(), [this] {
        retry.reset();
        connect();
    });
}

void detail::subscriber_state::on_connected(int status) {
    if (status < 0) {
        drop_conn();
        if (!ever_connected && !opts.wait_for_bus) {
            stopped = true;
            failure err = fail(errc::unavailable, "cannot connect to " + opts.pub.describe() + ": " + detail::reason(status), -status);
            report(link_state::unavailable, &err);
            return;
        }
        schedule_retry();
        return;
    }
    retry_wait.reset();
    decoder = frame_decoder(opts.max_frame);  // a new stream starts at a frame boundary
    linked = true;
    reading = !paused;
    if (reading) uv_read_start(detail::as_stream(conn->h), detail::on_sub_alloc, detail::on_sub_read);
    const bool again = ever_connected;
    ever_connected = true;
    report(again ? link_state::reconnected : link_state::connected, nullptr);
}

void detail::subscriber_state::on_read(ssize_t nread) {
    if (nread == 0) return;
    if (nread < 0) {
        lose(fail(errc::unavailable, "lost connection to " + opts.pub.describe() + ": " +
                                           (nread == UV_EOF ? std::string("the bus closed the connection")
                                                            : detail::reason(static_cast<int>(nread)))));
        return;
    }
    decoder.feed(std::string_view(read_buffer.get(), static_cast<std::size_t>(nread)));
    bool here = true;
    alive = &here;
    detail::sub_conn* current = conn;
    std::string_view body;
    // A handler may stop (conn changes) or destroy (here turns false) the subscriber: check after each.
    try {
        while (decoder.next(body)) {
            if (handlers.on_body) handlers.on_body(body);
            if (!here) return;
            if (conn != current || stopped) break;
        }
        if (conn == current && !stopped && handlers.on_batch_end) handlers.on_batch_end();
    } catch (...) {
        if (here) alive = nullptr;  // `here` is about to go: never leave a pointer to it behind
        throw;
    }
    if (!here) return;
    alive = nullptr;
    if (conn != current || stopped) return;
    if (const failure* err = decoder.error()) {
        lose(fail(errc::data, "lost connection to " + opts.pub.describe() + ": " + err->message));
    }
}

void detail::subscriber_state::lose(failure why) {
    drop_conn();
    schedule_retry();
    report(link_state::lost, &why);
}

subscriber::subscriber(event_loop& loop, subscriber_options opts, subscriber_handlers handlers)
    : p_(std::make_unique<impl>(loop, std::move(opts), std::move(handlers))) {}

subscriber::~subscriber() = default;

void subscriber::start() {
    if (p_->started && !p_->stopped) return;
    p_->started = true;
    p_->stopped = false;
    p_->ever_connected = false;
    p_->retry_wait.reset();
    p_->connect();
}

void subscriber::stop() { p_->shut(); }

void subscriber::pause(bool on) {
    auto& s = *p_;
    s.paused = on;
    if (!s.linked) return;  // not connected: the connect looks at `paused`
    if (on && s.reading) {
        uv_read_stop(detail::as_stream(s.conn->h));
        s.reading = false;
    } else if (!on && !s.reading) {
        uv_read_start(detail::as_stream(s.conn->h), detail::on_sub_alloc, detail::on_sub_read);
        s.reading = true;
    }
}

// ---------------------------------------------------------------------------------------------
// publisher

namespace detail {
namespace {

// Writes are coalesced: bytes wait in `pending` until this many are there (or a flush), so a
// replay of small events costs one write per 64 KiB, not one per event.
constexpr std::size_t pub_write_chunk = 64 * 1024;
// Above this much pending while a write is still in flight, send() waits for the socket.
constexpr std::size_t pub_high_water = 1024 * 1024;
// A connect refused with EAGAIN (the bus's listen backlog is full) is retried after this long,
// doubling up to the maximum.
constexpr std::uint64_t pub_busy_backoff_min_ms = 5;
constexpr std::uint64_t pub_busy_backoff_max_ms = 100;
constexpr std::uint64_t pub_hook_interval_ms = 250;

// Bytes the socket holds that the peer has not read yet (Linux SIOCOUTQ: for a Unix stream socket
// the memory of unread messages, for TCP unsent plus unacknowledged bytes); -1 when unknown.
long socket_outq(uv_handle_t* h) {
    uv_os_fd_t fd = -1;
    int n = 0;
    if (uv_fileno(h, &fd) != 0 || ioctl(fd, SIOCOUTQ, &n) != 0) return -1;
    return n;
}

}  // namespace
}  // namespace detail

struct publisher::impl {
    uv_loop_t loop{};
    detail::stream_handle h{};
    bool h_live = false;  // initialised and not closed
    bool h_closed = true;  // its close callback has run (or it was never initialised)
    uv_connect_t connect_req{};
    uv_write_t write_req{};
    uv_shutdown_t shutdown_req{};
    uv_timer_t timer{};  // deadlines and progress ticks
    endpoint ep;
    std::chrono::milliseconds timeout{1000};  // no-progress bound
    bool connect_done = false;
    int connect_status = 0;
    bool fired = false;  // the timer's one-shot deadline passed
    bool open = false;   // connected and not yet closed
    std::string pending;   // accepted, not yet handed to libuv
    std::string inflight;  // the bytes of the one write libuv holds
    bool writing = false;
    bool shut = false;         // shutdown requested
    bool peer_closed = false;  // EOF read from the bus
    std::optional<failure> err;
    // Progress: the last time the bus took or read anything, and the samples it is judged by.
    std::uint64_t last_progress = 0;
    std::size_t last_queue = 0;
    long last_outq = -1;
    std::function<void()> hook;
    std::uint64_t last_hook = 0;
    char read_buf[512];  // the bus never speaks; reading tells us when it closes

    impl() {
        uv_loop_init(&loop);
        uv_timer_init(&loop, &timer);
        timer.data = this;
        connect_req.data = this;
        write_req.data = this;
        shutdown_req.data = this;
    }
    ~impl() {
        // Closing the stream cancels an unfinished write; its callback runs during the run below.
        close_stream();
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }
    impl(const impl&) = delete;
    impl& operator=(const impl&) = delete;

    uv_stream_t* stream() { return detail::as_stream(h); }

    void close_stream() {
        if (!h_live) return;
        h_live = false;
        uv_close(detail::as_handle(h), on_stream_closed);
    }

    // An exception from our own code or the hook: the wait in progress fails, nothing unwinds
    // through libuv.
    void internal_error(const std::string& what) {
        if (!err) err = fail(errc::internal, "internal error while writing to " + ep.describe() + ": " + what);
        uv_stop(&loop);
    }
    template <typename F>
    static void guarded(impl* self, F&& f) {
        detail::guard_callback(std::forward<F>(f), [self](const std::string& what) { self->internal_error(what); });
    }

    void set_error(failure f) {
        if (!err) err = std::move(f);
    }
    void write_failed(int status) {
        const bool gone = status == UV_EPIPE || status == UV_ECONNRESET || status == UV_ENOTCONN;
        set_error(fail(gone ? errc::unavailable : errc::io,
                       "cannot write to " + ep.describe() + ": " +
                           (gone ? "the bus went away (" + detail::reason(status) + ")" : detail::reason(status))));
    }

    // Samples the write queue and the socket's unread bytes; either going down is progress.
    void sample() {
        const std::size_t q = uv_stream_get_write_queue_size(stream());
        const long o = detail::socket_outq(detail::as_handle(h));
        if (q < last_queue || (o >= 0 && last_outq >= 0 && o < last_outq)) last_progress = uv_now(&loop);
        last_queue = q;
        last_outq = o;
    }

    // Runs the loop until done() or an error, failing with `on_timeout` when the bus makes no
    // progress for `timeout`. Each wait gets the full bound from its start.
    template <typename Done, typename OnTimeout>
    result<void> wait(Done done, OnTimeout on_timeout) {
        uv_update_time(&loop);
        last_progress = uv_now(&loop);
        last_queue = uv_stream_get_write_queue_size(stream());
        last_outq = detail::socket_outq(detail::as_handle(h));
        const auto bound = static_cast<std::uint64_t>(timeout.count());
        const std::uint64_t tick = std::clamp<std::uint64_t>(bound / 8, 5, 100);
        uv_timer_start(&timer, on_tick, tick, tick);
        while (!err && !done()) {
            if (uv_now(&loop) - last_progress >= bound) {
                set_error(on_timeout());
                break;
            }
            uv_run(&loop, UV_RUN_ONCE);
        }
        uv_timer_stop(&timer);
        if (err) return *err;
        return {};
    }

    result<void> wait_for_write() {
        return wait([this] { return !writing; }, [this] {
            return fail(errc::timeout, "timed out writing to " + ep.describe() + ": the bus took nothing for " +
                                              std::to_string(timeout.count()) + " ms");
        });
    }

    void start_write() {
        inflight.swap(pending);
        pending.clear();
        uv_buf_t buf = uv_buf_init(inflight.data(), static_cast<unsigned>(inflight.size()));
        if (int rc = uv_write(&write_req, stream(), &buf, 1, on_written); rc < 0) return write_failed(rc);
        writing = true;
    }

    result<void> flush() {
        // Nothing in flight: one write() now, no loop turn (a caller flushing every event, as
        // the Python module's fire_event does, pays one system call for each).
        if (!writing && !err && !pending.empty()) {
            uv_buf_t buf = uv_buf_init(pending.data(), static_cast<unsigned>(pending.size()));
            const int n = uv_try_write(stream(), &buf, 1);
            if (n > 0) pending.erase(0, static_cast<std::size_t>(n));
            else if (n < 0 && n != UV_EAGAIN) write_failed(n);
        }
        while (!err && (writing || !pending.empty())) {
            if (!writing) {
                start_write();
            } else if (auto r = wait_for_write(); !r) {
                return r;
            }
        }
        if (err) return *err;
        return {};
    }

    static void on_stream_closed(uv_handle_t* hd) { static_cast<impl*>(hd->data)->h_closed = true; }

    static void on_connect(uv_connect_t* req, int status) {
        auto* self = static_cast<impl*>(req->data);
        self->connect_done = true;
        self->connect_status = status;
    }

    static void on_deadline(uv_timer_t* t) { static_cast<impl*>(t->data)->fired = true; }

    static void on_tick(uv_timer_t* t) {
        auto* self = static_cast<impl*>(t->data);
        guarded(self, [self] {
            self->sample();
            const std::uint64_t now = uv_now(&self->loop);
            if (self->hook && now - self->last_hook >= detail::pub_hook_interval_ms) {
                self->last_hook = now;
                self->hook();
            }
        });
    }

    static void on_written(uv_write_t* req, int status) {
        auto* self = static_cast<impl*>(req->data);
        self->writing = false;
        self->inflight.clear();
        if (status == 0) self->last_progress = uv_now(&self->loop);
        else if (status != UV_ECANCELED) guarded(self, [&] { self->write_failed(status); });
    }

    static void on_shutdown(uv_shutdown_t* req, int status) {
        auto* self = static_cast<impl*>(req->data);
        if (status < 0 && status != UV_ECANCELED) guarded(self, [&] { self->write_failed(status); });
    }

    static void on_alloc(uv_handle_t* hd, std::size_t, uv_buf_t* buf) {
        auto* self = static_cast<impl*>(hd->data);
        *buf = uv_buf_init(self->read_buf, sizeof self->read_buf);
    }

    static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
        auto* self = static_cast<impl*>(s->data);
        if (nread >= 0) return;  // whatever a bus says here is ignored
        uv_read_stop(s);
        guarded(self, [self, nread] {
            if (nread == UV_EOF && self->shut) {
                self->peer_closed = true;  // the acknowledgement close() waits for
            } else if (self->shut) {
                self->set_error(fail(errc::unavailable, self->ep.describe() +
                                                              " closed the connection before reading everything (" +
                                                              detail::reason(static_cast<int>(nread)) + ")"));
            } else {
                self->set_error(fail(errc::unavailable,
                                     "lost connection to " + self->ep.describe() + ": " +
                                         (nread == UV_EOF ? std::string("the bus closed the connection")
                                                          : detail::reason(static_cast<int>(nread)))));
            }
        });
    }

    // One connect attempt, bounded by the loop's time `deadline`; connect_status holds the result
    // (UV_ETIMEDOUT when the deadline passed first).
    void attempt(std::uint64_t deadline) {
        connect_done = false;
        connect_status = 0;
        h = detail::stream_handle{};
        h_live = true;
        h_closed = false;
        const int rc = detail::start_connect(&loop, h, &connect_req, ep, on_connect);
        detail::as_handle(h)->data = this;
        if (rc < 0) {
            // start_connect initialised the handle even when the address is unusable.
            connect_status = rc;
            return;
        }
        fired = false;
        uv_update_time(&loop);
        uv_timer_start(&timer, on_deadline, deadline > uv_now(&loop) ? deadline - uv_now(&loop) : 0, 0);
        while (!connect_done && !fired) uv_run(&loop, UV_RUN_ONCE);
        uv_timer_stop(&timer);
        if (!connect_done) connect_status = UV_ETIMEDOUT;
    }

    void drop_handle() {
        close_stream();
        while (!h_closed) uv_run(&loop, UV_RUN_ONCE);  // the handle's memory is reused next attempt
    }

    void sleep_until(std::uint64_t when) {
        fired = false;
        uv_update_time(&loop);
        if (when <= uv_now(&loop)) return;
        uv_timer_start(&timer, on_deadline, when - uv_now(&loop), 0);
        while (!fired && !err) uv_run(&loop, UV_RUN_ONCE);
        uv_timer_stop(&timer);
    }
};

publisher::publisher() = default;
publisher::publisher(publisher&&) noexcept = default;
publisher& publisher::operator=(publisher&&) noexcept = default;
publisher::~publisher() = default;

result<publisher> publisher::connect(const endpoint& pull, std::chrono::milliseconds timeout) {
    detail::ignore_sigpipe();
    auto p = std::make_unique<impl>();
    p->ep = pull;
    p->timeout = timeout;
    const auto ms = static_cast<std::uint64_t>(timeout.count());
    uv_update_time(&p->loop);
    const std::uint64_t deadline = uv_now(&p->loop) + ms;
    detail::backoff busy_wait(detail::pub_busy_backoff_min_ms, detail::pub_busy_backoff_max_ms);
    bool busy = false;
    for (;;) {
        p->attempt(deadline);
        const int st = p->connect_status;
        if (st == 0) break;
        p->drop_handle();
        if (st == UV_EAGAIN) {
            // A stopped or overloaded bus: its accept queue is full. Retry until the deadline.
            busy = true;
            uv_update_time(&p->loop);
            if (const std::uint64_t wait = busy_wait.next(); uv_now(&p->loop) + wait < deadline) {
                p->sleep_until(uv_now(&p->loop) + wait);
                continue;
            }
        }
        if (busy && (st == UV_EAGAIN || st == UV_ETIMEDOUT)) {
            return fail(errc::timeout, "cannot connect to " + pull.describe() +
                                              ": the bus is busy: its listen backlog stayed full for " +
                                              std::to_string(ms) + " ms (is the bus process stopped or overloaded?); "
                                              "try again later");
        }
        if (st == UV_ETIMEDOUT) {
            return fail(errc::timeout,
                        "timed out connecting to " + pull.describe() + " after " + std::to_string(ms) + " ms");
        }
        return fail(errc::unavailable, "cannot connect to " + pull.describe() + ": " + detail::reason(st), -st);
    }
    p->open = true;
    if (pull.tcp) uv_tcp_nodelay(&p->h.tcp, 1);
    uv_read_start(p->stream(), impl::on_alloc, impl::on_read);
    publisher out;
    out.p_ = std::move(p);
    return out;
}

result<void> publisher::send(std::string_view frame_bytes) {
    if (!p_ || !p_->open) return fail(errc::internal, "the publisher is closed");
    auto& p = *p_;
    if (p.err) return *p.err;
    p.pending.append(frame_bytes);
    if (p.pending.size() < detail::pub_write_chunk) return {};
    // Let libuv go on with the write in flight (one poll per chunk, never per frame).
    if (p.writing) uv_run(&p.loop, UV_RUN_NOWAIT);
    if (p.writing && p.pending.size() >= detail::pub_high_water) {
        if (auto r = p.wait_for_write(); !r) return r;
    }
    if (!p.writing && !p.err) p.start_write();
    if (p.err) return *p.err;
    return {};
}

result<void> publisher::flush() {
    if (!p_ || !p_->open) return fail(errc::internal, "the publisher is closed");
    return p_->flush();
}

result<void> publisher::pause_until(std::chrono::steady_clock::time_point when) {
    if (!p_ || !p_->open) return fail(errc::internal, "the publisher is closed");
    auto& p = *p_;
    if (auto r = p.flush(); !r) return r;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(when - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {};
    uv_update_time(&p.loop);
    p.sleep_until(uv_now(&p.loop) + static_cast<std::uint64_t>(left.count()));
    if (p.err) return *p.err;
    return {};
}

void publisher::on_wait(std::function<void()> hook) {
    if (p_) p_->hook = std::move(hook);
}

result<void> publisher::close(std::chrono::milliseconds timeout) {
    if (!p_ || !p_->open) return fail(errc::internal, "the publisher is closed");
    auto& p = *p_;
    p.open = false;
    p.timeout = timeout;
    auto done = p.flush();
    if (done && !p.err) {
        // Half-close: the bus reads our EOF after the last frame and closes its end (Salt's
        // buses do so within milliseconds); that close is the only sign it read everything.
        if (int rc = uv_shutdown(&p.shutdown_req, p.stream(), impl::on_shutdown); rc < 0) {
            p.write_failed(rc);
        } else {
            p.shut = true;
            done = p.wait([&p] { return p.peer_closed; }, [&p] {
                const long unread = detail::socket_outq(detail::as_handle(p.h));
                const std::string ms = std::to_string(p.timeout.count());
                if (unread > 0)
                    return fail(errc::timeout, "timed out waiting for " + p.ep.describe() +
                                                      " to read what was sent: no progress for " + ms + " ms (about " +
                                                      std::to_string(unread) + " bytes unread)");
                return fail(errc::timeout, "timed out waiting for " + p.ep.describe() +
                                                  " to close the connection: it read everything but did not close "
                                                  "within " + ms + " ms");
            });
        }
    }
    std::optional<failure> out = p.err;
    p_.reset();  // closes the socket and the private loop
    if (out) return *out;
    return {};
}

// ---------------------------------------------------------------------------------------------
// async_publisher

namespace detail {
namespace {

// Messages per write: enough to drain a burst in few syscalls, few enough that the queue's memory
// is released as the bus takes it.
constexpr std::size_t apub_batch = 1024;

struct apub_state;

struct apub_conn {
    stream_handle h{};
    uv_connect_t req{};
    uv_write_t wreq{};
    apub_state* owner = nullptr;
    // The pull socket never speaks; reading only tells us when the bus goes away.
    char read_buf[512];
};

struct apub_state {
    event_loop& loop;
    async_publisher_options opts;
    std::function<void(link_state, const failure*)> on_state;
    std::deque<std::string> queue;  // deque: elements never move, so a write may point into them
    std::size_t in_flight = 0;      // messages at the front handed to the current write
    apub_conn* conn = nullptr;
    bool connected = false;
    bool outage = false;  // `lost` was reported and no connection has been made since
    bool stopped = false;
    detail::backoff retry_wait;
    std::optional<event_loop::timer_id> retry;

    apub_state(event_loop& l, async_publisher_options o, std::function<void(link_state, const failure*)> cb)
        : loop(l), opts(std::move(o)), on_state(std::move(cb)), retry_wait(opts.backoff_min_ms, opts.backoff_max_ms) {}
    ~apub_state() { shut(); }
    apub_state(const apub_state&) = delete;
    apub_state& operator=(const apub_state&) = delete;

    void connect();
    void on_connected(int status);
    void flush();
    void on_written(int status);
    void lose(std::string why);
    void drop_conn();
    void schedule_retry();
    void shut() {
        stopped = true;
        if (retry) loop.cancel(*retry);
        retry.reset();
        drop_conn();
        queue.clear();
    }
    void report(link_state s, const failure* err) {
        if (on_state) on_state(s, err);
    }
};


void on_apub_connect(uv_connect_t* req, int status) {
    auto* c = static_cast<apub_conn*>(req->data);
    if (c->owner) guard_loop(req->handle->loop, [&] { c->owner->on_connected(status); });
}

void on_apub_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* c = static_cast<apub_conn*>(h->data);
    *buf = uv_buf_init(c->read_buf, sizeof c->read_buf);
}

void on_apub_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<apub_conn*>(s->data);
    if (c->owner == nullptr || nread >= 0) return;  // whatever a bus sends here is ignored
    guard_loop(s->loop, [&] {
        c->owner->lose(nread == UV_EOF ? std::string("the bus closed the connection") : reason(static_cast<int>(nread)));
    });
}

void on_apub_written(uv_write_t* req, int status) {
    auto* c = static_cast<apub_conn*>(req->data);
    if (c->owner) guard_loop(req->handle->loop, [&] { c->owner->on_written(status); });
}

}  // namespace
}  // namespace detail

struct async_publisher::impl : detail::apub_state {
    using apub_state::apub_state;
};

void detail::apub_state::connect() {
    conn = new detail::apub_conn;
    conn->owner = this;
    conn->req.data = conn;
    conn->wreq.data = conn;
    int rc = detail::start_connect(static_cast<uv_loop_t*>(loop.native()), conn->h, &conn->req, opts.pull,
                                   detail::on_apub_connect);
    detail::as_handle(conn->h)->data = conn;
    if (rc < 0) {
        retry = loop.after(0, [this, rc] {
            retry.reset();
            on_connected(rc);
        });
    }
}

void detail::apub_state::on_connected(int status) {
    if (status < 0) {
        drop_conn();
        schedule_retry();
        if (!outage) {
            outage = true;
            failure err = fail(errc::unavailable, "cannot connect to " + opts.pull.describe() + ": " + detail::reason(status), -status);
            report(link_state::lost, &err);
        }
        return;
    }
    connected = true;
    outage = false;
    retry_wait.reset();
    if (opts.pull.tcp) uv_tcp_nodelay(&conn->h.tcp, 1);
    uv_read_start(detail::as_stream(conn->h), detail::on_apub_alloc, detail::on_apub_read);
    report(link_state::connected, nullptr);
    flush();
}

void detail::apub_state::flush() {
    if (!connected || in_flight > 0 || queue.empty()) return;
    const std::size_t n = std::min(queue.size(), detail::apub_batch);
    std::vector<uv_buf_t> bufs;  // libuv copies the array; the bytes stay in the queue
    bufs.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        bufs.push_back(uv_buf_init(queue[i].data(), static_cast<unsigned>(queue[i].size())));
    }
    int rc = uv_write(&conn->wreq, detail::as_stream(conn->h), bufs.data(), static_cast<unsigned>(n),
                      detail::on_apub_written);
    if (rc < 0) return lose(detail::reason(rc));
    in_flight = n;
}

void detail::apub_state::on_written(int status) {
    if (status < 0) return lose(detail::reason(status));
    for (; in_flight > 0; --in_flight) queue.pop_front();
    flush();
}

void detail::apub_state::lose(std::string why) {
    drop_conn();  // the messages of an unfinished write stay queued and go out again, whole
    outage = true;
    if (!queue.empty()) schedule_retry();
    failure err = fail(errc::unavailable, "lost connection to " + opts.pull.describe() + ": " + why);
    report(link_state::lost, &err);
}

void detail::apub_state::drop_conn() {
    connected = false;
    in_flight = 0;
    if (conn == nullptr) return;
    conn->owner = nullptr;
    detail::close_node(conn, *detail::as_handle(conn->h));
    conn = nullptr;
}

void detail::apub_state::schedule_retry() {
    if (retry || stopped) return;
    retry = loop.after(retry_wait.next(), [this] {
        retry.reset();
        if (conn == nullptr && !queue.empty()) connect();
    });
}

async_publisher::async_publisher(event_loop& loop, async_publisher_options opts,
                                 std::function<void(link_state, const failure*)> on_state)
    : p_(std::make_unique<impl>(loop, std::move(opts), std::move(on_state))) {}

async_publisher::~async_publisher() = default;

bool async_publisher::send(std::string message) {
    auto& p = *p_;
    if (p.stopped || p.queue.size() >= p.opts.max_queue) return false;
    p.queue.push_back(std::move(message));
    if (p.connected) {
        p.flush();
    } else if (p.conn == nullptr && !p.retry) {
        p.connect();  // lazily, or again after an outage that found the queue empty
    }
    return true;
}

std::size_t async_publisher::queued() const { return p_->queue.size(); }

bool async_publisher::connected() const { return p_->connected; }

void async_publisher::stop() { p_->shut(); }

}  // namespace tagbus
