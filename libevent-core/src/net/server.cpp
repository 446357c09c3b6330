// bus_server: pull connections in, re-framed events out to every subscriber (SALT-WIRE §4). The
// frames read from every publisher during one loop iteration go into one shared block, handed to
// the fan-out hub once, after the poll phase (a uv_check handle): with 10,000 subscribers and
// 1,000 publishers, queueing per read would cost publishers x subscribers queue entries per
// round. Subscribers are the hub's sinks; its policy (bound, pause, stall) is in fanout.cpp.
// Every connection, listener and the check handle is heap-allocated and deleted by its close
// callback only (detail::close_node); `owner` is cleared when the server lets go of it, so a
// callback arriving after stop() (or after the server is gone) touches nothing but itself.
#include "net/server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <climits>  // PATH_MAX
#include <cstddef>  // offsetof
#include <cstdio>   // renameat2
#include <cstdlib>  // mkdtemp
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/fanout.hpp"
#include "net/guard.hpp"
#include "net/handle.hpp"

namespace tagbus::inline v0 {

namespace detail {
namespace {

// One read of the pull side can carry many frames; 64 KiB keeps the syscall count low without
// holding much memory. The buffer is shared: libuv calls alloc_cb and read_cb back to back.
constexpr std::size_t read_buffer_size = 64 * 1024;
// A block is handed out early once it holds this much: one block then never carries much more
// than one read's worth, which the max_subscriber_buffer rules assume (server.hpp).
constexpr std::size_t block_flush_size = read_buffer_size;
// Connections accepted per readiness of one listener before the loop goes on: a flood of
// connects must not starve the connections already there.
constexpr int accept_batch = 256;
// Out of descriptors with the spare one gone too: how long before trying to accept again.
constexpr std::uint64_t accept_retry_ms = 100;

std::string reason(int uv_err) { return std::strerror(-uv_err); }

union stream_handle {
    uv_pipe_t pipe;
    uv_tcp_t tcp;
};

uv_stream_t* as_stream(stream_handle& h) { return reinterpret_cast<uv_stream_t*>(&h); }
uv_handle_t* as_handle(stream_handle& h) { return reinterpret_cast<uv_handle_t*>(&h); }

struct listener;
struct flusher;
struct server_timer;
struct conn_base;
struct pull_conn;
struct pub_conn;
struct server_state;

// Where a path's socket was bound, so stop() never removes a file someone else put there since.
struct created_file {
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
};

struct server_state {
    uv_loop_t* loop;
    server_options opts;
    server_stats stats;
    bool running = false;
    std::optional<fanout_hub> hub;  // subscribers; while started
    std::uint64_t next_number = 1;
    detail::listener* pull_listener = nullptr;
    detail::listener* pub_listener = nullptr;
    detail::flusher* flusher = nullptr;
    detail::server_timer* partial_timer = nullptr;  // runs while a publisher holds a partial frame
    detail::server_timer* accept_timer = nullptr;   // out of descriptors with no spare: retry
    // The spare descriptor (see refuse_pending), and the current out-of-descriptors episode.
    int reserve_fd = -1;
    bool out_of_fds = false;
    std::uint64_t refused_in_episode = 0;
    std::size_t held_total = 0;  // bytes of unfinished frames over all publishers
    // Unordered: a connection knows its slot, so leaving is O(1) even with 10,000 connected.
    std::vector<detail::pull_conn*> publishers;
    std::vector<detail::pub_conn*> subscribers;
    std::vector<detail::created_file> created;
    // This loop iteration's frames, not yet queued to subscribers, and where each body is in it.
    shared_block* open = nullptr;
    std::vector<std::pair<std::size_t, std::size_t>> bodies;  // offset, size
    char read_buffer[detail::read_buffer_size];

    server_state(event_loop& l, server_options o) : loop(static_cast<uv_loop_t*>(l.native())), opts(std::move(o)) {}
    server_state(const server_state&) = delete;
    server_state& operator=(const server_state&) = delete;

