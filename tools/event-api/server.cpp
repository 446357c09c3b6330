// event-api's server: see server.hpp. One thread, one libuv loop: the bus subscriber renders each
// event once into a block of the fan-out hub; every SSE or WebSocket client is a sink that sends
// the blocks it wants (its tag filter, with or without id lines) straight from the shared bytes.
#include "server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <h2o.h>
#include <h2o/websocket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/destination_impl.hpp"
#include "cli.hpp"
#include "net/client.hpp"
#include "net/fanout.hpp"
#include "net/loop.hpp"
#include "page.hpp"
#include "render/json.hpp"
#include "salt/match.hpp"
#include "tagbus/event.hpp"
#include "tagbus/fire.hpp"
#include "tagbus/value.hpp"
#include "tagbus_version.h"

namespace event_api {

namespace {

using namespace tagbus;

double wall_now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string_view sv(h2o_iovec_t v) { return {v.base, v.len}; }

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// %XX and '+' decoding of one query value (a malformed escape stays as it is).
std::string url_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

// The query's parameters, in order (a repeated name keeps every value).
std::vector<std::pair<std::string, std::string>> parse_query(std::string_view q) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!q.empty()) {
        const std::size_t amp = q.find('&');
        const std::string_view part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) continue;
        const std::size_t eq = part.find('=');
        out.emplace_back(url_decode(part.substr(0, eq)),
                         eq == std::string_view::npos ? std::string() : url_decode(part.substr(eq + 1)));
    }
    return out;
}

const std::string* query_value(const std::vector<std::pair<std::string, std::string>>& q, std::string_view name) {
    for (const auto& [k, v] : q)
        if (k == name) return &v;
    return nullptr;
}

std::optional<std::string> header_value(h2o_req_t* req, std::string_view lower_name) {
    const ssize_t i = h2o_find_header_by_str(&req->headers, lower_name.data(), lower_name.size(), -1);
    if (i < 0) return std::nullopt;
    return std::string(sv(req->headers.entries[i].value));
}

// session_id from a Cookie header.
std::optional<std::string> cookie_value(h2o_req_t* req, std::string_view name) {
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, H2O_TOKEN_COOKIE, i)) != -1;) {
        std::string_view c = sv(req->headers.entries[i].value);
        while (!c.empty()) {
            const std::size_t semi = c.find(';');
            std::string_view part = c.substr(0, semi);
            c = semi == std::string_view::npos ? std::string_view{} : c.substr(semi + 1);
            while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
            if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=')
                return std::string(part.substr(name.size() + 1));
        }
    }
    return std::nullopt;
}

std::string peer_of(h2o_req_t* req) {
    sockaddr_storage ss{};
    const socklen_t len = req->conn->callbacks->get_peername(req->conn, reinterpret_cast<sockaddr*>(&ss));
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (len > 0 && ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        port = ntohs(a->sin_port);
    } else if (len > 0 && ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        port = ntohs(a->sin6_port);
    }
    return std::string(host) + ":" + std::to_string(port);
}

std::string address_only(const std::string& peer) { return peer.substr(0, peer.rfind(':')); }

// An HTTP date for Set-Cookie's expires, as CherryPy writes it.
std::string http_date(double t) {
    const std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    return buf;
}

struct server;

/// One accepted connection: its socket, so that a client that stopped reading can be cut off
/// (shutdown(2) makes h2o's pending write fail and h2o close the connection itself).
struct connection {
    uv_tcp_t tcp{};
    server* srv = nullptr;
    std::string peer;
};

/// One SSE or WebSocket client: a sink of the hub.
struct stream final : fanout_sink {
    server* srv = nullptr;
    std::string peer;
    bool ws = false;
    // SSE
    h2o_req_t* req = nullptr;
    struct generator {
        h2o_generator_t g;
        stream* self;
    } gen{};
    // WebSocket
    h2o_websocket_conn_t* wsc = nullptr;
    bool ws_ready = false;  // the client said "websocket client ready"
    // what this client sees
    std::optional<tag_matcher> filter;
    bool ids = true;
    bool keepalive = true;
    std::string token;
    std::optional<double> expires;
    double next_check = 0;
    // writing (SSE): one h2o_send at a time
    std::string prefix;                 // retry line and replayed events, sent first
    std::vector<h2o_iovec_t> iov;       // the hub's write, as sent
    bool h2o_busy = false;              // an h2o_send has not been proceeded yet
    bool hub_inflight = false;          // the hub's write is with h2o (or waiting for it)
    bool hub_waiting = false;           // the hub's write waits for the prefix to go
    std::size_t sending = 0;            // bytes with h2o
    h2o_iovec_t prefix_iov{};
    bool in_hub = false;
    bool done = false;                  // stopped or ended: nothing more is sent
    bool end_pending = false;           // end (FINAL) once the current send is proceeded
    bool end_requested = false;         // end on the next turn (asked from inside a hub call)
    bool cut_requested = false;

    bool write(const uv_buf_t* bufs, unsigned n) override;
    std::size_t transport_backlog() const override;
    ~stream() override;
};

