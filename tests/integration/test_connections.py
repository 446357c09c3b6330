"""event-busd at scale: 10,000 subscribers held at once, 1,000 publishers served at once, and bad
input while many are connected. One process, one epoll selector over every socket (no thread per
socket); frames are read with python3-msgpack, independent of our decoder. The daemon's own
RLIMIT_NOFILE handling (soft raised to hard, a warning below what 10,000 subscribers need) is
checked by starting it under a lowered limit."""
import os
import re
import resource
import selectors
import signal
import socket
import struct
import time

import msgpack

import tb
from tb import body, legacy_frame

SUBSCRIBERS = 10_000
PUBLISHERS = 1_000
EVENTS_PER_PUBLISHER = 20
MARGIN = 200  # descriptors this process needs besides the sockets (pipes, the interpreter's own)
WANTED_OPEN_FILES = 10_000 + 1024  # event-busd warns below this (tools/event-busd/main.cpp)
QUIET = 0.05  # seconds without a frame before sync() fires another probe


def raise_open_files(want):
    """Soft RLIMIT_NOFILE to the hard limit; returns how many sockets this test may open (want, or
    the hard limit minus a margin when the machine allows fewer)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft == resource.RLIM_INFINITY or soft >= want + MARGIN:
        return want
    used = soft - MARGIN
    print(f"RLIMIT_NOFILE is {soft}: using {used} sockets instead of {want}", flush=True)
    return used


def connect(path):
    """A connection that waits, bounded by the deadline, while the listen backlog (4096) is full:
    a blocking Unix connect with SO_SNDTIMEO blocks in the kernel until the bus accepts, instead
    of failing with EAGAIN as a non-blocking one would."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", int(tb.DEADLINE), 0))
    s.connect(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", 0, 0))
    return s


class Subscribers:
    """Many pub-socket connections, each with its own msgpack.Unpacker, in one epoll selector."""

    def __init__(self, path, n):
        self.sel = selectors.DefaultSelector()
        self.socks = []
        self.frames = []  # per subscriber: the frames read so far, as python3-msgpack decodes them
        for i in range(n):
            s = connect(path)
            s.setblocking(False)
            # A small first buffer (it grows as needed): the default 1 MiB, times 10,000, is
            # touched page by page under meson's MALLOC_PERTURB_.
            self.sel.register(s, selectors.EVENT_READ, (i, msgpack.Unpacker(raw=False, read_size=4096)))
            self.socks.append(s)
            self.frames.append([])

    def read(self, timeout):
        """Reads what is ready within `timeout`; returns the indexes of subscribers that got frames."""
        got = []
        for key, _ in self.sel.select(timeout):
            i, up = key.data
            chunk = key.fileobj.recv(1 << 16)
            if not chunk:
                raise EOFError(f"the bus closed subscriber {i}")
            up.feed(chunk)
            new = list(up)
            if new:
                self.frames[i].extend(new)
                got.append(i)
        return got

    def read_until(self, done, what):
        end = time.monotonic() + tb.DEADLINE
        while not done():
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{what}: not within {tb.DEADLINE}s")
            self.read(min(left, 1.0))

    def sync(self, pull_path):
        """Proves the bus has registered every subscriber (a connect only queues on the listen
        backlog): fires probes on the pull socket, a new one whenever the bus has gone quiet while
        some still have none, until every one has received a probe. Returns the probes' bodies,
        to tell them from the events under test."""
        waiting = set(range(len(self.socks)))
        probes = set()
        pub = connect(pull_path)
        end = time.monotonic() + tb.DEADLINE
        try:
            while waiting:
                self.assertion(time.monotonic() < end, f"{len(waiting)} subscribers never got a probe")
                probe = body("tb/connections/probe", {"n": len(probes)})
                probes.add(probe)
                pub.sendall(legacy_frame(probe))
                while got := self.read(QUIET):
                    waiting.difference_update(i for i in got if any(f["body"] in probes for f in self.frames[i]))
                    if not waiting:
                        break
        finally:
            pub.close()
        return probes

    @staticmethod
    def assertion(ok, message):
        if not ok:
            raise AssertionError(message)

    def close(self, indexes=None):
        for i in range(len(self.socks)) if indexes is None else indexes:
            if self.socks[i] is not None:
                self.sel.unregister(self.socks[i])
                self.socks[i].close()
                self.socks[i] = None
        if indexes is None:
            self.sel.close()


def data_frames(frames, probes):
    """The frames that are not sync probes (a late probe may still arrive after sync())."""
    return [f for f in frames if f["body"] not in probes]


class Connections(tb.BusTest):
    @classmethod
    def setUpClass(cls):
        cls.subscribers = raise_open_files(SUBSCRIBERS)
        cls.publishers = min(PUBLISHERS, cls.subscribers)

    def start(self):
        """The bus, past its start line and, on a machine whose hard limit is too low for 10,000
        subscribers, past the one warning that says so (test_e checks its text)."""
        bus = self.start_bus()
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard != resource.RLIM_INFINITY and hard < WANTED_OPEN_FILES:
            self.assertIn(b"open files limit", bus.err.readline())
        return bus

    def pub_path(self):
        return os.path.join(self.sock_dir, "master_event_pub.ipc")

    def assert_clean_exit(self, bus):
        """SIGTERM: exit 0, and nothing was logged after the lines already read (no warning)."""
        bus.p.send_signal(signal.SIGTERM)
        self.assertEqual(bus.err.read_until_eof(), b"")
        self.assertEqual(bus.wait(), 0)

    def assert_serving(self):
        """A fresh subscriber gets an event fired after it connected: the bus still works."""
        subs = Subscribers(self.pub_path(), 1)
        try:
            probes = subs.sync(self.pull_path())
            self.push_raw(legacy_frame(body("tb/connections/after", {"ok": True}))).close()
            subs.read_until(lambda: data_frames(subs.frames[0], probes), "an event after the test")
            self.assertEqual(data_frames(subs.frames[0], probes),
                             [{"head": {}, "body": body("tb/connections/after", {"ok": True})}])
        finally:
            subs.close()

    def test_a_ten_thousand_subscribers_each_get_an_event_from_event_fire(self):
        bus = self.start()
        subs = Subscribers(self.pub_path(), self.subscribers)
        try:
            probes = subs.sync(self.pull_path())
            self.fire('{"n": 10000, "who": "every subscriber"}', "tb/connections/fire")

            def everyone_has_it():
                return all(data_frames(f, probes) for f in subs.frames)

            subs.read_until(everyone_has_it, "the event-fire event on every subscriber")
            first = data_frames(subs.frames[0], probes)[0]
            tag, _, packed = first["body"].partition(b"\n\n")
            self.assertEqual(tag, b"tb/connections/fire")
            data = msgpack.unpackb(packed, raw=False)
            self.assertEqual(list(data), ["n", "who", "_stamp"])
            self.assertEqual((data["n"], data["who"]), (10000, "every subscriber"))
            for i, frames in enumerate(subs.frames):
                self.assertEqual(data_frames(frames, probes), [first], f"subscriber {i}")
        finally:
            subs.close()
        self.assertIsNone(bus.p.poll())
        self.assert_serving()
        self.assert_clean_exit(bus)  # no warning, no error at any point

    def test_b_a_thousand_publishers_interleaved_reach_a_subscriber_in_order(self):
        bus = self.start()
        subs = Subscribers(self.pub_path(), 1)
        pubs = []
        try:
            probes = subs.sync(self.pull_path())
            # Every publisher is connected before any sends: the bus serves them all at once.
            pubs = [connect(self.pull_path()) for _ in range(self.publishers)]
            frames = [[legacy_frame(body(f"tb/pub/{p}", {"p": p, "i": i})) for i in range(EVENTS_PER_PUBLISHER)]
                      for p in range(self.publishers)]
            # Round-robin, two events per write. Blocking sends cannot stall although nobody reads
            # the subscriber meanwhile: the ~1 MiB sent stays far below the half of
            # --max-subscriber-buffer (8 MiB) at which the bus would pause publishers.
            for i in range(0, EVENTS_PER_PUBLISHER, 2):
                for p, s in enumerate(pubs):
                    s.sendall(b"".join(frames[p][i:i + 2]))
            want = self.publishers * EVENTS_PER_PUBLISHER
            subs.read_until(lambda: len(data_frames(subs.frames[0], probes)) >= want, f"{want} events")
            got = data_frames(subs.frames[0], probes)
            self.assertEqual(len(got), want)
            seen = {p: [] for p in range(self.publishers)}
            for f in got:
                tag, _, packed = f["body"].partition(b"\n\n")
                d = msgpack.unpackb(packed, raw=False)
                self.assertEqual(tag, f"tb/pub/{d['p']}".encode())
                seen[d["p"]].append(d["i"])
            for p in range(self.publishers):
                self.assertEqual(seen[p], list(range(EVENTS_PER_PUBLISHER)), f"publisher {p}")
        finally:
            for s in pubs:
                s.close()
            subs.close()
        self.assert_clean_exit(bus)

    def test_c_half_the_subscribers_vanish_and_a_publisher_sends_garbage(self):
        bus = self.start()
        n = self.subscribers
        subs = Subscribers(self.pub_path(), n)
        try:
            probes = subs.sync(self.pull_path())
            # Every subscriber has an event it has not read: closing then resets the connection
            # under the bus's feet, with writes pending for some.
            self.push_raw(legacy_frame(body("tb/connections/unread", {}))).close()
            gone = range(0, n, 2)
            kept = range(1, n, 2)
            subs.read_until(lambda: all(data_frames(subs.frames[i], probes) for i in kept), "the unread event")
            garbage = self.push_raw(legacy_frame(body("tb/connections/before-garbage", {})) + b"\xc1 not msgpack")
            subs.close(gone)
            line = bus.err.readline()
            self.assertRegex(line.decode(), r"^event-busd: dropping publisher #\d+ \(pid %d\) on %s: .+\n$"
                             % (os.getpid(), re.escape(self.pull_path())))
            garbage.close()
            self.fire('{"after": "garbage"}', "tb/connections/later")

            def later(i):
                return any(f["body"].startswith(b"tb/connections/later\n\n") for f in subs.frames[i])

            subs.read_until(lambda: all(later(i) for i in kept), "the later event on every remaining subscriber")
            for i in kept:
                tags = [f["body"].partition(b"\n\n")[0] for f in data_frames(subs.frames[i], probes)]
                self.assertEqual(tags, [b"tb/connections/unread", b"tb/connections/before-garbage",
                                        b"tb/connections/later"], f"subscriber {i}")
        finally:
            subs.close()
        self.assertIsNone(bus.p.poll())
        self.assert_serving()
        self.assert_clean_exit(bus)

    def start_limited(self, ulimit):
        """event-busd started by a shell that first runs `ulimit ULIMIT` (no privilege needed to
        lower a limit), returned once its start line is read."""
        script = f'ulimit {ulimit} && exec "$0" "$@"'
        p = tb.Proc(["/bin/sh", "-c", script, tb.tool("event-busd"), *self.common()], env=self.env)
        self.procs.append(p)
        line = p.err.readline()
        self.assertIn(b"event-busd: started the", line, line)
        return p

    def nofile(self, pid):
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return int(soft), int(hard)
        raise AssertionError("no 'Max open files' in /proc/PID/limits")

    def test_d_the_soft_open_files_limit_is_raised_to_the_hard_limit(self):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        bus = self.start_limited("-Sn 256")
        self.assertEqual(self.nofile(bus.p.pid), (hard, hard))
        if hard < WANTED_OPEN_FILES:
            self.assertIn(b"open files limit", bus.err.readline())
        self.assert_clean_exit(bus)

    def test_e_a_low_hard_limit_is_one_warning_after_the_start_line(self):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        low = min(2048, hard)
        bus = self.start_limited(f"-n {low}")
        self.assertEqual(bus.err.readline(),
                         f"event-busd: the open files limit (RLIMIT_NOFILE) is {low}: fewer than 10000 "
                         f"subscribers can connect\n".encode())
        self.assertEqual(self.nofile(bus.p.pid), (low, low))
        self.assert_clean_exit(bus)


if __name__ == "__main__":
    tb.main()
