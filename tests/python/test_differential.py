"""Differential: tagbus and python3-msgpack (a pure-Python reader, as Salt's own decoding) agree on
a generated corpus of a few thousand events, both ways: frames packed by python3-msgpack and read
with tagbus's get_event; events fired with tagbus's fire_event and read off the pub socket with
python3-msgpack."""
import datetime
import os
import random
import socket

import msgpack

import tagbus
from conftest import DEADLINE, synced
from tb import legacy_frame, read_frames

EVENTS = 3000


def salt_default(obj):
    """How Salt packs what msgpack cannot: datetime as ext 78."""
    if isinstance(obj, datetime.datetime):
        return msgpack.ExtType(78, obj.strftime("%Y%m%dT%H:%M:%S.%f").encode())
    raise TypeError(f"cannot pack {type(obj)}")


def salt_ext_hook(code, data):
    if code == 78:
        return datetime.datetime.strptime(data.decode(), "%Y%m%dT%H:%M:%S.%f")
    return msgpack.ExtType(code, data)


def unpack(packed):
    return msgpack.unpackb(packed, raw=False, strict_map_key=False, ext_hook=salt_ext_hook)


def as_packed(v):
    """What a value is after a pack and unpack: tuples are lists."""
    if isinstance(v, (list, tuple)):
        return [as_packed(x) for x in v]
    if isinstance(v, dict):
        return {k: as_packed(x) for k, x in v.items()}
    return v


class Corpus:
    """Random event data: every msgpack type Salt puts on the bus, nested, with edge values."""

    def __init__(self, seed):
        self.r = random.Random(seed)

    def scalar(self):
        r = self.r
        kind = r.randrange(10)
        if kind == 0:
            return None
        if kind == 1:
            return r.random() < 0.5
        if kind == 2:
            return r.choice([0, 1, -1, 127, 128, -32, -33, 255, 256, 65535, 65536, 2**31 - 1, -2**31,
                             2**32, 2**63 - 1, -2**63, 2**64 - 1, r.randrange(-2**63, 2**64)])
        if kind == 3:
            return r.choice([0.0, -0.0, 1.5, -2.25, 1e300, -1e-300, 0.1, r.uniform(-1e9, 1e9)])
        if kind in (4, 5):
            n = r.choice([0, 1, 5, 31, 32, 40, 255, 256, 70000 if r.random() < 0.002 else 12])
            alphabet = "abc/xyz_:-. \n\t\"'\\é€😀\u0000"
            return "".join(r.choice(alphabet) for _ in range(n))
        if kind == 6:
            return bytes(r.randrange(256) for _ in range(r.choice([0, 1, 16, 255, 256])))
        if kind == 7:
            return datetime.datetime(r.randrange(1970, 2100), r.randrange(1, 13), r.randrange(1, 29), r.randrange(24),
                                     r.randrange(60), r.randrange(60), r.choice([0, 1, 999999, r.randrange(10**6)]))
        return r.randrange(-1000, 1000)

    def key(self):
        r = self.r
        kind = r.randrange(8)
        if kind == 0:
            return r.randrange(-5, 1000)  # Salt delivers int keys (job returns keyed by pid...)
        if kind == 1:
            return bytes([r.randrange(32, 127) for _ in range(r.randrange(1, 8))])
        return "".join(r.choice("abcdefghij_/é") for _ in range(r.randrange(0, 12)))

    def size(self):
        # Mostly small, sometimes at msgpack's fixarray/fixmap boundary (15, 16, 17).
        return self.r.choice([0, 1, 2, 3, 3, 4]) if self.r.random() < 0.9 else self.r.choice([15, 16, 17])

    def value(self, depth=0):
        r = self.r
        kind = r.randrange(3) if depth < 3 else 0
        if kind == 0:
            return self.scalar()
        if kind == 1:
            items = [self.value(depth + 1) for _ in range(self.size())]
            return tuple(items) if r.random() < 0.2 else items  # a tuple goes as a list, as Salt packs it
        return {self.key(): self.value(depth + 1) for _ in range(self.size())}

    def event(self, i):
        data = {self.key(): self.value(1) for _ in range(self.r.randrange(0, 8))}
        data["i"] = i
        tag = "diff/" + "".join(self.r.choice("abcxyz/_-.:é") for _ in range(self.r.randrange(0, 40)))
        return tag, data


def test_frames_packed_by_python_msgpack_read_by_tagbus(bus):
    ev = synced(tagbus.MasterEvent(bus.sock_dir))
    corpus = Corpus(11)
    events = [corpus.event(i) for i in range(EVENTS)]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(DEADLINE)
    s.connect(bus.pull_path)
    bodies = []
    for tag, data in events:
        body = tag.encode() + b"\n\n" + msgpack.packb(data, use_bin_type=True, default=salt_default)
        bodies.append(body)
        s.sendall(legacy_frame(body))
    s.shutdown(socket.SHUT_WR)
    s.recv(1)  # the bus has read them all
    s.close()
    for i, body in enumerate(bodies):
        got = ev.get_event(wait=DEADLINE, tag="diff/", full=True)
        assert got is not None, f"event {i} missing"
        tag, _, packed = body.partition(b"\n\n")
        want = {"data": unpack(packed), "tag": tag.decode()}
        assert got == want, f"event {i} differs"
        assert list(got) == ["data", "tag"]
        assert list(got["data"]) == list(want["data"])  # key order kept


def test_events_fired_by_tagbus_read_by_python_msgpack(bus):
    pub = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pub.settimeout(DEADLINE)
    pub.connect(os.path.join(bus.sock_dir, "master_event_pub.ipc"))
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=1 << 30)
    sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
    # The raw subscriber is registered once a probe fired after it connected comes through.
    n = 0
    while True:
        assert sender.fire_event({"n": n}, f"probe/{n}")
        pub.settimeout(0.2)
        try:
            frame = read_frames(pub, unpacker, 1)[0]
            break
        except socket.timeout:
            n += 1
            assert n < DEADLINE / 0.2, "the raw subscriber never got a probe"
    pub.settimeout(DEADLINE)
    corpus = Corpus(12)
    events = [corpus.event(i) for i in range(EVENTS)]
    with sender.batch():
        for tag, data in events:
            assert sender.fire_event(data, tag)  # adds data["_stamp"], as Salt does
    got = []
    while len(got) < EVENTS:
        for frame in read_frames(pub, unpacker, 1):
            tag, _, packed = frame["body"].partition(b"\n\n")
            if tag.startswith(b"diff/"):
                got.append((tag.decode(), unpack(packed)))
    pub.close()
    for i, ((tag, data), (gtag, gdata)) in enumerate(zip(events, got)):
        assert gtag == tag, f"event {i}: tag"
        assert isinstance(data["_stamp"], str)
        assert gdata == as_packed(data), f"event {i} differs"
        assert list(gdata) == list(data)  # key order kept, _stamp last
