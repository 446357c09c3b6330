// event-api's tokens, as salt-api accepts them (SALT-WIRE §9): a tokens file of our own (one
// token a line, an optional expiry) and Salt's eauth token store (the master's token_dir: one
// msgpack file per token, named by it, as `POST /token` and `salt --make-token` write them).
// Tokens are compared in constant time and never logged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tagbus/result.hpp"

namespace event_api {

/// What a valid token grants: until when (Unix seconds; no expiry: nullopt).
struct grant {
    std::optional<double> expires;
};

/// `TOKEN [EXPIRY]` lines; '#' starts a comment. EXPIRY is Unix seconds or an ISO 8601 UTC time
/// (2026-12-31T23:59:59Z). Errors name the file and line: "tokens file F, line 3: ...".
tagbus::result<std::vector<std::pair<std::string, grant>>> parse_tokens_file(const std::string& path,
                                                                              std::string_view text);

/// The token sources, checked in order. A tokens file is read again when it changes (checked at
/// most once a second); a bad new version is reported and the previous one kept.
class token_store {
public:
    /// Reads the tokens file now (errors are a configuration error at start-up).
    tagbus::result<void> set_tokens_file(std::string path);
    void set_salt_token_dir(std::string dir) { salt_dir_ = std::move(dir); }
    bool empty() const { return !file_ && salt_dir_.empty(); }
    const std::string& salt_token_dir() const { return salt_dir_; }

    /// The grant for `token` at time `now`, or nullopt (unknown, expired, malformed). `warn`
    /// receives reload problems (never the token).
    std::optional<grant> check(std::string_view token, double now, std::vector<std::string>* warn = nullptr);

private:
    struct file_state {
        std::string path;
        std::vector<std::pair<std::string, grant>> tokens;
        std::int64_t mtime_ns = 0;
        std::uint64_t size = 0;
        double checked_at = 0;
    };
    void maybe_reload(double now, std::vector<std::string>* warn);
    std::optional<grant> from_salt_store(std::string_view token, double now) const;

    std::optional<file_state> file_;
    std::string salt_dir_;
};

/// Equal contents, in time that depends only on the lengths.
bool constant_time_equal(std::string_view a, std::string_view b);

/// Salt's token check: hexadecimal, at most 128 characters (a file name, so never a path).
bool looks_like_salt_token(std::string_view t);

}  // namespace event_api
