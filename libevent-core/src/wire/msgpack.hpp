// msgpack-python's smallest-format encoders for integers and lengths, for the encoders that write
// msgpack straight from other text (private to the library).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tagbus::inline v0::detail {

/// `bytes` low bytes of x, big-endian.
void put_be(std::string& out, std::uint64_t x, int bytes);
void put_byte(std::string& out, unsigned b);
/// A non-negative integer in its smallest format.
void pack_uint(std::string& out, std::uint64_t u);
/// A negative integer in its smallest signed format.
void pack_negative(std::string& out, std::int64_t i);
/// Length header for str/bin/array/map: the fix form when n < fix_limit (0: none), else the
/// 8-bit (code8 0: none), 16- or 32-bit form.
void pack_len(std::string& out, std::size_t n, unsigned fix_base, std::size_t fix_limit, unsigned code8,
              unsigned code16, unsigned code32);
/// A str: its length header (fixstr, str8/16/32) and its bytes.
void pack_str(std::string& out, std::string_view s);
/// A float64 (msgpack-python packs every Python float so).
void pack_double(std::string& out, double d);

}  // namespace tagbus::inline v0::detail