    void log(log_level level, const std::string& message) const {
        if (opts.log) opts.log(level, message);
    }
    bool paused() const { return hub && hub->paused(); }
    void deliver(detail::pull_conn* c);
    void flush();
    void pause_publishers(bool pause);
    void evicted(detail::pub_conn* c, fanout_drop why, std::size_t unwritten);
    void drop_publisher(detail::pull_conn* c);
    void drop_subscriber(detail::pub_conn* c);
    void account(detail::pull_conn* c);
    void enforce_input_cap();
    void check_partial();
    std::uint64_t partial_tick_ms() const;
    void accept_all(detail::listener* l);
    void adopt(detail::listener* l, int fd);
    void refuse_pending(detail::listener* l, int err);
    void poll_listeners(bool on);
    void internal_error(detail::conn_base* c, const std::string& what);
    result<void> prepare_unix(const endpoint& ep);
    void fix_group_dir(const std::string& dir);
    result<void> bind(const endpoint& ep, bool pub_side, int inherited);
};

// A listening socket we accept on ourselves (not uv_listen): libuv's own answer to EMFILE
// closes waiting connections without telling anyone, and we must log, count and recover.
struct listener {
    uv_poll_t h{};
    int fd = -1;
    bool polling = false;  // h is initialised: closed through libuv
    server_state* owner = nullptr;
    bool pub_side = false;
    bool tcp = false;
    ~listener() {
        if (fd >= 0) close(fd);
    }
};

struct flusher {
    uv_check_t h{};
    server_state* owner = nullptr;
};

// A server-owned timer: the partial-frame check, and the retry to accept when out of descriptors.
struct server_timer {
    uv_timer_t h{};
    server_state* owner = nullptr;
};

// What both connection kinds share; the uv handle's data points here, and its close callback
// deletes it (close_node<conn_base>), whichever kind it is.
struct conn_base {
    virtual ~conn_base() = default;
    stream_handle h{};
    server_state* owner = nullptr;
    std::uint64_t number = 0;
    std::size_t slot = 0;  // index in the server's publishers or subscribers
    bool tcp = false;
    bool subscriber = false;
    const char* role = "";
};

conn_base* conn_of(const void* handle) {
    return static_cast<conn_base*>(static_cast<const uv_handle_t*>(handle)->data);
}

struct pull_conn : conn_base {
    frame_decoder decoder;
    std::size_t held = 0;               // decoder.pending() as last accounted in held_total
    std::uint64_t last_progress = 0;    // uv_now() of the last byte read (or resume)
    // Salt's publisher rejects frames without head, with bin keys or a non-UTF-8 str body
    // (SALT-WIRE §7): skipped here too, the stream goes on.
    explicit pull_conn(std::size_t max_frame) : decoder(max_frame, frame_rules::salt_pull) { role = "publisher"; }
};

void on_pub_written(uv_write_t* req, int status);

// A subscriber: a sink of the server's hub, written with uv_write.
struct pub_conn : conn_base, fanout_sink {
    uv_write_t req{};
    pub_conn() {
        role = "subscriber";
        subscriber = true;
    }
    bool write(const uv_buf_t* bufs, unsigned n) override {
        req.data = this;
        return uv_write(&req, as_stream(h), bufs, n, on_pub_written) == 0;
    }
    // uv_write writes what the socket takes at once and keeps only the rest.
    std::size_t transport_backlog() const override {
        return uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&h));
    }
};

/// Appends c to v; remove() takes it out again in O(1), moving the last one into its slot.
template <typename Conn>
void add(std::vector<Conn*>& v, Conn* c) {
    c->slot = v.size();
    v.push_back(c);
}
template <typename Conn>
void remove(std::vector<Conn*>& v, Conn* c) {
    v[c->slot] = v.back();
    v[c->slot]->slot = c->slot;
    v.pop_back();
}

// Server-wide callbacks: an exception stops the loop and comes out of event_loop::run().
void on_partial_check(uv_timer_t* h) {
    if (auto* self = static_cast<server_timer*>(h->data)->owner)
        guard_loop(h->loop, [self] { self->check_partial(); });
}
void on_accept_retry(uv_timer_t* h) {
    if (auto* self = static_cast<server_timer*>(h->data)->owner)
        guard_loop(h->loop, [self] { self->poll_listeners(true); });
}
void on_check(uv_check_t* h) {
    if (auto* self = static_cast<flusher*>(h->data)->owner) guard_loop(h->loop, [self] { self->flush(); });
}
/// Closes a connection's handle; the close callback deletes it (a subscriber's destructor then
/// releases the blocks it still holds: the write callback, UV_ECANCELED, has run by then).
void close_conn(conn_base* c) { close_node<conn_base>(c, c->h); }

/// "publisher #3 (pid 1234)" or "subscriber #2 (127.0.0.1:50122)": who to blame in a log line.
std::string describe_peer(conn_base* c) {
    std::string out = std::string(c->role) + " #" + std::to_string(c->number);
    if (c->tcp) {
        sockaddr_storage addr{};
        int len = sizeof addr;
        char host[INET6_ADDRSTRLEN] = "";
        if (uv_tcp_getpeername(&c->h.tcp, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
            int port = 0;
            if (addr.ss_family == AF_INET6) {
                auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
                uv_ip6_name(a6, host, sizeof host);
                port = ntohs(a6->sin6_port);
            } else {
                auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
                uv_ip4_name(a4, host, sizeof host);
                port = ntohs(a4->sin_port);
            }
            out += " (" + std::string(host) + ":" + std::to_string(port) + ")";
        }
        return out;
    }
    uv_os_fd_t fd = -1;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (uv_fileno(as_handle(c->h), &fd) == 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        out += " (pid " + std::to_string(cred.pid) + ")";
    }
    return out;
}

void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* buf) {
    auto* owner = conn_of(h)->owner;
    *buf = owner ? uv_buf_init(owner->read_buffer, sizeof owner->read_buffer) : uv_buf_init(nullptr, 0);
}

void pull_read(pull_conn* c, ssize_t nread, const uv_buf_t* buf) {
    auto* self = c->owner;
    if (nread > 0) {
        c->decoder.feed(std::string_view(buf->base, static_cast<std::size_t>(nread)));
        self->deliver(c);
        if (c->owner == nullptr) return;  // a callback stopped the server
        if (auto r = c->decoder.take_rejection())
            self->log(log_level::warning, describe_peer(c) + " on " + self->opts.endpoints.pull.describe() + ": " +
                                              r->message);
        if (const failure* err = c->decoder.error()) {
            // Frames before the bad one were queued above; the stream cannot be resynchronised.
            self->log(log_level::warning, "dropping " + describe_peer(c) + " on " +
                                              self->opts.endpoints.pull.describe() + ": " + err->message);
            ++self->stats.dropped_connections;
            self->drop_publisher(c);
            return;
        }
        c->last_progress = uv_now(self->loop);
        self->account(c);
        return;
    }
    // The publisher's end (EOF: it half-closed or closed). Every complete frame was delivered as
    // it arrived; closing our end now tells a publisher waiting for it that the bus read it all.
    // Only a truncated tail can be left, and it is dropped.
    if (nread != UV_EOF) {
        self->log(log_level::info, describe_peer(c) + " dropped: " + reason(static_cast<int>(nread)));
    } else if (c->decoder.pending() > 0) {
        self->log(log_level::warning, describe_peer(c) + " closed in the middle of a frame (" +
                                          std::to_string(c->decoder.pending()) + " bytes discarded)");
    } else {
        self->log(log_level::debug, describe_peer(c) + " disconnected");
    }
    self->drop_publisher(c);
}

void on_pull_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<pull_conn*>(conn_of(s));
    if (c->owner == nullptr || nread == 0) return;
    guard_callback([&] { pull_read(c, nread, buf); }, [c](const std::string& what) {
        if (c->owner != nullptr) c->owner->internal_error(c, what);
    });
}

