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
        # It hands the program a fresh environment: the sanitizers' settings (halt on the first
        # report, in the ASan+UBSan suite) are passed on by name.
        for name in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if name in self.env:
                argv += ["-E", name]
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


class Environment(tb.BusTest):
    """LISTEN_PID and LISTEN_FDS as sd_listen_fds(3) reads them."""

    def run_busd(self, env_words):
        # sh's $$ is the pid event-busd runs as after exec, as systemd sets LISTEN_PID.
        script = f'{env_words} exec "$0" --sock-dir "$1" -c "$2"'
        return tb.Proc(["sh", "-c", script, tb.tool("event-busd"), self.sock_dir, self.config_dir], env=self.env)

    def test_another_process_s_sockets_are_left_alone(self):
        p = tb.Proc([tb.tool("event-busd"), "--sock-dir", self.sock_dir, "-c", self.config_dir],
                    env=dict(self.env, LISTEN_PID="1", LISTEN_FDS="2"))
        self.procs.append(p)
        line = p.err.readline().decode()
        self.assertTrue(line.startswith("event-busd: started the master bus") and "service manager" not in line, line)
        self.fire("{}", "bound/itself")
        self.assertEqual(p.stop(signal.SIGTERM), 0)

    def test_bad_variables_are_configuration_errors(self):
        for words, message in [
                ('LISTEN_PID=$$ LISTEN_FDS=two', "socket activation: LISTEN_FDS 'two' is not a number of descriptors"),
                ('LISTEN_PID=me LISTEN_FDS=2', "socket activation: LISTEN_PID 'me' is not a process id"),
                ('LISTEN_PID=$$ LISTEN_FDS=2', "socket activation: descriptor 3 of LISTEN_FDS=2 is not open")]:
            with self.subTest(words=words):
                p = self.run_busd(words)
                self.procs.append(p)
                self.assertEqual(p.wait(), 78)
                self.assertEqual(p.err.read_until_eof().decode(), f"event-busd: {message}\n")
                self.assertFalse(os.path.exists(self.sock_dir))


class Notify(tb.BusTest):
    def test_ready_once_it_accepts_and_stopping_at_the_end(self):
        for abstract in (False, True):
            with self.subTest(abstract=abstract):
                self.ready_and_stopping(abstract)

    def ready_and_stopping(self, abstract):
        # systemd's NOTIFY_SOCKET is a path; "@name" is an abstract socket (a container manager's)
        name = f"tagbus-test-{os.getpid()}" if abstract else os.path.join(self.dir, "notify")
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(n.close)
        n.bind("\0" + name if abstract else name)
        n.settimeout(tb.DEADLINE)
        self.env["NOTIFY_SOCKET"] = "@" + name if abstract else name
        # Not waiting for the start line: READY=1 alone must mean that both sockets accept
        # connections (a unit ordered after the bus starts on it).
        bus = self.start_bus(wait=False)
        self.assertEqual(n.recv(4096), b"READY=1")
        for side in ("pub", "pull"):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(os.path.join(self.sock_dir, f"master_event_{side}.ipc"))
        self.assertEqual(bus.stop(signal.SIGTERM), 0)
        self.assertEqual(n.recv(4096), b"STOPPING=1")


if __name__ == "__main__":
    tb.main()
