// _tagbus: the C++ half of the `tagbus` Python module, over libtagbus's public API only.
//
// Values cross as msgpack-python with Salt's settings would carry them (SALT-WIRE §3): str and
// bytes kept apart, ints of any size (over 64 bits: their decimal digits, Salt's rule), datetime
// as ext 78 both ways, tuples and sets as lists, map keys of any hashable kind, and Salt's fallback
// for data that is not UTF-8 (every string as bytes). Waits release the GIL; a wait is cut into
// slices so Ctrl-C and signal handlers run in time; objects notice a fork() and start afresh in
// the child, leaving the parent's connections alone.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

// datetime.h after Python.h (pybind11 includes it)
#include <datetime.h>
#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "tagbus/tagbus.hpp"

namespace py = pybind11;
using namespace std::chrono_literals;

namespace {

using tagbus::value;

// --- errors ---------------------------------------------------------------------------------------

/// tagbus.Error: a library failure, with its kind ("unavailable", "timeout", ...) and errno.
PyObject* error_type = nullptr;

const char* kind_word(tagbus::errc c) {
    switch (c) {
        case tagbus::errc::invalid: return "invalid";
        case tagbus::errc::data: return "data";
        case tagbus::errc::unavailable: return "unavailable";
        case tagbus::errc::internal: return "internal";
        case tagbus::errc::io: return "io";
        case tagbus::errc::timeout: return "timeout";
        case tagbus::errc::config: return "config";
    }
    return "internal";
}

[[noreturn]] void raise(const tagbus::failure& f) {
    py::object err = py::reinterpret_borrow<py::object>(error_type)(f.message, kind_word(f.code), f.sys_errno);
    PyErr_SetObject(error_type, err.ptr());
    throw py::error_already_set();
}

template <typename T>
T take(tagbus::result<T>&& r) {
    if (!r) raise(r.error());
    return std::move(*r);
}

void check(const tagbus::result<void>& r) {
    if (!r) raise(r.error());
}

// --- Python -> value --------------------------------------------------------------------------------

constexpr int max_depth = 512;  // as the msgpack decoder's nesting limit

py::object& types_module() {
    static py::object* m = new py::object(py::module_::import("tagbus._types"));  // never freed: lives as long as Python
    return *m;
}

void to_value(PyObject* o, value& out, int depth);

void map_to_value(PyObject* o, value& out, int depth) {
    tagbus::map_t m;
    if (PyDict_Check(o)) {
        m.reserve(static_cast<std::size_t>(PyDict_GET_SIZE(o)));
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(o, &pos, &k, &v)) {
            m.emplace_back();
            to_value(k, m.back().key, depth + 1);
            to_value(v, m.back().val, depth + 1);
        }
    } else {
        py::object items = py::reinterpret_steal<py::object>(PyMapping_Items(o));
        if (!items) throw py::error_already_set();
        for (py::handle kv : items) {
            m.emplace_back();
            to_value(PyTuple_GET_ITEM(kv.ptr(), 0), m.back().key, depth + 1);
            to_value(PyTuple_GET_ITEM(kv.ptr(), 1), m.back().val, depth + 1);
        }
    }
    out = value(std::move(m));
}

void seq_to_value(PyObject* o, value& out, int depth) {
    tagbus::array_t a;
    py::object it = py::reinterpret_steal<py::object>(PyObject_GetIter(o));
    if (!it) throw py::error_already_set();
    if (Py_ssize_t n = PyObject_LengthHint(o, 0); n > 0) a.reserve(static_cast<std::size_t>(n));
    while (PyObject* item = PyIter_Next(it.ptr())) {
        py::object hold = py::reinterpret_steal<py::object>(item);
        a.emplace_back();
        to_value(item, a.back(), depth + 1);
    }
    if (PyErr_Occurred()) throw py::error_already_set();
    out = value(std::move(a));
}

