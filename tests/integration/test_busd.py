"""event-busd as a process: start line, socket files and modes, pidfile, signals, refusing a live
bus, replacing a stale socket, ordering across publishers and subscribers, bad publishers."""
import grp
import os
import signal
import socket
import stat

import msgpack

import tb
from tb import body, legacy_frame, read_frames, prefixed_frame



class Busd(tb.BusTest):
    def subscribe(self, node="master"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(tb.DEADLINE)
        s.connect(os.path.join(self.sock_dir, f"{node}_event_pub.ipc"))
        return s, msgpack.Unpacker(raw=False)

    def test_start_line_modes_pidfile_and_clean_exit(self):
        pidfile = os.path.join(self.dir, "busd.pid")
        bus = self.start_bus(extra=["--pidfile", pidfile])
        pub = os.path.join(self.sock_dir, "master_event_pub.ipc")
        pull = os.path.join(self.sock_dir, "master_event_pull.ipc")
        self.assertEqual(stat.S_IMODE(os.stat(self.sock_dir).st_mode), 0o750)
        for path in (pub, pull):
            st = os.stat(path)
            self.assertTrue(stat.S_ISSOCK(st.st_mode))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        # the pidfile is written once the sockets accept connections
        while not os.path.exists(pidfile):
            self.assertIsNone(bus.p.poll())
            self.subscribe()[0].close()
        with open(pidfile) as f:
            self.assertEqual(f.read(), f"{bus.p.pid}\n")
        self.assertEqual(bus.stop(signal.SIGTERM), 0)
        for path in (pub, pull, pidfile):
            self.assertFalse(os.path.exists(path), path)

    def test_sigint_also_exits_0(self):
        bus = self.start_bus()
        self.assertEqual(bus.stop(signal.SIGINT), 0)
        self.assertFalse(os.path.exists(os.path.join(self.sock_dir, "master_event_pub.ipc")))

    def test_group_gives_0660(self):
        group = grp.getgrgid(os.getgid()).gr_name
        self.start_bus(extra=["--group", group])
        for name in ("master_event_pub.ipc", "master_event_pull.ipc"):
            st = os.stat(os.path.join(self.sock_dir, name))
            self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
            self.assertEqual(st.st_gid, os.getgid())

    def test_unknown_group_is_a_usage_error(self):
        r = self.run_tool("event-busd", *self.common(), "--group", "no-such-group-tb")
        self.assertEqual(r.returncode, 64)
        self.assertEqual(r.stderr, b"event-busd: unknown group 'no-such-group-tb'\nTry 'event-busd --help'.\n")

    def test_live_bus_refused_stale_socket_replaced(self):
        self.start_bus()
        r = self.run_tool("event-busd", *self.common())
        pub = os.path.join(self.sock_dir, "master_event_pub.ipc")
        self.assertEqual(r.returncode, 69)
        self.assertEqual(r.stderr, f"event-busd: a bus is already running on {pub}\n".encode())
        for p in self.procs:
            p.p.kill()  # dies without cleaning up: stale socket files remain
            p.p.wait()
        self.assertTrue(os.path.exists(pub))
        self.start_bus()
        s, up = self.subscribe()
        self.push_raw(legacy_frame(body("after/stale", {}))).close()
        self.assertEqual(read_frames(s, up, 1)[0]["body"], body("after/stale", {}))

    def test_ordering_many_publishers_many_subscribers(self):
        self.start_bus()
        subs = [self.subscribe() for _ in range(3)]
        w = self.watch("quiet=True", "count=1")  # a subscriber we know is connected before we fire
        self.push_raw(legacy_frame(body("sync", {}))).close()
        self.assertEqual(w.wait(), 0)
        n = 2000
        pubs = []
        for p in range(4):
            frame = prefixed_frame if p % 2 else legacy_frame
            pubs.append((p, self.push_raw(b"".join(frame(body(f"p{p}", {"i": i})) for i in range(n)))))
        for _, s in pubs:
            s.close()
        for s, up in subs:
            frames = read_frames(s, up, 1 + 4 * n)
            self.assertEqual(frames[0]["body"], body("sync", {}))
            seen = {p: [] for p in range(4)}
            for f in frames[1:]:
                self.assertEqual(f["head"], {})
                tag, _, packed = f["body"].partition(b"\n\n")
                seen[int(tag[1:])].append(msgpack.unpackb(packed)["i"])
            for p in range(4):
                self.assertEqual(seen[p], list(range(n)), f"publisher {p}")

    def test_bad_publishers_are_dropped_and_logged_others_served(self):
        bus = self.start_bus()
        s, up = self.subscribe()
        w = self.watch("quiet=True", "count=1")
        self.push_raw(legacy_frame(body("sync", {}))).close()
        self.assertEqual(w.wait(), 0)
        good = self.push_raw(legacy_frame(body("good/1", {})))
        garbage = self.push_raw(legacy_frame(body("from/garbage/conn", {})) + b"\xc1junk")
        self.assertIn(b"dropping", bus.err.readline())
        huge = self.push_raw(b"\x7f\xff\xff\xff")  # a 2 GiB prefix: over the frame limit
        self.assertIn(b"exceeds", bus.err.readline())
        good.sendall(legacy_frame(body("good/2", {})))
        good.close()
        garbage.close()
        huge.close()
        bodies = [f["body"] for f in read_frames(s, up, 4)]
        # what the garbage connection sent before its garbage is still delivered
        self.assertEqual(sorted(bodies), sorted([body("sync", {}), body("good/1", {}),
                                                 body("from/garbage/conn", {}), body("good/2", {})]))

    def test_usage_and_config_errors(self):
        r = self.run_tool("event-busd", "--sock-dir", self.sock_dir, "-c", self.config_dir, "--node", "moon")
        self.assertEqual((r.returncode, r.stderr),
                         (64, b"event-busd: unknown node 'moon' (expected master or minion)\nTry 'event-busd --help'.\n"))
        for bad in ("0", "-1", "16M", ""):
            r = self.run_tool("event-busd", "--sock-dir", self.sock_dir, "--max-subscriber-buffer", bad)
            self.assertEqual((r.returncode, r.stderr),
                             (64, b"event-busd: invalid --max-subscriber-buffer '" + bad.encode() +
                              b"' (expected a number of bytes, at least 1)\nTry 'event-busd --help'.\n"))
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write("ipc_mode: carrier-pigeon\n")
        r = self.run_tool("event-busd", *self.common())
        self.assertEqual(r.returncode, 78)
        self.assertTrue(r.stderr.startswith(b"event-busd: "), r.stderr)
        self.assertIn(b"ipc_mode", r.stderr)
        os.unlink(os.path.join(self.config_dir, "master"))
        long_dir = os.path.join(self.dir, "x" * 100)
        r = self.run_tool("event-busd", "--sock-dir", long_dir, "-c", self.config_dir)
        self.assertEqual(r.returncode, 78)
        self.assertIn(b"the limit is 107", r.stderr)


if __name__ == "__main__":
    tb.main()
