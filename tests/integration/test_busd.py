"""event-busd as a process: start line, socket files and modes, pidfile, signals, refusing a live
bus, replacing a stale socket, ordering across publishers and subscribers, bad publishers."""
import grp
import os
import pwd
import shutil
import subprocess
import unittest
import signal
import socket
import stat

import msgpack

import tb
from tb import body, legacy_frame, read_frames, prefixed_frame



def ensure_group_and_user(name):
    """A system group and a user of that name in it, created if missing (idempotent, and safe when
    another test creates them at the same time); returns (gid, uid)."""
    for argv in (["groupadd", "--system", name],
                 ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "-g", name, name]):
        r = subprocess.run(argv, capture_output=True, timeout=tb.DEADLINE)
        if r.returncode not in (0, 9):  # 9: already exists
            raise RuntimeError(f"{argv[0]}: {r.stderr.decode()}")
    return grp.getgrnam(name).gr_gid, pwd.getpwnam(name).pw_uid


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
        # the private folders the sockets were bound in before they were moved into place are gone
        self.assertEqual(sorted(os.listdir(self.sock_dir)), ["master_event_pub.ipc", "master_event_pull.ipc"])
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

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root and useradd for a second user")
    def test_group_members_reach_the_sockets_others_do_not(self):
        gid, uid = ensure_group_and_user("tagbus-test")
        nogroup = grp.getgrnam("nogroup").gr_gid
        os.chmod(self.dir, 0o755)  # the test's own folder: others may pass through to sock_dir
        # A folder an earlier run created without --group (ours, 0750, our group) is given the group.
        self.assertEqual(self.start_bus().stop(signal.SIGTERM), 0)
        self.procs.clear()
        self.assertEqual(os.stat(self.sock_dir).st_gid, os.getegid())
        self.start_bus(extra=["--group", "tagbus-test"])
        st = os.stat(self.sock_dir)
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_gid), (0o750, gid))

        def run(name, *args, member):
            return subprocess.run([tb.tool(name), *self.common(), *args], capture_output=True, env=self.env,
                                  timeout=tb.DEADLINE, user=uid, group=gid if member else nogroup,
                                  extra_groups=[gid] if member else [])

        # A member watches and fires (the watcher is subscribed before the root's sync event ends it).
        watch = subprocess.Popen([tb.tool("state-event"), *self.common(), "-v", "count=2"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, env=self.env, user=uid, group=gid, extra_groups=[gid])
        try:
            err = tb.LineReader(watch.stderr.fileno())
            while b"connected to" not in err.readline():
                pass
            r = run("event-fire", "{by: member}", "from/member", member=True)
            self.assertEqual((r.returncode, r.stderr), (0, b""))
            self.fire("{by: root}", "from/root")
            self.assertEqual(watch.wait(timeout=tb.DEADLINE), 0)
            lines = tb.LineReader(watch.stdout.fileno()).read_until_eof().splitlines()
            self.assertEqual([l.split(b"\t")[0] for l in lines], [b"from/member", b"from/root"])
        finally:
            if watch.poll() is None:
                watch.kill()
                watch.wait()
            watch.stdout.close()
            watch.stderr.close()
        # Someone outside the group cannot even reach the socket files.
        for name, args in (("event-fire", ("{a: 1}", "t")), ("state-event", ("count=1",))):
            r = run(name, *args, member=False)
            self.assertNotEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"Permission denied", r.stderr)

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
        self.assertEqual(sorted(os.listdir(self.sock_dir)), ["master_event_pub.ipc", "master_event_pull.ipc"])
        for p in self.procs:
            p.p.kill()  # dies without cleaning up: stale socket files remain
            p.p.wait()
        self.assertTrue(os.path.exists(pub))
        self.start_bus()
        s, up = self.subscribe()
        self.push_raw(legacy_frame(body("after/stale", {}))).close()
        self.assertEqual(read_frames(s, up, 1)[0]["body"], body("after/stale", {}))

    def test_two_buses_started_together_one_wins_and_keeps_its_sockets(self):
        # Both may find the folder empty; a socket appears at its path only ready and never
        # replaces another's, so the loser fails (69) and the winner's sockets still answer.
        for round_ in range(5):
            args = [tb.tool("event-busd"), *self.common()]
            pair = [tb.Proc(args, env=self.env), tb.Proc(args, env=self.env)]
            self.procs.extend(pair)
            lines = [p.err.readline() for p in pair]
            started = [p for p, line in zip(pair, lines) if line.startswith(b"event-busd: started the")]
            self.assertEqual(len(started), 1, lines)
            loser = pair[1] if started[0] is pair[0] else pair[0]
            self.assertEqual(loser.wait(), 69, lines)
            self.assertTrue(lines[pair.index(loser)].startswith(b"event-busd: "), lines)
            self.assertEqual(sorted(os.listdir(self.sock_dir)), ["master_event_pub.ipc", "master_event_pull.ipc"])
            s, up = self.subscribe()
            w = self.watch("quiet=True", "count=1")
            self.fire("{round: %d}" % round_, "race/won")
            self.assertEqual(w.wait(), 0)
            tag, _, data = read_frames(s, up, 1)[0]["body"].partition(b"\n\n")
            self.assertEqual((tag, msgpack.unpackb(data)["round"]), (b"race/won", round_))
            s.close()
            self.assertEqual(started[0].stop(signal.SIGTERM), 0)
            loser.stop()

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

    def test_frames_salts_publisher_rejects_are_skipped_and_logged(self):
        # SALT-WIRE §7: a frame map without head, bin keys, a str body that is not UTF-8 never
        # reach a subscriber of Salt's bus; the connection goes on with its next frame.
        bus = self.start_bus()
        s, up = self.subscribe()
        w = self.watch("quiet=True", "count=1")
        self.push_raw(legacy_frame(body("sync", {}))).close()
        self.assertEqual(w.wait(), 0)
        no_head = msgpack.packb({"body": body("bad/no-head", {})}, use_bin_type=True)
        bin_keys = msgpack.packb({b"head": {}, b"body": body("bad/bin-keys", {})}, use_bin_type=True)
        # a str body (use_bin_type=False packs bytes as raw str) that is not UTF-8
        bad_str = msgpack.packb({"head": {}, "body": b"bad/str\n\n\x81\xa1\xff\xa1x"}, use_bin_type=False)
        p = self.push_raw(no_head + legacy_frame(body("good/1", {})) + bin_keys + bad_str +
                          legacy_frame(body("good/2", {})))
        p.shutdown(socket.SHUT_WR)
        self.assertEqual(p.recv(1), b"")  # the bus read everything and closed its end
        p.close()
        bodies = [f["body"] for f in read_frames(s, up, 3)]
        self.assertEqual(bodies, [body("sync", {}), body("good/1", {}), body("good/2", {})])
        log = bus.err.readline()
        self.assertIn(b"frame", log)
        self.assertIn(b"Salt's bus rejects", log)

    def test_a_master_folder_others_may_write_to_is_refused_for_forwarding(self):
        # Forwarded events would go to whoever replaced the master's sockets there.
        master = os.path.join(self.dir, "open")
        os.mkdir(master)
        os.chmod(master, 0o777)
        r = self.run_tool("event-busd", *self.common("minion"), "--master-sock-dir", master)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"unsafe sock_dir {master}: others may write to it (mode 0777, no sticky bit)".encode(),
                      r.stderr)

    def test_pub_framing_is_its_own_setting(self):
        # TAGBUS_FRAMING and `framing:` say how our tools write to a pull socket; subscribers of
        # event-busd get legacy frames unless --pub-framing says otherwise.
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write("framing: prefixed\n")
        self.env["TAGBUS_FRAMING"] = "prefixed"
        for extra, prefixed in (([], False), (["--pub-framing", "prefixed"], True),
                                (["--framing", "prefixed"], True), (["--pub-framing", "legacy"], False)):
            with self.subTest(extra=extra):
                bus = self.start_bus(extra=extra)
                s, _ = self.subscribe()
                w = self.watch("quiet=True", "count=1")
                self.push_raw(legacy_frame(body("f", {}))).close()
                self.assertEqual(w.wait(), 0)
                want = prefixed_frame(body("f", {})) if prefixed else legacy_frame(body("f", {}))
                got = b""
                while len(got) < len(want):
                    got += s.recv(len(want) - len(got))
                self.assertEqual(got, want)
                s.close()
                self.assertEqual(bus.stop(signal.SIGTERM), 0)
                self.procs.remove(bus)
        r = self.run_tool("event-busd", *self.common(), "--pub-framing", "zip")
        self.assertEqual((r.returncode, r.stderr), (64, b"event-busd: invalid --pub-framing 'zip' (expected legacy "
                                                        b"or prefixed)\nTry 'event-busd --help'.\n"))

    def test_a_symlink_at_a_socket_path_is_never_followed_or_removed(self):
        os.makedirs(self.sock_dir)
        target = os.path.join(self.dir, "precious")
        with open(target, "w") as f:
            f.write("keep me\n")
        pull = os.path.join(self.sock_dir, "master_event_pull.ipc")
        os.symlink(target, pull)
        r = self.run_tool("event-busd", *self.common())
        self.assertEqual((r.returncode, r.stderr.decode()), (74, f"event-busd: cannot bind {pull}: a symbolic link is in "
                                                                 "the way (not removed; delete it if it is not needed)\n"))
        self.assertTrue(os.path.islink(pull))
        with open(target) as f:
            self.assertEqual(f.read(), "keep me\n")
        # A dangling one, or one to a socket, is no different.
        os.unlink(pull)
        os.symlink(os.path.join(self.dir, "nowhere.ipc"), pull)
        self.assertEqual(self.run_tool("event-busd", *self.common()).returncode, 74)
        self.assertTrue(os.path.islink(pull))

    def test_usage_of_the_new_limits(self):
        for flag in ("--max-input-buffer", "--max-frame"):
            r = self.run_tool("event-busd", *self.common(), flag, "0")
            self.assertEqual((r.returncode, r.stderr), (64, f"event-busd: invalid {flag} '0' (expected a number of "
                                                            "bytes, at least 1)\nTry 'event-busd --help'.\n".encode()))
        r = self.run_tool("event-busd", *self.common(), "--partial-frame-timeout", "soon")
        self.assertEqual((r.returncode, r.stderr), (64, b"event-busd: invalid --partial-frame-timeout 'soon' (expected "
                                                        b"seconds, e.g. 2 or 0.5)\nTry 'event-busd --help'.\n"))

    def test_max_frame_option(self):
        bus = self.start_bus(extra=["--max-frame", "100"])
        s, up = self.subscribe()
        w = self.watch("quiet=True", "count=1")
        self.push_raw(legacy_frame(body("sync", {}))).close()
        self.assertEqual(w.wait(), 0)
        big = self.push_raw(legacy_frame(body("big", {"x": "y" * 200})))
        self.assertIn(b"exceeds the 100-byte limit", bus.err.readline())
        big.close()
        self.assertEqual(read_frames(s, up, 1)[0]["body"], body("sync", {}))

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