// Salt packs a datetime (and a date) as ext 78 with strftime("%Y%m%dT%H:%M:%S.%f").
value datetime_to_value(PyObject* o) {
    char buf[64];
    const int year = PyDateTime_GET_YEAR(o), month = PyDateTime_GET_MONTH(o), day = PyDateTime_GET_DAY(o);
    int hour = 0, minute = 0, second = 0, us = 0;
    if (PyDateTime_Check(o)) {
        hour = PyDateTime_DATE_GET_HOUR(o);
        minute = PyDateTime_DATE_GET_MINUTE(o);
        second = PyDateTime_DATE_GET_SECOND(o);
        us = PyDateTime_DATE_GET_MICROSECOND(o);
    }
    const int n = std::snprintf(buf, sizeof buf, "%d%02d%02dT%02d:%02d:%02d.%06d", year, month, day, hour, minute, second, us);
    return value(tagbus::ext_t{78, std::string(buf, static_cast<std::size_t>(n))});
}

void to_value(PyObject* o, value& out, int depth) {
    if (depth > max_depth) throw py::value_error("data nested deeper than 512 levels (or a list or dict that contains itself)");
    if (o == Py_None) {
        out = value();
    } else if (PyBool_Check(o)) {
        out = value(o == Py_True);
    } else if (PyLong_Check(o)) {
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
        if (overflow == 0) {
            if (v == -1 && PyErr_Occurred()) throw py::error_already_set();
            out = value(static_cast<std::int64_t>(v));
        } else if (overflow > 0) {
            const unsigned long long u = PyLong_AsUnsignedLongLong(o);
            if (u == static_cast<unsigned long long>(-1) && PyErr_Occurred()) {
                PyErr_Clear();  // beyond 64 bits: Salt sends the decimal digits as a str
                out = value(py::str(o).cast<std::string>());
            } else {
                out = value(static_cast<std::uint64_t>(u));
            }
        } else {
            out = value(py::str(o).cast<std::string>());
        }
    } else if (PyFloat_Check(o)) {
        out = value(PyFloat_AS_DOUBLE(o));
    } else if (PyUnicode_Check(o)) {
        Py_ssize_t n = 0;
        const char* s = PyUnicode_AsUTF8AndSize(o, &n);
        if (!s) throw py::error_already_set();
        out = value(std::string(s, static_cast<std::size_t>(n)));
    } else if (PyBytes_Check(o)) {
        out = value(tagbus::bin_t{std::string(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)))});
    } else if (PyByteArray_Check(o)) {
        out = value(tagbus::bin_t{std::string(PyByteArray_AS_STRING(o), static_cast<std::size_t>(PyByteArray_GET_SIZE(o)))});
    } else if (PyDict_Check(o)) {
        map_to_value(o, out, depth);
    } else if (PyList_Check(o) || PyTuple_Check(o) || PyAnySet_Check(o)) {
        seq_to_value(o, out, depth);
    } else if (PyDate_Check(o)) {
        out = datetime_to_value(o);
    } else if (PyObject_IsInstance(o, types_module().attr("Constant").ptr()) == 1) {
        // A Salt sentinel constant: ext 79 holding [name, value].
        py::handle h(o);
        value name, val;
        to_value(h.attr("name").ptr(), name, depth + 1);
        to_value(h.attr("value").ptr(), val, depth + 1);
        out = value(tagbus::ext_t{79, tagbus::pack(value(tagbus::array_t{std::move(name), std::move(val)}))});
    } else if (PyObject_IsInstance(o, types_module().attr("ExtType").ptr()) == 1) {
        py::handle h(o);
        const int code = h.attr("code").cast<int>();
        if (code < -128 || code > 127) throw py::value_error("ExtType code must be from -128 to 127");
        out = value(tagbus::ext_t{static_cast<std::int8_t>(code), h.attr("data").cast<std::string>()});
    } else if (PyMapping_Check(o) && PyObject_HasAttrString(o, "items")) {
        map_to_value(o, out, depth);
    } else {
        PyErr_Format(PyExc_TypeError, "can not serialize '%.200s' object", Py_TYPE(o)->tp_name);
        throw py::error_already_set();
    }
}

value to_value(py::handle o) {
    value v;
    to_value(o.ptr(), v, 0);
    return v;
}

// --- value -> Python ---------------------------------------------------------------------------------

/// The data is not what Salt could decode: the event is None, with this reason for the warning.
struct undecodable {
    std::string why;
};

struct to_python {
    bool raw = false;  // strings as bytes: Salt's fallback when one of them is not UTF-8
    bool bad_utf8 = false;

