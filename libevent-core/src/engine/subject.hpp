// Salt tags as NATS subjects and back (issue 13), and the bridge's message ids. Sans-I/O.
//
// A subject is `<prefix>.<source-id>.<tag tokens>`: each '/'-separated part of the tag becomes one
// token. NATS tokens may not be empty nor hold '.', '*', '>', whitespace or control characters, so
// every byte outside [A-Za-z0-9_-] is written as `~XX` (two upper-case hex digits; '~' itself is
// `~7E`), and an empty part (a tag's leading, trailing or doubled '/') is the token `~` alone. The
// mapping is reversible: tag_of(subject_of(p, s, tag)) gives the tag back, byte for byte.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tagbus/result.hpp"

namespace tagbus::inline v0 {

/// One NATS token for arbitrary bytes (a source id, a tag part), escaped as above.
std::string subject_token(std::string_view part);

/// `<prefix>.<token(source_id)>.<tokens of the tag>`. `prefix` is used as given (it may hold
/// dots: "salt.events"); it must be a valid subject of literal tokens (errc::invalid otherwise:
/// "subject prefix 'a..b' has an empty token").
result<std::string> subject_of(std::string_view prefix, std::string_view source_id, std::string_view tag);

/// What a subject made by subject_of holds.
struct subject_parts {
    std::string source_id;
    std::string tag;
};

/// The source id and tag of `subject`, which must start with `prefix` + ".". Errors (errc::data)
/// name the subject: "subject 'x' is not under 'salt.events'", "... has no tag", "... has a bad
/// escape at token 3".
result<subject_parts> tag_of(std::string_view prefix, std::string_view subject);

/// A validated prefix: literal tokens only (no wildcard, no empty token, no whitespace).
result<void> check_subject_prefix(std::string_view prefix);

/// The message id JetStream de-duplicates by: `<source-id>.<run-id>.<seq>`, the parts escaped as
/// tokens so the id has exactly three dot-separated parts.
std::string message_id(std::string_view source_id, std::string_view run_id, std::uint64_t seq);

}  // namespace tagbus
