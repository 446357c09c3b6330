"""tagbus.replay: a bus's history (and then its live events) from the NATS JetStream stream that
event-bridge fills, the replay Salt's bus never had."""
import datetime as _dt

from . import _tagbus
from ._event import MATCH_TYPES
from ._types import log

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(text):
    """'90s', '10m', '1h30m', '2d' or a number of seconds."""
    total, num, i = 0.0, "", 0
    text = str(text)
    while i < len(text):
        c = text[i]
        if c.isdigit() or c == ".":
            num += c
            i += 1
            continue
        unit = "ms" if text.startswith("ms", i) else c
        if not num or unit not in _UNITS:
            raise ValueError(f"invalid duration {text!r} (expected e.g. 90s, 10m, 2h, 7d, 1h30m)")
        total += float(num) * _UNITS[unit]
        num, i = "", i + len(unit)
    if num:
        total += float(num)
    if not text:
        raise ValueError("empty duration")
    return total


def _matcher(tag, match_type):
    if match_type not in MATCH_TYPES:
        raise ValueError(f"unknown match_type {match_type!r} (expected one of {', '.join(MATCH_TYPES)})")
    if not tag:
        return None
    if match_type == "startswith":
        return lambda t: t.startswith(tag)
    if match_type == "endswith":
        return lambda t: t.endswith(tag)
    if match_type == "find":
        return lambda t: tag in t
    if match_type == "regex":
        import re
        rx = re.compile(tag)
        return lambda t: rx.match(t) is not None
    import fnmatch
    return lambda t: fnmatch.fnmatch(t, tag)


def replay(server, stream, since=None, seq=None, all=False, tag="", match_type="startswith", wait=None,
           full=True, subject="", prefix="salt", user=None, password=None, token=None, creds=None, nkey=None,
           tls=False, tls_ca=None, tls_cert=None, tls_key=None):
    """Events from ``stream`` on the NATS server(s) ``server`` (``"nats://host:4222"``, or a list),
    in the order the stream holds them: from ``since`` (a datetime, naive meaning UTC; a
    timedelta or a duration such as ``"10m"`` back from now), from stream sequence ``seq``, from
    the beginning (``all=True``), or only new ones (the default), then live ones as they come.

    Yields ``{'tag': ..., 'data': ...}`` (``full=False``: the data only), data decoded exactly
    as :meth:`SaltEvent.get_event` decodes it, for the events whose tag matches ``tag`` under
    ``match_type`` (get_event's match types). ``wait``: stop once that many seconds pass without
    a matching event (None: never, like ``iter_events``). Raises :class:`tagbus.Error` when the
    server or the stream is not there or refuses the credentials."""
    if sum(x is not None and x is not False for x in (since, seq, all or None)) > 1:
        raise ValueError("give one of since, seq and all")
    servers = [server] if isinstance(server, str) else list(server)
    start, sequence, when = "now", 0, 0.0
    if all:
        start = "all"
    elif seq is not None:
        start, sequence = "sequence", int(seq)
        if sequence < 1:
            raise ValueError("stream sequences count from 1")
    elif since is not None:
        start = "time"
        now = _dt.datetime.now(_dt.timezone.utc)
        if isinstance(since, _dt.datetime):
            when = (since if since.tzinfo else since.replace(tzinfo=_dt.timezone.utc)).timestamp()
        elif isinstance(since, _dt.timedelta):
            when = (now - since).timestamp()
        else:
            when = now.timestamp() - _seconds(since)
    match = _matcher(tag, match_type)
    auth = {k: v for k, v in (("user", user), ("password", password), ("token", token), ("creds", creds), ("nkey", nkey),
                              ("tls_ca", tls_ca), ("tls_cert", tls_cert), ("tls_key", tls_key),
                              ("tls", "1" if tls else None)) if v}
    reader = _tagbus.Replay(servers, stream, start, sequence, when, subject, prefix, auth)
    while True:
        got = reader.next(wait if wait is not None else 0)
        if got is None:
            return
        raw_tag, body, _seq, _stored = got
        try:
            tag_text = raw_tag.decode()
        except UnicodeDecodeError:  # as get_event: skipped, with a warning
            log.warning("could not decode an event from the stream: its tag is not UTF-8")
            continue
        if match is not None and not match(tag_text):
            continue
        try:
            _, data = _tagbus.unpack_event(body)
        except ValueError as e:
            log.warning("could not decode an event with tag %r from the stream: %s", tag_text, e)
            continue
        yield {"data": data, "tag": tag_text} if full else data