    PyObject* str(const std::string& s) {
        if (raw) return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
        PyObject* r = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "strict");
        if (!r && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) bad_utf8 = true;
        return r;
    }

    static PyObject* bad(const std::string& why) {
        PyErr_SetString(PyExc_ValueError, why.c_str());
        return nullptr;
    }

    PyObject* ext(const tagbus::ext_t& e) try {
        if (e.type == 78) {
            auto iso = tagbus::ext78_isoformat(e.data);
            int y, mo, d, h, mi, s, n = 0;
            if (!iso || std::sscanf(iso->c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &s, &n) != 6)
                return bad("a datetime (ext 78) that is not YYYYMMDDTHH:MM:SS.ffffff");
            int us = 0;
            if (iso->size() > static_cast<std::size_t>(n) && (*iso)[static_cast<std::size_t>(n)] == '.') {
                std::string frac = iso->substr(static_cast<std::size_t>(n) + 1);
                frac.resize(6, '0');
                us = std::stoi(frac);
            }
            return PyDateTime_FromDateAndTime(y, mo, d, h, mi, s, us);
        }
        if (e.type == 79) {
            auto inner = tagbus::unpack(e.data);
            const tagbus::array_t* a = inner ? inner->array() : nullptr;
            if (!a || a->size() != 2) return bad("a Salt constant (ext 79) that is not [name, value]");
            py::object name = py::reinterpret_steal<py::object>(convert((*a)[0]));
            if (!name) return nullptr;
            py::object val = py::reinterpret_steal<py::object>(convert((*a)[1]));
            if (!val) return nullptr;
            return types_module().attr("Constant")(name, val).release().ptr();
        }
        py::bytes data(e.data);
        return types_module().attr("ExtType")(static_cast<int>(e.type), data).release().ptr();
    } catch (py::error_already_set& err) {
        err.restore();
        return nullptr;
    }

    // A new reference, or nullptr with a Python error set.
    PyObject* convert(const value& v) {
        using namespace tagbus;
        switch (v.v.index()) {
            case 0: Py_RETURN_NONE;
            case 1: return PyBool_FromLong(std::get<bool>(v.v));
            case 2: return PyLong_FromLongLong(std::get<std::int64_t>(v.v));
            case 3: return PyLong_FromUnsignedLongLong(std::get<std::uint64_t>(v.v));
            case 4: return PyFloat_FromDouble(static_cast<double>(std::get<float>(v.v)));
            case 5: return PyFloat_FromDouble(std::get<double>(v.v));
            case 6: return str(std::get<std::string>(v.v));
            case 7: {
                const auto& b = std::get<bin_t>(v.v).bytes;
                return PyBytes_FromStringAndSize(b.data(), static_cast<Py_ssize_t>(b.size()));
            }
            case 8: {
                const auto& a = std::get<array_t>(v.v);
                PyObject* l = PyList_New(static_cast<Py_ssize_t>(a.size()));
                if (!l) return nullptr;
                for (std::size_t i = 0; i < a.size(); ++i) {
                    PyObject* item = convert(a[i]);
                    if (!item) {
                        Py_DECREF(l);
                        return nullptr;
                    }
                    PyList_SET_ITEM(l, static_cast<Py_ssize_t>(i), item);
                }
                return l;
            }
            case 9: {
                PyObject* d = PyDict_New();
                if (!d) return nullptr;
                for (const member& kv : std::get<map_t>(v.v)) {
                    PyObject* k = convert(kv.key);
                    if (!k) {
                        Py_DECREF(d);
                        return nullptr;
                    }
                    PyObject* val = convert(kv.val);
                    const int rc = val ? PyDict_SetItem(d, k, val) : -1;  // a repeated key: the last value wins
                    Py_DECREF(k);
                    Py_XDECREF(val);
                    if (rc != 0) {
                        Py_DECREF(d);
                        return nullptr;
                    }
                }
                return d;
            }
            case 10: return ext(std::get<ext_t>(v.v));
        }
        Py_RETURN_NONE;
    }
};

