"""SaltEvent and friends: salt.utils.event's classes and functions over libtagbus."""
from _collections_abc import MutableMapping  # collections.abc without importing collections

from . import _tagbus
from ._types import Error, log


TAGEND = "\n\n"
TAGPARTER = "/"
SALT = "salt"
# The namespaces Salt's tagify knows under salt/.
TAGS = {name: name for name in ("auth", "job", "key", "minion", "syndic", "run", "wheel", "cloud",
                                "fileclient", "cache", "runner")}

MATCH_TYPES = ("startswith", "endswith", "find", "regex", "fnmatch")


def tagify(suffix="", prefix="", base=SALT):
    """A tag from its parts, as Salt builds one: ``tagify("job", "auth")`` is ``"salt/auth/job"``;
    a list as ``suffix`` adds each of its items; empty parts are left out."""
    parts = [base, TAGS.get(prefix, prefix)]
    if hasattr(suffix, "append"):
        parts.extend(suffix)
    else:
        parts.append(suffix)
    out = []
    for part in parts:
        part = part.decode("utf-8") if isinstance(part, (bytes, bytearray)) else str(part)
        if part:
            out.append(part)
    return TAGPARTER.join(out)


def _settle(future):
    if not future.done():
        future.set_result(None)


def _port_or_path(address):
    """Salt's puburi/pulluri: the socket path, or in ipc_mode tcp the port as an int."""
    if address.startswith("tcp://"):
        return int(address.rsplit(":", 1)[1])
    return address