void on_pub_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
    // Subscribers have nothing to say (3007+ discards what they send too); reading only tells us
    // when they leave.
    auto* c = static_cast<pub_conn*>(conn_of(s));
    auto* self = c->owner;
    if (self == nullptr || nread >= 0) return;
    guard_callback(
        [&] {
            self->log(log_level::info, describe_peer(c) + (nread == UV_EOF ? std::string(" disconnected")
                                                                           : " dropped: " + reason(static_cast<int>(nread))));
            self->drop_subscriber(c);
        },
        [c](const std::string& what) {
            if (c->owner != nullptr) c->owner->internal_error(c, what);
        });
}

void on_pub_written(uv_write_t* req, int status) {
    auto* c = static_cast<pub_conn*>(req->data);
    guard_callback(
        [&] {
            // A subscriber the server let go of (or a server that is gone): only its blocks.
            fanout_hub::written(c, status);
            if (status < 0 && c->owner != nullptr) {
                c->owner->log(log_level::info, describe_peer(c) + " dropped: " + reason(status));
                c->owner->drop_subscriber(c);
            }
        },
        [c](const std::string& what) {
            if (c->owner != nullptr) c->owner->internal_error(c, what);
        });
}

void on_listener_readable(uv_poll_t* h, int status, int) {
    auto* l = static_cast<listener*>(h->data);
    auto* self = l->owner;
    if (self == nullptr) return;
    if (status < 0) {
        const endpoint& ep = l->pub_side ? self->opts.endpoints.pub : self->opts.endpoints.pull;
        guard_loop(h->loop, [&] { self->log(log_level::warning, "cannot accept on " + ep.describe() + ": " + reason(status)); });
        return;
    }
    guard_loop(h->loop, [&] { self->accept_all(l); });
}

/// Status for a failed bind/listen: a busy address means another bus (or a race with one);
/// anything else (permissions, a missing or read-only directory) is a file-system problem.
errc bind_status(int uv_err) { return uv_err == UV_EADDRINUSE ? errc::unavailable : errc::io; }

/// Creates `dir` and its missing parents, 0750 each and, with `group`, of that group: members
/// reach the 0660 sockets through them, others do not.
result<void> make_dirs(const std::string& dir, std::optional<unsigned> group) {
    struct stat st {};
    if (dir.empty() || stat(dir.c_str(), &st) == 0) {
        if (!dir.empty() && !S_ISDIR(st.st_mode)) {
            return fail(errc::io, "cannot create directory " + dir + ": " + std::strerror(ENOTDIR));
        }
        return {};
    }
    if (auto slash = dir.find_last_of('/'); slash != std::string::npos && slash > 0) {
        if (auto r = make_dirs(dir.substr(0, slash), group); !r) return r;
    }
    if (mkdir(dir.c_str(), 0750) == 0) {
        chmod(dir.c_str(), 0750);  // mkdir's mode went through the umask; this mode is the contract
        if (group && chown(dir.c_str(), static_cast<uid_t>(-1), *group) != 0) {
            return fail(errc::io, "cannot change the group of " + dir + " to " + std::to_string(*group) + ": " +
                                        std::strerror(errno));
        }
    } else if (errno != EEXIST) {
        return fail(errc::io, "cannot create directory " + dir + ": " + std::strerror(errno));
    }
    return {};
}

/// Binds and listens on `fd` at `path` with `mode` (and `group`) without a moment at a wider
/// mode, and without a process-wide umask: the socket is bound in a folder of its own (0700,
/// made next to `path`), given its mode and group there, then renamed into place, ready, without
/// replacing anything (a bus that came up meanwhile keeps its socket: EADDRINUSE).
result<void> place_socket(int fd, const std::string& path, mode_t mode, std::optional<unsigned> group) {
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : path.substr(0, std::max<std::size_t>(slash, 1));
    auto sys_fail = [&path](int err) {
        return fail(bind_status(-err), "cannot bind " + path + ": " + std::strerror(err));
    };
    std::string tmp = dir + "/.tagbus-XXXXXX";
    if (mkdtemp(tmp.data()) == nullptr) return sys_fail(errno);
    const std::string at = tmp + "/s";  // shorter than any socket name Salt uses
    auto cleanup = [&] {
        unlink(at.c_str());
        rmdir(tmp.c_str());
    };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (at.size() >= sizeof addr.sun_path) {
        cleanup();
        return sys_fail(ENAMETOOLONG);
    }
    std::memcpy(addr.sun_path, at.c_str(), at.size());
    result<void> r;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        r = sys_fail(errno);
    } else if (chmod(at.c_str(), mode) != 0) {
        r = fail(errc::io, "cannot chmod " + path + ": " + std::strerror(errno));
    } else if (group && chown(at.c_str(), static_cast<uid_t>(-1), *group) != 0) {
        r = fail(errc::io, "cannot change the group of " + path + " to " + std::to_string(*group) + ": " +
                               std::strerror(errno));
    } else if (listen(fd, SOMAXCONN) != 0) {
        r = sys_fail(errno);
    } else if (renameat2(AT_FDCWD, at.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
        int err = errno;
        // A file system without RENAME_NOREPLACE: a hard link is just as atomic and as careful.
        if ((err == EINVAL || err == ENOSYS) && link(at.c_str(), path.c_str()) == 0) err = 0;
        else if (err == EINVAL || err == ENOSYS) err = errno;
        if (err != 0) r = sys_fail(err == EEXIST ? EADDRINUSE : err);
    }
    cleanup();
    return r;
}