/// The Python object for `v` as Salt decodes event data: strings as str, or, when one of them is
/// not UTF-8, every string as bytes. Throws undecodable for what Salt could not decode (a list or
/// dict as a map key, a bad datetime).
py::object decode(const value& v) {
    for (bool raw : {false, true}) {
        to_python c{raw};
        if (PyObject* r = c.convert(v)) return py::reinterpret_steal<py::object>(r);
        if (c.bad_utf8 && !raw) {
            PyErr_Clear();
            continue;
        }
        if (PyErr_ExceptionMatches(PyExc_MemoryError)) throw py::error_already_set();
        py::error_already_set e;  // takes the error: what Salt's decoder would have raised
        throw undecodable{std::string(e.what())};
    }
    throw undecodable{"no decoding"};
}

py::object decode_tag(const std::string& tag) {
    PyObject* t = PyUnicode_DecodeUTF8(tag.data(), static_cast<Py_ssize_t>(tag.size()), "strict");
    if (!t) {
        PyErr_Clear();
        throw undecodable{"its tag is not UTF-8"};
    }
    return py::reinterpret_steal<py::object>(t);
}

/// {'data': ..., 'tag': ...} (in that order, as Salt builds it) or the data alone.
py::object event_object(const tagbus::event& ev, bool full) {
    py::object data = decode(ev.data);
    if (!full) return data;
    py::dict d;
    d["data"] = data;
    d["tag"] = decode_tag(ev.tag);
    return d;
}

void warn(const std::string& what) {
    static py::object* logger = new py::object(py::module_::import("logging").attr("getLogger")("tagbus"));
    logger->attr("warning")("%s", what);
}

// --- destination -----------------------------------------------------------------------------------

tagbus::match_type parse_match_type(const std::string& w) {
    if (w == "startswith") return tagbus::match_type::startswith;
    if (w == "endswith") return tagbus::match_type::endswith;
    if (w == "find") return tagbus::match_type::find;
    if (w == "regex") return tagbus::match_type::regex;
    if (w == "fnmatch") return tagbus::match_type::fnmatch;
    throw py::value_error("unknown match_type '" + w + "' (expected startswith, endswith, find, regex or fnmatch)");
}

struct py_destination {
    tagbus::destination d;
};

py_destination resolve(const std::string& node, std::optional<std::string> sock_dir, std::optional<std::string> config_dir,
                       std::optional<std::string> id, py::object opts) {
    tagbus::destination_options o;
    if (node == "master") o.node = tagbus::node_kind::master;
    else if (node == "minion") o.node = tagbus::node_kind::minion;
    else throw py::value_error("unknown node '" + node + "' (expected 'master' or 'minion')");
    o.sock_dir = std::move(sock_dir);
    o.config_dir = std::move(config_dir);
    o.id = std::move(id);
    o.given_by = "the program";
    if (!opts.is_none()) {
        value v = to_value(opts);
        if (!v.map()) throw py::type_error("opts must be a dict");
        o.opts = std::move(*v.map());
    }
    return py_destination{take(tagbus::destination::resolve(o))};
}

// The process id, kept current by a fork handler: getpid() is a system call on every
// get_event and fire otherwise (glibc no longer caches it).
pid_t cached_pid = ::getpid();
void refresh_pid() { cached_pid = ::getpid(); }
pid_t current_pid() { return cached_pid; }

/// Takes `m` with the GIL released: a thread that holds `m` and waits for the GIL must not find
/// us holding the GIL while we wait for `m`.
std::unique_lock<std::mutex> lock_without_gil(std::mutex& m) {
    std::unique_lock lock(m, std::try_to_lock);
    if (!lock) {
        py::gil_scoped_release nogil;
        lock.lock();
    }
    return lock;
}

// --- listener --------------------------------------------------------------------------------------

/// One subscriber connection. A wait releases the GIL; one thread waits at a time (another gets
/// RuntimeError); interrupt() works from any thread. After fork() the child opens its own
/// connection: the parent's is left untouched (closing it would unregister the parent's socket
/// from the event loop the two processes share), and its few bytes stay allocated in the child.
class py_listener {
public:
    explicit py_listener(const py_destination& d) : dest_(d.d) { open(); }

