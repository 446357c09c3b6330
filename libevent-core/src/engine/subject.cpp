#include "engine/subject.hpp"

namespace tagbus::inline v0 {

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";

bool plain(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // lower case is never written, so never read: one spelling per byte
}

// The bytes of one token, or false for a token subject_of could not have written. In a tag's
// token a '/' is never escaped: subject_of splits the tag there, so "a~2F1" is not a spelling of
// "a/1" (that is "a.1"), and accepting it would give one tag two subjects.
bool unescape(std::string_view token, std::string& out, bool tag_part) {
    if (token.empty()) return false;  // an empty part is written "~"
    if (token == "~") return true;
    for (std::size_t i = 0; i < token.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(token[i]);
        if (c == '~') {
            if (i + 2 >= token.size()) return false;
            const int hi = hex_value(token[i + 1]), lo = hex_value(token[i + 2]);
            if (hi < 0 || lo < 0) return false;
            const unsigned char b = static_cast<unsigned char>(hi * 16 + lo);
            if (plain(b) || (tag_part && b == '/')) return false;  // not how subject_of writes it
            out += static_cast<char>(b);
            i += 2;
        } else if (plain(c)) {
            out += static_cast<char>(c);
        } else {
            return false;
        }
    }
    return true;
}

}  // namespace

std::string subject_token(std::string_view part) {
    if (part.empty()) return "~";
    std::string out;
    out.reserve(part.size());
    for (char ch : part) {
        const unsigned char c = static_cast<unsigned char>(ch);
        if (plain(c)) {
            out += ch;
        } else {
            out += '~';
            out += hex_digits[c >> 4];
            out += hex_digits[c & 15];
        }
    }
    return out;
}

result<void> check_subject_prefix(std::string_view prefix) {
    if (prefix.empty()) return fail(errc::invalid, "the subject prefix is empty");
    std::string_view rest = prefix;
    while (true) {
        const std::size_t dot = rest.find('.');
        const std::string_view token = rest.substr(0, dot);
        if (token.empty()) return fail(errc::invalid, "subject prefix '" + std::string(prefix) + "' has an empty token");
        if (token == "*" || token == ">")
            return fail(errc::invalid, "subject prefix '" + std::string(prefix) + "' has a wildcard; give literal tokens");
        for (char ch : token) {
            const unsigned char c = static_cast<unsigned char>(ch);
            if (c <= ' ' || c == 0x7f)
                return fail(errc::invalid, "subject prefix '" + std::string(prefix) + "' holds whitespace or a control character");
        }
        if (dot == std::string_view::npos) return {};
        rest = rest.substr(dot + 1);
    }
}

result<std::string> subject_of(std::string_view prefix, std::string_view source_id, std::string_view tag) {
    if (auto r = check_subject_prefix(prefix); !r) return r.error();
    std::string out(prefix);
    out += '.';
    out += subject_token(source_id);
    std::size_t start = 0;
    while (true) {
        const std::size_t slash = tag.find('/', start);
        out += '.';
        out += subject_token(tag.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return out;
}

result<subject_parts> tag_of(std::string_view prefix, std::string_view subject) {
    const std::string quoted = "subject '" + std::string(subject) + "'";
    if (subject.size() <= prefix.size() || subject.substr(0, prefix.size()) != prefix || subject[prefix.size()] != '.')
        return fail(errc::data, quoted + " is not under '" + std::string(prefix) + "'");
    std::string_view rest = subject.substr(prefix.size() + 1);
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) return fail(errc::data, quoted + " has no tag");
    subject_parts p;
    if (!unescape(rest.substr(0, dot), p.source_id, false)) return fail(errc::data, quoted + " has a bad escape in its source id");
    rest = rest.substr(dot + 1);
    std::size_t n = 0;
    while (true) {
        ++n;
        const std::size_t d = rest.find('.');
        if (n > 1) p.tag += '/';
        const std::string_view token = rest.substr(0, d);
        if (token.empty() || !unescape(token, p.tag, true))
            return fail(errc::data, quoted + " has a bad escape at tag token " + std::to_string(n));
        if (d == std::string_view::npos) break;
        rest = rest.substr(d + 1);
    }
    return p;
}

std::string message_id(std::string_view source_id, std::string_view run_id, std::uint64_t seq) {
    return subject_token(source_id) + "." + subject_token(run_id) + "." + std::to_string(seq);
}

}  // namespace tagbus