/// Salt deletes whatever is at a socket path before binding. We first make sure no bus answers
/// there, and we leave anything that is not a socket alone (a wrong --sock-dir must not eat files).
result<void> clear_stale(const std::string& path) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        return fail(errc::io, "cannot bind " + path + ": " + std::strerror(errno));
    }
    // lstat: a symbolic link is never followed, whatever it points to; the user removes it.
    if (S_ISLNK(st.st_mode)) {
        return fail(errc::io, "cannot bind " + path +
                                    ": a symbolic link is in the way (not removed; delete it if it is not needed)");
    }
    if (!S_ISSOCK(st.st_mode)) {
        return fail(errc::io, "cannot bind " + path + ": a file that is not a socket is in the way");
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), std::min(path.size(), sizeof addr.sun_path - 1));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(errc::io, "cannot create a socket: " + std::string(std::strerror(errno)));
    int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    int err = rc == 0 ? 0 : errno;
    close(fd);
    // EAGAIN: a listener whose backlog is full is still a live bus.
    if (rc == 0 || err == EAGAIN || err == EINPROGRESS) {
        return fail(errc::unavailable, "a bus is already running on " + path);
    }
    if (err != ECONNREFUSED && err != ENOENT) {
        return fail(errc::io, "cannot connect to " + path + ": " + std::strerror(err));
    }
    if (unlink(path.c_str()) != 0 && errno != ENOENT) {
        return fail(errc::io, "cannot remove stale socket " + path + ": " + std::strerror(errno));
    }
    return {};
}

}  // namespace
}  // namespace detail

void detail::server_state::deliver(detail::pull_conn* c) {
    // Nobody to tell: Salt drops the event too (no history), but the decoder must still advance.
    const bool wanted = !subscribers.empty() || static_cast<bool>(opts.on_event);
    if (wanted && open != nullptr && open->bytes.size() + c->decoder.pending() > detail::block_flush_size) {
        flush();
        if (c->owner == nullptr) return;  // on_event stopped the server
    }
    std::uint64_t count = 0;
    std::string_view body;
    while (c->decoder.next(body)) {
        ++count;
        if (!wanted) continue;
        if (open == nullptr) open = hub->acquire();
        append_frame(open->bytes, body, opts.pub_framing);
        // "body" is the frame's last value, so its bytes end the frame just appended.
        bodies.emplace_back(open->bytes.size() - body.size(), body.size());
    }
    stats.events += count;
}

void detail::server_state::flush() {
    detail::shared_block* b = std::exchange(open, nullptr);
    if (b == nullptr) return;
    hub->publish(b);  // queued to every subscriber; ours is still held while on_event looks at it
    if (opts.on_event) {
        for (const auto& body : bodies) {
            // One event that makes the handler throw must not cost the others, or the bus.
            detail::guard_callback([&] { opts.on_event(std::string_view(b->bytes).substr(body.first, body.second)); },
                                   [this](const std::string& what) {
                                       log(log_level::error, "cannot hand an event on: " + what);
                                   });
            if (!running) break;  // on_event stopped the server
        }
    }
    bodies.clear();
    hub->release(b);  // a stopped hub (on_event stopped the server) frees rather than pools it
}

// The hub's back-pressure: while every subscriber is far behind, no publisher is read.
void detail::server_state::pause_publishers(bool pause) {
    if (pause) {
        for (auto* c : publishers) uv_read_stop(detail::as_stream(c->h));
        log(log_level::info, "pausing " + std::to_string(publishers.size()) + " publisher(s): every subscriber has more than " +
                                 std::to_string(opts.max_subscriber_buffer / 2) + " bytes queued");
        return;
    }
    const std::uint64_t now = uv_now(loop);
    for (auto* c : publishers) {
        c->last_progress = now;  // time spent paused is ours, not the publisher's
        uv_read_start(detail::as_stream(c->h), detail::on_alloc, detail::on_pull_read);
    }
    log(log_level::info, "resuming " + std::to_string(publishers.size()) + " publisher(s)");
}

// A subscriber the hub dropped for the bus's sake (never one that left): a warning naming it and why.
void detail::server_state::evicted(detail::pub_conn* c, fanout_drop why, std::size_t unwritten) {
    log(log_level::warning,
        "dropping " + detail::describe_peer(c) + ": " +
            (why == fanout_drop::over_bound
                 ? std::to_string(unwritten) + " bytes queued exceed --max-subscriber-buffer " +
                       std::to_string(opts.max_subscriber_buffer)
                 : "no write progress for " + std::to_string(opts.stall_timeout_ms) + " ms while publishers wait (" +
                       std::to_string(unwritten) + " bytes queued)"));
    ++stats.dropped_connections;
    drop_subscriber(c);
}