    py::object get_event(double wait, const std::string& tag, const std::string& type_word, bool no_block, bool full) {
        const auto type = parse_match_type(type_word);
        std::unique_lock lock(busy_, std::try_to_lock);
        if (!lock) throw std::runtime_error("another thread is already waiting on this event bus object");
        if (current_pid() != pid_) open();
        using clock = std::chrono::steady_clock;
        // What has already arrived is taken with the GIL held (no system call when it is in the
        // inbox); only a wait releases it.
        {
            const auto bad_before = l_->undecodable();
            auto r = l_->get_event(std::chrono::milliseconds(0), tag, type, true);
            if (!r) raise(r.error());
            if (*r || no_block || l_->interrupted() || l_->undecodable() != bad_before)
                return answer(r, full, bad_before);
        }
        const bool forever = !no_block && wait <= 0;  // Salt: wait=0 waits forever
        const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(wait));
        for (;;) {
            // Slices of at most 100 ms: between them Python's signal handlers run (Ctrl-C).
            std::chrono::milliseconds slice = 100ms;
            if (!forever && !no_block) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
                if (left.count() <= 0) return py::none();
                slice = std::min(slice, left);
            }
            const auto bad_before = l_->undecodable();
            tagbus::result<std::optional<tagbus::event>> r = std::optional<tagbus::event>();
            {
                py::gil_scoped_release nogil;
                r = l_->get_event(slice, tag, type, no_block);
            }
            if (!r) raise(r.error());
            if (*r || l_->undecodable() != bad_before || l_->interrupted()) return answer(r, full, bad_before);
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        }
    }

    /// The Python answer for a get_event result: the event, or None (with a warning for an event
    /// that could not be decoded).
    py::object answer(const tagbus::result<std::optional<tagbus::event>>& r, bool full, std::uint64_t bad_before) {
        if (*r) {
            try {
                return event_object(**r, full);
            } catch (const undecodable& u) {
                warn("could not decode an event with tag " + py::repr(py::bytes((*r)->tag)).cast<std::string>() + ": " + u.why);
                return py::none();
            }
        }
        if (l_->undecodable() != bad_before) warn("could not decode an event: " + l_->undecodable_reason());
        return py::none();
    }

    void subscribe(const std::string& tag, const std::string& type_word) {
        const auto type = parse_match_type(type_word);
        auto lock = lock_without_gil(busy_);
        check(l_->subscribe(tag, type));
    }
    void unsubscribe(const std::string& tag, const std::string& type_word) {
        const auto type = parse_match_type(type_word);
        auto lock = lock_without_gil(busy_);
        l_->unsubscribe(tag, type);
    }
    ~py_listener() {
        if (l_ && pid_ != current_pid()) (void)l_.release();  // the parent's: see the class comment
    }
    /// For an outside event loop (asyncio): the descriptor to wait on and the longest wait in
    /// milliseconds (-1: none), as listener::poll_fd() and poll_timeout() give them.
    py::tuple poll_wait() {
        std::unique_lock lock(busy_, std::try_to_lock);
        if (!lock) throw std::runtime_error("another thread is already waiting on this event bus object");
        if (current_pid() != pid_) open();
        return py::make_tuple(l_->poll_fd(), l_->poll_timeout());
    }
    bool interrupted() const { return l_->interrupted(); }
    std::uint64_t undecodable_count() const { return l_->undecodable(); }
    void interrupt() { l_->interrupt(); }
    bool connected() const { return l_->connected(); }
    std::uint64_t gaps() const { return l_->gaps(); }
    std::size_t pending() const { return l_->pending(); }

private:
    void open() {
        if (l_ && pid_ != current_pid()) (void)l_.release();  // the parent's: see the class comment
        l_ = std::make_unique<tagbus::listener>(take(tagbus::listener::open(dest_)));
        pid_ = current_pid();
    }
    tagbus::destination dest_;
    std::unique_ptr<tagbus::listener> l_;
    pid_t pid_ = 0;
    std::mutex busy_;
};

// --- sender ----------------------------------------------------------------------------------------

/// The pull side of one event bus object: one connection, opened by the first fire (Salt's
/// connect_pull), each event written to the socket before fire returns.
class py_sender {
public:
    py_sender(const py_destination& d, double timeout) : dest_(d.d) {
        opts_.timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
        opts_.stamp = false;  // fire() stamps the caller's dict itself, as Salt does
    }

