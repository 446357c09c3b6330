"""state-event against the real event-busd: Salt's output bytes, count/quiet/pretty/tagmatch,
nodes, framings, TCP mode, bus restarts, errors and exit codes."""
import json
import os
import signal

import msgpack

import tb
from tb import body, legacy_frame, prefixed_frame

DATA = {"foo": "bar", "n": 1, "u": "é", "f": 0.1, "l": [1, None, True], "_stamp": "2024-05-01T12:34:56.789012"}


def salt_line(tag, data, pretty=False):
    """What salt-run state.event prints, computed with Python's json like Salt does."""
    if pretty:
        text = json.dumps(data, ensure_ascii=False, sort_keys=True, indent=4)
    else:
        text = json.dumps(data, ensure_ascii=False)
    return (tag + "\t" + text + "\n").encode()


class StateEvent(tb.BusTest):
    def test_compact_output_is_byte_identical_and_count_stops(self):
        self.start_bus()
        w = self.watch("count=2")
        s = self.push_raw(legacy_frame(body("myco/a", DATA)) + legacy_frame(body("myco/b", {"x": 2})) +
                          legacy_frame(body("myco/c", {"x": 3})))
        s.close()
        self.assertEqual(w.out.readline(), salt_line("myco/a", DATA))
        self.assertEqual(w.out.readline(), salt_line("myco/b", {"x": 2}))
        self.assertEqual(w.wait(), 0)
        self.assertEqual(w.out.read_until_eof(), b"")  # stopped after 2, no trailing None

    def test_pretty_output_sorted_indented(self):
        self.start_bus()
        w = self.watch("pretty=True", "count=1")
        self.push_raw(legacy_frame(body("myco/p", DATA))).close()
        got = w.out.read_until_eof()
        self.assertEqual(got, salt_line("myco/p", DATA, pretty=True))
        self.assertEqual(w.wait(), 0)

    def test_flags_equal_words(self):
        self.start_bus()
        w = self.watch(extra=["--pretty", "--count", "1"])
        self.push_raw(legacy_frame(body("t", DATA))).close()
        self.assertEqual(w.out.read_until_eof(), salt_line("t", DATA, pretty=True))
        self.assertEqual(w.wait(), 0)

    def test_tagmatch_glob_and_regex(self):
        self.start_bus()
        glob = self.watch("salt/job/*/ret/*", "count=1")
        regex = self.watch(r"salt/job/\d+/ret/.*", "count=1")
        s = self.push_raw(legacy_frame(body("salt/job/abc/new", {"a": 1})) +
                          legacy_frame(body("salt/job/20240501/ret/web1", {"b": 2})))
        s.close()
        self.assertEqual(glob.out.read_until_eof(), salt_line("salt/job/20240501/ret/web1", {"b": 2}))
        self.assertEqual(regex.out.read_until_eof(), salt_line("salt/job/20240501/ret/web1", {"b": 2}))

    def test_non_string_tagmatch_matches_nothing(self):
        self.start_bus()
        w = self.watch("1", "--timeout", "0.5")
        self.push_raw(legacy_frame(body("1", {"a": 1}))).close()
        self.assertEqual(w.wait(), 1)
        self.assertEqual(w.out.read_until_eof(), b"")

    def test_count_zero_behaves_like_one(self):
        self.start_bus()
        w = self.watch("count=0")
        self.push_raw(legacy_frame(body("a", {"i": 1})) + legacy_frame(body("b", {"i": 2}))).close()
        self.assertEqual(w.out.read_until_eof(), salt_line("a", {"i": 1}))
        self.assertEqual(w.wait(), 0)

    def test_quiet_prints_nothing_and_still_counts(self):
        self.start_bus()
        w = self.watch("quiet=True", "count=2")
        self.push_raw(legacy_frame(body("a", {})) + legacy_frame(body("b", {}))).close()
        self.assertEqual(w.wait(), 0)
        self.assertEqual(w.out.read_until_eof(), b"")

    def test_prefixed_and_legacy_frames_on_the_pull_socket(self):
        self.start_bus()
        w = self.watch("count=3")
        s = self.push_raw(prefixed_frame(body("p1", {"a": 1})) + legacy_frame(body("l2", {"a": 2})) +
                          prefixed_frame(body("p3", {"a": 3})))
        s.close()
        got = w.out.read_until_eof()
        self.assertEqual(got, salt_line("p1", {"a": 1}) + salt_line("l2", {"a": 2}) + salt_line("p3", {"a": 3}))

    def test_minion_node_with_id_and_hash_type(self):
        # SALT-WIRE §1.1: web01 md5 -> 2f527604e1
        extra = ["--id", "web01"]
        with open(os.path.join(self.config_dir, "minion"), "w") as f:
            f.write("hash_type: md5\n")
        self.start_bus(node="minion", extra=[*extra, "--no-forward"])
        self.assertTrue(os.path.exists(os.path.join(self.sock_dir, "minion_event_2f527604e1_pub.ipc")))
        self.assertTrue(os.path.exists(os.path.join(self.sock_dir, "minion_event_2f527604e1_pull.ipc")))
        w = self.watch("count=1", node="minion", extra=extra)
        self.push_raw(legacy_frame(body("m", {"k": "v"})), name="minion_event_2f527604e1_pull.ipc").close()
        self.assertEqual(w.out.read_until_eof(), salt_line("m", {"k": "v"}))

    def test_ipc_mode_tcp(self):
        import socket
        ports = []
        for _ in range(2):  # find two free loopback ports for this test
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
            s.close()
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write(f"ipc_mode: tcp\ntcp_master_pub_port: {ports[0]}\ntcp_master_pull_port: {ports[1]}\n")
        self.start_bus()
        w = self.watch("count=1")
        r = self.run_tool("event-fire", *self.common(), "{a: 1}", "over/tcp")
        self.assertEqual(r.returncode, 0, r.stderr)
        line = w.out.read_until_eof()
        self.assertTrue(line.startswith(b'over/tcp\t{"a": 1, "_stamp": "'), line)

    def test_bus_restart_under_a_running_watch(self):
        bus = self.start_bus()
        w = self.watch("count=2")
        self.push_raw(legacy_frame(body("before", {"i": 1}))).close()
        self.assertEqual(w.out.readline(), salt_line("before", {"i": 1}))
        self.assertEqual(bus.stop(), 0)
        self.assertIn(b"lost the bus", w.err.readline())
        self.start_bus()
        self.assertIn(b"reconnected to", w.err.readline())
        self.push_raw(legacy_frame(body("after", {"i": 2}))).close()
        self.assertEqual(w.out.readline(), salt_line("after", {"i": 2}))
        self.assertEqual(w.wait(), 0)

    def test_garbage_publisher_does_not_disturb_others(self):
        bus = self.start_bus()
        w = self.watch("count=2")
        good = self.push_raw(legacy_frame(body("g1", {"i": 1})))
        bad = self.push_raw(b"\xc1\xc1 this is not msgpack")
        self.assertIn(b"event-busd:", bus.err.readline())  # the drop is logged
        good.sendall(legacy_frame(body("g2", {"i": 2})))
        good.close()
        bad.close()
        self.assertEqual(w.out.read_until_eof(), salt_line("g1", {"i": 1}) + salt_line("g2", {"i": 2}))

    def test_where_salt_crashes_we_print_warn_once_and_go_on(self):
        self.start_bus()
        w = self.watch("count=3")
        bad = b"bad/utf8\n\n" + msgpack.packb({"b": b"\xff\xfe", "s": "ok"}, use_bin_type=True)
        self.push_raw(legacy_frame(bad) + legacy_frame(bad) + legacy_frame(body("fine", {"a": 1}))).close()
        line = b'bad/utf8\t{"b": "\\\\xff\\\\xfe", "s": "ok"}\n'
        self.assertEqual(w.out.read_until_eof(), line + line + salt_line("fine", {"a": 1}))
        self.assertEqual(w.wait(), 0)
        err = w.err.read_until_eof()
        self.assertEqual(err, b"state-event: warning: Salt's state.event cannot print event 'bad/utf8'; printed "
                              b"anyway (non-UTF-8 bytes shown as \\xNN)\n")

    def test_quiet_counts_what_salt_could_not_print_and_warns_of_nothing(self):
        # With quiet=True Salt never serialises the event, so nothing crashes and nothing is
        # "printed anyway": no warning, and the events still count (a dropped one does not).
        self.start_bus()
        counted = self.watch("quiet=True", "count=2")
        short = self.watch("quiet=True", "count=2", extra=("--timeout", "1"))
        # Not UTF-8 (rendered straight from the bytes), and a msgpack timestamp (through the value
        # tree): printed, each would be warned about.
        bad = b"bad/utf8\n\n" + msgpack.packb({"b": b"\xff\xfe", "s": "ok"}, use_bin_type=True)
        stamp = b"bad/ts\n\n" + msgpack.packb({"t": msgpack.Timestamp(1, 0)}, use_bin_type=True)
        dropped = b"drop\n\n\x81\x91\x01\x02"  # a list as a map key: Salt drops it
        self.push_raw(legacy_frame(stamp) + legacy_frame(dropped)).close()
        # One event counted of two: the short watch times out (exit 1) without its count.
        self.assertEqual(short.wait(), 1)
        self.assertEqual((short.out.read_until_eof(), short.err.read_until_eof()), (b"", b""))
        self.push_raw(legacy_frame(bad)).close()
        self.assertEqual(counted.wait(), 0)
        self.assertEqual((counted.out.read_until_eof(), counted.err.read_until_eof()), (b"", b""))

    def test_events_salt_drops_are_not_printed_or_counted(self):
        self.start_bus()
        w = self.watch("count=1")
        list_key = b"drop\n\n" + b"\x81\x91\x01\x02"  # {[1]: 2}: a list used as a map key
        no_blank = b"no blank line here"
        self.push_raw(legacy_frame(list_key) + legacy_frame(no_blank) + legacy_frame(body("kept", {}))).close()
        self.assertEqual(w.out.read_until_eof(), salt_line("kept", {}))
        self.assertEqual(w.wait(), 0)

    def test_every_event_salt_drops_is_skipped_with_one_warning(self):
        # SALT-WIRE §7 "Events Salt drops silently", each reaching the subscriber.
        dropped = [
            b"t\n\n\x81\x91\x01\x02",                                 # an array as a map key
            b"t\n\n\x81\x80\x01",                                     # a map as a map key
            b"t\n\n\x81\xa1a\xd4\x4e\x00",                            # a malformed datetime (ext 78)
            b"no blank line here",                                    # no "\n\n", all ASCII
            b"",                                                      # empty
            b"\n\n",                                                  # only the separator
            b"ends/in/lf\n\n\n" + msgpack.packb({"a": 1}),            # a tag ending in "\n"
            b"sep\n\n\n\n" + msgpack.packb({}),                       # more blank lines
            b"two\n\n" + msgpack.packb({"a": 1}) + msgpack.packb({}),  # two objects
            b"junk\n\n" + msgpack.packb({"a": 1}) + b"junk",           # garbage after the data
            b"short\n\n\x82\xa1a",                                     # truncated
        ]
        self.start_bus()
        compact = self.watch("count=1")
        pretty = self.watch("count=1", "pretty=True")
        self.push_raw(b"".join(legacy_frame(b) for b in dropped) + legacy_frame(body("kept", {"k": 1}))).close()
        self.assertEqual(compact.out.read_until_eof(), salt_line("kept", {"k": 1}))
        self.assertEqual(pretty.out.read_until_eof(), salt_line("kept", {"k": 1}, pretty=True))
        for w in (compact, pretty):
            self.assertEqual(w.wait(), 0)
            err = w.err.read_until_eof()
            self.assertEqual(err.count(b"warning: skipped an event that cannot be decoded"), 1, err)

    def test_other_ext_types_print_their_payload(self):
        # Ext(1, b"abc") -> "abc", empty -> "", not UTF-8 -> \xNN with a warning; a datetime key
        # sorts among str keys by its ISO text.
        data = (b"\x84" + b"\xa6_stamp\x01" + b"\xc7\x18\x4e" + b"20240501T12:00:00.000000" + b"\x02"
                + b"\xa1e\xc7\x03\x01abc" + b"\xa1z\xc7\x00\x05")
        self.start_bus()
        compact = self.watch("count=2")
        pretty = self.watch("count=1", "pretty=True")
        bad = b"bad\n\n\x81\xa1x\xd4\x07\xff"
        self.push_raw(legacy_frame(b"ext\n\n" + data) + legacy_frame(bad)).close()
        self.assertEqual(compact.out.read_until_eof(),
                         b'ext\t{"_stamp": 1, "2024-05-01T12:00:00": 2, "e": "abc", "z": ""}\n'
                         b'bad\t{"x": "\\\\xff"}\n')
        self.assertEqual(pretty.out.read_until_eof(),
                         b'ext\t{\n    "2024-05-01T12:00:00": 2,\n    "_stamp": 1,\n    "e": "abc",\n    "z": ""\n}\n')
        self.assertEqual(compact.wait(), 0)
        self.assertEqual(compact.err.read_until_eof(),
                         b"state-event: warning: Salt's state.event cannot print event 'bad'; printed anyway "
                         b"(non-UTF-8 bytes shown as \\xNN)\n")
        self.assertEqual(pretty.wait(), 0)
        self.assertEqual(pretty.err.read_until_eof(), b"")

    def test_json_lines(self):
        self.start_bus()
        w = self.watch("count=1", extra=["--json-lines"])
        self.push_raw(legacy_frame(body("j", DATA))).close()
        line = w.out.read_until_eof()
        self.assertEqual(json.loads(line), {"tag": "j", "data": DATA})
        self.assertTrue(line.endswith(b"}\n"))

    def test_timeout_exit_codes(self):
        self.start_bus()
        r = self.run_tool("state-event", *self.common(), "count=1", "--timeout", "0.2")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (1, b"", b""))
        # an unbounded watch answers like grep: 1 when nothing matched
        r = self.run_tool("state-event", *self.common(), "--timeout", "0.2")
        self.assertEqual((r.returncode, r.stdout), (1, b""))
        # --timeout 0 gives up at once rather than meaning "no timeout"
        r = self.run_tool("state-event", *self.common(), "--timeout", "0")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (1, b"", b""))

    def test_sigterm_ends_the_watch_with_0(self):
        self.start_bus()
        w = self.watch()
        self.assertEqual(w.stop(signal.SIGTERM), 0)

    def test_unreachable_bus_is_69_and_names_the_socket(self):
        r = self.run_tool("state-event", *self.common())
        path = os.path.join(self.sock_dir, "master_event_pub.ipc")
        self.assertEqual(r.returncode, 69)
        self.assertEqual(r.stderr, f"state-event: cannot connect to {path}: No such file or directory; no bus is "
                                   f"running there: start `event-busd --node master --sock-dir {self.sock_dir}`, "
                                   "or use node=minion\n".encode())
        self.assertEqual(r.stdout, b"")

    def test_wait_for_bus(self):
        w = tb.Proc([tb.tool("state-event"), *self.common(), "-v", "--wait-for-bus", "count=1"], env=self.env)
        self.procs.append(w)
        self.start_bus()
        while b"connected to" not in w.err.readline():
            pass
        self.push_raw(legacy_frame(body("late", {}))).close()
        self.assertEqual(w.out.read_until_eof(), salt_line("late", {}))

    def test_usage_errors(self):
        cases = [
            (["--bogus"], b"state-event: unknown option --bogus\n"),
            (["count=abc"], b"state-event: count must be a number, not a string\n"),
            (["count=1", "--count", "2"], b"state-event: count given twice: as count= and as --count\n"),
            (["foo=1"], b"state-event: unexpected keyword argument 'foo'\n"),
            (["node=moon"], b"state-event: unknown node 'moon' (expected master or minion)\n"),
            (["--timeout", "soon"], b"state-event: invalid --timeout 'soon' (expected seconds, e.g. 2 or 0.5)\n"),
            (["--color", "red"], b"state-event: invalid --color 'red' (expected auto, always or never)\n"),
        ]
        for args, err in cases:
            with self.subTest(args=args):
                r = self.run_tool("state-event", "--sock-dir", self.sock_dir, "-c", self.config_dir, *args)
                self.assertEqual(r.returncode, 64)
                self.assertEqual(r.stderr, err + b"Try 'state-event --help'.\n")


if __name__ == "__main__":
    tb.main()
