// Frames on Salt's event sockets (SALT-WIRE §2): {"head": {}, "body": <bin>} as a bare msgpack map
// ("legacy") or preceded by a 4-byte big-endian length ("prefixed"). Sans-I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tagbus/result.hpp"
#include "tagbus/value.hpp"

namespace tagbus::inline v0 {

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

/// What a frame decoder accepts.
///  - `subscriber`: what a receiver of the pub side must accept (SALT-WIRE §2): "head" absent or
///    any map, "body" bin or str, keys str or bin.
///  - `salt_pull`: what Salt's bus accepts on its pull side, whose unpacker (raw=False) looks up
///    str "head" and "body": a frame without a str "head" key, without a str "body" key (bin keys
///    do not count), or with a str body that is not UTF-8 is rejected (SALT-WIRE §7) — skipped,
///    the stream going on with the next frame, and reported by take_rejection().
enum class frame_rules { subscriber, salt_pull };

/// Incremental frame decoder for a byte stream split anywhere (libuv may deliver one byte at a
/// time). Each frame's framing is detected from its first byte (< 0x80: prefixed; else legacy).
/// Accepted: as `rules` says; extra keys ignored.
class frame_decoder {
public:
    explicit frame_decoder(std::size_t max_frame = default_max_frame, frame_rules rules = frame_rules::subscriber)
        : max_(max_frame), rules_(rules) {}

    /// Appends received bytes. The caller then calls next() until it returns false.
    void feed(std::string_view bytes);

    /// Extracts the next complete frame's body into `body` (a view into the decoder's buffer,
    /// valid until the next feed()/next() call). Returns false when no complete frame is buffered.
    /// On malformed input or a frame over the limit, returns false and error() is set for good:
    /// "frame of 70000000 bytes exceeds the 67108864-byte limit", "frame is not a map with
    /// head and body", ... (errc::data). A stream in error yields nothing more.
    /// The full list: "frame of [at least ]N bytes exceeds the M-byte limit" (a legacy frame not
    /// yet complete reports the lower bound it knows), "frame is not a map with head and body",
    /// "frame has no body", "frame body is not bin or str", "frame head is not a map", and
    /// "malformed frame: <unpack-style reason>" (offsets relative to the frame's map).
    bool next(std::string_view& body);

    /// salt_pull rules: frames skipped since the last call, as one failure (errc::data) naming
    /// the count and the last reason: "skipped 1 frame Salt's bus rejects: frame has no head"
    /// (other reasons: "frame has no body", "frame keys are bin, not str", "frame body is a str
    /// that is not UTF-8"); nullopt when none were.
    std::optional<failure> take_rejection();
    /// Frames skipped under salt_pull rules since construction.
    std::uint64_t rejected() const { return rejected_total_; }

    /// The framing of the last frame next() returned.
    framing last_framing() const { return last_; }
    const failure* error() const { return failed_ ? &err_ : nullptr; }
    /// Bytes buffered but not yet returned as a frame.
    std::size_t pending() const { return buf_.size() - pos_; }

private:
    bool consume(std::size_t frame_len, framing kind);
    // One frame: true with `body` set; false with `skip` set for a rejected frame (consumed).
    bool next_one(std::string_view& body, bool& skip);

    std::string buf_;
    std::size_t pos_ = 0;
    std::size_t need_ = 0;  // do not rescan until this many bytes are buffered past pos_
    detail::scan_state scan_;  // progress through the legacy frame at pos_, relative to pos_
    std::size_t max_;
    framing last_ = framing::legacy;
    bool failed_ = false;
    failure err_;
    frame_rules rules_;
    std::uint64_t rejected_total_ = 0;
    std::uint64_t rejected_untold_ = 0;
    std::string rejected_reason_;
};

}  // namespace tagbus
