// Helpers shared by the unit tests: hex bytes, temporary sock_dirs, running a loop until a
// condition holds (with a deadline, never a sleep), checking that a loop closed cleanly.
#pragma once

#include <doctest/doctest.h>
#include <stdlib.h>
#include <uv.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "net/loop.hpp"
#include "host/paths.hpp"
#include "net/server.hpp"
#include "tagbus/value.hpp"

namespace test_support {

using namespace tagbus;

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tbXXXXXX";  // short: sun_path holds 107 bytes
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

inline bus_endpoints unix_endpoints(const std::string& dir) {
    bus_endpoints e;
    e.pub.path = dir + "/master_event_pub.ipc";
    e.pull.path = dir + "/master_event_pull.ipc";
    return e;
}

inline uv_loop_t* uv(event_loop& loop) { return static_cast<uv_loop_t*>(loop.native()); }

/// Runs the loop until `done()` holds, polling it from a 1 ms timer; false when the deadline hit.
inline bool run_until(event_loop& loop, const std::function<bool()>& done, std::uint64_t deadline_ms = 10000) {
    bool timed_out = false;
    event_loop::timer_id poll = 0;
    std::function<void()> check = [&] {
        if (done()) {
            loop.stop();
            return;
        }
        poll = loop.after(1, check);
    };
    poll = loop.after(0, check);
    auto deadline = loop.after(deadline_ms, [&] {
        timed_out = true;
        loop.stop();
    });
    loop.run();
    loop.cancel(poll);
    loop.cancel(deadline);
    return !timed_out;
}

/// Nothing may be left on the loop once the objects under test are gone: their close callbacks
/// run in one more iteration, and then no handle remains.
inline void check_closed(event_loop& loop) {
    uv_run(uv(loop), UV_RUN_NOWAIT);
    int handles = 0;
    uv_walk(uv(loop), [](uv_handle_t*, void* n) { ++*static_cast<int*>(n); }, &handles);
    CHECK(handles == 0);
}

/// Records everything a server logs; tests that expect no trouble check `warnings` is empty.
struct log_sink {
    std::vector<std::string> warnings;
    std::vector<std::string> all;
    std::function<void(log_level, std::string_view)> fn() {
        return [this](log_level level, std::string_view m) {
            all.emplace_back(m);
            if (level <= log_level::warning) warnings.emplace_back(m);
        };
    }
};

inline std::string unhex(std::string_view h) {
    std::string out;
    int hi = -1;
    for (char c : h) {
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) continue;
        if (hi < 0) {
            hi = d;
        } else {
            out.push_back(static_cast<char>(hi * 16 + d));
            hi = -1;
        }
    }
    return out;
}

inline std::string hex(std::string_view s) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (char c : s) {
        if (!out.empty()) out.push_back(' ');
        out.push_back(digits[static_cast<unsigned char>(c) >> 4]);
        out.push_back(digits[static_cast<unsigned char>(c) & 0xf]);
    }
    return out;
}

// A typed rendering (not value::operator==) so that each table row reads as what Salt gives:
// "int:10", "str:a", "[int:1, null]", "{str:a: true}".
inline std::string typed(const value& v) {
    if (v.is_nil()) return "null";
    if (auto* b = std::get_if<bool>(&v.v)) return *b ? "true" : "false";
    if (auto* u = std::get_if<std::uint64_t>(&v.v)) return "int:" + std::to_string(*u);
    if (auto* i = std::get_if<std::int64_t>(&v.v)) return "int:" + std::to_string(*i);
    if (auto* d = std::get_if<double>(&v.v)) {
        if (std::isnan(*d)) return "float:nan";
        if (std::isinf(*d)) return *d > 0 ? "float:inf" : "float:-inf";
        std::string s = std::to_string(*d);
        return "float:" + s.substr(0, s.find_last_not_of('0') + 1);
    }
    if (auto* s = v.str()) return "str:" + *s;
    if (auto* a = v.array()) {
        std::string out = "[";
        for (std::size_t i = 0; i < a->size(); ++i) {
            if (i) out += ',';
            out += typed((*a)[i]);
        }
        return out + "]";
    }
    if (auto* m = v.map()) {
        std::string out = "{";
        for (std::size_t i = 0; i < m->size(); ++i) {
            if (i) out += ',';
            out += typed((*m)[i].key);
            out += '=';
            out += typed((*m)[i].val);
        }
        return out + "}";
    }
    return "other";
}

}  // namespace test_support