    /// Connects if not connected (errors raise tagbus.Error).
    void connect() {
        auto lock = lock_without_gil(busy_);
        connect_locked();
    }

    void connect_locked() {
        if (s_ && pid_ == current_pid()) return;
        if (s_) (void)s_.release();  // the parent's connection: see py_listener
        tagbus::result<tagbus::sender> r = tagbus::fail(tagbus::errc::internal, "");
        {
            py::gil_scoped_release nogil;
            r = tagbus::sender::open(dest_, opts_);
        }
        s_ = std::make_unique<tagbus::sender>(take(std::move(r)));
        pid_ = current_pid();
    }

    /// Salt's fire_event: data["_stamp"] set in the caller's map, then written to the bus; with
    /// `flush` false only queued (written 64 KiB at a time, and by close()).
    void fire(py::handle data, const std::string& tag, bool flush) {
        auto lock = lock_without_gil(busy_);
        stamp(data);
        value v = to_value(data);
        connect_locked();
        tagbus::result<void> r;
        {
            // Without the GIL: fire() itself waits for the socket once 1 MiB is queued (a batch
            // to a slow bus), and the other threads must go on meanwhile.
            py::gil_scoped_release nogil;
            r = s_->fire(tag, v);
            if (r && flush) r = s_->flush();
        }
        if (!r) {
            if (r.error().code != tagbus::errc::data) s_.reset();  // a broken connection: the next fire connects again
            raise(r.error());
        }
    }

    void close() {
        auto lock = lock_without_gil(busy_);
        if (!s_) return;
        if (pid_ != current_pid()) {
            (void)s_.release();
            return;
        }
        auto s = std::move(s_);
        tagbus::result<void> r;
        {
            py::gil_scoped_release nogil;
            r = s->close();
        }
        check(r);
    }

    bool connected() const { return s_ && pid_ == current_pid(); }

    ~py_sender() {
        if (s_ && pid_ != current_pid()) (void)s_.release();
    }

    static void stamp(py::handle data) {
        const std::string st = tagbus::format_stamp(std::chrono::system_clock::now());
        static PyObject* const key = PyUnicode_InternFromString("_stamp");  // made once, kept for the process
        py::str s(st);
        if (PyObject_SetItem(data.ptr(), key, s.ptr()) != 0) throw py::error_already_set();
    }

private:
    tagbus::destination dest_;
    tagbus::fire_options opts_;
    std::unique_ptr<tagbus::sender> s_;
    pid_t pid_ = 0;
    std::mutex busy_;
};

// --- one-shot calls --------------------------------------------------------------------------------

void fire_master(const py_destination& d, py::handle data, const std::string& tag, double timeout) {
    value v = to_value(data);
    tagbus::fire_options o;
    o.timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
    tagbus::result<void> r;
    {
        py::gil_scoped_release nogil;
        r = tagbus::fire_master(d.d, tag, v, o);
    }
    check(r);
}

value opt(py::handle h) { return h.is_none() ? value() : to_value(h); }

py::dict send(const py_destination& minion, const std::string& tag, py::handle data, py::handle preload, py::handle with_env,
              py::handle with_grains, py::handle with_pillar, py::handle with_env_opts, py::list kwargs, double timeout,
              bool local, bool pub_keys, std::optional<py_destination> master) {
    tagbus::send_options o;
    o.data = opt(data);
    o.preload = opt(preload);
    o.with_env = opt(with_env);
    o.with_grains = opt(with_grains);
    o.with_pillar = opt(with_pillar);
    o.with_env_opts = opt(with_env_opts);
    for (py::handle kv : kwargs) {
        auto pair = kv.cast<py::tuple>();
        o.kwargs.emplace_back(pair[0].cast<std::string>(), to_value(pair[1]));
    }
    o.timeout = std::chrono::milliseconds(static_cast<long long>(timeout * 1000));
    o.local = local;
    o.pub_keys = pub_keys;
    if (master) {
        tagbus::destination m = master->d;
        o.master = [m] { return tagbus::result<tagbus::destination>(m); };
    }
    std::vector<std::string> warnings;
    o.on_note = [&warnings](tagbus::send_note n, std::string_view text) {
        if (n == tagbus::send_note::warning) warnings.emplace_back(text);
    };
    tagbus::result<tagbus::send_result> r = tagbus::fail(tagbus::errc::internal, "");
    {
        py::gil_scoped_release nogil;
        r = tagbus::send(minion.d, tag, o);
    }
    for (const auto& w : warnings) warn(w);
    auto sent = take(std::move(r));
    py::dict out;
    const char* route = sent.route == tagbus::send_route::local_bus    ? "local_bus"
                        : sent.route == tagbus::send_route::minion_bus ? "minion_bus"
                                                                       : "master_bus";
    out["route"] = route;
    out["address"] = sent.address;
    return out;
}

