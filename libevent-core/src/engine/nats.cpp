// NATS JetStream behind stream_engine (stream.hpp), on Debian's libnats (the C client).
//
// libnats is opened with dlopen on first use, as libcrypto is (host/digest.hpp): it pulls in
// libssl, libcrypto and libprotobuf-c, which every state-event and event-fire would otherwise map
// at start-up though only `--from nats://` and event-bridge use them. The headers are the
// package's own, so every type and signature is checked by the compiler.
//
// libnats runs its own threads (socket reads, flushes, message delivery, publish acknowledgments).
// Its callbacks only append to queues under one mutex and call `notify`; the caller's thread takes
// the queues in poll(). natsMsg_Ack and js_PublishMsgAsync are thread-safe in libnats.
#include "engine/stream.hpp"
#include "host/digest.hpp"

#include <dlfcn.h>
#include <nats/nats.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

namespace tagbus::inline v0::engine {

namespace {

// Every libnats function used here, bound by name.
#define TAGBUS_NATS_FUNCTIONS(X)                                                                       \
    X(nats_Open) X(natsStatus_GetText) X(nats_GetLastError) X(natsOptions_Create) X(natsOptions_Destroy)  \
    X(natsOptions_SetServers) X(natsOptions_SetName) X(natsOptions_SetUserInfo) X(natsOptions_SetToken)   \
    X(natsOptions_SetUserCredentialsFromFiles) X(natsOptions_SetNKeyFromSeed) X(natsOptions_SetSecure)                                  \
    X(natsOptions_LoadCATrustedCertificates) X(natsOptions_LoadCertificatesChain) X(natsOptions_SetTimeout) \
    X(natsOptions_SetMaxReconnect) X(natsOptions_SetAllowReconnect) X(natsOptions_SetReconnectWait) X(natsOptions_SetDisconnectedCB)       \
    X(natsOptions_SetReconnectedCB) X(natsOptions_SetClosedCB) X(natsOptions_SetErrorHandler)             \
    X(natsOptions_SetRetryOnFailedConnect) X(natsOptions_SetReconnectBufSize) X(natsOptions_SetNoRandomize) X(natsOptions_SetIOBufSize) \
    X(natsConnection_Connect) X(natsConnection_Close) X(natsConnection_Destroy) X(natsConnection_IsClosed)  \
    X(natsConnection_Status) X(natsConnection_GetConnectedUrl) X(natsConnection_JetStream) X(jsCtx_Destroy) \
    X(jsOptions_Init) X(jsStreamConfig_Init) X(js_AddStream) X(js_GetStreamInfo) X(jsStreamInfo_Destroy)  \
    X(jsPubOptions_Init) X(js_PublishMsgAsync) X(js_PublishAsyncComplete) X(natsMsg_Create)               \
    X(natsMsgHeader_Set) X(natsMsgHeader_Get) X(natsMsg_GetData) X(natsMsg_GetDataLength)                 \
    X(natsMsg_GetSubject) X(natsMsg_GetReply) X(natsMsg_Destroy) X(natsMsg_Ack) \
    X(natsMsg_Nak) X(jsSubOptions_Init) X(js_Subscribe) X(jsConsumerConfig_Init) X(js_AddConsumer) X(js_GetConsumerInfo) X(jsConsumerInfo_Destroy) X(natsSubscription_Unsubscribe)                    \
    X(natsSubscription_Destroy) X(natsSubscription_SetPendingLimits) X(natsSubscription_SetOnCompleteCB)

struct api {
#define TAGBUS_NATS_MEMBER(f) decltype(&::f) f = nullptr;
    TAGBUS_NATS_FUNCTIONS(TAGBUS_NATS_MEMBER)
#undef TAGBUS_NATS_MEMBER
    std::string error;  // why it could not be loaded
};

const api& nats() {
    static const api a = [] {
        api r;
        // Debian's package names the shared object after the library's major version.
        const char* names[] = {"libnats.so.3.4", "libnats.so.3", "libnats.so"};
        void* h = nullptr;
        for (const char* n : names)
            if ((h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) != nullptr) break;
        if (h == nullptr) {
            const char* why = dlerror();
            r.error = "cannot load libnats (install Debian's libnats3.4): " + std::string(why ? why : "not found");
            return r;
        }
#define TAGBUS_NATS_BIND(f)                                                              \
    r.f = reinterpret_cast<decltype(&::f)>(dlsym(h, #f));                                \
    if (r.f == nullptr && r.error.empty()) r.error = "libnats has no " #f " (too old?)";
        TAGBUS_NATS_FUNCTIONS(TAGBUS_NATS_BIND)
#undef TAGBUS_NATS_BIND
        if (r.error.empty() && r.nats_Open(-1) != NATS_OK) r.error = "cannot initialise libnats";
        return r;
    }();
    return a;
}

// "stream not found", from libnats's last error ("Error: (jsm.c:2867): stream not found") when it
// says more than the status ("Error").
std::string status_text(natsStatus s) {
    const api& n = nats();
    std::string t = n.natsStatus_GetText(s);
    const char* last = n.nats_GetLastError(nullptr);
    if (last == nullptr || *last == '\0') return t;
    std::string_view l = last;
    if (auto at = l.find("): "); at != std::string_view::npos && l.substr(0, 2) != "nats") l.remove_prefix(at + 3);
    if (l.empty() || l == t) return t;
    return t == "Error" ? std::string(l) : t + ": " + std::string(l);
}

// NATS's own errors mapped onto the library's kinds.
errc kind_of(natsStatus s) {
    switch (s) {
        case NATS_NOT_PERMITTED:
        case NATS_SSL_ERROR:
        case NATS_CONNECTION_AUTH_FAILED: return errc::config;
        case NATS_INVALID_ARG: return errc::invalid;
        case NATS_TIMEOUT: return errc::timeout;
        default: return errc::unavailable;
    }
}

std::string header(natsMsg* m, const char* key) {
    const char* v = nullptr;
    if (nats().natsMsgHeader_Get(m, key, &v) == NATS_OK && v != nullptr) return v;
    return {};
}

// NATS nkeys (the nkeys library's encoding): base32 (RFC 4648, no padding) of a prefix byte, the
// 32 key bytes and a CRC-16 (XMODEM: polynomial 0x1021, initial 0), little-endian. A user seed
// ("SU...") has two prefix bytes: the seed's (18 << 3) and the user's (20 << 3) spread over them.
std::uint16_t nkey_crc16(const unsigned char* p, std::size_t n) {
    std::uint16_t crc = 0;
    for (std::size_t i = 0; i < n; ++i) {
        crc ^= static_cast<std::uint16_t>(p[i]) << 8;
        for (int k = 0; k < 8; ++k) crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021) : static_cast<std::uint16_t>(crc << 1);
    }
    return crc;
}

constexpr std::string_view base32_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string base32(const std::string& bytes) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (unsigned char c : bytes) {
        buffer = (buffer << 8) | c;
        bits += 8;
        while (bits >= 5) {
            out += base32_alphabet[(buffer >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0) out += base32_alphabet[(buffer << (5 - bits)) & 31];
    return out;
}

std::optional<std::string> unbase32(std::string_view text) {
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        const auto v = base32_alphabet.find(c);
        if (v == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 5) | static_cast<unsigned>(v);
        bits += 5;
        if (bits >= 8) {
            out += static_cast<char>((buffer >> (bits - 8)) & 0xFF);
            bits -= 8;
        }
    }
    return out;
}

// The user public key ("U...") of the nkey seed in `file`, as the nats CLI's --nkey reads it.
result<std::string> nkey_public_key(const std::string& file) {
    FILE* f = std::fopen(file.c_str(), "r");
    if (f == nullptr) return fail(errc::config, "cannot read the nkey file " + file + ": " + std::strerror(errno));
    char buf[256] = {};
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string_view text(buf, n);
    const auto at = text.find("SU");
    std::size_t end = at;
    while (end < text.size() && base32_alphabet.find(text[end]) != std::string_view::npos) ++end;
    const auto bad = [&] { return fail(errc::config, "the nkey file " + file + " holds no user seed (a line SU...)"); };
    if (at == std::string_view::npos) return bad();
    auto raw = unbase32(text.substr(at, end - at));
    if (!raw || raw->size() != 36) return bad();
    const auto* r = reinterpret_cast<const unsigned char*>(raw->data());
    const std::uint16_t crc = static_cast<std::uint16_t>(r[34] | (r[35] << 8));
    const unsigned type = ((r[0] & 7u) << 5) | ((r[1] & 0xF8u) >> 3);
    if (nkey_crc16(r, 34) != crc || (r[0] & 0xF8u) != (18u << 3) || type != (20u << 3)) return bad();
    auto pub = detail::ed25519_public_key(raw->substr(2, 32));
    if (!pub) return pub.error();
    std::string p(1, static_cast<char>(20 << 3));
    p += *pub;
    const std::uint16_t pcrc = nkey_crc16(reinterpret_cast<const unsigned char*>(p.data()), p.size());
    p += static_cast<char>(pcrc & 0xFF);
    p += static_cast<char>(pcrc >> 8);
    return base32(p);
}

constexpr const char* hdr_tag = "Salt-Tag";
constexpr const char* hdr_stamp = "Salt-Stamp";
constexpr const char* hdr_format = "Salt-Format";
constexpr const char* hdr_msg_id = "Nats-Msg-Id";

struct msg_deleter {
    void operator()(natsMsg* m) const { nats().natsMsg_Destroy(m); }
};

// What libnats's threads and the caller's thread share. libnats may still be inside a callback
// when the engine goes away (a delivery thread, the publish-ack thread), so callbacks get this and
// never the engine, and it is never freed: a retired one is kept, emptied, in `retired()` (one
// small object per engine a process makes; reachable, so leak checkers stay quiet).
struct shared {
    std::mutex mu;
    std::condition_variable space;  // a delivery thread waits here while the caller is behind
    std::condition_variable ended;  // the subscription completed / the connection closed
    std::vector<publish_result> acks;
    std::deque<incoming> msgs;
    std::vector<link_event> links;
    bool notified = false;
    bool stopping = false;
    bool sub_complete = false;
    bool closed = false;
    bool publisher = false;  // a closed connection is made again by the engine (lost: it was closed)
    bool lost = false;
    bool durable = false;
    bool headers = true;  // read the headers (a replay needs none of them)
    std::function<void()> notify;  // emptied when the engine goes away

    void wake(std::unique_lock<std::mutex>& lk) {
        const bool first = !std::exchange(notified, true);
        std::function<void()> n = first ? notify : nullptr;
        lk.unlock();
        if (n) n();
    }
};

std::vector<std::unique_ptr<shared>>& retired() {
    static auto* r = new std::vector<std::unique_ptr<shared>>;
    return *r;
}
std::mutex retired_mu;

class nats_engine final : public stream_engine {
public:
    nats_engine(std::function<void()> notify) : st_(new shared) { st_->notify = std::move(notify); }

    ~nats_engine() override {
        const api& n = nats();
        {
            std::lock_guard lk(st_->mu);
            st_->stopping = true;
            st_->notify = nullptr;
            st_->msgs.clear();
            st_->space.notify_all();
            st_->ended.notify_all();
        }
        if (reconnector_.joinable()) reconnector_.join();
        if (sub_ != nullptr) {
            n.natsSubscription_Unsubscribe(sub_);
            std::unique_lock lk(st_->mu);
            st_->ended.wait_for(lk, std::chrono::seconds(2), [this] { return st_->sub_complete; });
        }
        if (nc_ != nullptr) {
            n.natsConnection_Close(nc_);
            std::unique_lock lk(st_->mu);
            st_->ended.wait_for(lk, std::chrono::seconds(2), [this] { return st_->closed; });
        }
        if (sub_ != nullptr) n.natsSubscription_Destroy(sub_);
        if (js_ != nullptr) n.jsCtx_Destroy(js_);
        if (nc_ != nullptr) n.natsConnection_Destroy(nc_);
        if (opts_ != nullptr) n.natsOptions_Destroy(opts_);
        std::lock_guard lk(st_->mu);
        st_->acks.clear();
        st_->links.clear();
        std::lock_guard rl(retired_mu);
        retired().push_back(std::unique_ptr<shared>(st_));
    }

    result<void> connect(const connect_options& o) {
        const api& n = nats();
        if (o.servers.empty()) return fail(errc::invalid, "no NATS server given (--server nats://HOST:PORT)");
        servers_ = o.servers;
        natsStatus s = n.natsOptions_Create(&opts_);
        std::vector<const char*> urls;
        for (const auto& u : o.servers) urls.push_back(u.c_str());
        if (s == NATS_OK) s = n.natsOptions_SetServers(opts_, urls.data(), static_cast<int>(urls.size()));
        if (s != NATS_OK) return fail(errc::invalid, "bad NATS server URL in '" + joined_servers() + "': " + status_text(s));
        if (!o.name.empty()) n.natsOptions_SetName(opts_, o.name.c_str());
        n.natsOptions_SetNoRandomize(opts_, true);
        n.natsOptions_SetTimeout(opts_, o.connect_timeout_ms);
        st_->publisher = o.publisher;
        if (o.publisher) {
            n.natsOptions_SetAllowReconnect(opts_, false);  // reconnect() makes a new connection
        } else {
            n.natsOptions_SetMaxReconnect(opts_, -1);  // a consumer keeps trying for as long as it runs
            n.natsOptions_SetReconnectWait(opts_, 250);
        }
        // No buffering of publishes while reconnecting: libnats would send what it buffered to the
        // new server before the caller learns of the outage, ahead of the messages lost with the
        // old connection, and the stream would hold them out of order. A publish during an outage
        // fails instead, and the caller resends everything unacknowledged, in order.
        n.natsOptions_SetReconnectBufSize(opts_, 1);
        // Reads of 1 MiB instead of 32 KiB: a replay takes the stream at hundreds of thousands of
        // messages a second, and each read is a system call on libnats's reader thread.
        n.natsOptions_SetIOBufSize(opts_, 1 << 20);
        n.natsOptions_SetDisconnectedCB(opts_, &nats_engine::on_disconnected, st_);
        n.natsOptions_SetReconnectedCB(opts_, &nats_engine::on_reconnected, st_);
        n.natsOptions_SetClosedCB(opts_, &nats_engine::on_closed, st_);
        n.natsOptions_SetErrorHandler(opts_, &nats_engine::on_error, st_);
        if (o.retry_first_connect) n.natsOptions_SetRetryOnFailedConnect(opts_, true, nullptr, nullptr);
        if (!o.user.empty() || !o.password.empty())
            n.natsOptions_SetUserInfo(opts_, o.user.c_str(), o.password.c_str());
        if (!o.token.empty()) n.natsOptions_SetToken(opts_, o.token.c_str());
        if (!o.creds_file.empty()) {
            s = n.natsOptions_SetUserCredentialsFromFiles(opts_, o.creds_file.c_str(), nullptr);
            if (s != NATS_OK) return fail(errc::config, "cannot use credentials file " + o.creds_file + ": " + status_text(s));
        }
        if (!o.nkey_file.empty()) {
            if (!o.creds_file.empty()) return fail(errc::invalid, "give --creds or --nkey, not both");
            auto pub = nkey_public_key(o.nkey_file);
            if (!pub) return pub.error();
            s = n.natsOptions_SetNKeyFromSeed(opts_, pub->c_str(), o.nkey_file.c_str());
            if (s != NATS_OK) return fail(errc::config, "cannot use the nkey file " + o.nkey_file + ": " + status_text(s));
        }
        bool tls = o.tls || !o.tls_ca.empty() || !o.tls_cert.empty();
        for (const auto& u : o.servers)
            if (u.rfind("tls://", 0) == 0) tls = true;
        if (tls) {
            s = n.natsOptions_SetSecure(opts_, true);
            if (s != NATS_OK) return fail(errc::config, "TLS is not available in libnats: " + status_text(s));
        }
        if (!o.tls_ca.empty()) {
            s = n.natsOptions_LoadCATrustedCertificates(opts_, o.tls_ca.c_str());
            if (s != NATS_OK) return fail(errc::config, "cannot load the TLS CA file " + o.tls_ca + ": " + status_text(s));
        }
        if (!o.tls_cert.empty() || !o.tls_key.empty()) {
            if (o.tls_cert.empty() || o.tls_key.empty())
                return fail(errc::invalid, "a TLS client certificate needs both --tls-cert and --tls-key");
            s = n.natsOptions_LoadCertificatesChain(opts_, o.tls_cert.c_str(), o.tls_key.c_str());
            if (s != NATS_OK)
                return fail(errc::config, "cannot load the TLS client certificate " + o.tls_cert + ": " + status_text(s));
        }
        s = n.natsConnection_Connect(&nc_, opts_);
        // libnats 3.4 now and then sends no signature of the server's nonce (the server logs
        // "Signature missing", about one connection in seventy here), so a refusal under --nkey or
        // --creds is believed only after the next connections, each with a new nonce, say the same.
        const bool signs = !o.nkey_file.empty() || !o.creds_file.empty();
        for (int again = 0; signs && (s == NATS_NOT_PERMITTED || s == NATS_CONNECTION_AUTH_FAILED) && again < 3; ++again)
            s = n.natsConnection_Connect(&nc_, opts_);
        if (s != NATS_OK) {
            nc_ = nullptr;
            if (tls && s == NATS_PROTOCOL_ERROR)  // the server hung up right after the TLS handshake
                return fail(errc::config, "cannot connect to NATS at " + joined_servers() + ": " + status_text(s) +
                                              " (the server closed the TLS connection: does it require a client "
                                              "certificate? give --tls-cert and --tls-key)");
            const errc k = kind_of(s);
            return fail(k, "cannot connect to NATS at " + joined_servers() + ": " + status_text(s) +
                               (k == errc::config ? " (check the user, password, token, creds or TLS options)" : ""));
        }
        s = make_js(nc_, js_);
        if (s != NATS_OK) return fail(errc::unavailable, "cannot use JetStream: " + status_text(s));
        if (o.publisher) {
            n.natsOptions_SetTimeout(opts_, 2000);  // later connects: a stop never waits long for one
            reconnector_ = std::thread([this] { reconnect_loop(); });
        }
        return {};
    }

    natsStatus make_js(natsConnection* nc, jsCtx*& js) {
        jsOptions jo;
        nats().jsOptions_Init(&jo);
        jo.Wait = 10000;  // JetStream API calls (creating a stream or a consumer) while a cluster elects a leader
        jo.PublishAsync.MaxPending = 1 << 20;  // the bridge keeps its own, smaller window
        jo.PublishAsync.AckHandler = &nats_engine::on_ack;
        jo.PublishAsync.AckHandlerClosure = st_;
        return nats().natsConnection_JetStream(&js, nc, &jo);
    }

    // A publisher's connection, made again after each outage (see connect_options::publisher):
    // waits until the connection is closed, then tries every server in turn, with a growing pause,
    // until one answers; the old connection is destroyed only then.
    void reconnect_loop() {
        const api& n = nats();
        for (;;) {
            {
                std::unique_lock lk(st_->mu);
                st_->ended.wait(lk, [this] { return st_->lost || st_->stopping; });
                if (st_->stopping) return;
            }
            int pause_ms = 100;
            natsConnection* nc = nullptr;
            jsCtx* js = nullptr;
            for (;;) {
                {
                    std::unique_lock lk(st_->mu);
                    if (st_->ended.wait_for(lk, std::chrono::milliseconds(pause_ms), [this] { return st_->stopping; })) return;
                }
                pause_ms = std::min(pause_ms * 2, 1000);
                if (n.natsConnection_Connect(&nc, opts_) != NATS_OK) {
                    nc = nullptr;
                    continue;
                }
                if (make_js(nc, js) == NATS_OK) break;
                n.natsConnection_Destroy(nc);
                nc = nullptr;
            }
            natsConnection* old_nc;
            jsCtx* old_js;
            {
                std::lock_guard lk(conn_mu_);
                old_nc = std::exchange(nc_, nc);
                old_js = std::exchange(js_, js);
            }
            if (old_js != nullptr) n.jsCtx_Destroy(old_js);
            if (old_nc != nullptr) n.natsConnection_Destroy(old_nc);
            char url[256] = "";
            n.natsConnection_GetConnectedUrl(nc, url, sizeof url);
            {
                std::lock_guard lk(st_->mu);
                st_->lost = false;
                st_->closed = false;
            }
            push_link(st_, link_event::kind::reconnected, "reconnected to NATS at " + redacted(url) + " (a new connection)");
        }
    }

    result<void> ensure_stream(const stream_options& so) override {
        const api& n = nats();
        std::lock_guard lk(conn_mu_);
        jsStreamConfig cfg;
        n.jsStreamConfig_Init(&cfg);
        cfg.Name = so.name.c_str();
        std::vector<const char*> subjects;
        for (const auto& s : so.subjects) subjects.push_back(s.c_str());
        cfg.Subjects = subjects.data();
        cfg.SubjectsLen = static_cast<int>(subjects.size());
        cfg.Storage = js_FileStorage;
        cfg.Replicas = so.replicas;
        cfg.MaxAge = so.max_age_ns;
        cfg.MaxBytes = so.max_bytes;
        jsStreamInfo* si = nullptr;
        jsErrCode ec = static_cast<jsErrCode>(0);
        natsStatus s = n.js_AddStream(&si, js_, &cfg, nullptr, &ec);
        if (s == NATS_OK) {
            n.jsStreamInfo_Destroy(si);
            return {};
        }
        const std::string why = status_text(s);
        // It exists with another configuration: use it if it takes our subjects.
        s = n.js_GetStreamInfo(&si, js_, so.name.c_str(), nullptr, &ec);
        if (s != NATS_OK) return fail(kind_of(s) == errc::config ? errc::config : errc::unavailable,
                                      "cannot create stream '" + so.name + "': " + why);
        std::string have;
        bool covered = true;
        for (const auto& want : so.subjects) {
            bool found = false;
            for (int i = 0; i < si->Config->SubjectsLen; ++i)
                if (want == si->Config->Subjects[i]) found = true;
            covered = covered && found;
        }
        for (int i = 0; i < si->Config->SubjectsLen; ++i) have += (i ? ", " : "") + std::string(si->Config->Subjects[i]);
        n.jsStreamInfo_Destroy(si);
        if (!covered)
            return fail(errc::config, "stream '" + so.name + "' exists and takes subjects " + have + ", not " +
                                          so.subjects.front() + " (choose another --stream or --prefix)");
        return {};
    }

    result<void> publish(const outgoing& m) override {
        const api& n = nats();
        natsMsg* msg = nullptr;
        natsStatus s = n.natsMsg_Create(&msg, m.subject.c_str(), nullptr, m.payload.data(), static_cast<int>(m.payload.size()));
        if (s == NATS_OK) s = n.natsMsgHeader_Set(msg, hdr_msg_id, m.msg_id.c_str());
        if (s == NATS_OK) s = n.natsMsgHeader_Set(msg, hdr_tag, m.tag.c_str());
        if (s == NATS_OK && !m.stamp.empty()) s = n.natsMsgHeader_Set(msg, hdr_stamp, m.stamp.c_str());
        if (s == NATS_OK && !m.format.empty() && m.format != "salt") s = n.natsMsgHeader_Set(msg, hdr_format, m.format.c_str());
        if (s != NATS_OK) {
            if (msg != nullptr) n.natsMsg_Destroy(msg);
            return fail(errc::data, "cannot build the message for '" + m.tag + "': " + status_text(s));
        }
        jsPubOptions po;
        n.jsPubOptions_Init(&po);
        po.MaxWait = 10000;  // an acknowledgment lost with a server is a failure after 10 s, and is retried
        {
            std::lock_guard lk(conn_mu_);
            if (st_->publisher && n.natsConnection_IsClosed(nc_)) s = NATS_CONNECTION_CLOSED;
            else s = n.js_PublishMsgAsync(js_, &msg, &po);
        }
        if (msg != nullptr) n.natsMsg_Destroy(msg);  // not taken (an error)
        if (s == NATS_MAX_PAYLOAD)  // never accepted, however often it is sent
            return fail(errc::data, "the message for '" + m.tag + "' is " + std::to_string(m.payload.size()) +
                                        " bytes, over the server's max_payload");
        if (s != NATS_OK) return fail(kind_of(s), "cannot publish to NATS: " + status_text(s));
        return {};
    }

    result<void> consume(const consume_options& c) override {
        const api& n = nats();
        if (sub_ != nullptr) return fail(errc::internal, "the engine already consumes");
        st_->durable = !c.durable.empty();
        st_->headers = c.headers;
        jsSubOptions so;
        n.jsSubOptions_Init(&so);
        so.Stream = c.stream.c_str();
        switch (c.start.how) {
            case start_position::kind::all: so.Config.DeliverPolicy = js_DeliverAll; break;
            case start_position::kind::new_only: so.Config.DeliverPolicy = js_DeliverNew; break;
            case start_position::kind::sequence:
                so.Config.DeliverPolicy = js_DeliverByStartSequence;
                so.Config.OptStartSeq = c.start.sequence;
                break;
            case start_position::kind::time:
                so.Config.DeliverPolicy = js_DeliverByStartTime;
                so.Config.OptStartTime = c.start.time_ns;
                break;
        }
        std::string filter = c.subjects.empty() ? std::string() : c.subjects.front();
        if (c.subjects.size() > 1)
            return fail(errc::invalid, "NATS 2.9 consumers take one filter subject; give one --from (a wildcard "
                                       "such as salt.> covers several)");
        if (st_->durable) {
            // The durable consumer is made here (when missing) and the subscription binds to it:
            // a consumer that js_Subscribe made itself is deleted by libnats when the subscription
            // ends, and NATS would then forget how far the bridge got.
            if (auto r = ensure_durable(c, filter); !r) return r;
            so.Consumer = c.durable.c_str();
            so.ManualAck = true;
        } else {
            so.Ordered = true;  // replay: in stream order, gaps healed by the library, no acks
        }
        jsErrCode ec = static_cast<jsErrCode>(0);
        // The subject to subscribe: the filter, else every subject the stream takes (">" is
        // narrowed by the server to the stream's own).
        natsStatus s = n.js_Subscribe(&sub_, js_, filter.empty() ? ">" : filter.c_str(), &nats_engine::on_msg, st_,
                                      nullptr, &so, &ec);
        if (s != NATS_OK) {
            sub_ = nullptr;
            return fail(kind_of(s) == errc::invalid ? errc::unavailable : kind_of(s),
                        "cannot consume stream '" + c.stream + "'" + (filter.empty() ? "" : " (subject " + filter + ")") + ": " +
                            status_text(s));
        }
        // libnats's own queue before our callback: large, since our callback holds it back.
        n.natsSubscription_SetPendingLimits(sub_, -1, -1);
        n.natsSubscription_SetOnCompleteCB(sub_, &nats_engine::on_sub_complete, st_);
        return {};
    }

    // The durable consumer `c.durable` on `c.stream`: created (push, explicit acks, bounded
    // unacknowledged) when missing; when it exists it must have the same filter.
    result<void> ensure_durable(const consume_options& c, const std::string& filter) {
        const api& n = nats();
        std::lock_guard lk(conn_mu_);
        jsConsumerInfo* ci = nullptr;
        jsErrCode ec = static_cast<jsErrCode>(0);
        if (n.js_GetConsumerInfo(&ci, js_, c.stream.c_str(), c.durable.c_str(), nullptr, &ec) == NATS_OK) {
            const std::string have = ci->Config->FilterSubject ? ci->Config->FilterSubject : "";
            const bool push = ci->Config->DeliverSubject != nullptr && *ci->Config->DeliverSubject != '\0';
            n.jsConsumerInfo_Destroy(ci);
            if (have != filter)
                return fail(errc::config, "consumer '" + c.durable + "' of stream '" + c.stream + "' exists with the filter '" +
                                              have + "', not '" + filter + "' (use another --durable, or delete it)");
            if (!push)
                return fail(errc::config, "consumer '" + c.durable + "' of stream '" + c.stream +
                                              "' is a pull consumer (use another --durable, or delete it)");
            return {};
        }
        jsConsumerConfig cfg;
        n.jsConsumerConfig_Init(&cfg);
        const std::string deliver = "tagbus.deliver." + c.stream + "." + c.durable;
        cfg.Durable = c.durable.c_str();
        cfg.DeliverSubject = deliver.c_str();
        cfg.AckPolicy = js_AckExplicit;
        cfg.AckWait = 30LL * 1000 * 1000 * 1000;
        cfg.MaxAckPending = c.max_ack_pending;
        cfg.FlowControl = true;
        cfg.Heartbeat = 5LL * 1000 * 1000 * 1000;
        if (!filter.empty()) cfg.FilterSubject = filter.c_str();
        switch (c.start.how) {
            case start_position::kind::all: cfg.DeliverPolicy = js_DeliverAll; break;
            case start_position::kind::new_only: cfg.DeliverPolicy = js_DeliverNew; break;
            case start_position::kind::sequence:
                cfg.DeliverPolicy = js_DeliverByStartSequence;
                cfg.OptStartSeq = c.start.sequence;
                break;
            case start_position::kind::time:
                cfg.DeliverPolicy = js_DeliverByStartTime;
                cfg.OptStartTime = c.start.time_ns;
                break;
        }
        natsStatus s = n.js_AddConsumer(&ci, js_, c.stream.c_str(), &cfg, nullptr, &ec);
        if (s != NATS_OK)
            return fail(kind_of(s) == errc::invalid ? errc::unavailable : kind_of(s),
                        "cannot create consumer '" + c.durable + "' of stream '" + c.stream + "': " + status_text(s));
        n.jsConsumerInfo_Destroy(ci);
        return {};
    }

    void ack(const incoming& m) override {
        if (m.handle) nats().natsMsg_Ack(static_cast<natsMsg*>(m.handle.get()), nullptr);
    }
    void nak(const incoming& m) override {
        if (m.handle) nats().natsMsg_Nak(static_cast<natsMsg*>(m.handle.get()), nullptr);
    }

    polled poll() override {
        polled p;
        std::lock_guard lk(st_->mu);
        p.acks.swap(st_->acks);
        p.messages.assign(std::make_move_iterator(st_->msgs.begin()), std::make_move_iterator(st_->msgs.end()));
        st_->msgs.clear();
        p.links.swap(st_->links);
        st_->notified = false;
        st_->space.notify_all();
        return p;
    }

    void drain(std::int64_t timeout_ms) override {
        const api& n = nats();
        if (sub_ != nullptr) {
            std::lock_guard lk(st_->mu);
            st_->stopping = true;  // nothing more is delivered
            st_->space.notify_all();
        }
        std::lock_guard lk(conn_mu_);
        if (js_ != nullptr && timeout_ms > 0) {
            jsPubOptions po;
            n.jsPubOptions_Init(&po);
            po.MaxWait = timeout_ms;
            n.js_PublishAsyncComplete(js_, &po);
        }
    }

    bool connected() const override {
        std::lock_guard lk(conn_mu_);
        return nc_ != nullptr && nats().natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED;
    }

    std::string describe() const override {
        std::lock_guard lk(conn_mu_);
        std::string d = joined_servers();
        if (nc_ != nullptr) {
            char url[256];
            if (nats().natsConnection_GetConnectedUrl(nc_, url, sizeof url) == NATS_OK && url[0] != '\0')
                d = std::string(url) + (servers_.size() > 1 ? " (of " + joined_servers() + ")" : "");
        }
        return d;
    }

private:
    std::string joined_servers() const {
        std::string s;
        for (const auto& u : servers_) {
            if (!s.empty()) s += ',';
            s += redacted(u);
        }
        return s;
    }
    // nats://user:secret@host → nats://user:***@host: a secret never reaches a log line.
    static std::string redacted(const std::string& url) {
        auto scheme = url.find("://");
        auto at = url.rfind('@');
        if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
        auto colon = url.find(':', scheme + 3);
        if (colon == std::string::npos || colon > at) return url.substr(0, scheme + 3) + "***" + url.substr(at);
        return url.substr(0, colon + 1) + "***" + url.substr(at);
    }

    static void push_link(void* closure, link_event::kind k, std::string text) {
        auto* st = static_cast<shared*>(closure);
        std::unique_lock lk(st->mu);
        if (st->stopping && k != link_event::kind::closed) return;
        if (k == link_event::kind::closed) {
            st->closed = true;
            st->ended.notify_all();
            if (st->publisher && !st->stopping) {  // the engine makes a new connection
                st->lost = true;
                return;
            }
        }
        st->links.push_back({k, std::move(text)});
        st->notified = false;  // always worth a wake-up
        st->wake(lk);
    }
    static void on_disconnected(natsConnection*, void* st) {
        push_link(st, link_event::kind::disconnected, "lost the NATS connection; reconnecting");
    }
    static void on_reconnected(natsConnection* nc, void* st) {
        char url[256] = "";
        nats().natsConnection_GetConnectedUrl(nc, url, sizeof url);
        push_link(st, link_event::kind::reconnected, "reconnected to NATS at " + redacted(url));
    }
    static void on_closed(natsConnection*, void* st) {
        push_link(st, link_event::kind::closed, "the NATS connection is closed");
    }
    static void on_error(natsConnection*, natsSubscription*, natsStatus err, void* st) {
        push_link(st, link_event::kind::error, "NATS: " + status_text(err));
    }
    static void on_sub_complete(void* closure) {
        auto* st = static_cast<shared*>(closure);
        std::lock_guard lk(st->mu);
        st->sub_complete = true;
        st->ended.notify_all();
    }

    static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
        auto* st = static_cast<shared*>(closure);
        publish_result r;
        r.msg_id = header(msg, hdr_msg_id);
        if (pa != nullptr) {
            r.ok = true;
            r.duplicate = pa->Duplicate;
            r.sequence = pa->Sequence;
        } else {
            r.error = pae != nullptr && pae->ErrText != nullptr && *pae->ErrText != '\0'
                          ? std::string(pae->ErrText)
                          : status_text(pae != nullptr ? pae->Err : NATS_ERR);
        }
        nats().natsMsg_Destroy(msg);
        std::unique_lock lk(st->mu);
        if (st->stopping && !st->notify) return;  // the engine is gone
        st->acks.push_back(std::move(r));
        st->wake(lk);
    }

    static void on_msg(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
        auto* st = static_cast<shared*>(closure);
        const api& n = nats();
        incoming in;
        in.subject = n.natsMsg_GetSubject(msg);
        if (const char* d = n.natsMsg_GetData(msg)) in.payload.assign(d, static_cast<std::size_t>(n.natsMsg_GetDataLength(msg)));
        if (st->headers) {
            in.msg_id = header(msg, hdr_msg_id);
            in.tag = header(msg, hdr_tag);
            in.stamp = header(msg, hdr_stamp);
            in.format = header(msg, hdr_format);
        } else if (!in.payload.empty() && in.payload[0] == '{' && in.payload.find("\n\n") == std::string::npos) {
            // The format without parsing the headers (libnats builds a hash table for them, a
            // third of a replay's time): a JSON line never holds a blank line, a Salt body always does.
            in.format = "json";
        }
        if (const char* reply = n.natsMsg_GetReply(msg)) read_metadata(reply, in);
        std::unique_lock lk(st->mu);
        if (st->durable) in.handle = std::shared_ptr<void>(msg, [](void* m) { nats().natsMsg_Destroy(static_cast<natsMsg*>(m)); });
        else n.natsMsg_Destroy(msg);
        // Back-pressure: the delivery thread waits while the caller is behind, so libnats stops
        // answering the server's flow control and the server stops sending.
        st->space.wait(lk, [st] { return st->msgs.size() < max_queued || st->stopping; });
        if (st->stopping) return;  // not handed out: a durable consumer's server sends it again
        st->msgs.push_back(std::move(in));
        st->wake(lk);
    }

    // The stream sequence, delivery count and time from a JetStream message's reply subject,
    // $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time ns>.<pending>
    // (with a domain and an account hash before the stream on newer servers: 9 or more tokens, of
    // which these are always the last five), read in place: libnats's natsMsg_GetMetaData copies
    // every token into a new object for each message.
    static void read_metadata(std::string_view reply, incoming& in) {
        std::uint64_t v[5] = {};
        std::size_t end = reply.size();
        for (int i = 4; i >= 0; --i) {
            const std::size_t dot = reply.rfind('.', end - 1);
            if (dot == std::string_view::npos || end == 0) return;
            const std::string_view tok = reply.substr(dot + 1, end - dot - 1);
            if (std::from_chars(tok.data(), tok.data() + tok.size(), v[i]).ec != std::errc()) return;
            end = dot;
        }
        in.delivered = v[0];
        in.stream_sequence = v[1];
        in.time_ns = static_cast<std::int64_t>(v[3]);
    }

    static constexpr std::size_t max_queued = 65536;

    shared* st_;
    mutable std::mutex conn_mu_;  // nc_ and js_, replaced by reconnect_loop() in a publisher
    std::thread reconnector_;
    natsOptions* opts_ = nullptr;
    natsConnection* nc_ = nullptr;
    jsCtx* js_ = nullptr;
    natsSubscription* sub_ = nullptr;
    std::vector<std::string> servers_;
};

}  // namespace

result<std::unique_ptr<stream_engine>> connect_nats(const connect_options& o, std::function<void()> notify) {
    if (const api& n = nats(); !n.error.empty()) return fail(errc::unavailable, n.error);
    auto e = std::make_unique<nats_engine>(std::move(notify));
    if (auto r = e->connect(o); !r) return r.error();
    return std::unique_ptr<stream_engine>(std::move(e));
}

namespace {
result<double> leading_number(std::string_view& t, std::string_view what, std::string_view whole) {
    double v = 0;
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    if (ec != std::errc() || p == t.data() || !std::isfinite(v) || v < 0)
        return fail(errc::invalid, "invalid " + std::string(what) + " '" + std::string(whole) + "'");
    t.remove_prefix(static_cast<std::size_t>(p - t.data()));
    return v;
}
}  // namespace

result<std::int64_t> parse_duration_ns(std::string_view text) {
    const std::string_view whole = text;
    const auto bad = [&] {
        return fail(errc::invalid, "invalid duration '" + std::string(whole) + "' (expected e.g. 90s, 10m, 2h, 7d, 1h30m)");
    };
    if (text.empty()) return bad();
    double total = 0;
    while (!text.empty()) {
        auto v = leading_number(text, "duration", whole);
        if (!v) return bad();
        double unit = 1;  // plain seconds
        if (text.rfind("ms", 0) == 0) unit = 1e-3, text.remove_prefix(2);
        else if (!text.empty() && text[0] == 's') unit = 1, text.remove_prefix(1);
        else if (!text.empty() && text[0] == 'm') unit = 60, text.remove_prefix(1);
        else if (!text.empty() && text[0] == 'h') unit = 3600, text.remove_prefix(1);
        else if (!text.empty() && text[0] == 'd') unit = 86400, text.remove_prefix(1);
        else if (!text.empty()) return bad();
        total += *v * unit;
    }
    if (total * 1e9 > 9.2e18) return bad();
    return static_cast<std::int64_t>(total * 1e9);
}

result<std::int64_t> parse_size(std::string_view text) {
    const std::string_view whole = text;
    auto v = leading_number(text, "size", whole);
    double mult = 1;
    if (v && !text.empty()) {
        switch (text[0]) {
            case 'K': case 'k': mult = 1024.0; break;
            case 'M': case 'm': mult = 1024.0 * 1024; break;
            case 'G': case 'g': mult = 1024.0 * 1024 * 1024; break;
            case 'T': case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
            default: mult = 0;
        }
        text.remove_prefix(1);
        if (!text.empty() && (text == "B" || text == "iB" || text == "b")) text = {};
    }
    if (!v || mult == 0 || !text.empty() || *v * mult > 9.2e18)
        return fail(errc::invalid, "invalid size '" + std::string(whole) + "' (expected bytes, or e.g. 64K, 512M, 10G)");
    return static_cast<std::int64_t>(*v * mult);
}

}  // namespace tagbus::engine
