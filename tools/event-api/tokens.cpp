#include "tokens.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>

#include "tagbus/value.hpp"

namespace event_api {

using tagbus::errc;
using tagbus::fail;

bool constant_time_equal(std::string_view a, std::string_view b) {
    const std::size_t n = a.size() > b.size() ? a.size() : b.size();
    unsigned diff = a.size() == b.size() ? 0u : 1u;
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

bool looks_like_salt_token(std::string_view t) {
    if (t.empty() || t.size() > 128) return false;
    for (char c : t)
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
    return true;
}

namespace {

// "2026-12-31T23:59:59Z", "2026-12-31T23:59:59+00:00", "2026-12-31 23:59:59" (UTC) or Unix seconds.
std::optional<double> parse_expiry(std::string_view s) {
    double secs = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
    if (ec == std::errc{} && p == s.data() + s.size() && std::isfinite(secs)) return secs;
    std::tm tm{};
    std::string text(s);
    if (!text.empty() && (text.back() == 'Z' || text.back() == 'z')) text.pop_back();
    else if (text.size() > 6 && text.compare(text.size() - 6, 6, "+00:00") == 0) text.resize(text.size() - 6);
    for (const char* fmt : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"}) {
        tm = {};
        const char* end = strptime(text.c_str(), fmt, &tm);
        if (end && *end == '\0') return static_cast<double>(timegm(&tm));
    }
    return std::nullopt;
}

std::int64_t mtime_of(const struct stat& st) {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

tagbus::result<std::string> read_small_file(const std::string& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return fail(errc::config, "cannot read " + path + ": " + std::strerror(errno));
    std::string text;
    char buf[4096];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
        text.append(buf, static_cast<std::size_t>(in.gcount()));
        if (text.size() > limit) return fail(errc::config, path + " is over " + std::to_string(limit) + " bytes");
    }
    return text;
}

}  // namespace

tagbus::result<std::vector<std::pair<std::string, grant>>> parse_tokens_file(const std::string& path,
                                                                              std::string_view text) {
    std::vector<std::pair<std::string, grant>> out;
    std::size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
        if (const std::size_t hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
        auto trim = [](std::string_view v) {
            while (!v.empty() && (v.front() == ' ' || v.front() == '\t' || v.front() == '\r')) v.remove_prefix(1);
            while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) v.remove_suffix(1);
            return v;
        };
        line = trim(line);
        if (line.empty()) continue;
        const std::size_t sp = line.find_first_of(" \t");
        const std::string_view token = line.substr(0, sp);
        const std::string_view rest = sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp));
        const std::string where = "tokens file " + path + ", line " + std::to_string(line_no) + ": ";
        for (char c : token)
            if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f)
                return fail(errc::config, where + "a token may hold no control characters");
        grant g;
        if (!rest.empty()) {
            g.expires = parse_expiry(rest);
            if (!g.expires)
                return fail(errc::config, where + "cannot read the expiry '" + std::string(rest) +
                                              "' (give Unix seconds or a UTC time like 2026-12-31T23:59:59Z)");
        }
        out.emplace_back(std::string(token), g);
    }
    return out;
}

tagbus::result<void> token_store::set_tokens_file(std::string path) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0) return fail(errc::config, "cannot read tokens file " + path + ": " + std::strerror(errno));
    auto text = read_small_file(path, 16u << 20);
    if (!text) return text.error();
    auto tokens = parse_tokens_file(path, *text);
    if (!tokens) return tokens.error();
    file_ = file_state{std::move(path), std::move(*tokens), mtime_of(st), static_cast<std::uint64_t>(st.st_size), 0};
    return {};
}

void token_store::maybe_reload(double now, std::vector<std::string>* warn) {
    if (!file_ || now - file_->checked_at < 1.0) return;
    file_->checked_at = now;
    struct stat st{};
    if (::stat(file_->path.c_str(), &st) != 0) {
        if (warn) warn->push_back("cannot read tokens file " + file_->path + ": " + std::strerror(errno) + "; keeping the tokens read before");
        return;
    }
    if (mtime_of(st) == file_->mtime_ns && static_cast<std::uint64_t>(st.st_size) == file_->size) return;
    file_->mtime_ns = mtime_of(st);
    file_->size = static_cast<std::uint64_t>(st.st_size);
    auto text = read_small_file(file_->path, 16u << 20);
    auto tokens = text ? parse_tokens_file(file_->path, *text) : tagbus::result<std::vector<std::pair<std::string, grant>>>(text.error());
    if (!tokens) {
        if (warn) warn->push_back(tokens.error().message + "; keeping the tokens read before");
        return;
    }
    file_->tokens = std::move(*tokens);
    if (warn) warn->push_back("tokens file " + file_->path + " read again: " + std::to_string(file_->tokens.size()) + " tokens");
}

std::optional<grant> token_store::from_salt_store(std::string_view token, double now) const {
    if (salt_dir_.empty() || !looks_like_salt_token(token)) return std::nullopt;
    auto text = read_small_file(salt_dir_ + "/" + std::string(token), 1u << 20);
    if (!text) return std::nullopt;
    auto v = tagbus::unpack(*text);
    if (!v || !v->map()) return std::nullopt;
    std::optional<double> expire;
    bool same = false;
    for (const auto& kv : *v->map()) {
        const std::string* k = kv.key.str();
        if (!k) continue;
        if (*k == "expire") {
            if (const auto* d = std::get_if<double>(&kv.val.v)) expire = *d;
            else if (const auto* i = std::get_if<std::int64_t>(&kv.val.v)) expire = static_cast<double>(*i);
            else if (const auto* u = std::get_if<std::uint64_t>(&kv.val.v)) expire = static_cast<double>(*u);
        } else if (*k == "token") {
            if (const std::string* t = kv.val.str()) same = constant_time_equal(*t, token);
        }
    }
    // Salt's get_token: a file whose "token" is not its name, or without an expiry, is refused.
    if (!same || !expire || *expire <= now) return std::nullopt;
    return grant{expire};
}

std::optional<grant> token_store::check(std::string_view token, double now, std::vector<std::string>* warn) {
    if (token.empty()) return std::nullopt;
    maybe_reload(now, warn);
    if (file_) {
        std::optional<grant> found;
        for (const auto& [t, g] : file_->tokens)  // every entry is compared: the time says nothing
            if (constant_time_equal(t, token) && !found) found = g;
        if (found && (!found->expires || *found->expires > now)) return found;
    }
    return from_salt_store(token, now);
}

}  // namespace event_api