py::object grains(const py_destination& minion) {
    auto g = take(tagbus::grains(minion.d));
    return decode(value(std::move(g)));
}

/// tagbus.replay's reader: (tag, body, sequence, stored) tuples from the stream, or None when the
/// wait ends. The GIL is released while waiting, in 100 ms slices so that Ctrl-C is seen.
class py_replay {
public:
    py_replay(const std::vector<std::string>& servers, const std::string& stream, const std::string& from,
              std::uint64_t sequence, double since, const std::string& subject, const std::string& prefix,
              const std::map<std::string, std::string>& auth) {
        tagbus::replay_options o;
        o.servers = servers;
        o.stream = stream;
        o.from = from == "all" ? tagbus::replay_options::start::all
                 : from == "sequence" ? tagbus::replay_options::start::sequence
                 : from == "time" ? tagbus::replay_options::start::time
                                  : tagbus::replay_options::start::now;
        o.sequence = sequence;
        o.since = std::chrono::system_clock::time_point(
            std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::duration<double>(since)));
        o.subject = subject;
        o.prefix = prefix;
        auto get = [&](const char* k) {
            auto it = auth.find(k);
            return it == auth.end() ? std::string() : it->second;
        };
        o.user = get("user");
        o.password = get("password");
        o.token = get("token");
        o.creds_file = get("creds");
        o.nkey_file = get("nkey");
        o.tls_ca = get("tls_ca");
        o.tls_cert = get("tls_cert");
        o.tls_key = get("tls_key");
        o.tls = !get("tls").empty();
        tagbus::result<tagbus::replay> r = tagbus::failure{tagbus::errc::internal, "not opened"};
        {
            py::gil_scoped_release nogil;
            r = tagbus::replay::open(o);
        }
        if (!r) raise(r.error());
        r_.emplace(std::move(*r));
    }

    py::object next(double wait) {
        using clock = std::chrono::steady_clock;
        const bool forever = wait <= 0;
        const auto deadline = clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(wait));
        const auto skipped_before = r_->skipped();
        for (;;) {
            std::chrono::milliseconds slice = std::chrono::milliseconds(100);
            if (!forever) {
                const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - clock::now());
                if (left.count() <= 0) return py::none();
                slice = std::min(slice, left);
            }
            tagbus::result<std::optional<tagbus::replayed_event>> got = std::optional<tagbus::replayed_event>();
            {
                py::gil_scoped_release nogil;
                got = r_->next(slice);
            }
            if (!got) raise(got.error());
            if (r_->skipped() != skipped_before) warn("skipped a stream message that is not an event: " + r_->skip_reason());
            if (*got) {
                const auto& ev = **got;
                const double stored = std::chrono::duration<double>(ev.stored.time_since_epoch()).count();
                return py::make_tuple(py::bytes(ev.tag), py::bytes(ev.body), ev.sequence, stored);
            }
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
        }
    }

    void interrupt() { r_->interrupt(); }

private:
    std::optional<tagbus::replay> r_;
};

py::object unpack_event(py::bytes body) {
    auto ev = take(tagbus::decode_body(std::string(body)));
    try {
        return py::make_tuple(decode_tag(ev.tag), decode(ev.data));
    } catch (const undecodable& u) {
        throw py::value_error("cannot decode the event: " + u.why);
    }
}

}  // namespace

