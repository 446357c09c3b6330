// Frames on Salt's event sockets (SALT-WIRE §2): {"head": {}, "body": <bin>} as a bare msgpack map
// ("legacy") or preceded by a 4-byte big-endian length ("prefixed"). Sans-I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus {

enum class framing { legacy, prefixed };

/// Parses "legacy" / "prefixed" (case-sensitive, as in config files and --framing).
result<framing> parse_framing(std::string_view word);
std::string_view to_string(framing f);

/// Default ceiling for one frame (prefix excluded). Salt's max_event_size is 1 MiB of packed data;
/// a frame adds a little envelope, and we allow generous headroom for peers with a larger setting.
inline constexpr std::size_t default_max_frame = 64u << 20;

/// Appends one frame carrying `body` to `out`: exactly the bytes msgpack-python writes for
/// {"head": {}, "body": body} (bin8/16/32 by length), with the 4-byte prefix when asked.
void append_frame(std::string& out, std::string_view body, framing f);

/// Incremental frame decoder for a byte stream split anywhere (libuv may deliver one byte at a
/// time). Each frame's framing is detected from its first byte (< 0x80: prefixed; else legacy).
/// Accepted: "head" any map (ignored), "body" bin or str, keys str or bin, extra keys ignored.
class frame_decoder {
public:
    explicit frame_decoder(std::size_t max_frame = default_max_frame) : max_(max_frame) {}

    /// Appends received bytes. The caller then calls next() until it returns false.
    void feed(std::string_view bytes);

    /// Extracts the next complete frame's body into `body` (a view into the decoder's buffer,
    /// valid until the next feed()/next() call). Returns false when no complete frame is buffered.
    /// On malformed input or a frame over the limit, returns false and error() is set for good:
    /// "frame of 70000000 bytes exceeds the 67108864-byte limit", "frame is not a map with
    /// head and body", ... (status::data). A stream in error yields nothing more.
    /// The full list: "frame of [at least ]N bytes exceeds the M-byte limit" (a legacy frame not
    /// yet complete reports the lower bound it knows), "frame is not a map with head and body",
    /// "frame has no body", "frame body is not bin or str", "frame head is not a map", and
    /// "malformed frame: <unpack-style reason>" (offsets relative to the frame's map).
    bool next(std::string_view& body);

    /// The framing of the last frame next() returned.
    framing last_framing() const { return last_; }
    const failure* error() const { return failed_ ? &err_ : nullptr; }
    /// Bytes buffered but not yet returned as a frame.
    std::size_t pending() const { return buf_.size() - pos_; }

private:
    bool consume(std::size_t frame_len, framing kind);

    std::string buf_;
    std::size_t pos_ = 0;
    std::size_t need_ = 0;  // do not rescan until this many bytes are buffered past pos_
    detail::scan_state scan_;  // progress through the legacy frame at pos_, relative to pos_
    std::size_t max_;
    framing last_ = framing::legacy;
    bool failed_ = false;
    failure err_;
};

}  // namespace tagbus
