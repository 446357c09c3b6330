// Clients of a bus. The subscriber and the async publisher live on the tool's event_loop and
// reconnect with backoff; the publisher drives a private loop so a short-lived tool can fire and
// exit without one.
// Connection handles are heap-allocated and deleted by their close callback only; `owner` is
// cleared when the client lets go, so late libuv callbacks touch nothing else.
#include "tagbus/client.hpp"

#include <uv.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tagbus {

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
    std::uint64_t backoff_ms;
    std::optional<event_loop::timer_id> retry;
    detail::sub_conn* conn = nullptr;
    frame_decoder decoder;
    std::unique_ptr<char[]> read_buffer;
    bool* alive = nullptr;  // set while a read callback runs, so a handler may destroy us

    subscriber_state(event_loop& l, subscriber_options o, subscriber_handlers h)
        : loop(l), opts(std::move(o)), handlers(std::move(h)), backoff_ms(opts.backoff_min_ms),
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

void on_sub_closed(uv_handle_t* h) { delete static_cast<sub_conn*>(h->data); }

void on_sub_connect(uv_connect_t* req, int status) {
    auto* c = static_cast<sub_conn*>(req->data);
    if (c->owner) c->owner->on_connected(status);
}

void on_sub_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* self = static_cast<sub_conn*>(h->data)->owner;
    *buf = self ? uv_buf_init(self->read_buffer.get(), static_cast<unsigned>(sub_read_buffer_size))
                : uv_buf_init(nullptr, 0);
}

void on_sub_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<sub_conn*>(s->data);
    if (c->owner) c->owner->on_read(nread);
}

}  // namespace
}  // namespace detail

// The header's opaque type; the state lives in detail:: so the callbacks above can name it.
struct subscriber::impl : detail::subscriber_state {
    using subscriber_state::subscriber_state;
};

void detail::subscriber_state::drop_conn() {
    if (conn == nullptr) return;
    conn->owner = nullptr;
    uv_close(detail::as_handle(conn->h), detail::on_sub_closed);
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
    std::uint64_t wait = backoff_ms;
    backoff_ms = std::min(std::max<std::uint64_t>(backoff_ms, 1) * 2, std::max(opts.backoff_max_ms, opts.backoff_min_ms));
    retry = loop.after(wait, [this] {
        retry.reset();
        connect();
    });
}

void detail::subscriber_state::on_connected(int status) {
    if (status < 0) {
        drop_conn();
        if (!ever_connected && !opts.wait_for_bus) {
            stopped = true;
            failure err = fail(status::unavailable, "cannot connect to " + opts.pub.describe() + ": " + detail::reason(status));
            report(link_state::unavailable, &err);
            return;
        }
        schedule_retry();
        return;
    }
    backoff_ms = opts.backoff_min_ms;
    decoder = frame_decoder(opts.max_frame);  // a new stream starts at a frame boundary
    uv_read_start(detail::as_stream(conn->h), detail::on_sub_alloc, detail::on_sub_read);
    const bool again = ever_connected;
    ever_connected = true;
    report(again ? link_state::reconnected : link_state::connected, nullptr);
}