class SaltEvent:
    """One process's view of an event bus, as ``salt.utils.event.SaltEvent``: read events with
    :meth:`get_event` or :meth:`iter_events`, fire them with :meth:`fire_event`.

    ``node`` is ``"master"`` or ``"minion"``. The bus is found as every tagbus tool finds it
    (``sock_dir``, then ``TAGBUS_SOCK_DIR``, then the Salt config in /etc/salt, then Salt's
    default folder when it exists, then tagbus's own default), unless ``opts`` is given: then its
    keys are used as Salt uses them (``sock_dir``, ``id``, ``hash_type``, ``ipc_mode``, the tcp
    ports, ``event_match_type``, ``max_event_size``) and no config file is read.

    With ``listen=True`` (the default) it subscribes at once, so no event fired from then on is
    missed. ``io_loop`` and ``keep_loop`` are accepted for compatibility and ignored: tagbus runs
    no Tornado loop. With ``raise_errors=True``, :meth:`fire_event` raises :class:`tagbus.Error`
    instead of returning False.

    Safe to use after ``fork()`` (the child opens its own connections), usable as a context
    manager, and safe to drop without :meth:`destroy`. Waits release the GIL; one thread waits on
    an object at a time, and :meth:`interrupt` (tagbus's own) ends another thread's wait.
    """

    def __init__(self, node, sock_dir=None, opts=None, listen=True, io_loop=None, keep_loop=False,
                 raise_errors=False):
        if node not in ("master", "minion"):
            raise ValueError(f"unknown node {node!r} (expected 'master' or 'minion')")
        self.node = node
        self.raise_errors = raise_errors
        self.opts = opts if opts is not None else {}
        if sock_dir is None and opts is not None:
            sock_dir = opts.get("sock_dir")
        self._dest = _tagbus.Destination(node, sock_dir=sock_dir, opts=_bus_opts(opts), id=None)
        if opts is None:
            self.opts = {"sock_dir": self._dest.sock_dir}
        self.opts.setdefault("sock_dir", self._dest.sock_dir)
        self.puburi = _port_or_path(self._dest.pub_address)
        self.pulluri = _port_or_path(self._dest.pull_address)
        self.cpub = False
        self.cpush = False
        self._listener = None
        self._sender = None
        self._subscriptions = []
        self._batching = 0
        self._batch_lost = False
        if listen:
            self.connect_pub()

    def __repr__(self):
        return f"<tagbus.{type(self).__name__} {self.node} bus at {self._dest.sock_dir}>"

    # --- connections -------------------------------------------------------------------------

    def connect_pub(self, timeout=None):
        """Subscribes to the bus's pub socket. Returns whether it is connected; when the bus is not
        there yet, every :meth:`get_event` tries again (as Salt does)."""
        if self._listener is None:
            self._listener = _tagbus.Listener(self._dest)
            for tag, match_type in self._subscriptions:
                self._listener.subscribe(tag, match_type)
        self.cpub = self._listener.connected
        return self.cpub

    def connect_pull(self, timeout=1):
        """Connects to the bus's pull socket (``timeout`` in seconds). Returns whether it worked."""
        if self._sender is None:
            self._sender = _tagbus.Sender(self._dest, 1.0 if timeout is None else float(timeout))
        try:
            self._sender.connect()
        except Error as exc:
            log.debug("cannot connect to %s: %s", self.pulluri, exc)
            self.cpush = False
            if self.raise_errors:
                raise
            return False
        self.cpush = True
        return True

    def close_pub(self):
        """Closes the subscription; the pending queue goes with it."""
        listener, self._listener = self._listener, None
        self.cpub = False
        del listener

    def close_pull(self):
        """Closes the pull connection, once the bus has read every event fired through it."""
        sender, self._sender = self._sender, None
        self.cpush = False
        if sender is not None:
            try:
                sender.close()
            except Error as exc:
                log.warning("events fired on %s may not have arrived: %s", self.pulluri, exc)

    def destroy(self):
        """Closes both connections (:meth:`close_pub`, :meth:`close_pull`)."""
        self.close_pub()
        self.close_pull()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __del__(self):
        try:
            self.destroy()
        except Exception:  # at interpreter exit, modules may already be gone
            pass

    # --- reading -----------------------------------------------------------------------------

    def _match_type(self, match_type):
        if match_type is None:
            match_type = self.opts.get("event_match_type") or "startswith"
        if match_type not in MATCH_TYPES:
            raise ValueError(f"unknown match_type {match_type!r} (expected one of {', '.join(MATCH_TYPES)})")
        return match_type

    def get_event(self, wait=5, tag="", full=False, match_type=None, no_block=False, auto_reconnect=False):
        """The next event whose tag matches ``tag``: its data, or with ``full=True``
        ``{'data': ..., 'tag': ...}``; None when ``wait`` seconds pass without one (``wait=0``:
        wait forever; ``no_block=True``: only what has already arrived). Events kept for a
        :meth:`subscribe`\\ d tag are looked at first; a non-matching event shortens the wait
        that is left, it never restarts it. An event that cannot be decoded is None, with a
        warning on the ``tagbus`` logger. Ctrl-C during the wait returns
        ``{'tag': 'salt/event/exit', 'data': {}}``, as Salt does. A lost bus is connected again
        (``auto_reconnect`` is always on)."""
        if match_type is None:
            match_type = self.opts.get("event_match_type") or "startswith"  # checked by the listener
        if self._listener is None:
            self.connect_pub()
        try:
            return self._listener.get_event(wait or 0, tag or "", match_type, no_block, full)
        except KeyboardInterrupt:
            return {"tag": "salt/event/exit", "data": {}}

    def get_event_noblock(self):
        """The next event that has already arrived, whatever its tag, as ``{'data', 'tag'}``; or None."""
        return self.get_event(wait=0, full=True, match_type="startswith", no_block=True)

    def get_event_block(self):
        """The next event, whatever its tag, as ``{'data', 'tag'}``, waiting as long as it takes."""
        return self.get_event(wait=0, full=True, match_type="startswith")

    def iter_events(self, tag="", full=False, match_type=None, auto_reconnect=False):
        """Every event whose tag matches, forever (:meth:`get_event` in a loop, without the Nones)."""
        while True:
            data = self.get_event(tag=tag, full=full, match_type=match_type, auto_reconnect=auto_reconnect)
            if data is None:
                continue
            yield data

    # --- reading on asyncio -------------------------------------------------------------------

    async def aget_event(self, wait=5, tag="", full=False, match_type=None, no_block=False, auto_reconnect=False):
        """:meth:`get_event` for asyncio: ``await bus.aget_event(tag="salt/job/")``. The same
        arguments and answers; the wait is a watch on the bus's socket in the running loop, with
        no thread, so any number of these can wait at once (one per event bus object). Cancel the
        task to stop waiting."""
        import asyncio

        match_type = self._match_type(match_type)
        if self._listener is None:
            self.connect_pub()
        listener = self._listener
        tag = tag or ""
        full = bool(full)
        loop = asyncio.get_running_loop()
        deadline = None if (not wait and not no_block) else loop.time() + float(wait or 0)
        while True:
            bad = listener.undecodable
            ev = listener.get_event(0.0, tag, match_type, True, full)
            if ev is not None or no_block or listener.interrupted or listener.undecodable != bad:
                return ev
            fd, timeout_ms = listener.poll_wait()
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                return None
            if timeout_ms >= 0:
                left = timeout_ms / 1000 if left is None else min(left, timeout_ms / 1000)
            ready = loop.create_future()
            loop.add_reader(fd, _settle, ready)
            try:
                await asyncio.wait_for(ready, left)
            except asyncio.TimeoutError:
                pass
            finally:
                loop.remove_reader(fd)

    async def aiter_events(self, tag="", full=False, match_type=None, auto_reconnect=False):
        """:meth:`iter_events` for asyncio: ``async for data in bus.aiter_events(tag="salt/auth")``.
        Like :meth:`aget_event`, which returns at once when an event has already arrived, it
        gives the loop a turn every 64 events, so a busy bus never starves the other tasks."""
        import asyncio

        n = 0
        while True:
            data = await self.aget_event(wait=0, tag=tag, full=full, match_type=match_type)
            if data is not None:
                yield data
                n += 1
                if n % 64 == 0:
                    await asyncio.sleep(0)

    def subscribe(self, tag=None, match_type=None):
        """Keeps events matching ``tag`` that arrive while :meth:`get_event` waits for another tag,
        for a later call (the pending queue)."""
        if tag is None:
            return
        match_type = self._match_type(match_type)
        self._subscriptions.append((tag, match_type))
        if self._listener is not None:
            self._listener.subscribe(tag, match_type)

    def unsubscribe(self, tag, match_type=None):
        """Forgets a :meth:`subscribe`; pending events no other subscription matches are dropped."""
        if tag is None:
            return
        match_type = self._match_type(match_type)
        try:
            self._subscriptions.remove((tag, match_type))
        except ValueError:
            pass
        if self._listener is not None:
            self._listener.unsubscribe(tag, match_type)

    def interrupt(self):
        """Makes a :meth:`get_event` waiting in another thread (or the next one) return None now."""
        if self._listener is not None:
            self._listener.interrupt()

    @property
    def pending(self):
        """How many events wait in the pending queue (kept for a :meth:`subscribe`)."""
        return self._listener.pending if self._listener is not None else 0

    @property
    def gaps(self):
        """How many times the bus connection was lost and made again (events fired meanwhile are gone)."""
        return self._listener.gaps if self._listener is not None else 0

    # --- firing ------------------------------------------------------------------------------

    def fire_event(self, data, tag, timeout=1000):
        """Fires ``data`` (a dict) with ``tag`` on this bus, as Salt does: ``data['_stamp']`` is
        set in your dict, a dict over ``max_event_size`` is trimmed. Returns True once the event
        is written to the bus's socket, False when the bus is not there (or raises
        :class:`tagbus.Error` with ``raise_errors=True``). ``timeout`` in milliseconds. Each call
        is one write to the socket, as Salt's; for many events at once see :meth:`batch`."""
        if type(tag) is not str or not tag:
            if not str(tag):
                raise ValueError("Empty tag.")
        if type(data) is not dict and not isinstance(data, MutableMapping):
            raise ValueError(f"Dict object expected, not '{data}'.")
        if not self.cpush or self._sender is None or not self._sender.connected:
            if not self.connect_pull(timeout=None if timeout is None else float(timeout) / 1000):
                if self._batching:
                    self._batch_lost = True
                return False
        try:
            self._sender.fire(data, tag, not self._batching)
        except Error as exc:
            if exc.kind == "data":
                raise ValueError(str(exc)) from None
            self.cpush = False
            if self._batching:
                self._batch_lost = True  # what the batch queued before went with the connection
            log.debug("firing %r on %s failed: %s", tag, self.pulluri, exc)
            if self.raise_errors:
                raise
            return False
        return True

    def batch(self):
        """Beyond Salt: many events at once. Inside ``with bus.batch():``, :meth:`fire_event`
        queues each event and returns True at once; they go to the bus in large writes. When the
        block ends (also by an exception), the connection is closed once the bus has read every
        one of them; if it could not, :class:`tagbus.Error` is raised. Blocks may nest: the
        outermost one confirms."""
        return _Batch(self)

    def fire_master(self, data, tag, timeout=1000):
        """Salt's fire_master request on this bus: a minion daemon (Salt's, or an event-busd minion
        bus that forwards) sends ``data`` with ``tag`` on to its master."""
        msg = {"tag": tag, "data": data, "events": None, "pretag": None}
        return self.fire_event(msg, "fire_master", timeout)


