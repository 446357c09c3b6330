// result<T>: the surface of std::expected (absent from GCC 12's C++20 library).
// Library calls return it; they never print, log or exit.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "tagbus/error.hpp"

namespace tagbus::inline v0 {

/// An error: its kind, a message that names what was wrong without a program prefix and without
/// naming any command-line flag ("cannot connect to /run/x/master_event_pub.ipc: No such file"),
/// and the errno behind it where there is one (else 0).
struct failure {
    errc code = errc::internal;
    std::string message;
    int sys_errno = 0;
};

/// Builds an error; `return fail(errc::data, "tag is empty");` converts into any result<T>.
inline failure fail(errc code, std::string message, int sys_errno = 0) {
    return failure{code, std::move(message), sys_errno};
}

template <typename T>
class [[nodiscard]] result {
public:
    result(T v) : v_(std::in_place_index<0>, std::move(v)) {}
    result(failure e) : v_(std::in_place_index<1>, std::move(e)) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    const failure& error() const { return std::get<1>(v_); }

private:
    std::variant<T, failure> v_;
};

template <>
class [[nodiscard]] result<void> {
public:
    result() = default;
    result(failure e) : e_(std::move(e)), ok_(false) {}
    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const failure& error() const { return e_; }

private:
    failure e_;
    bool ok_ = true;
};

}  // namespace tagbus
