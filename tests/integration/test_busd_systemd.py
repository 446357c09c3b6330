"""event-busd under a service manager: socket activation (the sockets bound by someone else and
handed over as LISTEN_FDS, here by systemd-socket-activate, systemd's own tool for it) and the
readiness message of Type=notify (to a NOTIFY_SOCKET the test listens on)."""
import os
import shutil
import signal
import socket

import msgpack

import tb
from tb import read_frames

ACTIVATE = shutil.which("systemd-socket-activate")


class SocketActivation(tb.BusTest):
    def setUp(self):
        super().setUp()
        self.assertIsNotNone(ACTIVATE, "systemd-socket-activate is missing: apt-get install systemd")
        os.mkdir(self.sock_dir, 0o700)
        self.pub = os.path.join(self.sock_dir, "master_event_pub.ipc")
        self.pull = os.path.join(self.sock_dir, "master_event_pull.ipc")

    def activate(self, *paths, verbose=False):
        """systemd-socket-activate listening on `paths`, to start event-busd on the first
        connection; returns once every socket is bound."""
        argv = [ACTIVATE]
        for path in paths:
            argv += ["-l", path]
        argv += [tb.tool("event-busd"), "--sock-dir", self.sock_dir, "-c", self.config_dir]
        if verbose:
            argv.append("--verbose")  # logs each connection
        p = tb.Proc(argv, env=self.env)
        self.procs.append(p)
        for path in paths:
            self.assertIn(f"Listening on {path} as".encode(), p.err.readline())
        return p

    def connect(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(tb.DEADLINE)
        s.connect(path)
        return s

    def read_log_until(self, p, text):
        while True:
            line = p.err.readline()
            if text in line:
                return line

    def test_serves_the_sockets_it_is_given_and_leaves_their_files(self):
        p = self.activate(self.pub, self.pull, verbose=True)
        sub = self.connect(self.pub)  # the first connection starts the bus, which accepts it
        line = self.read_log_until(p, b"event-busd: started the master bus")
        self.assertEqual(line.decode(), f"event-busd: started the master bus in {self.sock_dir}: pub {self.pub}, "
                                        f"pull {self.pull} (sockets from the service manager)\n")
        self.read_log_until(p, b"subscriber #1")
        self.fire('{"n": 1}', "activated/one")
        tag, _, _ = read_frames(sub, msgpack.Unpacker(raw=False), 1)[0]["body"].partition(b"\n\n")
        self.assertEqual(tag, b"activated/one")
        # A second subscriber, state-event, connects to the handed-over pub socket as to any bus.
        w = self.watch("activated/*", "count=1")
        self.fire("{}", "activated/two")
        self.assertTrue(w.out.readline().startswith(b"activated/two\t"))
        self.assertEqual(w.wait(), 0)
        sub.close()
        self.assertEqual(p.stop(signal.SIGTERM), 0)
        # The files are the service manager's: the bus neither replaced nor removed them.
        self.assertTrue(os.path.exists(self.pub) and os.path.exists(self.pull))

    def test_a_socket_that_is_not_the_bus_s_is_refused(self):
        other = os.path.join(self.sock_dir, "other.ipc")
        p = self.activate(other, self.pull)
        self.connect(other).close()
        line = self.read_log_until(p, b"event-busd:")
        self.assertEqual(p.wait(), 78)
        self.assertEqual(line.decode(), f"event-busd: socket activation: descriptor 3 is bound to {other}, which is "
                                        f"neither the pub socket {self.pub} nor the pull socket {self.pull} "
                                        f"(ListenStream= must name {self.pub} and {self.pull})\n")
        self.assertEqual(p.err.read_until_eof(), b"")

    def test_both_sockets_are_needed(self):
        p = self.activate(self.pull)
        self.connect(self.pull).close()
        line = self.read_log_until(p, b"event-busd:")
        self.assertEqual(p.wait(), 78)
        self.assertEqual(line.decode(), f"event-busd: socket activation: no descriptor for the pub socket {self.pub} "
                                        f"(ListenStream= must name {self.pub} and {self.pull})\n")


class Notify(tb.BusTest):
    def test_ready_once_it_accepts_and_stopping_at_the_end(self):
        path = os.path.join(self.dir, "notify")
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(n.close)
        n.bind(path)
        n.settimeout(tb.DEADLINE)
        self.env["NOTIFY_SOCKET"] = path
        bus = self.start_bus()
        self.assertEqual(n.recv(4096), b"READY=1")
        # ready means ready: a subscriber connects at once
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.connect(os.path.join(self.sock_dir, "master_event_pub.ipc"))
        self.assertEqual(bus.stop(signal.SIGTERM), 0)
        self.assertEqual(n.recv(4096), b"STOPPING=1")


if __name__ == "__main__":
    tb.main()
