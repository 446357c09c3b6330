"""event-busd --node minion forwarding fire_master events to the master bus of the same host
(SALT-WIRE §4 "Minion bus specials", §8 route A). Expected frames are built here with
python3-msgpack, independently of our code. Where the timing of the forwarder's reconnect would
race a subscriber, the master's pull socket is a plain Python listener that keeps every frame."""
import hashlib
import os
import re
import signal
import socket
import time

import msgpack

import tb
from tb import body, legacy_frame, read_frames

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
MINION_ID = "web01"



def split(frame_body):
    tag, _, packed = frame_body.partition(b"\n\n")
    return tag.decode(), packed


def without_stamp(packed):
    """The data's bytes with its trailing _stamp removed, after checking the stamp and that a
    msgpack-python round trip gives the very same bytes (so key order and encodings are Salt's)."""
    data = msgpack.unpackb(packed, raw=False)
    assert msgpack.packb(data, use_bin_type=True) == packed
    assert list(data)[-1] == "_stamp", list(data)
    assert STAMP.match(data.pop("_stamp"))
    return msgpack.packb(data, use_bin_type=True)


def load(tag, data, pretag=None):
    """Salt's master-bus data for route A: the minion's load minus tok."""
    return msgpack.packb({"id": MINION_ID, "cmd": "_minion_event", "pretag": pretag, "data": data, "tag": tag},
                         use_bin_type=True)


def terminate(proc):
    """SIGTERM; returns the exit status and what the process wrote on stderr since."""
    proc.p.send_signal(signal.SIGTERM)
    rc = proc.wait()
    rest = proc.err.read_until_eof()
    proc.stop()
    return rc, rest


def request(data, tag, events=None, pretag=None):
    """What event.fire_master fires on the minion bus (with the outer _stamp)."""
    return {"data": data, "tag": tag, "events": events, "pretag": pretag, "_stamp": tb.stamp_now()}