struct server {
    const server_options& o;
    std::string_view tool;
    token_store& tokens;
    const destination& bus;
    event_loop loop;
    uv_loop_t* uv = nullptr;
    h2o_globalconf_t config{};
    h2o_context_t ctx{};
    h2o_accept_ctx_t accept_ctx{};
    SSL_CTX* ssl = nullptr;
    uv_tcp_t listener{};
    bool listening = false;
    std::unique_ptr<fanout_hub> hub;
    std::optional<subscriber> sub;
    std::optional<tagbus::sender> hook_sender;
    // the replay ring: (event number, block with our reference)
    std::deque<std::pair<std::uint64_t, detail::shared_block*>> ring;
    std::uint64_t next_n = 1;
    std::string run;  // this process's id prefix: "<start ms>."
    std::set<stream*> streams;
    std::unordered_map<std::string, connection*> conns;  // by peer address:port
    std::size_t open_conns = 0;
    std::vector<stream*> deferred;  // hub writes with nothing to send: completed on the next turn
    uv_timer_t defer_timer{};
    uv_timer_t tick{};  // every second: token expiry, keep-alive
    double last_keepalive = 0;
    struct bucket {
        double tokens;
        double at;
    };
    std::unordered_map<std::string, bucket> buckets;
    bool stopping = false;
    bool finished = false;
    std::uint64_t events = 0, dropped_clients = 0;

    server(const server_options& opts, std::string_view t, token_store& ts, const destination& d)
        : o(opts), tool(t), tokens(ts), bus(d) {}

    void log(const std::string& line) const { cli::say(tool, line); }

    // --- auth -------------------------------------------------------------------------------
    /// The token a request gives, salt-api's way: token=, salt_token=, then the session_id cookie
    /// (an X-Auth-Token header counts as that cookie).
    std::optional<std::string> request_token(h2o_req_t* req, const std::vector<std::pair<std::string, std::string>>& q) {
        if (const auto* t = query_value(q, "token")) return *t;
        if (const auto* t = query_value(q, "salt_token")) return *t;
        if (auto h = header_value(req, "x-auth-token")) return *h;
        if (auto c = cookie_value(req, "session_id")) return *c;
        return std::nullopt;
    }

    std::optional<grant> check_token(const std::string& token) {
        std::vector<std::string> warn;
        auto g = tokens.check(token, wall_now(), &warn);
        for (const auto& w : warn) log(w);
        return g;
    }

    // --- rate limit -------------------------------------------------------------------------
    bool allow(const std::string& addr) {
        if (o.rate <= 0) return true;
        const double now = uv_now(uv) / 1000.0;
        auto [it, fresh] = buckets.try_emplace(addr, bucket{o.rate * 2, now});
        bucket& b = it->second;
        if (!fresh) {
            b.tokens = std::min(o.rate * 2, b.tokens + (now - b.at) * o.rate);
            b.at = now;
        }
        if (b.tokens < 1) return false;
        b.tokens -= 1;
        if (buckets.size() > 100000) buckets.clear();  // a flood of addresses: start over
        return true;
    }

    // --- events -----------------------------------------------------------------------------
    void on_body(std::string_view body) {
        auto parts = split_body(body);
        if (!parts) return;
        const auto [tag, packed] = *parts;
        // {"data": ..., "tag": ...} as salt-api's json.dumps writes it; an event it would choke on
        // (bytes, datetimes) is written as state-event writes it.
        std::string json = "{\"data\": ";
        unsigned issues = 0;
        if (!render_packed_json(packed, json, issues)) {
            auto v = unpack(packed);
            if (!v) {
                log("skipping an event whose data is not msgpack (" + v.error().message + ")");
                return;
            }
            if (render_json(*v, json).drop) return;  // Salt drops it too
        }
        json += ", \"tag\": ";
        append_json_string(json, tag);
        json += "}";
        auto* b = hub->acquire();
        std::string& out = b->bytes;
        const std::uint64_t n = next_n++;
        out += "id: ";
        out += run;
        out += std::to_string(n);
        out += "\ntag: ";
        // A line break in a tag would end the field: written as \n, \r.
        for (char c : tag) {
            if (c == '\n') out += "\\n";
            else if (c == '\r') out += "\\r";
            else out += c;
        }
        out += "\ndata: ";
        out += json;
        out += "\n\n";
        ++events;
        hub->publish(b);
        if (o.ring > 0 && !o.strict) {
            ring.emplace_back(n, b);
            if (ring.size() > o.ring) {
                hub->release(ring.front().second);
                ring.pop_front();
            }
        } else {
            hub->release(b);
        }
    }

    void publish_keepalive() {
        auto* b = hub->acquire();
        b->bytes = ": keep-alive\n\n";
        hub->publish(b);
        hub->release(b);
    }

