"""event.send, event.fire and event.fire_master as a program calls them, and salt.client.Caller's
``sminion.functions`` for those three."""
from _collections_abc import Mapping  # collections.abc without importing collections

from . import _tagbus
from ._config import minion_config
from ._event import SaltEvent
from ._types import Error, log



def _minion_destination(opts):
    if opts is None:
        return _tagbus.Destination("minion")
    return _tagbus.Destination("minion", sock_dir=opts.get("sock_dir"),
                               opts={k: v for k, v in opts.items() if _is_data(v)})


def _is_data(v):
    return v is None or isinstance(v, (str, bytes, int, float, bool, list, tuple, dict))


def send(tag, data=None, preload=None, with_env=False, with_grains=False, with_pillar=False, with_env_opts=False,
         opts=None, local=False, timeout=1.0, **kwargs):
    """Salt's ``event.send``: builds its data (``with_env``, ``with_grains``, ``with_env_opts``,
    keyword arguments, then ``data`` merged over them) and sends it to the master by the first
    route that is there: masterless (``local=True`` or the minion's ``file_client: local``) the
    minion's own bus; else the minion daemon's bus as a fire_master request; else this host's
    master bus directly. ``with_pillar`` needs a real Salt minion (tagbus.Error). ``opts``: a
    minion's options (default: /etc/salt/minion as the tools read it). Returns the route taken,
    ``"local_bus"``, ``"minion_bus"`` or ``"master_bus"``; raises :class:`tagbus.Error` when no
    route was there, once the bus has read nothing."""
    dest = _minion_destination(opts)
    r = _tagbus.send(dest, tag, data, preload, with_env, with_grains, with_pillar, with_env_opts,
                     list(kwargs.items()), float(timeout), bool(local), pub_keys=False)
    return r["route"]


def fire(data, tag, opts=None, timeout=1.0):
    """Salt's ``event.fire``: fires ``data`` with ``tag`` on the minion's own bus. Raises
    :class:`tagbus.Error` when the bus is not there; returns True once it has the event."""
    with SaltEvent("minion", opts=opts, listen=False, raise_errors=True) as bus:
        bus.fire_event(data, tag, timeout=timeout * 1000)
    return True


def fire_master(data, tag, preload=None, opts=None, timeout=1.0):
    """Salt's ``event.fire_master``: ``data`` with ``tag`` to the master, through the minion
    daemon's bus (a fire_master request). Raises :class:`tagbus.Error` when the bus is not there."""
    if preload is not None:
        return send(tag, data, preload=preload, opts=opts, timeout=timeout) is not None
    with SaltEvent("minion", opts=opts, listen=False, raise_errors=True) as bus:
        bus.fire_master(data, tag, timeout=timeout * 1000)
    return True


def grains(opts=None):
    """This minion's grains as event.send's ``with_grains`` sees them: the core grains, then
    the static grains file, then the config's ``grains:``."""
    return _tagbus.grains(_minion_destination(opts))


class _Functions(Mapping):
    """``sminion.functions``: the event module's functions, as Salt's loader maps them."""

    def __init__(self, opts):
        self._opts = opts
        self._funcs = {"event.send": self._send, "event.fire": self._fire, "event.fire_master": self._fire_master}

    def _guard(self, what, call):
        try:
            call()
            return True
        except Error as exc:
            log.error("%s failed: %s", what, exc)
            return False

    def _send(self, tag, data=None, preload=None, with_env=False, with_grains=False, with_pillar=False,
              with_env_opts=False, **kwargs):
        return self._guard("event.send", lambda: send(tag, data, preload, with_env, with_grains, with_pillar,
                                                      with_env_opts, opts=self._opts, **kwargs))

    def _fire(self, data, tag):
        return self._guard("event.fire", lambda: fire(data, tag, opts=self._opts))

    def _fire_master(self, data, tag, preload=None):
        return self._guard("event.fire_master", lambda: fire_master(data, tag, preload, opts=self._opts))

    def __getitem__(self, name):
        try:
            return self._funcs[name]
        except KeyError:
            raise KeyError(f"{name!r}: tagbus's Caller has only {', '.join(sorted(self._funcs))}") from None

    def __iter__(self):
        return iter(self._funcs)

    def __len__(self):
        return len(self._funcs)


class _SMinion:
    def __init__(self, opts):
        self.opts = opts
        self.functions = _Functions(opts)


class Caller:
    """``salt.client.Caller`` for the event module: ``Caller().sminion.functions['event.send'](tag,
    data)`` and ``Caller().cmd('event.send', tag, data)``, returning True or False as Salt's do
    (a failure is logged on the ``tagbus`` logger). ``c_path``: the minion config file."""

    def __init__(self, c_path="/etc/salt/minion", mopts=None):
        self.opts = mopts if mopts is not None else minion_config(c_path)
        self.sminion = _SMinion(self.opts)

    def cmd(self, fun, *args, **kwargs):
        return self.sminion.functions[fun](*args, **kwargs)

    function = cmd