void detail::server_state::drop_publisher(detail::pull_conn* c) {
    held_total -= c->held;
    c->held = 0;
    stats.input_buffered = held_total;
    detail::remove(publishers, c);
    stats.publishers = publishers.size();
    c->owner = nullptr;
    detail::close_conn(c);
}

void detail::server_state::drop_subscriber(detail::pub_conn* c) {
    detail::remove(subscribers, c);
    stats.subscribers = subscribers.size();
    hub->remove(c);  // its queue goes now; the in-flight write completes with UV_ECANCELED
    c->owner = nullptr;
    detail::close_conn(c);
}

// What the publishers' unfinished frames hold, kept up to date per read: the cap is checked
// against the sum without a scan, and the partial-frame timer runs only while there is one.
void detail::server_state::account(detail::pull_conn* c) {
    const std::size_t now = c->decoder.pending();
    held_total = held_total - c->held + now;
    c->held = now;
    stats.input_buffered = held_total;
    if (now > 0 && partial_timer != nullptr && opts.partial_frame_timeout_ms > 0 &&
        uv_is_active(reinterpret_cast<uv_handle_t*>(&partial_timer->h)) == 0) {
        const std::uint64_t tick = partial_tick_ms();
        uv_timer_start(&partial_timer->h, detail::on_partial_check, tick, tick);
    }
    if (held_total > opts.max_input_buffer) enforce_input_cap();
}

// Over the cap, the publisher holding the most goes first: it is the likeliest culprit, and one
// drop frees the most. Rare (a scan of the publishers per drop).
void detail::server_state::enforce_input_cap() {
    while (held_total > opts.max_input_buffer && !publishers.empty()) {
        detail::pull_conn* worst = publishers.front();
        for (auto* c : publishers) {
            if (c->held > worst->held) worst = c;
        }
        if (worst->held == 0) break;
        const std::size_t total = held_total;
        log(log_level::warning, "dropping " + detail::describe_peer(worst) + ": it holds " +
                                    std::to_string(worst->held) + " bytes of an unfinished frame, and publishers hold " +
                                    std::to_string(total) + " in all, over --max-input-buffer " +
                                    std::to_string(opts.max_input_buffer));
        ++stats.dropped_connections;
        drop_publisher(worst);
    }
}

std::uint64_t detail::server_state::partial_tick_ms() const {
    // A quarter of the timeout, between 10 ms and 1 s: a stalled frame goes at most a quarter late.
    return std::clamp<std::uint64_t>(opts.partial_frame_timeout_ms / 4, 10, 1000);
}

void detail::server_state::check_partial() {
    if (!running) return;
    if (paused()) return;  // we are not reading: nobody can make progress
    const std::uint64_t now = uv_now(loop);
    bool waiting = false;
    std::vector<detail::pull_conn*> stalled;  // rare
    for (auto* c : publishers) {
        if (c->held == 0) continue;
        if (now - c->last_progress >= opts.partial_frame_timeout_ms) {
            stalled.push_back(c);
        } else {
            waiting = true;
        }
    }
    for (auto* c : stalled) {
        log(log_level::warning, "dropping " + detail::describe_peer(c) + ": an unfinished frame (" +
                                    std::to_string(c->held) + " bytes held) made no progress for " +
                                    std::to_string(opts.partial_frame_timeout_ms) + " ms (--partial-frame-timeout)");
        ++stats.dropped_connections;
        drop_publisher(c);
    }
    if (!waiting && partial_timer != nullptr) uv_timer_stop(&partial_timer->h);
}

// A connection whose callback threw: dropped, with an error line; the others go on.
void detail::server_state::internal_error(detail::conn_base* c, const std::string& what) {
    std::string who = c->role;
    detail::guard_callback([&] { who = detail::describe_peer(c); }, [](const std::string&) {});
    ++stats.dropped_connections;
    if (c->subscriber) {
        drop_subscriber(static_cast<detail::pub_conn*>(c));
    } else {
        drop_publisher(static_cast<detail::pull_conn*>(c));
    }
    log(log_level::error, "dropping " + who + ": internal error: " + what);
}

void detail::server_state::accept_all(detail::listener* l) {
    const endpoint& ep = l->pub_side ? opts.endpoints.pub : opts.endpoints.pull;
    for (int i = 0; i < detail::accept_batch && l->owner != nullptr; ++i) {
        int fd = accept4(l->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            const int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) return;
            if (err == EINTR || err == ECONNABORTED) continue;
            if (err == EMFILE || err == ENFILE) return refuse_pending(l, err);
            log(log_level::warning, "cannot accept on " + ep.describe() + ": " + std::strerror(err));
            return;
        }
        if (out_of_fds) {
            out_of_fds = false;
            log(log_level::warning, "accepting connections again on " + ep.describe() + ": refused " +
                                        std::to_string(refused_in_episode) +
                                        " connection(s) while out of file descriptors");
            refused_in_episode = 0;
        }
        if (reserve_fd < 0) reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        adopt(l, fd);
    }
}