class _Batch:
    def __init__(self, bus):
        self.bus = bus

    def __enter__(self):
        self.bus._batching += 1
        return self.bus

    def __exit__(self, *exc):
        bus = self.bus
        bus._batching -= 1
        if bus._batching:
            return False
        lost, bus._batch_lost = bus._batch_lost, False
        sender, bus._sender = bus._sender, None
        bus.cpush = False
        if sender is not None:
            sender.close()  # tagbus.Error when the bus did not read everything
        if lost:
            raise Error(f"events fired in a batch on {bus.pulluri} may not have reached the bus: "
                        "the connection failed during the batch (see the fire_event calls that returned False)",
                        "unavailable")
        return False


class MasterEvent(SaltEvent):
    """A master's bus: ``MasterEvent(opts['sock_dir'], opts)``."""

    def __init__(self, sock_dir, opts=None, listen=True, io_loop=None, keep_loop=False, raise_errors=False):
        super().__init__("master", sock_dir, opts, listen=listen, io_loop=io_loop, keep_loop=keep_loop,
                         raise_errors=raise_errors)


class MinionEvent(SaltEvent):
    """A minion's bus, from its options (``tagbus.minion_config(...)``): its sock_dir and id."""

    def __init__(self, opts, listen=True, io_loop=None, keep_loop=False, raise_errors=False):
        super().__init__("minion", opts.get("sock_dir"), opts, listen=listen, io_loop=io_loop,
                         keep_loop=keep_loop, raise_errors=raise_errors)


