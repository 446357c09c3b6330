// The peers' 200-byte text payload: "<pub> <seq> <t_ns> xxxx..." and its parser.
#pragma once

#include <string>

#include "bench_common.hpp"

namespace bench {

inline void payload(std::string& out, std::uint64_t id, std::uint64_t seq, std::uint64_t t) {
    out = std::to_string(id) + ' ' + std::to_string(seq) + ' ' + std::to_string(t) + ' ';
    out.resize(200, 'x');
}

struct parsed {
    std::uint64_t id = 0, seq = 0, t = 0;
    bool ok = false;
};

inline parsed parse_payload(std::string_view s) {
    parsed r;
    std::uint64_t* f[3] = {&r.id, &r.seq, &r.t};
    const char* p = s.data();
    const char* end = p + s.size();
    for (auto* v : f) {
        auto [q, ec] = std::from_chars(p, end, *v);
        if (ec != std::errc{} || q == end || *q != ' ') return r;
        p = q + 1;
    }
    r.ok = true;
    return r;
}

/// Per-publisher order and completeness, shared by the peer subscribers.
struct counter {
    std::vector<std::uint64_t> next;
    std::uint64_t total = 0, errors = 0, first_ns = 0, last_ns = 0, want = 0;
    counter(std::uint64_t pubs, std::uint64_t count) : next(pubs, 0), want(pubs * count) {}
    void add(std::string_view msg) {
        const auto p = parse_payload(msg);
        if (!p.ok || p.id >= next.size()) {
            ++errors;
            return;
        }
        if (p.seq != next[p.id]) {
            if (errors == 0)
                std::fprintf(stderr, "publisher %llu: expected seq %llu, got %llu\n",
                             static_cast<unsigned long long>(p.id), static_cast<unsigned long long>(next[p.id]),
                             static_cast<unsigned long long>(p.seq));
            ++errors;
        }
        next[p.id] = p.seq + 1;
        last_ns = now_ns();
        if (total++ == 0) first_ns = last_ns;
    }
    bool done() const { return total >= want; }
    int report() const {
        const double secs = total > 1 ? static_cast<double>(last_ns - first_ns) / 1e9 : 0;
        std::printf("received=%llu expected=%llu errors=%llu seconds=%.6f rate=%.0f\n",
                    static_cast<unsigned long long>(total), static_cast<unsigned long long>(want),
                    static_cast<unsigned long long>(errors), secs, secs > 0 ? static_cast<double>(total) / secs : 0);
        return total == want && errors == 0 ? 0 : 1;
    }
};

}  // namespace bench
