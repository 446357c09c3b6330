"""event-fire against the real event-busd and against a recording fake puller: the bytes on the
wire (checked with python3-msgpack), framings, nodes, --lines replay, errors and exit codes."""
import json
import os
import re
import socket
import struct
import threading

import msgpack

import tb
from tb import body, legacy_frame

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")


class Recorder:
    """A fake pull socket that records every byte a client writes (as a Salt puller would read)."""

    def __init__(self, path):
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        self.data = b""
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        conn, _ = self.srv.accept()
        conn.settimeout(tb.DEADLINE)
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            self.data += chunk
        conn.close()

    def bytes(self):
        self.t.join(tb.DEADLINE)
        self.srv.close()
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
        self.start_bus(node="minion")
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
                  ("r/3", {"big": 18446744073709551615, "neg": -5})]
        w = self.watch("count=3")
        s = self.push_raw(b"".join(legacy_frame(body(t, {**d, "_stamp": "2024-05-01T12:34:56"})) for t, d in events))
        s.close()
        log = w.out.read_until_eof()
        self.assertEqual(w.wait(), 0)
        w2 = self.watch("count=3")
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

    def test_lines_bad_line_keeps_what_was_sent(self):
        self.start_bus()
        w = self.watch("count=1")
        r = self.run_tool("event-fire", *self.common(), "--lines", input=b'ok\t{"a": 1}\nnot a line\n')
        self.assertEqual(r.returncode, 65)
        self.assertEqual(r.stderr, b"event-fire: line 2: expected TAG<TAB>JSON (state-event's output)\n")
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


if __name__ == "__main__":
    tb.main()