void detail::server_state::adopt(detail::listener* l, int fd) {
    const endpoint& ep = l->pub_side ? opts.endpoints.pub : opts.endpoints.pull;
    detail::conn_base* c =
        l->pub_side ? static_cast<detail::conn_base*>(new detail::pub_conn) : new detail::pull_conn(opts.max_frame);
    c->owner = this;
    c->tcp = l->tcp;
    c->number = next_number++;
    int rc = 0;
    if (l->tcp) {
        uv_tcp_init(loop, &c->h.tcp);
        as_handle(c->h)->data = c;
        rc = uv_tcp_open(&c->h.tcp, fd);
    } else {
        uv_pipe_init(loop, &c->h.pipe, 0);
        as_handle(c->h)->data = c;
        rc = uv_pipe_open(&c->h.pipe, fd);
    }
    if (rc < 0) {
        close(fd);
        log(log_level::warning, "cannot accept on " + ep.describe() + ": " + detail::reason(rc));
        c->owner = nullptr;
        detail::close_conn(c);
        return;
    }
    if (l->tcp) uv_tcp_nodelay(&c->h.tcp, 1);
    if (l->pub_side) {
        auto* sc = static_cast<detail::pub_conn*>(c);
        detail::add(subscribers, sc);
        stats.subscribers = subscribers.size();
        hub->add(sc);  // it has nothing queued: publishers paused for the others may go on
        uv_read_start(as_stream(c->h), detail::on_alloc, detail::on_pub_read);
    } else {
        auto* pc = static_cast<detail::pull_conn*>(c);
        pc->last_progress = uv_now(loop);
        detail::add(publishers, pc);
        stats.publishers = publishers.size();
        // While paused, a new publisher waits with the others (check_resume starts it).
        if (!paused()) uv_read_start(as_stream(c->h), detail::on_alloc, detail::on_pull_read);
    }
    log(log_level::debug, detail::describe_peer(c) + " connected");
}

// Out of descriptors (EMFILE, ENFILE): a connection we cannot serve must be refused at once,
// not left in the backlog where its publisher believes it was heard and its subscriber hangs.
// The spare descriptor is given up for the time it takes to accept and close every waiting
// connection, then taken back. One warning per episode; accept_all logs its end.
void detail::server_state::refuse_pending(detail::listener* l, int err) {
    const endpoint& ep = l->pub_side ? opts.endpoints.pub : opts.endpoints.pull;
    if (!out_of_fds) {
        out_of_fds = true;
        refused_in_episode = 0;
        std::string limit;
        if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0)
            limit = ", open files limit " + std::to_string(lim.rlim_cur);
        log(log_level::warning, "cannot accept on " + ep.describe() + ": " + std::strerror(err) + " (" +
                                    std::to_string(publishers.size()) + " publishers and " +
                                    std::to_string(subscribers.size()) + " subscribers connected" + limit +
                                    "); refusing new connections until descriptors free up");
    }
    if (reserve_fd >= 0) {
        close(reserve_fd);
        reserve_fd = -1;
        for (;;) {
            int fd = accept4(l->fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                ++refused_in_episode;
                ++stats.refused_connections;
                continue;
            }
            if (errno == EINTR || errno == ECONNABORTED) continue;
            break;
        }
        reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    if (reserve_fd < 0) {
        // No spare to refuse with: the waiting connection would wake us again at once. Stop
        // watching the listeners and look again a little later.
        poll_listeners(false);
        if (accept_timer != nullptr) uv_timer_start(&accept_timer->h, detail::on_accept_retry, detail::accept_retry_ms, 0);
    }
}

void detail::server_state::poll_listeners(bool on) {
    if (!running) return;
    if (on && reserve_fd < 0) reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (auto* l : {pull_listener, pub_listener}) {
        if (l == nullptr || !l->polling) continue;
        if (on) {
            uv_poll_start(&l->h, UV_READABLE, detail::on_listener_readable);
        } else {
            uv_poll_stop(&l->h);
        }
    }
}

namespace detail {
namespace {

/// A path as the file system names it: its folder resolved (/var/run is /run), its name kept.
std::string canonical_socket_path(const std::string& path) {
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    char resolved[PATH_MAX];
    if (realpath(dir.c_str(), resolved) == nullptr) return path;
    std::string out = resolved;
    if (out != "/") out += '/';
    return out + (slash == std::string::npos ? path : path.substr(slash + 1));
}

/// What every refusal of handed-over sockets ends with: what the service manager must give.
std::string listen_stream_hint(const bus_endpoints& eps) {
    return "ListenStream= must name " + eps.pub.path + " and " + eps.pull.path;
}

std::string socket_name(const bus_endpoints& eps, bool pub_side) {
    return pub_side ? "pub socket " + eps.pub.path : "pull socket " + eps.pull.path;
}

/// Which of the two paths a handed-over descriptor is bound to: pub, pull, or an error naming
/// what it is instead and what the service manager must give.
result<bool> inherited_side(int fd, const bus_endpoints& eps) {
    const std::string want = listen_stream_hint(eps);
    int type = 0, listening = 0;
    socklen_t len = sizeof type;
    sockaddr_un addr{};
    socklen_t alen = sizeof addr;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &alen) != 0) {
        const int err = errno;
        return fail(errc::config, "socket activation: descriptor " + std::to_string(fd) + " is not a socket (" +
                                      std::strerror(err) + "); " + want);
    }
    len = sizeof listening;
    if (addr.sun_family != AF_UNIX || type != SOCK_STREAM ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening == 0)
        return fail(errc::config, "socket activation: descriptor " + std::to_string(fd) +
                                      " is not a listening Unix stream socket; " + want);
    const auto off = offsetof(sockaddr_un, sun_path);
    std::string bound = alen > off ? std::string(addr.sun_path, strnlen(addr.sun_path, alen - off)) : std::string();
    if (bound.empty())
        return fail(errc::config, "socket activation: descriptor " + std::to_string(fd) + " has no path; " + want);
    const std::string at = canonical_socket_path(bound);
    if (at == canonical_socket_path(eps.pub.path)) return true;
    if (at == canonical_socket_path(eps.pull.path)) return false;
    return fail(errc::config, "socket activation: descriptor " + std::to_string(fd) + " is bound to " + bound +
                                  ", which is neither the " + socket_name(eps, true) + " nor the " +
                                  socket_name(eps, false) + " (" + want + ")");
}