    // --- stream helpers ---------------------------------------------------------------------
    /// The part of a block `s` sends: the whole event, without its id line, or nothing.
    static std::optional<std::string_view> view_for(const stream& s, std::string_view block) {
        if (block.empty()) return std::nullopt;
        if (block.front() == ':') {  // a keep-alive comment
            if (!s.keepalive || s.ws) return std::nullopt;
            return block;
        }
        const std::size_t id_end = block.find('\n');
        std::string_view rest = block.substr(id_end + 1);  // "tag: ...\ndata: ...\n\n"
        if (s.filter) {
            const std::size_t tag_end = rest.find('\n');
            std::string_view tag = rest.substr(5, tag_end - 5);
            if (!(*s.filter)(tag)) return std::nullopt;
        }
        if (s.ws) return rest.substr(rest.find('\n') + 1);  // "data: ...\n\n"
        return s.ids ? block : rest;
    }

    void defer_written(stream* s) {
        deferred.push_back(s);
        if (deferred.size() == 1) uv_timer_start(&defer_timer, on_defer, 0, 0);
    }

    /// Ends asked for from inside the hub's calls (a stream must not leave the hub while the hub
    /// walks its sinks) happen here, on the next turn of the loop.
    void request_end(stream* s, bool cut_now) {
        s->end_requested = true;
        s->cut_requested = s->cut_requested || cut_now;
        defer_written(s);
    }

    static void on_defer(uv_timer_t* t) {
        auto* self = static_cast<server*>(t->data);
        std::vector<stream*> now;
        now.swap(self->deferred);
        for (std::size_t i = 0; i < now.size(); ++i) {
            stream* s = now[i];
            if (s == nullptr) continue;
            // Once each: a stream may be listed twice, and may be freed below.
            for (std::size_t j = i + 1; j < now.size(); ++j)
                if (now[j] == s) now[j] = nullptr;
            if (s->end_requested) {
                self->end_stream(s, s->cut_requested);
                continue;
            }
            fanout_hub::written(s, 0);  // may queue more for a WebSocket
            // Last: a failed send closes the WebSocket and frees the stream at once.
            if (s->ws && s->wsc) h2o_websocket_proceed(s->wsc);
        }
    }

    void forget_deferred(stream* s) {
        for (auto& d : deferred)
            if (d == s) d = nullptr;
        std::erase(deferred, nullptr);
    }

    void cut(const std::string& peer) {
        auto it = conns.find(peer);
        if (it == conns.end()) return;
        uv_os_fd_t fd;
        if (uv_fileno(reinterpret_cast<uv_handle_t*>(&it->second->tcp), &fd) == 0) ::shutdown(fd, SHUT_RDWR);
    }

    /// Ends a stream: the final chunk when nothing is being sent, else once it is; a client that
    /// is not reading (its send never completes) is cut off.
    void end_stream(stream* s, bool cut_now) {
        if (s->done) return;
        if (s->in_hub) {
            hub->remove(s);
            s->in_hub = false;
        }
        forget_deferred(s);
        if (s->ws) {
            close_ws(s);
            return;
        }
        if (s->h2o_busy) {
            s->end_pending = true;  // the last chunk once the current send is done
        } else {
            s->done = true;
            h2o_send(s->req, nullptr, 0, H2O_SEND_STATE_FINAL);
        }
        // A client being dropped is cut off: a send to it may never complete, and nothing else
        // would make h2o notice. (Over HTTP/2 that ends the client's other streams too.)
        if (cut_now) cut(s->peer);
    }

    void send_sse(stream* s, h2o_iovec_t* v, std::size_t n, std::size_t bytes) {
        s->h2o_busy = true;
        s->sending = bytes;
        h2o_send(s->req, v, n, H2O_SEND_STATE_IN_PROGRESS);
    }

    static void on_proceed(h2o_generator_t* g, h2o_req_t*) {
        stream* s = reinterpret_cast<stream::generator*>(g)->self;
        server* srv = s->srv;
        s->h2o_busy = false;
        s->sending = 0;
        if (s->end_pending) {
            s->end_pending = false;
            if (!s->done) {
                s->done = true;
                h2o_send(s->req, nullptr, 0, H2O_SEND_STATE_FINAL);
            }
            return;
        }
        if (s->hub_waiting) {  // the prefix went: now the hub's write
            s->hub_waiting = false;
            std::size_t bytes = 0;
            for (const auto& v : s->iov) bytes += v.len;
            srv->send_sse(s, s->iov.data(), s->iov.size(), bytes);
            return;
        }
        if (s->hub_inflight) {
            s->hub_inflight = false;
            fanout_hub::written(s, 0);
        }
    }

    static void on_stop(h2o_generator_t* g, h2o_req_t*) {
        stream* s = reinterpret_cast<stream::generator*>(g)->self;
        s->done = true;
        s->h2o_busy = false;
        if (s->in_hub) {
            s->srv->hub->remove(s);
            s->in_hub = false;
        }
        s->srv->forget_deferred(s);
        if (s->srv->o.verbose) s->srv->log("client " + s->peer + " went away");
    }

