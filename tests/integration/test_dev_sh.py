"""./dev.sh run on a terminal (a pty, as a person runs it), with the tools already built
(DEV_SH_BIN): it starts a master bus and a minion bus forwarding to it, watches the master bus,
and whatever ends it (Ctrl-C, the watch ending, the terminal closing) stops both buses; Ctrl-C
exits 0."""
import fcntl
import os
import select
import signal
import subprocess
import termios
import time

import tb

DEV_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dev.sh")


def procs_with_env(name, key, value):
    """Pids of live processes called `name` whose environment has key=value."""
    want = f"{key}={value}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv0 = f.read().split(b"\0")[0]
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except OSError:
            continue
        if os.path.basename(argv0).decode(errors="replace") == name and want in env and state != b"Z":
            found.append(int(pid))
    return found


class DevRun(tb.BusTest):
    def setUp(self):
        super().setUp()
        self.env["TAGBUS_SOCK_DIR"] = self.sock_dir
        self.env["DEV_SH_BIN"] = os.path.abspath(tb.BIN)
        self.master, slave = os.openpty()

        def controlling_tty():  # the pty becomes the session's terminal: ^C goes to its group
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            # As at a person's terminal: a suite started under nohup would otherwise pass on an
            # ignored SIGHUP, which bash then cannot trap (the terminal-closing test would hang).
            signal.signal(signal.SIGHUP, signal.SIG_DFL)

        self.p = subprocess.Popen(["bash", DEV_SH, "run"], stdin=slave, stdout=slave, stderr=slave, env=self.env,
                                  start_new_session=True, preexec_fn=controlling_tty)
        os.close(slave)
        self.screen = b""

    def tearDown(self):
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        for pid in self.buses():
            os.kill(pid, signal.SIGKILL)
        os.close(self.master)
        super().tearDown()

    def buses(self):
        return procs_with_env("event-busd", "TAGBUS_SOCK_DIR", self.sock_dir)

    def watches(self):
        return procs_with_env("state-event", "TAGBUS_SOCK_DIR", self.sock_dir)

    def read_until(self, text, deadline=tb.DEADLINE):
        end = time.monotonic() + deadline
        while text not in self.screen:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{text!r} not on the terminal within {deadline}s; have {self.screen!r}")
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: every process holding the terminal is gone
                    chunk = b""
                if not chunk:
                    raise EOFError(f"terminal closed before {text!r}; have {self.screen!r}")
                self.screen += chunk

    def wait_exit(self):
        end = time.monotonic() + tb.DEADLINE
        while self.p.poll() is None and time.monotonic() < end:
            r, _, _ = select.select([self.master], [], [], 0.05)  # keep draining the terminal
            if r:
                try:
                    self.screen += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.p.wait(timeout=1)

    def assert_buses_gone(self):
        end = time.monotonic() + tb.DEADLINE
        while self.buses() and time.monotonic() < end:
            select.select([], [], [], 0.02)  # poll /proc until the deadline
        self.assertEqual(self.buses(), [], self.screen.decode(errors="replace"))

    def start(self):
        self.read_until(b"watching the master bus")
        self.assertEqual(len(self.buses()), 2, self.screen)
        end = time.monotonic() + tb.DEADLINE
        while not self.watches() and time.monotonic() < end:
            select.select([], [], [], 0.02)  # poll /proc until the watch is there or the deadline
        names = sorted(os.listdir(self.sock_dir))
        self.assertIn("master_event_pull.ipc", names)
        self.assertEqual(len([n for n in names if n.startswith("minion_event_")]), 2, names)

    def test_ctrl_c_stops_both_buses_and_exits_0(self):
        self.start()
        # event-send goes to the minion bus, which forwards it to the watched master bus.
        r = self.run_tool("event-send", "myco/deploy/done", "{ok: True}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.read_until(b"myco/deploy/done")
        r = self.run_tool("event-fire", "node=master", '{"hello": "world"}', "myco/test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.read_until(b"myco/test")
        os.write(self.master, b"\x03")
        self.assertEqual(self.wait_exit(), 0, self.screen)
        self.assertNotIn(b"unbound variable", self.screen)
        self.assert_buses_gone()
        self.assertEqual(self.watches(), [])

    def test_watch_ending_otherwise_stops_both_buses(self):
        self.start()
        watch = self.watches()
        self.assertEqual(len(watch), 1)
        os.kill(watch[0], signal.SIGKILL)
        self.wait_exit()
        self.assert_buses_gone()
        self.assertNotIn(b"unbound variable", self.screen)

    def test_terminal_closing_stops_both_buses(self):
        self.start()
        os.kill(self.p.pid, signal.SIGHUP)
        self.wait_exit()
        self.assert_buses_gone()


if __name__ == "__main__":
    tb.main()