/// The handed-over descriptors as (pull, pub); on any error every one of them is closed.
result<std::pair<int, int>> sort_inherited(const std::vector<int>& fds, const bus_endpoints& eps) {
    auto refuse = [&fds](failure f) {
        for (int fd : fds) close(fd);
        return f;
    };
    if (eps.pub.tcp || eps.pull.tcp)
        return refuse(fail(errc::config, "socket activation needs Unix sockets, but ipc_mode is tcp: set ipc_mode to ipc "
                                         "or start the bus without its sockets handed over"));
    int side_fd[2] = {-1, -1};  // pull, pub
    for (int fd : fds) {
        auto side = inherited_side(fd, eps);
        if (!side) return refuse(side.error());
        int& slot = side_fd[*side ? 1 : 0];
        if (slot >= 0)
            return refuse(fail(errc::config, "socket activation: descriptors " + std::to_string(slot) + " and " +
                                                 std::to_string(fd) + " are both the " + socket_name(eps, *side) + " (" +
                                                 listen_stream_hint(eps) + " once each)"));
        slot = fd;
    }
    for (int side : {1, 0}) {
        if (side_fd[side] >= 0) continue;
        return refuse(fail(errc::config, "socket activation: no descriptor for the " + socket_name(eps, side == 1) + " (" +
                                             listen_stream_hint(eps) + ")"));
    }
    return std::pair{side_fd[0], side_fd[1]};
}

}  // namespace
}  // namespace detail

result<void> detail::server_state::prepare_unix(const endpoint& ep) {
    if (auto slash = ep.path.find_last_of('/'); slash != std::string::npos && slash > 0) {
        const std::string dir = ep.path.substr(0, slash);
        if (auto r = detail::make_dirs(dir, opts.group); !r) return r;
        if (opts.group) fix_group_dir(dir);
    }
    return detail::clear_stale(ep.path);
}

// An existing sock_dir with --group: one that an earlier run created without the group (ours,
// 0750, our own group) is given it, so the group's members reach the sockets. Any other folder
// is the administrator's: left alone, with a warning when the group's members cannot get in.
void detail::server_state::fix_group_dir(const std::string& dir) {
    struct stat st {};
    if (lstat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_gid == *opts.group) return;
    if (st.st_uid == geteuid() && (st.st_mode & 07777) == 0750 && st.st_gid == getegid()) {
        if (chown(dir.c_str(), static_cast<uid_t>(-1), *opts.group) == 0) {
            log(log_level::info, "gave " + dir + " to group " + std::to_string(*opts.group));
            return;
        }
    }
    if ((st.st_mode & S_IXOTH) == 0) {
        log(log_level::warning, "members of group " + std::to_string(*opts.group) + " cannot reach the sockets: " + dir +
                                    " belongs to group " + std::to_string(st.st_gid) +
                                    " and others may not enter it (chgrp " + std::to_string(*opts.group) + " " + dir +
                                    ", or another --sock-dir)");
    }
}

result<void> detail::server_state::bind(const endpoint& ep, bool pub_side, int inherited) {
    auto* l = new detail::listener;
    l->owner = this;
    l->pub_side = pub_side;
    l->tcp = ep.tcp;
    (pub_side ? pub_listener : pull_listener) = l;
    auto sys_fail = [&ep](int err) {
        return fail(detail::bind_status(-err), "cannot bind " + ep.describe() + ": " + std::strerror(err));
    };
    if (inherited >= 0) {
        l->fd = inherited;  // bound and listening already; its file is the service manager's
        const int flags = fcntl(l->fd, F_GETFL);
        if (flags < 0 || fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) != 0 || fcntl(l->fd, F_SETFD, FD_CLOEXEC) != 0)
            return sys_fail(errno);
    } else if (ep.tcp) {
        sockaddr_storage addr{};
        const bool v6 = ep.host.find(':') != std::string::npos;
        int rc = v6 ? uv_ip6_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in6*>(&addr))
                    : uv_ip4_addr(ep.host.c_str(), ep.port, reinterpret_cast<sockaddr_in*>(&addr));
        if (rc < 0) return fail(errc::config, "cannot bind " + ep.describe() + ": invalid address");
        l->fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0) return sys_fail(errno);
        int on = 1;
        setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);  // as libuv and Salt do
        if (::bind(l->fd, reinterpret_cast<sockaddr*>(&addr), v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in)) != 0)
            return sys_fail(errno);
    } else {
        if (ep.path.size() >= sizeof(sockaddr_un::sun_path)) return sys_fail(ENAMETOOLONG);
        l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (l->fd < 0) return sys_fail(errno);
        auto placed = detail::place_socket(l->fd, ep.path, opts.group ? 0660 : 0600, opts.group);
        if (!placed) return placed.error();
        struct stat st {};
        if (lstat(ep.path.c_str(), &st) == 0) created.push_back({ep.path, st.st_dev, st.st_ino});
    }
    // A busy TCP port may show only at listen() (a Unix socket listens before it is in place).
    if (ep.tcp && listen(l->fd, SOMAXCONN) != 0) return sys_fail(errno);
    if (int rc = uv_poll_init(loop, &l->h, l->fd); rc < 0)
        return fail(detail::bind_status(rc), "cannot bind " + ep.describe() + ": " + detail::reason(rc));
    l->h.data = l;
    l->polling = true;
    uv_poll_start(&l->h, UV_READABLE, detail::on_listener_readable);
    return {};
}