    bool stream_write(stream* s, const uv_buf_t* bufs, unsigned n) {
        if (s->done || s->end_pending) return false;
        const double now = wall_now();
        if (now >= s->next_check) {  // salt-api checks the token before every event; we, once a second
            s->next_check = now + 1;
            if (!check_token(s->token)) {
                log("ending the stream of " + s->peer + ": its token expired or is gone");
                request_end(s, false);
                return true;
            }
        }
        s->iov.clear();
        std::size_t bytes = 0;
        for (unsigned i = 0; i < n; ++i) {
            auto part = view_for(*s, std::string_view(bufs[i].base, bufs[i].len));
            if (!part) continue;
            if (s->ws) {
                if (!s->ws_ready) continue;
                wslay_event_msg msg{WSLAY_TEXT_FRAME, reinterpret_cast<const uint8_t*>(part->data()), part->size()};
                wslay_event_queue_msg(s->wsc->ws_ctx, &msg);
                bytes += part->size();
                continue;
            }
            s->iov.push_back(h2o_iovec_init(part->data(), part->size()));
            bytes += part->size();
        }
        if (s->ws) {
            defer_written(s);  // wslay copied the messages; they are sent on the next turn
            return true;
        }
        if (s->iov.empty()) {
            defer_written(s);
            return true;
        }
        s->hub_inflight = true;
        if (s->h2o_busy) {
            s->hub_waiting = true;
            return true;
        }
        send_sse(s, s->iov.data(), s->iov.size(), bytes);
        return true;
    }

    // --- handlers ---------------------------------------------------------------------------
    static server* of(h2o_handler_t* h) { return *reinterpret_cast<server**>(h + 1); }

