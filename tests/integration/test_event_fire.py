"""event-fire against the real event-busd and against a recording fake puller: the bytes on the
wire (checked with python3-msgpack), framings, nodes, --lines replay, errors and exit codes."""
import datetime
import json
import os
import re
import signal
import socket
import struct
import threading
import time

import msgpack

import tb
from tb import body, legacy_frame

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


class Recorder:
    """A fake pull socket that accepts one client, then by default reads every byte to EOF and
    closes, as Salt's buses do (bytes() returns what it read); `never_read` holds the connection
    without reading instead (a wedged bus) until done()."""

    def __init__(self, path, never_read=False):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        self.never_read = never_read
        self.data = b""
        self.release = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        conn, _ = self.srv.accept()
        if self.never_read:
            self.release.wait(tb.DEADLINE)
        else:
            conn.settimeout(tb.DEADLINE)
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                self.data += chunk
        conn.close()

    def done(self):
        self.release.set()
        self.t.join(tb.DEADLINE)
        self.srv.close()

    def bytes(self):
        self.done()
        return self.data


class EventFire(tb.BusTest):
    def pub_reader(self, node="master"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(tb.DEADLINE)
        s.connect(os.path.join(self.sock_dir, f"{node}_event_pub.ipc"))
        return s, msgpack.Unpacker(raw=False)

    def next_frame(self, s, unpacker):
        while True:
            for obj in unpacker:
                return obj
            chunk = s.recv(65536)
            self.assertTrue(chunk, "pub socket closed")
            unpacker.feed(chunk)

    def test_bytes_on_the_bus_are_salts(self):
        self.start_bus()
        w = self.watch("count=1")  # so we know the bus has a subscriber before firing
        s, up = self.pub_reader()
        self.fire('{"foo": "bar", "n": 1}', "myco/test")
        frame = self.next_frame(s, up)
        self.assertEqual(list(frame.keys()), ["head", "body"])
        self.assertEqual(frame["head"], {})
        tag, _, packed = frame["body"].partition(b"\n\n")
        self.assertEqual(tag, b"myco/test")
        data = msgpack.unpackb(packed, raw=False)
        self.assertEqual(list(data), ["foo", "n", "_stamp"])
        self.assertRegex(data["_stamp"], STAMP)
        # the whole frame equals what python3-msgpack builds for the same event
        self.assertEqual(msgpack.packb(frame, use_bin_type=True),
                         legacy_frame(b"myco/test\n\n" + msgpack.packb(data, use_bin_type=True)))
        self.assertTrue(w.out.read_until_eof().startswith(b'myco/test\t{"foo": "bar", "n": 1, "_stamp": "'))

    def test_yaml_words_and_keywords(self):
        self.start_bus()
        w = self.watch("count=1")
        r = self.run_tool("event-fire", *self.common(), "tag=a/b", "data={x: yes, y: 010, z: 1e3}")
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        line = w.out.read_until_eof().decode()
        tag, _, text = line.rstrip("\n").partition("\t")
        self.assertEqual(tag, "a/b")
        d = json.loads(text)
        del d["_stamp"]
        self.assertEqual(d, {"x": True, "y": 10, "z": "1e3"})

    def test_default_node_is_minion(self):
        with open(os.path.join(self.config_dir, "minion"), "w") as f:
            f.write("id: minion1\n")
        self.start_bus(node="minion", extra=["--no-forward"])
        self.assertTrue(os.path.exists(os.path.join(self.sock_dir, "minion_event_1e9498c860_pull.ipc")))
        w = self.watch("count=1", node="minion")
        r = self.run_tool("event-fire", "--sock-dir", self.sock_dir, "-c", self.config_dir, "{a: 1}", "to/minion")
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertTrue(w.out.read_until_eof().startswith(b'to/minion\t{"a": 1, "_stamp"'))

    def test_framing_choice_reaches_the_wire(self):
        os.makedirs(self.sock_dir)
        for how, extra, env in [("flag", ["--framing", "prefixed"], {}),
                                ("env", [], {"TAGBUS_FRAMING": "prefixed"}),
                                ("default", [], {})]:
            with self.subTest(how=how):
                path = self.pull_path()
                rec = Recorder(path)
                self.env.update(env)
                r = self.run_tool("event-fire", *self.common(), *extra, "{a: 1}", "f")
                for k in env:
                    del self.env[k]
                self.assertEqual((r.returncode, r.stderr), (0, b""))
                raw = rec.bytes()
                os.unlink(path)
                if how == "default":
                    self.assertEqual(raw[0], 0x82)
                    frame = raw
                else:
                    (n,) = struct.unpack(">I", raw[:4])
                    self.assertEqual(n, len(raw) - 4)
                    frame = raw[4:]
                f = msgpack.unpackb(frame, raw=False)
                self.assertEqual(msgpack.packb(f, use_bin_type=True), frame)
                self.assertTrue(f["body"].startswith(b"f\n\n"))

    def test_lines_replay_round_trip(self):
        self.start_bus()
        events = [("r/1", {"a": 1, "s": "é\t\n"}), ("r/2", {"l": [1, 2.5, None], "m": {"k": False}}),
                  ("r/3", {"big": 18446744073709551615, "neg": -5}),
                  ("{alt/auth", {"tag": "starts with a brace"})]  # TAG<TAB>JSON, not a JSON line
        w = self.watch("count=4")
        s = self.push_raw(b"".join(legacy_frame(body(t, {**d, "_stamp": "2024-05-01T12:34:56"})) for t, d in events))
        s.close()
        log = w.out.read_until_eof()
        self.assertEqual(w.wait(), 0)
        w2 = self.watch("count=4")
        r = self.run_tool("event-fire", *self.common(), "--lines", input=log)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        got = [line.split("\t", 1) for line in w2.out.read_until_eof().decode().splitlines()]
        self.assertEqual([t for t, _ in got], [t for t, _ in events])
        for (t, d), (_, text) in zip(events, got):
            d2 = json.loads(text)
            self.assertRegex(d2.pop("_stamp"), STAMP)  # re-stamped, as Salt's fire_event does
            self.assertEqual(d2, d)

    def test_lines_replay_of_json_lines(self):
        # state-event --json-lines output ({"tag": ..., "data": ...} a line) replays intact; this
        # aborted (std::bad_variant_access, exit 134) when the members dangled.
        self.start_bus()
        events = [("j/1", {"a": 1, "s": "é\t\n"}), ("j/2", {"l": [1, 2.5, None], "m": {"k": False}}),
                  ("j/3", {"tag": "not the tag", "data": {"x": "y"}})]
        w = self.watch("count=3", extra=("--json-lines",))
        s = self.push_raw(b"".join(legacy_frame(body(t, {**d, "_stamp": "2024-05-01T12:34:56"})) for t, d in events))
        s.close()
        log = w.out.read_until_eof()
        self.assertEqual(w.wait(), 0)
        self.assertEqual(len(log.splitlines()), 3)
        w2 = self.watch("count=3", extra=("--json-lines",))
        r = self.run_tool("event-fire", *self.common(), "--lines", input=log)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        got = [json.loads(line) for line in w2.out.read_until_eof().decode().splitlines()]
        self.assertEqual([g["tag"] for g in got], [t for t, _ in events])
        for (t, d), g in zip(events, got):
            self.assertRegex(g["data"].pop("_stamp"), STAMP)
            self.assertEqual(g["data"], d)

    def test_lines_longer_than_a_read_and_a_last_line_without_newline(self):
        # stdin is read in 256 KiB blocks: a 600 KB line spans three of them.
        self.start_bus()
        w = self.watch("count=2")
        pad = "x" * 600_000
        r = self.run_tool("event-fire", *self.common(), "--lines",
                          input=f'long/1\t{{"pad": "{pad}", "n": 1}}\nlong/2\t{{"n": 2}}'.encode())
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        got = [line.split("\t", 1) for line in w.out.read_until_eof().decode().splitlines()]
        self.assertEqual([t for t, _ in got], ["long/1", "long/2"])
        first = json.loads(got[0][1])
        self.assertEqual((len(first["pad"]), first["n"]), (600_000, 1))
        self.assertEqual(json.loads(got[1][1])["n"], 2)

    def test_lines_bad_line_keeps_what_was_sent(self):
        self.start_bus()
        w = self.watch("count=1")
        r = self.run_tool("event-fire", *self.common(), "--lines", input=b'ok\t{"a": 1}\nnot a line\n')
        self.assertEqual(r.returncode, 65)
        self.assertEqual(r.stderr, b"event-fire: line 2: expected TAG<TAB>JSON (state-event's output); stopped after "
                                   b"1 event sent (--skip-bad-lines goes on past bad lines)\n")
        self.assertTrue(w.out.read_until_eof().startswith(b'ok\t{"a": 1, "_stamp": "'))

    def test_verbose_says_what_was_sent(self):
        self.start_bus()
        r = self.run_tool("event-fire", *self.common(), "-v", "{a: 1}", "v/t")
        self.assertEqual(r.returncode, 0)
        lines = r.stderr.decode().splitlines()
        self.assertEqual(lines[0], f"event-fire: node master, sock_dir {self.sock_dir} (from command line)")
        self.assertRegex(lines[-1], r'^event-fire: sent to .*master_event_pull.ipc: v/t\t\{"a": 1, "_stamp": ".*"\}$')

    def test_errors_and_exit_codes(self):
        self.start_bus()
        pull = self.pull_path()
        cases = [
            (["[1, 2]", "t"], 65, "event-fire: DATA must be a map, not a list\n"),
            (["hello", "t"], 65, "event-fire: DATA must be a map, not a string\n"),
            (["{a: 1}", "''"], 65, "event-fire: tag is empty\n"),
            (["{a: 1}", "a\n\nb"], 65, 'event-fire: tag contains a blank line ("\\n\\n")\n'),
            (["{a: 1}"], 64, "event-fire: missing TAG after DATA\nTry 'event-fire --help'.\n"),
            ([], 64, "event-fire: missing DATA (a YAML or JSON map) and TAG\nTry 'event-fire --help'.\n"),
            (["{a: 1}", "t", "timeout=soon"], 64,
             "event-fire: timeout must be a number of milliseconds, not 'soon'\nTry 'event-fire --help'.\n"),
            (["--framing", "zip", "{a: 1}", "t"], 64,
             "event-fire: invalid --framing 'zip' (expected legacy or prefixed)\nTry 'event-fire --help'.\n"),
        ]
        for args, code, err in cases:
            with self.subTest(args=args):
                r = self.run_tool("event-fire", *self.common(), *args)
                self.assertEqual((r.returncode, r.stderr.decode(), r.stdout), (code, err, b""))
        r = self.run_tool("event-fire", *self.common(), "{a: ", "t")
        self.assertEqual(r.returncode, 65)
        self.assertTrue(r.stderr.startswith(b"event-fire: cannot parse DATA: invalid YAML at line 1, column"), r.stderr)
        self.assertEqual(r.stderr.count(b"\n"), 1)
        os.unlink(pull)
        r = self.run_tool("event-fire", *self.common(), "{a: 1}", "t")
        self.assertEqual((r.returncode, r.stderr.decode()),
                         (69, f"event-fire: cannot connect to {pull}: No such file or directory; no bus is running "
                              f"there: start `event-busd --node master --sock-dir {self.sock_dir}`, or use "
                              "node=minion\n"))


class SlowSubscriber:
    """Reads the pub socket at about `rate` bytes a second (pacing a slow reader, not
    synchronisation) and counts whole frames with python3-msgpack."""

    def __init__(self, path, rate):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(tb.DEADLINE)
        self.s.connect(path)
        self.rate = rate
        self.tags = []
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        up = msgpack.Unpacker(raw=False)
        start = time.monotonic()
        got = 0
        while not self.stop.is_set():
            ahead = got / self.rate - (time.monotonic() - start)
            if ahead > 0:
                self.stop.wait(ahead)
            try:
                chunk = self.s.recv(16384)
            except (socket.timeout, OSError):
                break
            if not chunk:
                break
            got += len(chunk)
            up.feed(chunk)
            for frame in up:
                self.tags.append(frame["body"].partition(b"\n\n")[0])

    def wait_for(self, n, deadline=tb.DEADLINE):
        end = time.monotonic() + deadline
        while len(self.tags) < n and time.monotonic() < end and self.t.is_alive():
            self.t.join(0.05)  # the reader thread's own progress; bounded by the deadline
        return len(self.tags)

    def close(self):
        self.stop.set()
        self.s.shutdown(socket.SHUT_RDWR)  # wakes a recv() in progress, which close() would not
        self.s.close()
        self.t.join(tb.DEADLINE)


class FireReliability(tb.BusTest):
    """Exit 0 means the bus read every event (issue 9, defects 3, 5, 6, 7)."""

    def fire_args(self, *extra):
        return ["event-fire", *self.common(), *extra]

    def test_success_needs_the_bus_to_read_and_close(self):
        os.makedirs(self.sock_dir)
        h = Recorder(self.pull_path())
        r = self.run_tool(*self.fire_args("{a: 1}", "ok/t"))
        h.done()
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertTrue(msgpack.unpackb(h.data, raw=False)["body"].startswith(b"ok/t\n\n"))

    def test_a_bus_that_never_reads_is_75_not_0(self):
        os.makedirs(self.sock_dir)
        h = Recorder(self.pull_path(), never_read=True)
        r = self.run_tool(*self.fire_args("--timeout", "0.3", "{a: 1}", "t"))
        h.done()
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertRegex(r.stderr.decode(), r"^event-fire: timed out waiting for " + re.escape(self.pull_path()) +
                         r" to read what was sent: no progress for 300 ms \(about \d+ bytes unread\)\n$")

    def test_a_stopped_bus_is_75(self):
        bus = self.start_bus()
        bus.p.send_signal(signal.SIGSTOP)
        try:
            r = self.run_tool(*self.fire_args("--timeout", "0.3", "{a: 1}", "t"))
        finally:
            bus.p.send_signal(signal.SIGCONT)
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"no progress for 300 ms", r.stderr)

    def test_a_bus_killed_with_unread_events_is_69(self):
        os.makedirs(self.sock_dir)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.pull_path())
        srv.listen(8)
        p = tb.Proc([tb.tool("event-fire"), *self.common(), "--timeout", "5", "{a: 1}", "t"], env=self.env)
        conn, _ = srv.accept()
        conn.close()  # goes away without reading: the publisher sees a reset or a broken pipe
        srv.close()
        self.assertEqual(p.wait(), 69)
        self.assertIn(self.pull_path().encode(), p.err.read_until_eof())
        p.stop()

    def test_a_full_backlog_is_busy_75(self):
        os.makedirs(self.sock_dir)
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(self.pull_path())
        srv.listen(0)  # a stopped bus: nothing is ever accepted
        fillers = []
        try:
            for _ in range(64):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.setblocking(False)
                fillers.append(c)
                try:
                    c.connect(self.pull_path())
                except BlockingIOError:
                    break
            else:
                self.fail("the backlog never filled")
            r = self.run_tool(*self.fire_args("--timeout", "0.3", "{a: 1}", "t"))
        finally:
            for c in fillers:
                c.close()
            srv.close()
        self.assertEqual((r.returncode, r.stderr.decode()), (75,
            f"event-fire: cannot connect to {self.pull_path()}: the bus is busy: its listen backlog stayed full "
            "for 300 ms (is the bus process stopped or overloaded?); try again later\n"))

    def test_replay_waits_for_a_slow_subscriber(self):
        # A bus holding 1 MiB per subscriber pauses publishers for its one slow subscriber (about
        # 1 MB/s) again and again: the replay takes seconds, far past the 1 s that once bounded
        # it in total (exit 75 with "timed out writing"), and every event arrives.
        n = 100000
        self.start_bus(extra=("--max-subscriber-buffer", str(1 << 20)))
        sub = SlowSubscriber(os.path.join(self.sock_dir, "master_event_pub.ipc"), 1_000_000)
        try:
            lines = b"".join(b"r/%d\t{\"i\": %d}\n" % (i, i) for i in range(n))
            # --timeout 2: pauses last about 0.25 s, the replay about 6 s, so only a bound on time
            # without progress lets it finish.
            r = self.run_tool(*self.fire_args("--lines", "--timeout", "2", "--progress"), input=lines,
                              deadline=60)
            self.assertEqual(r.returncode, 0, r.stderr[-500:])
            self.assertRegex(r.stderr.decode().splitlines()[-1],
                             r"^event-fire: 100000 events sent in \d+\.\d s \(\d+/s\)$")
            self.assertEqual(sub.wait_for(n, deadline=40), n)
            self.assertEqual(sub.tags, [b"r/%d" % i for i in range(n)])
        finally:
            sub.close()

    def test_lines_skip_bad_lines(self):
        self.start_bus()
        w = self.watch("count=2")
        r = self.run_tool(*self.fire_args("--lines", "--skip-bad-lines"),
                          input=b'a\t{"x": 1}\nnot a line\n{"tag": 1}\nb\t{"y": 2}\n')
        self.assertEqual((r.returncode, r.stderr.decode()), (0,
            "event-fire: warning: line 2: expected TAG<TAB>JSON (state-event's output); skipped\n"
            "event-fire: warning: line 3: expected an object with \"tag\" and \"data\"; skipped\n"))
        out = w.out.read_until_eof().decode().splitlines()
        self.assertEqual([line.split("\t")[0] for line in out], ["a", "b"])

    def stamps(self, w):
        """The tags and the new _stamp of each event a watcher printed, as datetimes."""
        out = []
        for line in w.out.read_until_eof().decode().splitlines():
            tag, _, text = line.partition("\t")
            out.append((tag, datetime.datetime.fromisoformat(json.loads(text)["_stamp"])))
        return out

    def test_lines_rate_paces(self):
        # Each event is stamped when it is fired: at 20/s the fifth is 0.2 s after the first.
        self.start_bus()
        w = self.watch("count=5")
        lines = b"".join(b"p/%d\t{}\n" % i for i in range(5))
        r = self.run_tool(*self.fire_args("--lines", "--rate", "20"), input=lines)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        got = self.stamps(w)
        self.assertEqual([t for t, _ in got], ["p/%d" % i for i in range(5)])
        self.assertGreaterEqual(got[-1][1] - got[0][1], datetime.timedelta(seconds=0.19))

    def test_lines_realtime_keeps_stamp_gaps(self):
        self.start_bus()
        w = self.watch("count=3")
        lines = (b'a\t{"_stamp": "2024-05-01T12:00:00"}\n'
                 b'nostamp\t{}\n'  # sent at once
                 b'b\t{"_stamp": "2024-05-01T12:00:00.300000"}\n')
        r = self.run_tool(*self.fire_args("--lines", "--realtime"), input=lines)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        got = self.stamps(w)
        self.assertEqual([t for t, _ in got], ["a", "nostamp", "b"])
        self.assertLess(got[1][1] - got[0][1], got[2][1] - got[1][1])  # nostamp went with a, not b
        self.assertGreaterEqual(got[2][1] - got[0][1], datetime.timedelta(seconds=0.29))

    def test_replay_options_need_lines(self):
        for args, err in [(["--rate", "5", "{a: 1}", "t"], "--rate applies to --lines only"),
                          (["--progress", "{a: 1}", "t"], "--progress applies to --lines only"),
                          (["--lines", "--rate", "5", "--realtime"], "--rate and --realtime both pace the replay; give one"),
                          (["--lines", "--rate", "0"], "invalid --rate '0' (expected events per second, a number above 0)")]:
            with self.subTest(args=args):
                r = self.run_tool(*self.fire_args(*args), input=b"")
                self.assertEqual((r.returncode, r.stderr.decode()), (64, f"event-fire: {err}\nTry 'event-fire --help'.\n"))

    def test_trimmed_event_is_reported(self):
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write("max_event_size: 1000\n")
        self.start_bus()
        w = self.watch("count=1")
        r = self.run_tool(*self.fire_args("{a: %s, b: {c: %s, e: 1}, d: 1}" % ("x" * 600, "y" * 700), "big/t"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr.decode(), r"^event-fire: warning: event 'big/t' is \d+ bytes, over max_event_size "
                         r"1000: trimmed keys 'a' \(603 bytes\), 'b.c' \(703 bytes\) to \"VALUE_TRIMMED\"\n$")
        tag, _, text = w.out.read_until_eof().decode().rstrip("\n").partition("\t")
        d = json.loads(text)
        self.assertEqual((d["a"], d["b"]["c"], d["d"]), ("VALUE_TRIMMED", "VALUE_TRIMMED", 1))


class FireMessages(tb.BusTest):
    def test_shell_split_yaml_and_swapped_words(self):
        self.start_bus()
        cases = [
            (["{data:", "1}", "tag"], "event-fire: DATA looks split by the shell; quote it: event-fire '{data: 1}' tag\n"),
            (["{a:", "1,", "b:", "[1,", "2]}", "my/tag"],
             "event-fire: DATA looks split by the shell; quote it: event-fire '{a: 1, b: [1, 2]}' my/tag\n"),
            (["{a:", "1}"], "event-fire: DATA looks split by the shell; quote it: event-fire '{a: 1}' TAG\n"),
            (["mytag", "{a: 1}"], "event-fire: DATA comes first, then TAG (as in salt-call event.fire DATA TAG): "
                                  "event-fire '{a: 1}' mytag\n"),
        ]
        for args, err in cases:
            with self.subTest(args=args):
                r = self.run_tool("event-fire", *self.common(), *args)
                self.assertEqual((r.returncode, r.stderr.decode(), r.stdout),
                                 (64, err + "Try 'event-fire --help'.\n", b""))


if __name__ == "__main__":
    tb.main()