// The header's opaque type; the state lives in detail:: so the callbacks above can name it.
struct bus_server::impl : detail::server_state {
    using server_state::server_state;
};

bus_server::bus_server(event_loop& loop, server_options opts) : p_(std::make_unique<impl>(loop, std::move(opts))) {}

bus_server::~bus_server() {
    stop();
    // Handed-over sockets start() never took (it was not called): they were ours to close.
    for (int fd : std::exchange(p_->opts.listen_fds, {})) close(fd);
}

result<void> bus_server::start() {
    auto& p = *p_;
    if (p.running) return fail(errc::internal, "the bus is already started");
    const auto& eps = p.opts.endpoints;
    // Socket activation: each handed-over descriptor is the pub or the pull socket, both there.
    int inherited[2] = {-1, -1};  // pull, pub
    if (!p.opts.listen_fds.empty()) {
        auto sorted = detail::sort_inherited(std::exchange(p.opts.listen_fds, {}), eps);
        if (!sorted) return sorted.error();
        inherited[0] = sorted->first;
        inherited[1] = sorted->second;
    } else {
        for (const endpoint* ep : {&eps.pub, &eps.pull}) {
            if (ep->tcp) continue;
            if (auto r = p.prepare_unix(*ep); !r) return r;
        }
    }
    p.running = true;
    fanout_options fo;
    fo.max_buffer = p.opts.max_subscriber_buffer;
    fo.stall_timeout_ms = p.opts.stall_timeout_ms;
    fo.pause = [&p](bool pause) { p.pause_publishers(pause); };
    fo.evicted = [&p](fanout_sink* s, fanout_drop why, std::size_t unwritten) {
        p.evicted(static_cast<detail::pub_conn*>(s), why, unwritten);
    };
    p.hub.emplace(p.loop, std::move(fo));
    p.flusher = new detail::flusher;
    p.flusher->owner = &p;
    uv_check_init(p.loop, &p.flusher->h);
    p.flusher->h.data = p.flusher;
    uv_check_start(&p.flusher->h, detail::on_check);
    uv_unref(reinterpret_cast<uv_handle_t*>(&p.flusher->h));  // the listeners keep the loop alive
    p.reserve_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (auto** t : {&p.partial_timer, &p.accept_timer}) {
        *t = new detail::server_timer;
        (*t)->owner = &p;
        uv_timer_init(p.loop, &(*t)->h);
        (*t)->h.data = *t;
        uv_unref(reinterpret_cast<uv_handle_t*>(&(*t)->h));
    }
    // Pull first: once the pub socket answers, the whole bus is ready (others probe pub).
    auto r = p.bind(eps.pull, false, std::exchange(inherited[0], -1));
    if (r) r = p.bind(eps.pub, true, std::exchange(inherited[1], -1));
    for (int fd : inherited)
        if (fd >= 0) close(fd);  // the pull side failed before the pub side took its descriptor
    if (!r) {
        stop();
        return r;
    }
    p.log(log_level::debug, "listening on " + eps.pull.describe() + " and " + eps.pub.describe());
    return {};
}

void bus_server::stop() {
    auto& p = *p_;
    // Read in this loop iteration but not yet handed out: on_event (the minion's forwarder) still
    // sees it, so nothing accepted is lost on the way out. A nested stop() finds nothing open.
    if (p.running) p.flush();
    p.running = false;
    if (p.hub) p.hub->shut();  // no more pausing or resuming
    for (auto* l : {p.pull_listener, p.pub_listener}) {
        if (l == nullptr) continue;
        l->owner = nullptr;
        if (l->polling) {
            detail::close_node(l, l->h);
        } else {
            delete l;
        }
    }
    p.pull_listener = p.pub_listener = nullptr;
    if (p.flusher != nullptr) {
        p.flusher->owner = nullptr;
        detail::close_node(p.flusher, p.flusher->h);
        p.flusher = nullptr;
    }
    if (p.reserve_fd >= 0) close(p.reserve_fd);
    p.reserve_fd = -1;
    p.out_of_fds = false;
    for (auto** t : {&p.partial_timer, &p.accept_timer}) {
        if (*t == nullptr) continue;
        (*t)->owner = nullptr;
        detail::close_node(*t, (*t)->h);
        *t = nullptr;
    }
    while (!p.publishers.empty()) p.drop_publisher(p.publishers.back());
    while (!p.subscribers.empty()) p.drop_subscriber(p.subscribers.back());
    for (const auto& f : p.created) {
        struct stat st {};
        if (lstat(f.path.c_str(), &st) == 0 && st.st_dev == f.dev && st.st_ino == f.ino) unlink(f.path.c_str());
    }
    p.created.clear();
}

server_stats bus_server::stats() const { return p_->stats; }

}  // namespace tagbus