    void add_common_headers(h2o_req_t* req) {
        // salt-api's CORS headers (SALT-WIRE §9): what browser EventSource clients rely on.
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-origin"), 0,
                              "Access-Control-Allow-Origin", H2O_STRLIT("*"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-expose-headers"), 0,
                              "Access-Control-Expose-Headers", H2O_STRLIT("GET, POST"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("access-control-allow-credentials"), 0,
                              "Access-Control-Allow-Credentials", H2O_STRLIT("true"));
    }

    int respond(h2o_req_t* req, int status, const char* reason, std::string_view type, std::string_view body) {
        req->res.status = status;
        req->res.reason = reason;
        add_common_headers(req);
        if (!type.empty())
            h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type", type.data(), type.size());
        auto* copy = static_cast<char*>(h2o_mem_alloc_pool(&req->pool, body.size() + 1));
        std::memcpy(copy, body.data(), body.size());
        req->res.content_length = body.size();
        h2o_send_inline(req, copy, body.size());
        return 0;
    }

    /// The checks every request passes: size of the head, rate. Returns true when answered.
    bool refused(h2o_req_t* req, const std::string& peer) {
        std::size_t head = sv(req->path).size();
        for (std::size_t i = 0; i < req->headers.size; ++i)
            head += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
        if (head > o.max_header_bytes) {
            log("refusing a request from " + peer + ": its head is " + std::to_string(head) + " bytes, over --max-header-bytes " +
                std::to_string(o.max_header_bytes));
            respond(req, 431, "Request Header Fields Too Large", "", "");
            return true;
        }
        if (!allow(address_only(peer))) {
            log("refusing a request from " + peer + ": more than " + std::to_string(o.rate) + " requests a second (--rate)");
            respond(req, 429, "Too Many Requests", "", "");
            return true;
        }
        return false;
    }

    static int on_events(h2o_handler_t* h, h2o_req_t* req) { return of(h)->events_request(req, false); }
    static int on_ws(h2o_handler_t* h, h2o_req_t* req) { return of(h)->events_request(req, true); }

    int events_request(h2o_req_t* req, bool ws) {
        const std::string peer = peer_of(req);
        if (refused(req, peer)) return 0;
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")) &&
            !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD")))
            return respond(req, 405, "Method Not Allowed", "", "");
        const std::string_view path = sv(req->path_normalized);
        const auto q = parse_query(req->query_at == SIZE_MAX ? std::string_view{} : sv(req->path).substr(req->query_at + 1));
        std::optional<std::string> token = request_token(req, q);
        if (ws && path.size() > 4 && path.substr(0, 4) == "/ws/") token = std::string(path.substr(4));
        else if (!ws && path != "/events") return respond(req, 404, "Not Found", "", "");
        else if (ws && path != "/ws") return respond(req, 404, "Not Found", "", "");
        std::optional<grant> g = token ? check_token(*token) : std::nullopt;
        if (!g) {
            if (o.verbose) log("401 for " + peer + " (" + (token ? "the token is not valid" : "no token") + ")");
            return respond(req, 401, "Unauthorized", "", "");
        }
        if (streams.size() >= o.max_clients) {
            log("refusing a stream for " + peer + ": " + std::to_string(streams.size()) + " clients already (--max-clients)");
            return respond(req, 503, "Service Unavailable", "", "");
        }
        // An SSE stream lives as long as its request (h2o's pool frees it); a WebSocket outlives the
        // upgrade request and is ours to free.
        stream* s = nullptr;
        if (ws) {
            s = new stream();
        } else {
            s = static_cast<stream*>(h2o_mem_alloc_shared(&req->pool, sizeof(stream), [](void* p) {
                static_cast<stream*>(p)->~stream();
            }));
            new (s) stream();
        }
        s->srv = this;
        s->peer = peer;
        s->ws = ws;
        s->req = req;
        s->token = *token;
        s->expires = g->expires;
        s->next_check = wall_now() + 1;
        s->ids = !o.strict;
        s->keepalive = !o.strict;
        auto flag = [&](const char* name, bool& v) {
            if (const auto* x = query_value(q, name)) v = !(*x == "0" || *x == "false" || *x == "no");
        };
        flag("ids", s->ids);
        flag("keepalive", s->keepalive);
        if (const auto* t = query_value(q, "tag"); t && !t->empty()) s->filter.emplace(*t);
        streams.insert(s);
        if (ws) return start_ws(s, req);
        return start_sse(s, req, q);
    }

    int start_sse(stream* s, h2o_req_t* req, const std::vector<std::pair<std::string, std::string>>& q) {
        s->gen.g.proceed = on_proceed;
        s->gen.g.stop = on_stop;
        s->gen.self = s;
        req->res.status = 200;
        req->res.reason = "OK";
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                       H2O_STRLIT("text/event-stream;charset=utf-8"));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("allow"), 0, "Allow", H2O_STRLIT("GET, HEAD"));
        add_common_headers(req);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, "Cache-Control", H2O_STRLIT("no-cache"));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_VARY, "Vary", H2O_STRLIT("Accept-Encoding"));
        const double now = wall_now();
        std::string cookie = "session_id=" + s->token + "; expires=" + http_date(now + 36000) + "; Max-Age=36000; Path=/";
        auto* c = static_cast<char*>(h2o_mem_alloc_pool(&req->pool, cookie.size()));
        std::memcpy(c, cookie.data(), cookie.size());
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_SET_COOKIE, "Set-Cookie", c, cookie.size());
        h2o_start_response(req, &s->gen.g);
        if (h2o_memis(req->method.base, req->method.len, H2O_STRLIT("HEAD"))) {
            s->done = true;
            h2o_send(req, nullptr, 0, H2O_SEND_STATE_FINAL);
            return 0;
        }
        s->prefix = "retry: 400\n";
        replay(s, req, q);
        s->prefix_iov = h2o_iovec_init(s->prefix.data(), s->prefix.size());
        send_sse(s, &s->prefix_iov, 1, s->prefix.size());
        hub->add(s);
        s->in_hub = true;
        if (o.verbose) log("stream for " + s->peer + (s->filter ? " (filtered)" : ""));
        return 0;
    }

    /// Events after Last-Event-ID (header, or last_event_id= for clients that cannot set it) that
    /// are still in the ring, into the stream's prefix.
    void replay(stream* s, h2o_req_t* req, const std::vector<std::pair<std::string, std::string>>& q) {
        std::optional<std::string> last = header_value(req, "last-event-id");
        if (const auto* l = query_value(q, "last_event_id")) last = *l;
        if (!last || !s->ids || ring.empty()) return;
        std::uint64_t after = 0;
        bool this_run = last->size() > run.size() && last->compare(0, run.size(), run) == 0;
        if (this_run) {
            const std::string digits = last->substr(run.size());
            auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), after);
            if (ec != std::errc{} || p != digits.data() + digits.size()) this_run = false;
        }
        // An id from another run of event-api (or none we know): every event we still have is new
        // to the client; one older than the ring: what it missed before the ring is gone.
        if (this_run && after + 1 < ring.front().first)
            s->prefix += ": missed " + std::to_string(ring.front().first - after - 1) + " events (older than the replay ring)\n\n";
        for (const auto& [n, b] : ring) {
            if (this_run && n <= after) continue;
            if (auto part = view_for(*s, b->bytes)) s->prefix += *part;
        }
    }

    int start_ws(stream* s, h2o_req_t* req) {
        const char* key = nullptr;
        if (h2o_is_websocket_handshake(req, &key) != 0 || key == nullptr) {
            streams.erase(s);
            s->srv = nullptr;
            delete s;
            return respond(req, 400, "Bad Request", "", "");
        }
        s->req = nullptr;  // gone once the upgrade is done
        s->wsc = h2o_upgrade_to_websocket(req, key, s, on_ws_message);
        return 0;
    }

    /// Closes a WebSocket client and frees it.
    void close_ws(stream* s) {
        s->done = true;
        if (s->in_hub) {
            hub->remove(s);
            s->in_hub = false;
        }
        if (auto* c = s->wsc) {
            s->wsc = nullptr;
            h2o_websocket_close(c);
        }
        delete s;  // leaves `streams` and the deferred list
    }

    static void on_ws_message(h2o_websocket_conn_t* c, const wslay_event_on_msg_recv_arg* arg) {
        auto* s = static_cast<stream*>(c->data);
        server* srv = s->srv;
        if (arg == nullptr) {  // the peer closed, or the connection failed
            if (srv->o.verbose) srv->log("websocket client " + s->peer + " went away");
            srv->close_ws(s);
            return;
        }
        if (wslay_is_ctrl_frame(arg->opcode)) return;
        std::string_view text(reinterpret_cast<const char*>(arg->msg), arg->msg_length);
        if (!s->ws_ready && text == "websocket client ready") {
            s->ws_ready = true;
            srv->hub->add(s);
            s->in_hub = true;
        }
        static constexpr std::string_view answer = "server received message";
        wslay_event_msg msg{WSLAY_TEXT_FRAME, reinterpret_cast<const uint8_t*>(answer.data()), answer.size()};
        wslay_event_queue_msg(c->ws_ctx, &msg);
        // h2o sends queued messages itself after this callback returns (it proceeds after reading)
    }

    static int on_hook(h2o_handler_t* h, h2o_req_t* req) { return of(h)->hook_request(req); }

    int hook_request(h2o_req_t* req) {
        const std::string peer = peer_of(req);
        if (refused(req, peer)) return 0;
        if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")))
            return respond(req, 405, "Method Not Allowed", "", "");
        const auto q = parse_query(req->query_at == SIZE_MAX ? std::string_view{} : sv(req->path).substr(req->query_at + 1));
        if (!o.webhook_disable_auth) {
            auto token = request_token(req, q);
            if (!token || !check_token(*token)) return respond(req, 401, "Unauthorized", "", "");
        }
        std::string_view path = sv(req->path_normalized);
        path.remove_prefix(std::string_view("/hook").size());
        while (!path.empty() && path.front() == '/') path.remove_prefix(1);
        while (!path.empty() && path.back() == '/') path.remove_suffix(1);
        const std::string tag = path.empty() ? "salt/netapi/hook" : "salt/netapi/hook/" + std::string(path);
        const std::string_view body = sv(req->entity);
        // salt-api's data: the raw body, the parsed body ({} when it is not a form or JSON) and the headers.
        map_t data;
        data.push_back({value("body"), value(std::string(body))});
        value post{map_t{}};
        const auto type = header_value(req, "content-type").value_or("");
        if (type.rfind("application/json", 0) == 0) {
            auto parsed = parse_json(body);
            if (!parsed) return respond(req, 400, "Bad Request", "application/json", "{\"success\": false}");
            post = std::move(*parsed);
        } else if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
            map_t form;
            for (auto& [k, v] : parse_query(body)) form.push_back({value(k), value(v)});
            post = value(std::move(form));
        }
        data.push_back({value("post"), std::move(post)});
        // The headers as CherryPy hands them over: names in Title-Case, Host and Content-Length
        // among them.
        map_t headers;
        auto title = [](std::string_view name) {
            std::string t(name);
            bool up = true;
            for (char& c : t) {
                c = up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c)))
                       : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                up = c == '-';
            }
            return t;
        };
        if (req->authority.len) headers.push_back({value("Host"), value(std::string(sv(req->authority)))});
        for (std::size_t i = 0; i < req->headers.size; ++i) {
            const auto& e = req->headers.entries[i];
            headers.push_back({value(title(sv(*e.name))), value(std::string(sv(e.value)))});
        }
        if (req->entity.base) headers.push_back({value("Content-Length"), value(std::to_string(body.size()))});
        data.push_back({value("headers"), value(std::move(headers))});
        if (!hook_sender) {
            auto s = tagbus::sender::open(bus);
            if (!s) {
                log("hook " + tag + " from " + peer + " not fired: " + s.error().message);
                return respond(req, 503, "Service Unavailable", "application/json", "{\"success\": false}");
            }
            hook_sender.emplace(std::move(*s));
        }
        auto r = hook_sender->fire(tag, value(std::move(data)));
        if (r) r = hook_sender->flush();
        if (!r) {
            hook_sender.reset();
            log("hook " + tag + " from " + peer + " not fired: " + r.error().message);
            return respond(req, 503, "Service Unavailable", "application/json", "{\"success\": false}");
        }
        if (o.verbose) log("hook " + tag + " fired for " + peer);
        return respond(req, 200, "OK", "application/json", "{\"success\": true}");
    }

    static int on_page(h2o_handler_t* h, h2o_req_t* req) {
        server* self = of(h);
        const std::string peer = peer_of(req);
        if (self->refused(req, peer)) return 0;
        const std::string_view path = sv(req->path_normalized);
        if (path != "/" && path != "/index.html") return self->respond(req, 404, "Not Found", "", "");
        return self->respond(req, 200, "OK", "text/html; charset=utf-8", page_html());
    }

    void add_handler(h2o_hostconf_t* host, const char* path, int (*cb)(h2o_handler_t*, h2o_req_t*)) {
        h2o_pathconf_t* pc = h2o_config_register_path(host, path, 0);
        auto* h = h2o_create_handler(pc, sizeof(h2o_handler_t) + sizeof(server*));
        h->on_req = cb;
        *reinterpret_cast<server**>(h + 1) = this;
    }

    // --- accepting --------------------------------------------------------------------------
    static void on_accept(uv_stream_t* l, int status) {
        auto* self = static_cast<server*>(l->data);
        if (status != 0) return;
        auto* c = new connection;
        c->srv = self;
        uv_tcp_init(l->loop, &c->tcp);
        if (uv_accept(l, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
            uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete reinterpret_cast<connection*>(h); });
            return;
        }
        sockaddr_storage ss{};
        int len = sizeof ss;
        uv_tcp_getpeername(&c->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
        char host[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, host, sizeof host);
            port = ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, host, sizeof host);
            port = ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        }
        c->peer = std::string(host) + ":" + std::to_string(port);
        if (self->open_conns >= self->o.max_clients + 64) {  // room for requests besides the streams
            self->log("refusing a connection from " + c->peer + ": " + std::to_string(self->open_conns) +
                      " open (--max-clients)");
            uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), [](uv_handle_t* h) { delete reinterpret_cast<connection*>(h); });
            return;
        }
        uv_tcp_nodelay(&c->tcp, 1);
        ++self->open_conns;
        self->conns[c->peer] = c;
        h2o_socket_t* sock = h2o_uv_socket_create(reinterpret_cast<uv_stream_t*>(&c->tcp), [](uv_handle_t* h) {
            auto* conn = reinterpret_cast<connection*>(h);
            server* srv = conn->srv;
            auto it = srv->conns.find(conn->peer);
            if (it != srv->conns.end() && it->second == conn) srv->conns.erase(it);
            --srv->open_conns;
            delete conn;
            if (srv->stopping && srv->conns.empty()) srv->finish();
        });
        h2o_accept(&self->accept_ctx, sock);
    }

    // --- every second -----------------------------------------------------------------------
    static void on_tick(uv_timer_t* t) {
        auto* self = static_cast<server*>(t->data);
        const double now = wall_now();
        // Streams whose token expired end even when no event comes (salt-api ends them at the
        // next event).
        std::vector<stream*> ending;
        for (auto* s : self->streams)
            if (!s->done && s->expires && *s->expires <= now) ending.push_back(s);
        for (auto* s : ending) {
            self->log("ending the stream of " + s->peer + ": its token expired");
            self->end_stream(s, false);
        }
        if (self->o.keepalive_ms > 0 && (now - self->last_keepalive) * 1000 >= static_cast<double>(self->o.keepalive_ms)) {
            self->last_keepalive = now;
            self->publish_keepalive();
        }
    }

    // --- set-up -----------------------------------------------------------------------------
    result<void> setup_tls() {
        if (!o.ssl_crt) return {};
        ssl = SSL_CTX_new(TLS_server_method());
        SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
        SSL_CTX_set_options(ssl, SSL_OP_NO_COMPRESSION);
        auto ssl_error = [] {
            char buf[256];
            ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
            return std::string(buf);
        };
        if (SSL_CTX_use_certificate_chain_file(ssl, o.ssl_crt->c_str()) != 1)
            return fail(errc::config, "cannot use the certificate " + *o.ssl_crt + " (--ssl-crt): " + ssl_error());
        if (SSL_CTX_use_PrivateKey_file(ssl, o.ssl_key->c_str(), SSL_FILETYPE_PEM) != 1)
            return fail(errc::config, "cannot use the key " + *o.ssl_key + " (--ssl-key): " + ssl_error());
        if (SSL_CTX_check_private_key(ssl) != 1)
            return fail(errc::config, "the key " + *o.ssl_key + " does not belong to the certificate " + *o.ssl_crt);
        h2o_ssl_register_alpn_protocols(ssl, h2o_http2_alpn_protocols);
        accept_ctx.ssl_ctx = ssl;
        return {};
    }

    result<void> listen() {
        uv_tcp_init(uv, &listener);
        listener.data = this;
        sockaddr_storage addr{};
        if (uv_ip4_addr(o.host.c_str(), o.port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
            uv_ip6_addr(o.host.c_str(), o.port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0)
            return fail(errc::invalid, "--host " + o.host + " is not an IPv4 or IPv6 address");
        int r = uv_tcp_bind(&listener, reinterpret_cast<sockaddr*>(&addr), 0);
        if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), 4096, on_accept);
        if (r != 0)
            return fail(errc::unavailable, "cannot listen on " + o.host + ":" + std::to_string(o.port) + ": " + uv_strerror(r));
        listening = true;
        return {};
    }

    std::uint16_t bound_port() {
        sockaddr_storage ss{};
        int len = sizeof ss;
        uv_tcp_getsockname(&listener, reinterpret_cast<sockaddr*>(&ss), &len);
        if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
        return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    }

    int run_all() {
        uv = static_cast<uv_loop_t*>(loop.native());
        run = std::to_string(static_cast<long long>(wall_now() * 1000)) + ".";
        h2o_config_init(&config);
        static const std::string server_name = "tagbus-event-api/" TAGBUS_VERSION;
        config.server_name = h2o_iovec_init(server_name.data(), server_name.size());
        config.max_request_entity_size = o.max_body;
        h2o_hostconf_t* host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
        add_handler(host, "/events", on_events);
        add_handler(host, "/ws", on_ws);
        add_handler(host, "/hook", on_hook);
        add_handler(host, "/", on_page);
        h2o_context_init(&ctx, uv, &config);
        accept_ctx.ctx = &ctx;
        accept_ctx.hosts = config.hosts;

        fanout_options fo;
        fo.max_buffer = o.client_queue;
        // Every client behind: stop reading the bus, which then holds our events and, if we stay
        // behind, pauses its publishers or drops us, as it does any slow subscriber.
        fo.pause = [this](bool on) {
            if (sub) sub->pause(on);
        };
        fo.evicted = [this](fanout_sink* sink, fanout_drop why, std::size_t unwritten) {
            auto* s = static_cast<stream*>(sink);
            s->in_hub = false;
            ++dropped_clients;
            log("dropping client " + s->peer + ": " + std::to_string(unwritten) + " bytes unwritten" +
                (why == fanout_drop::over_bound ? " exceed --client-queue " + std::to_string(o.client_queue)
                                                : ", and it took none for 2 s"));
            request_end(s, true);
        };
        hub = std::make_unique<fanout_hub>(uv, std::move(fo));
        uv_timer_init(uv, &defer_timer);
        defer_timer.data = this;
        uv_timer_init(uv, &tick);
        tick.data = this;
        last_keepalive = wall_now();
        uv_timer_start(&tick, on_tick, 1000, 1000);

        if (auto r = setup_tls(); !r) {
            dispose();
            return cli::fail(tool, r.error());
        }
        if (auto r = listen(); !r) {
            dispose();
            return cli::fail(tool, r.error());
        }

        subscriber_options so;
        so.pub = bus.details().eps.pub;
        so.wait_for_bus = true;
        sub.emplace(loop, so,
                    subscriber_handlers{[this](std::string_view body) { on_body(body); }, nullptr,
                                        [this](link_state st, const failure* err) {
                                            if (st == link_state::connected) log("subscribed to " + so_describe());
                                            else if (st == link_state::reconnected) log("subscribed again to " + so_describe() + " (events fired meanwhile are lost)");
                                            else if (err) log(err->message + "; trying again");
                                        }});
        sub->start();
        auto stop = [this] {
            if (stopping) return;
            stopping = true;
            log("stopping: " + std::to_string(streams.size()) + " clients, " + std::to_string(events) + " events served");
            shutdown();
        };
        loop.on_signal(SIGTERM, stop);
        loop.on_signal(SIGINT, stop);
        log(std::string("serving ") + (ssl ? "https" : "http") + "://" + o.host + ":" + std::to_string(bound_port()) +
            " for the bus at " + so_describe());
        loop.run();
        dispose();
        return 0;
    }

    std::string so_describe() const { return bus.details().eps.pub.describe(); }

    /// SIGTERM: no new connections, every stream ended (its last chunk sent), idle connections
    /// closed by h2o; what is still open after 2 s is cut, and the loop ends once every
    /// connection is gone (at the latest a second later).
    void shutdown() {
        sub->stop();
        uv_timer_stop(&tick);
        uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
        if (listening) uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
        listening = false;
        std::vector<stream*> all(streams.begin(), streams.end());
        for (auto* s : all) end_stream(s, false);
        h2o_context_request_shutdown(&ctx);
        for (auto& [n, b] : ring) hub->release(b);
        ring.clear();
        hub->shut();
        loop.after(2000, [this] {
            for (auto& [peer, c] : conns) {
                uv_os_fd_t fd;
                if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c->tcp), &fd) == 0) ::shutdown(fd, SHUT_RDWR);
            }
            loop.after(1000, [this] { finish(); });
        });
        if (conns.empty()) finish();
    }

    void finish() {
        if (finished) return;
        finished = true;
        uv_timer_stop(&defer_timer);
        uv_close(reinterpret_cast<uv_handle_t*>(&defer_timer), nullptr);
        loop.stop();
    }

    bool timeouts_empty() {
        for (h2o_timeout_t* t : {&ctx.zero_timeout, &ctx.one_sec_timeout, &ctx.hundred_ms_timeout, &ctx.handshake_timeout,
                                 &ctx.http1.req_timeout, &ctx.http2.idle_timeout, &ctx.http2.graceful_shutdown_timeout,
                                 &ctx.proxy.io_timeout})
            if (!h2o_linklist_is_empty(&t->_entries)) return false;
        return true;
    }

    /// After the loop: what h2o and OpenSSL hold is given back, when no connection is left.
    void dispose() {
        if (!conns.empty()) return;  // cut at the deadline and not closed yet: the process ends anyway
        // h2o's own deferred work must run out first (its one-second timeout holds entries for a
        // second after the last connection): it refuses to dispose of a context otherwise.
        for (int i = 0; i < 75 && !timeouts_empty(); ++i) {
            loop.after(20, [this] { loop.stop(); });
            loop.run();
        }
        if (!timeouts_empty()) return;
        h2o_context_dispose(&ctx);
        h2o_config_dispose(&config);
        if (ssl) SSL_CTX_free(ssl);
        ssl = nullptr;
        loop.poll();  // the close callbacks of h2o's timers
    }
};

bool stream::write(const uv_buf_t* bufs, unsigned n) { return srv->stream_write(this, bufs, n); }

std::size_t stream::transport_backlog() const { return sending; }

stream::~stream() {
    if (srv) {
        if (in_hub) srv->hub->remove(this);
        srv->forget_deferred(this);
        srv->streams.erase(this);
    }
}

}  // namespace

int run_server(std::string_view tool, const server_options& o, token_store& tokens, const destination& bus) {
    server s(o, tool, tokens, bus);
    return s.run_all();
}

}  // namespace event_api
