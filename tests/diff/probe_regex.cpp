// Differential probe for tag regexes: reads records separated by NUL on stdin, each a pattern then
// its sample tags, separated by \x01. Prints one line per record:
//   <V|I><0|1 per tag>   tag_matcher (glob OR re.match(r"\A" + expr + r"\Z")) and its validity
//   <V|I><0|1 per tag>   get_event's regex match type (re.compile("^" + expr).search)
// separated by a space. diff_regex.py computes the same with Python's fnmatch and re.
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "salt/match.hpp"

int main() {
    std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::string out;
    std::size_t start = 0;
    while (start < in.size()) {
        std::size_t end = in.find('\0', start);
        if (end == std::string::npos) end = in.size();
        std::vector<std::string> parts;
        std::size_t p = start;
        for (;;) {
            const std::size_t q = in.find('\x01', p);
            if (q == std::string::npos || q > end) {
                parts.emplace_back(in.substr(p, end - p));
                break;
            }
            parts.emplace_back(in.substr(p, q - p));
            p = q + 1;
        }
        const tagbus::tag_matcher m(parts[0]);
        out += m.regex_valid() ? 'V' : 'I';
        for (std::size_t i = 1; i < parts.size(); ++i) out += m(parts[i]) ? '1' : '0';
        out += ' ';
        auto em = tagbus::make_event_matcher(tagbus::match_type::regex, parts[0]);
        out += em ? 'V' : 'I';
        for (std::size_t i = 1; i < parts.size(); ++i) out += em && (*em)(parts[i]) ? '1' : '0';
        out += '\n';
        start = end + 1;
    }
    std::cout << out;
    return 0;
}
