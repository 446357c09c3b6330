// Salt's frame envelope (SALT-WIRE §2). The decoder sits on the daemon's hot path: it works in
// place on one growing buffer, never allocates per frame, and never rescans bytes it has seen.
#include "wire/frame.hpp"

#include <cstdint>
#include <utility>

#include "wire/utf8.hpp"

namespace tagbus::inline v0 {

result<framing> parse_framing(std::string_view word) {
    if (word == "legacy") return framing::legacy;
    if (word == "prefixed") return framing::prefixed;
    return fail(errc::invalid, "unknown framing '" + std::string(word) + "' (expected legacy or prefixed)");
}

std::string_view to_string(framing f) { return f == framing::prefixed ? "prefixed" : "legacy"; }

namespace detail {
namespace {

void put_be32(std::string& out, std::uint32_t x) {
    const char b[4] = {static_cast<char>(x >> 24), static_cast<char>(x >> 16), static_cast<char>(x >> 8),
                       static_cast<char>(x)};
    out.append(b, 4);
}

std::uint32_t get_be(const char* p, unsigned bytes) {
    std::uint32_t x = 0;
    for (unsigned i = 0; i < bytes; ++i) x = (x << 8) | static_cast<unsigned char>(p[i]);
    return x;
}

// "\x82\xa4head\x80\xa4body": msgpack-python's bytes for the map up to the body value.
constexpr std::string_view envelope{
    "\x82\xa4head\x80\xa4"
    "body",
    12};

bool is_map_marker(unsigned char b) { return (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf; }

failure not_a_frame() { return fail(errc::data, "frame is not a map with head and body"); }

failure too_big(std::size_t size, std::size_t max, bool at_least) {
    return fail(errc::data, std::string("frame of ") + (at_least ? "at least " : "") + std::to_string(size) +
                                  " bytes exceeds the " + std::to_string(max) + "-byte limit");
}

// A cursor over one frame's map bytes; reads only what the envelope needs and skips the rest
// with scan(), so a large head costs one linear pass and no allocation.
struct map_reader {
    map_reader(std::string_view bytes, frame_rules r) : in(bytes), salt_pull(r == frame_rules::salt_pull) {}
    std::string_view in;
    bool salt_pull;
    std::size_t pos = 0;
    failure err;
    bool rejected = false;  // well-formed, but Salt's pull side would not take it (err says why)

    bool reject(std::string why) {
        rejected = true;
        return bad(fail(errc::data, std::move(why)));
    }

    bool bad(failure f) {
        err = std::move(f);
        return false;
    }

    bool truncated() {
        return bad(fail(errc::data, "malformed frame: truncated msgpack at byte " + std::to_string(pos)));
    }

    // Reads a str or bin header and its bytes; false with no error when the item is another type.
    bool read_bytes(std::string_view& out, bool& is_bytes) {
        bool is_bin = false;
        return read_bytes(out, is_bytes, is_bin);
    }
    bool read_bytes(std::string_view& out, bool& is_bytes, bool& is_bin) {
        is_bytes = false;
        is_bin = false;
        if (pos >= in.size()) return truncated();
        const auto b = static_cast<unsigned char>(in[pos]);
        unsigned hdr = 0;
        std::size_t n = 0;
        if (b >= 0xa0 && b <= 0xbf)
            n = b & 0x1f;
        else if (b == 0xd9 || b == 0xc4)
            hdr = 1;
        else if (b == 0xda || b == 0xc5)
            hdr = 2;
        else if (b == 0xdb || b == 0xc6)
            hdr = 4;
        else
            return true;
        if (in.size() - pos - 1 < hdr) return truncated();
        is_bin = b >= 0xc4 && b <= 0xc6;
        if (hdr) n = get_be(in.data() + pos + 1, hdr);
        if (in.size() - pos - 1 - hdr < n) return truncated();
        out = in.substr(pos + 1 + hdr, n);
        pos += 1 + hdr + n;
        is_bytes = true;
        return true;
    }

    bool skip() {
        // Scanning from `pos` of the whole map keeps error offsets relative to the frame.
        scan_state st{pos, 1};
        std::size_t need = 0;
        auto r = scan_resume(in, st, need);
        if (!r) return bad(fail(errc::data, "malformed frame: " + r.error().message));
        if (*r == 0) return truncated();
        pos = *r;
        return true;
    }

    // Finds "body" (bin or str) in the frame map; "head" must be a map when present.
    bool find_body(std::string_view& body) {
        if (in.empty() || !is_map_marker(static_cast<unsigned char>(in[0]))) return bad(not_a_frame());
        const auto b = static_cast<unsigned char>(in[0]);
        const unsigned hdr = b == 0xde ? 2 : b == 0xdf ? 4 : 0;
        if (in.size() - 1 < hdr) return truncated();
        const std::uint32_t n = hdr ? get_be(in.data() + 1, hdr) : (b & 0x0f);
        pos = 1 + hdr;
        bool found = false, head = false, bin_key = false, str_body = false;
        for (std::uint32_t i = 0; i < n; ++i) {
            std::string_view key;
            bool key_is_bytes = false, key_is_bin = false;
            if (!read_bytes(key, key_is_bytes, key_is_bin)) return false;
            if (key_is_bin && salt_pull && (key == "body" || key == "head")) {
                // Salt's raw=False unpacker makes this bytes, which its str lookup does not find.
                bin_key = true;
                if (!skip()) return false;
                continue;
            }
            if (!key_is_bytes) {
                // A non-string key is none of ours: skip it and its value.
                if (!skip() || !skip()) return false;
                continue;
            }
            if (key == "body") {
                bool ok = false;
                bool body_is_bin = false;
                if (!read_bytes(body, ok, body_is_bin)) return false;
                if (!ok) return bad(fail(errc::data, "frame body is not bin or str"));
                str_body = !body_is_bin;
                found = true;
            } else if (key == "head") {
                head = true;
                if (pos >= in.size()) return truncated();
                if (!is_map_marker(static_cast<unsigned char>(in[pos])))
                    return bad(fail(errc::data, "frame head is not a map"));
                if (!skip()) return false;
            } else if (!skip()) {
                return false;
            }
        }
        if (pos != in.size()) {
            const std::size_t extra = in.size() - pos;
            return bad(fail(errc::data, "malformed frame: " + std::to_string(extra) +
                                              (extra == 1 ? " trailing byte" : " trailing bytes") + " after the map"));
        }
        if (salt_pull) {
            if (bin_key && (!found || !head)) return reject("frame keys are bin, not str");
            if (!found) return reject("frame has no body");
            if (!head) return reject("frame has no head");
            if (str_body && !valid_utf8(body)) return reject("frame body is a str that is not UTF-8");
        }
        if (!found) return bad(fail(errc::data, "frame has no body"));
        return true;
    }
};

// The frame every Salt and tagbus sender writes: the envelope, then the body as bin8/16/32. Its
// length is known from the first 13-17 bytes, so the general scan is skipped (the relay's and
// every subscriber's per-frame cost). Returns the frame's total size and sets `body`, or 0 when
// `in` does not start that way or is too short to tell (the caller then scans).
std::size_t envelope_frame(std::string_view in, std::string_view& body) {
    if (in.size() <= envelope.size() || in.substr(0, envelope.size()) != envelope) return 0;
    const auto marker = static_cast<unsigned char>(in[envelope.size()]);
    const unsigned hdr = marker == 0xc4 ? 1 : marker == 0xc5 ? 2 : marker == 0xc6 ? 4 : 0;
    const std::size_t at = envelope.size() + 1 + hdr;
    if (hdr == 0 || in.size() < at) return 0;
    const std::size_t n = get_be(in.data() + envelope.size() + 1, hdr);
    if (in.size() - at >= n) body = in.substr(at, n);
    return at + n;
}

}  // namespace
}  // namespace detail

void append_frame(std::string& out, std::string_view body, framing f) {
    const std::size_t n = body.size();
    const std::size_t bin_hdr = n <= 0xff ? 2 : n <= 0xffff ? 3 : 5;
    if (f == framing::prefixed)
        detail::put_be32(out, static_cast<std::uint32_t>(detail::envelope.size() + bin_hdr + n));
    out.append(detail::envelope);
    if (n <= 0xff) {
        out.push_back(static_cast<char>(0xc4));
        out.push_back(static_cast<char>(n));
    } else if (n <= 0xffff) {
        out.push_back(static_cast<char>(0xc5));
        out.push_back(static_cast<char>(n >> 8));
        out.push_back(static_cast<char>(n));
    } else {
        out.push_back(static_cast<char>(0xc6));
        detail::put_be32(out, static_cast<std::uint32_t>(n));
    }
    out.append(body);
}

void frame_decoder::feed(std::string_view bytes) {
    if (failed_ || bytes.empty()) return;
    // Compact only when the consumed prefix is at least half the buffer: each byte then moves
    // at most once on average, and the common case (everything consumed) is a plain clear().
    if (pos_ == buf_.size()) {
        buf_.clear();
        pos_ = 0;
    } else if (pos_ >= buf_.size() / 2) {
        buf_.erase(0, pos_);
        pos_ = 0;
    }
    buf_.append(bytes);
}

bool frame_decoder::next(std::string_view& body) {
    // Rejected frames are consumed and skipped; the loop ends at a frame, a stop or an error.
    for (;;) {
        bool skip = false;
        if (next_one(body, skip)) return true;
        if (!skip) return false;
    }
}

std::optional<failure> frame_decoder::take_rejection() {
    if (rejected_untold_ == 0) return std::nullopt;
    const std::uint64_t n = std::exchange(rejected_untold_, 0);
    return fail(errc::data, "skipped " + std::to_string(n) + (n == 1 ? " frame" : " frames") +
                                  " Salt's bus rejects: " + rejected_reason_);
}

bool frame_decoder::next_one(std::string_view& body, bool& skip) {
    if (failed_) return false;
    const std::size_t avail = buf_.size() - pos_;
    if (avail == 0 || avail < need_) return false;
    const std::string_view in(buf_.data() + pos_, avail);
    const auto first = static_cast<unsigned char>(in[0]);
    auto stop = [this](failure f) {
        failed_ = true;
        err_ = std::move(f);
        return false;
    };

    std::size_t map_at = 0;
    std::size_t frame_len = 0;
    framing kind = framing::legacy;
    if (first < 0x80) {
        // A length prefix: N < 2 GiB, so its first byte is below any map marker.
        if (avail < 4) {
            need_ = 4;
            return false;
        }
        const std::size_t n = detail::get_be(in.data(), 4);
        if (n > max_) return stop(detail::too_big(n, max_, false));
        if (avail - 4 < n) {
            need_ = 4 + n;
            return false;
        }
        map_at = 4;
        frame_len = 4 + n;
        kind = framing::prefixed;
    } else {
        // A legacy frame must open with a map; anything else would otherwise make us wait for
        // the end of some unrelated object before failing.
        if (!detail::is_map_marker(first)) return stop(detail::not_a_frame());
        if (const std::size_t len = detail::envelope_frame(in, body)) {
            if (len > max_) return stop(detail::too_big(len, max_, avail < len));
            if (avail < len) {
                need_ = len;
                return false;
            }
            return consume(len, framing::legacy);
        }
        std::size_t need = 0;
        auto r = detail::scan_resume(in, scan_, need);
        if (!r) return stop(fail(errc::data, "malformed frame: " + r.error().message));
        if (*r == 0) {
            // need > avail here, so a frame whose buffered bytes pass max fails at once too.
            if (need > max_) return stop(detail::too_big(need, max_, true));
            need_ = scan_.progress_at;
            return false;
        }
        if (*r > max_) return stop(detail::too_big(*r, max_, false));
        frame_len = *r;
    }

    const std::string_view map = in.substr(map_at, frame_len - map_at);
    if (const std::size_t len = detail::envelope_frame(map, body); len != 0 && len == map.size())
        return consume(frame_len, kind);
    detail::map_reader reader(map, rules_);
    if (!reader.find_body(body)) {
        if (!reader.rejected) return stop(std::move(reader.err));
        consume(frame_len, kind);
        ++rejected_total_;
        ++rejected_untold_;
        rejected_reason_ = std::move(reader.err.message);
        skip = true;
        return false;
    }
    return consume(frame_len, kind);
}

bool frame_decoder::consume(std::size_t frame_len, framing kind) {
    pos_ += frame_len;
    need_ = 0;
    scan_ = {};
    last_ = kind;
    return true;
}

}  // namespace tagbus