class Forwarding(tb.BusTest):
    def setUp(self):
        super().setUp()
        self.master_dir = os.path.join(self.dir, "m")
        self.master_pull = os.path.join(self.master_dir, "master_event_pull.ipc")
        h = hashlib.sha256(MINION_ID.encode()).hexdigest()[:10]
        self.minion_pull = f"minion_event_{h}_pull.ipc"
        self.minion_pub = f"minion_event_{h}_pub.ipc"

    def start_minion(self, *extra):
        return self.start_bus(node="minion", extra=["--id", MINION_ID, *extra])

    def subscribe(self, path, pull_path):
        """A pub subscriber that is surely accepted: it has seen a sync event fired after it connected."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.connect(path)
        up = msgpack.Unpacker(raw=False)
        end = time.monotonic() + tb.DEADLINE
        for i in range(1000):
            sync = body(f"sync/{i}", {})
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as p:
                p.connect(pull_path)
                p.sendall(legacy_frame(sync))
            s.settimeout(0.2)  # a sync event fired before the bus accepted us is lost: fire another
            try:
                while True:
                    got = read_frames(s, up, 1)[0]["body"]
                    if got.startswith(b"sync/"):
                        break
            except socket.timeout:
                self.assertLess(time.monotonic(), end, "no sync event came through")
                continue
            s.settimeout(tb.DEADLINE)
            return s, up
        self.fail("no sync event came through")

    def fire_minion(self, frames):
        self.push_raw(b"".join(frames), name=self.minion_pull).close()

    def listen_master(self):
        """A stand-in master pull socket: accepts the forwarder and reads its frames."""
        os.makedirs(self.master_dir, exist_ok=True)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(srv.close)
        srv.bind(self.master_pull)
        srv.listen(4)
        srv.settimeout(tb.DEADLINE)
        return srv

    def test_route_a_single_and_batch_reach_the_master_bus(self):
        self.start_bus(node="master", sock_dir=self.master_dir)
        minion = self.start_minion("--master-sock-dir", self.master_dir)
        msub, mup = self.subscribe(os.path.join(self.master_dir, "master_event_pub.ipc"), self.master_pull)
        nsub, nup = self.subscribe(os.path.join(self.sock_dir, self.minion_pub), self.pull_path(name=self.minion_pull))

        data = {"ok": True, "n": 1, "nested": {"list": [1, "two", None]}}
        single = body("fire_master", request(data, "myco/x"))
        batch = body("fire_master", request(None, None, events=[{"tag": "b/1", "data": {"x": 1}},
                                                                 {"tag": "b/2", "y": 2}], pretag="myco"))
        self.fire_minion([legacy_frame(single), legacy_frame(body("not/forwarded", {})), legacy_frame(batch)])

        # Local subscribers still see the requests, unchanged, as on a Salt minion.
        self.assertEqual([f["body"] for f in read_frames(nsub, nup, 3)],
                         [single, body("not/forwarded", {}), batch])

        got = [split(f["body"]) for f in read_frames(msub, mup, 5)]
        self.assertEqual([t for t, _ in got], ["myco/x", "b/1", "myco/b/1", "b/2", "myco/b/2"])
        tag, packed = got[0]
        self.assertEqual(list(msgpack.unpackb(packed)), ["id", "cmd", "pretag", "data", "tag", "_stamp"])
        self.assertEqual(without_stamp(packed), load("myco/x", data))
        self.assertEqual(without_stamp(got[1][1]), msgpack.packb({"x": 1}))
        self.assertEqual(without_stamp(got[2][1]), msgpack.packb({"x": 1}))
        self.assertEqual(without_stamp(got[3][1]), msgpack.packb({"tag": "b/2", "y": 2}))
        self.assertEqual(without_stamp(got[4][1]), msgpack.packb({"tag": "b/2", "y": 2}))
        self.assertEqual(minion.err.readline(),
                         f"event-busd: connected to the master bus at {self.master_pull}\n".encode())
        self.assertEqual(terminate(minion), (0, b""))

    def test_master_down_then_up_nothing_lost(self):
        minion = self.start_minion("--master-sock-dir", self.master_dir)
        frames = [legacy_frame(body("fire_master", request({"i": i}, f"q/{i}"))) for i in range(5)]
        self.fire_minion(frames)
        self.assertEqual(minion.err.readline(),
                         f"event-busd: cannot connect to {self.master_pull}: No such file or directory; queueing "
                         f"fire_master events (at most 10000) until the master bus is back\n".encode())
        srv = self.listen_master()
        conn, _ = srv.accept()
        self.addCleanup(conn.close)
        conn.settimeout(tb.DEADLINE)
        got = [split(f["body"]) for f in read_frames(conn, msgpack.Unpacker(raw=False), 5)]
        self.assertEqual([t for t, _ in got], [f"q/{i}" for i in range(5)])
        for i, (tag, packed) in enumerate(got):
            self.assertEqual(without_stamp(packed), load(f"q/{i}", {"i": i}))
        self.assertEqual(minion.err.readline(),
                         f"event-busd: connected to the master bus at {self.master_pull}: sending 5 fire_master "
                         f"events queued while it was away\n".encode())
        # The master bus goes away: said once, and what comes meanwhile waits for the next one.
        conn.close()
        srv.close()
        os.unlink(self.master_pull)
        self.assertEqual(minion.err.readline(),
                         f"event-busd: lost connection to {self.master_pull}: the bus closed the connection; "
                         f"queueing fire_master events (at most 10000) until the master bus is back\n".encode())
        self.fire_minion([legacy_frame(body("fire_master", request({"late": True}, "q/late")))])
        srv = self.listen_master()
        conn, _ = srv.accept()
        self.addCleanup(conn.close)
        conn.settimeout(tb.DEADLINE)
        tag, packed = split(read_frames(conn, msgpack.Unpacker(raw=False), 1)[0]["body"])
        self.assertEqual((tag, without_stamp(packed)), ("q/late", load("q/late", {"late": True})))
        self.assertEqual(minion.err.readline(),
                         f"event-busd: connected to the master bus at {self.master_pull}: sending 1 fire_master "
                         f"event queued while it was away\n".encode())
        self.assertEqual(terminate(minion), (0, b""))
        conn.close()
        srv.close()

    def test_bounded_queue_drops_are_logged(self):
        minion = self.start_minion("--master-sock-dir", self.master_dir, "--forward-queue", "3")
        self.fire_minion([legacy_frame(body("fire_master", request({"i": i}, f"d/{i}"))) for i in range(6)])
        lost = (f"event-busd: cannot connect to {self.master_pull}: No such file or directory; queueing "
                f"fire_master events (at most 3) until the master bus is back\n").encode()
        drop = re.compile(rb"^event-busd: dropped (\d+) fire_master events?: the master bus at " +
                          re.escape(self.master_pull.encode()) + rb" is unreachable and the queue of 3 is full\n$")
        dropped, lines = 0, []
        while dropped < 3:  # the first drop at once, the rest within the next second
            line = minion.err.readline()
            lines.append(line)
            m = drop.match(line)
            if m:
                dropped += int(m.group(1))
            else:
                self.assertEqual(line, lost)
        self.assertEqual(dropped, 3, lines)
        self.assertIn(lost, lines)
        self.assertLessEqual(len(lines), 3, lines)
        # The first three were kept and are delivered, in order.
        srv = self.listen_master()
        conn, _ = srv.accept()
        self.addCleanup(conn.close)
        conn.settimeout(tb.DEADLINE)
        got = [split(f["body"]) for f in read_frames(conn, msgpack.Unpacker(raw=False), 3)]
        self.assertEqual(got, [(f"d/{i}", got[i][1]) for i in range(3)])
        for i in range(3):
            self.assertEqual(without_stamp(got[i][1]), load(f"d/{i}", {"i": i}))
        self.assertEqual(minion.stop(signal.SIGTERM), 0)
        conn.close()
        srv.close()

    def test_stop_with_a_queue_says_what_is_lost(self):
        minion = self.start_minion("--master-sock-dir", self.master_dir)
        self.fire_minion([legacy_frame(body("fire_master", request({}, "s/1")))])
        self.assertIn(b"cannot connect to", minion.err.readline())
        self.assertEqual(terminate(minion), (0,
                         f"event-busd: stopping with 1 fire_master event not forwarded to the master bus at "
                         f"{self.master_pull}\n".encode()))

    def test_master_config_turns_forwarding_on(self):
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write(f"sock_dir: {self.master_dir}\n")
        self.start_bus(node="master", sock_dir=self.master_dir)
        self.start_minion()
        msub, mup = self.subscribe(os.path.join(self.master_dir, "master_event_pub.ipc"), self.master_pull)
        self.fire_minion([legacy_frame(body("fire_master", request({"c": 1}, "cfg/x")))])
        tag, packed = split(read_frames(msub, mup, 1)[0]["body"])
        self.assertEqual((tag, without_stamp(packed)), ("cfg/x", load("cfg/x", {"c": 1})))

    def test_no_master_configured_refuses_to_start(self):
        # It would drop every fire_master request while event-send reports success.
        r = self.run_tool("event-busd", *self.common("minion"), "--id", MINION_ID)
        self.assertEqual((r.returncode, r.stderr.decode()), (78,
                         "event-busd: cannot forward fire_master events: no master bus is configured (no "
                         f"--master-sock-dir, no {self.config_dir}/master); give --master-sock-dir DIR, write a "
                         "master config, or pass --no-forward to keep them on this bus\n"))
        self.assertFalse(os.path.exists(self.sock_dir))
        minion = self.start_minion("--no-forward")
        nsub, nup = self.subscribe(os.path.join(self.sock_dir, self.minion_pub), self.pull_path(name=self.minion_pull))
        frame = legacy_frame(body("fire_master", request({}, "x")))
        self.fire_minion([frame, frame])
        self.assertEqual(len(read_frames(nsub, nup, 2)), 2)
        self.assertEqual(terminate(minion), (0, b""))

    def test_no_forward_and_usage_errors(self):
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write(f"sock_dir: {self.master_dir}\n")
        minion = self.start_minion("--no-forward")
        self.fire_minion([legacy_frame(body("fire_master", request({}, "x")))])
        self.assertEqual(terminate(minion), (0, b""))
        self.assertFalse(os.path.exists(self.master_dir))
        for args, msg in [
            (["--node", "master", "--master-sock-dir", self.master_dir],
             b"--master-sock-dir, --no-forward and --forward-queue need --node minion"),
            (["--node", "minion", "--no-forward", "--master-sock-dir", self.master_dir],
             b"--no-forward and --master-sock-dir contradict each other"),
            (["--node", "minion", "--forward-queue", "0"],
             b"invalid --forward-queue '0' (expected a number of events, at least 1)"),
            (["--node", "minion", "--forward-queue", "-1"],
             b"invalid --forward-queue '-1' (expected a number of events, at least 1)"),
        ]:
            r = self.run_tool("event-busd", "--sock-dir", self.sock_dir, "-c", self.config_dir, *args)
            self.assertEqual((r.returncode, r.stderr), (64, b"event-busd: " + msg + b"\nTry 'event-busd --help'.\n"))


if __name__ == "__main__":
    tb.main()