void detail::subscriber_state::on_read(ssize_t nread) {
    if (nread == 0) return;
    if (nread < 0) {
        lose(fail(status::unavailable, "lost connection to " + opts.pub.describe() + ": " +
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
    while (decoder.next(body)) {
        if (handlers.on_body) handlers.on_body(body);
        if (!here) return;
        if (conn != current || stopped) break;
    }
    if (conn == current && !stopped && handlers.on_batch_end) handlers.on_batch_end();
    if (!here) return;
    alive = nullptr;
    if (conn != current || stopped) return;
    if (const failure* err = decoder.error()) {
        lose(fail(status::data, "lost connection to " + opts.pub.describe() + ": " + err->message));
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
    p_->backoff_ms = p_->opts.backoff_min_ms;
    p_->connect();
}

void subscriber::stop() { p_->shut(); }

// ---------------------------------------------------------------------------------------------
// publisher

namespace detail {
namespace {

struct pub_write {
    uv_write_t req{};
    void* owner = nullptr;  // publisher::impl
    std::string bytes;      // the caller's view is gone by the time libuv writes
};

}  // namespace
}  // namespace detail

struct publisher::impl {
    uv_loop_t loop{};
    detail::stream_handle h{};
    uv_connect_t connect_req{};
    uv_timer_t timer{};
    endpoint ep;
    bool connect_done = false;
    bool timed_out = false;
    bool open = false;  // connected and not yet closed
    std::size_t pending_writes = 0;
    std::optional<failure> err;

    impl() {
        uv_loop_init(&loop);
        uv_timer_init(&loop, &timer);
        timer.data = this;
        connect_req.data = this;
    }
    ~impl() {
        // Closing the stream cancels unfinished writes; their callbacks free them during the run.
        auto* stream = detail::as_handle(h);
        if (stream->loop == &loop && !uv_is_closing(stream)) uv_close(stream, nullptr);
        uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
    }

    void write_failed(int status) {
        if (err) return;
        const bool gone = status == UV_EPIPE || status == UV_ECONNRESET || status == UV_ENOTCONN;
        err = fail(gone ? status::unavailable : status::io, "cannot write to " + ep.describe() + ": " + detail::reason(status));
    }

    static void on_connect(uv_connect_t* req, int status) {
        auto* self = static_cast<impl*>(req->data);
        if (self->timed_out) return;  // UV_ECANCELED after the timeout closed the handle
        self->connect_done = true;
        uv_timer_stop(&self->timer);
        if (status < 0) {
            self->err = fail(status::unavailable, "cannot connect to " + self->ep.describe() + ": " + detail::reason(status));
        } else {
            self->open = true;
        }
    }

    static void on_timeout(uv_timer_t* t) { static_cast<impl*>(t->data)->timed_out = true; }

    static void on_written(uv_write_t* req, int status) {
        auto* w = static_cast<detail::pub_write*>(req->data);
        auto* self = static_cast<impl*>(w->owner);
        --self->pending_writes;
        if (status < 0 && status != UV_ECANCELED) self->write_failed(status);
        delete w;
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
    int rc = detail::start_connect(&p->loop, p->h, &p->connect_req, pull, impl::on_connect);
    if (rc < 0) return fail(status::unavailable, "cannot connect to " + pull.describe() + ": " + detail::reason(rc));
    uv_timer_start(&p->timer, impl::on_timeout, static_cast<std::uint64_t>(timeout.count()), 0);
    while (!p->connect_done && !p->timed_out) uv_run(&p->loop, UV_RUN_ONCE);
    if (!p->connect_done) {
        return fail(status::tempfail, "timed out connecting to " + pull.describe() + " after " +
                                          std::to_string(timeout.count()) + " ms");
    }
    if (p->err) return *p->err;
    publisher out;
    out.p_ = std::move(p);
    return out;
}

result<void> publisher::send(std::string_view frame_bytes) {
    if (!p_ || !p_->open) return fail(status::software, "the publisher is closed");
    auto& p = *p_;
    if (p.err) return *p.err;
    if (frame_bytes.empty()) return {};
    // Write straight away when nothing is queued ahead (keeps frames in order); copy the rest.
    if (p.pending_writes == 0) {
        uv_buf_t buf = uv_buf_init(const_cast<char*>(frame_bytes.data()), static_cast<unsigned>(frame_bytes.size()));
        int n = uv_try_write(detail::as_stream(p.h), &buf, 1);
        if (n >= 0) {
            frame_bytes.remove_prefix(static_cast<std::size_t>(n));
        } else if (n != UV_EAGAIN) {
            p.write_failed(n);
            return *p.err;
        }
        if (frame_bytes.empty()) return {};
    }
    auto* w = new detail::pub_write;
    w->bytes.assign(frame_bytes);
    w->req.data = w;
    w->owner = &p;
    uv_buf_t buf = uv_buf_init(w->bytes.data(), static_cast<unsigned>(w->bytes.size()));
    if (int rc = uv_write(&w->req, detail::as_stream(p.h), &buf, 1, impl::on_written); rc < 0) {
        delete w;
        p.write_failed(rc);
        return *p.err;
    }
    ++p.pending_writes;
    uv_run(&p.loop, UV_RUN_NOWAIT);
    if (p.err) return *p.err;
    return {};
}

result<void> publisher::close(std::chrono::milliseconds timeout) {
    if (!p_ || !p_->open) return fail(status::software, "the publisher is closed");
    auto& p = *p_;
    p.open = false;
    p.timed_out = false;
    uv_timer_start(&p.timer, impl::on_timeout, static_cast<std::uint64_t>(timeout.count()), 0);
    while (p.pending_writes > 0 && !p.timed_out && !p.err) uv_run(&p.loop, UV_RUN_ONCE);
    uv_timer_stop(&p.timer);
    std::optional<failure> out = p.err;
    if (!out && p.pending_writes > 0) {
        out = fail(status::tempfail, "timed out writing to " + p.ep.describe() + " after " +
                                         std::to_string(timeout.count()) + " ms");
    }
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
    std::uint64_t backoff_ms;
    std::optional<event_loop::timer_id> retry;

    apub_state(event_loop& l, async_publisher_options o, std::function<void(link_state, const failure*)> cb)
        : loop(l), opts(std::move(o)), on_state(std::move(cb)), backoff_ms(opts.backoff_min_ms) {}
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

void on_apub_closed(uv_handle_t* h) { delete static_cast<apub_conn*>(h->data); }

void on_apub_connect(uv_connect_t* req, int status) {
    auto* c = static_cast<apub_conn*>(req->data);
    if (c->owner) c->owner->on_connected(status);
}

void on_apub_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* c = static_cast<apub_conn*>(h->data);
    *buf = uv_buf_init(c->read_buf, sizeof c->read_buf);
}

void on_apub_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    auto* c = static_cast<apub_conn*>(s->data);
    if (c->owner == nullptr || nread >= 0) return;  // whatever a bus sends here is ignored
    c->owner->lose(nread == UV_EOF ? std::string("the bus closed the connection") : reason(static_cast<int>(nread)));
}

void on_apub_written(uv_write_t* req, int status) {
    auto* c = static_cast<apub_conn*>(req->data);
    if (c->owner) c->owner->on_written(status);
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
            failure err = fail(status::unavailable, "cannot connect to " + opts.pull.describe() + ": " + detail::reason(status));
            report(link_state::lost, &err);
        }
        return;
    }
    connected = true;
    outage = false;
    backoff_ms = opts.backoff_min_ms;
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
    failure err = fail(status::unavailable, "lost connection to " + opts.pull.describe() + ": " + why);
    report(link_state::lost, &err);
}

void detail::apub_state::drop_conn() {
    connected = false;
    in_flight = 0;
    if (conn == nullptr) return;
    conn->owner = nullptr;
    uv_close(detail::as_handle(conn->h), detail::on_apub_closed);
    conn = nullptr;
}

void detail::apub_state::schedule_retry() {
    if (retry || stopped) return;
    std::uint64_t wait = backoff_ms;
    backoff_ms = std::min(std::max<std::uint64_t>(backoff_ms, 1) * 2, std::max(opts.backoff_max_ms, opts.backoff_min_ms));
    retry = loop.after(wait, [this] {
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