def get_event(node, sock_dir=None, transport=None, opts=None, listen=True, io_loop=None, keep_loop=False,
              raise_errors=False):
    """A :class:`SaltEvent` for ``node``, as ``salt.utils.event.get_event``. ``transport`` is
    accepted and ignored (the local bus is the same for every Salt transport)."""
    if node == "master":
        return MasterEvent(sock_dir, opts, listen=listen, io_loop=io_loop, keep_loop=keep_loop,
                           raise_errors=raise_errors)
    return SaltEvent(node, sock_dir, opts, listen=listen, io_loop=io_loop, keep_loop=keep_loop,
                     raise_errors=raise_errors)


def get_master_event(opts, sock_dir, listen=True, io_loop=None, raise_errors=False, keep_loop=False):
    """A :class:`MasterEvent`, as ``salt.utils.event.get_master_event``."""
    return MasterEvent(sock_dir, opts, listen=listen, io_loop=io_loop, keep_loop=keep_loop,
                       raise_errors=raise_errors)


# The opts keys the library reads; the rest of a Salt opts dict (hundreds of keys, some holding
# objects that are not data) stays in Python.
_BUS_KEYS = ("sock_dir", "id", "hash_type", "ipc_mode", "ipv6", "tcp_pub_port", "tcp_pull_port",
             "tcp_master_pub_port", "tcp_master_pull_port", "max_event_size", "framing", "root_dir",
             "cachedir", "file_client", "master_type", "use_master_when_local", "append_domain")


def _bus_opts(opts):
    if opts is None:
        return None
    return {k: opts[k] for k in _BUS_KEYS if k in opts}