PYBIND11_MODULE(_tagbus, m) {
    ::pthread_atfork(nullptr, nullptr, refresh_pid);
    m.doc() = "The C++ half of the tagbus module (libtagbus). Use the `tagbus` package instead.";
    PyDateTime_IMPORT;
    if (!PyDateTimeAPI) throw py::error_already_set();
    py::object err = py::module_::import("tagbus._types").attr("Error");
    error_type = err.release().ptr();
    m.attr("Error") = py::handle(error_type);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const undecodable& u) {
            PyErr_SetString(PyExc_ValueError, ("cannot decode: " + u.why).c_str());
        }
    });

    py::class_<py_destination>(m, "Destination")
        .def(py::init(&resolve), py::arg("node"), py::arg("sock_dir") = py::none(), py::arg("config_dir") = py::none(),
             py::arg("id") = py::none(), py::arg("opts") = py::none())
        .def_property_readonly("sock_dir", [](const py_destination& d) { return d.d.sock_dir(); })
        .def_property_readonly("sock_dir_source", [](const py_destination& d) { return d.d.sock_dir_source(); })
        .def_property_readonly("node", [](const py_destination& d) { return std::string(d.d.node() == tagbus::node_kind::master ? "master" : "minion"); })
        .def_property_readonly("pub_address", [](const py_destination& d) { return d.d.pub_address(); })
        .def_property_readonly("pull_address", [](const py_destination& d) { return d.d.pull_address(); })
        .def_property_readonly("max_event_size", [](const py_destination& d) { return d.d.max_event_size(); })
        .def_property_readonly("id", [](const py_destination& d) { return d.d.id(); })
        .def_property_readonly("config", [](const py_destination& d) { return decode(value(d.d.config())); })
        .def("describe", [](const py_destination& d) { return d.d.describe(); });

    py::class_<py_listener>(m, "Listener")
        .def(py::init<const py_destination&>())
        .def("get_event", &py_listener::get_event, py::arg("wait"), py::arg("tag"), py::arg("match_type"), py::arg("no_block"),
             py::arg("full"))
        .def("subscribe", &py_listener::subscribe)
        .def("unsubscribe", &py_listener::unsubscribe)
        .def("interrupt", &py_listener::interrupt)
        .def_property_readonly("connected", &py_listener::connected)
        .def_property_readonly("gaps", &py_listener::gaps)
        .def_property_readonly("pending", &py_listener::pending)
        .def("poll_wait", &py_listener::poll_wait)
        .def_property_readonly("interrupted", &py_listener::interrupted)
        .def_property_readonly("undecodable", &py_listener::undecodable_count);

    py::class_<py_sender>(m, "Sender")
        .def(py::init<const py_destination&, double>())
        .def("connect", &py_sender::connect)
        .def("fire", &py_sender::fire, py::arg("data"), py::arg("tag"), py::arg("flush") = true)
        .def("close", &py_sender::close)
        .def_property_readonly("connected", &py_sender::connected);

    m.def("stamp", &py_sender::stamp, "Sets data['_stamp'] to the UTC time now, as Salt's fire_event does.");
    m.def("fire_master", &fire_master);
    m.def("send", &send, py::arg("minion"), py::arg("tag"), py::arg("data"), py::arg("preload"), py::arg("with_env"),
          py::arg("with_grains"), py::arg("with_pillar"), py::arg("with_env_opts"), py::arg("kwargs"), py::arg("timeout"),
          py::arg("local"), py::arg("pub_keys") = false, py::arg("master") = py::none());
    m.def("grains", &grains);
    m.def("pack", [](py::handle o) {
        auto s = tagbus::pack(to_value(o));
        return py::bytes(s);
    });
    m.def("unpack", [](py::bytes b) {
        auto v = take(tagbus::unpack(std::string(b)));
        try {
            return decode(v);
        } catch (const undecodable& u) {
            throw py::value_error("cannot decode: " + u.why);
        }
    });
    m.def("unpack_event", &unpack_event);
    py::class_<py_replay>(m, "Replay")
        .def(py::init<const std::vector<std::string>&, const std::string&, const std::string&, std::uint64_t, double,
                      const std::string&, const std::string&, const std::map<std::string, std::string>&>())
        .def("next", &py_replay::next)
        .def("interrupt", &py_replay::interrupt);
}
