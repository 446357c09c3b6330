"""Types shared by the Python and C++ halves of tagbus (kept tiny: `import tagbus` must be fast)."""


class _Log:
    """The ``tagbus`` logger, imported on first use: ``import logging`` alone would double the
    time ``import tagbus`` takes."""

    def __getattr__(self, name):
        import logging
        return getattr(logging.getLogger("tagbus"), name)


log = _Log()


class Error(Exception):
    """A bus operation failed. ``kind`` says how: "unavailable" (no bus, or it went away),
    "timeout", "data" (an event that cannot be fired), "invalid", "config", "io", "internal";
    ``errno`` is the system's error number where there is one, else 0."""

    def __init__(self, message, kind="internal", errno=0):
        super().__init__(message)
        self.kind = kind
        self.errno = errno


class ExtType(tuple):
    """A msgpack extension value tagbus has no Python type for: ``ExtType(code, data)``, as
    msgpack-python's ``msgpack.ExtType``."""

    __slots__ = ()

    def __new__(cls, code, data):
        if not isinstance(code, int) or not -128 <= code <= 127:
            raise ValueError("code must be an int from -128 to 127")
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        return tuple.__new__(cls, (code, data))

    code = property(lambda self: self[0])
    data = property(lambda self: self[1])

    def __repr__(self):
        return f"ExtType(code={self[0]!r}, data={self[1]!r})"


class Constant:
    """One of Salt's sentinel constants as it travels in events (msgpack ext type 79,
    ``[name, value]``), for example ``salt.defaults.NOT_SET``. Equal when name and value are."""

    __slots__ = ("name", "value")

    def __init__(self, name, value=None):
        self.name = name
        self.value = value

    def __eq__(self, other):
        return isinstance(other, Constant) and (self.name, self.value) == (other.name, other.value)

    def __hash__(self):
        return hash((self.name, repr(self.value)))

    def __repr__(self):
        return f"Constant({self.name!r}, {self.value!r})"
