"""Fixtures for the tagbus Python module's tests: the real event-busd over real sockets, each test
in its own short temporary folder (a socket path has at most 107 bytes), every wait bounded."""
import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import msgpack
import pytest

BIN = os.environ.get("TAGBUS_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "tools"))
DEADLINE = 20.0  # seconds: never reached when things work


def read_line(fd, deadline=DEADLINE):
    """One line from a pipe, or AssertionError once the deadline passes."""
    buf = b""
    end = time.monotonic() + deadline
    while not buf.endswith(b"\n"):
        left = end - time.monotonic()
        assert left > 0, f"no line within {deadline} s (got {buf!r})"
        r, _, _ = select.select([fd], [], [], left)
        if r:
            c = os.read(fd, 1)
            if not c:
                break
            buf += c
    return buf


class Bus:
    """event-busd as a child process, ready once its start line is read."""

    def __init__(self, root, node="master", extra=(), sock_dir=None):
        self.root = root
        self.node = node
        self.sock_dir = sock_dir or os.path.join(root, "s")
        self.config_dir = os.path.join(root, "etc")
        os.makedirs(self.config_dir, exist_ok=True)
        self.args = [os.path.join(BIN, "event-busd"), "--node", node, "--sock-dir", self.sock_dir,
                     "-c", self.config_dir, *extra]
        self.start()

    def start(self):
        self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        line = read_line(self.p.stderr.fileno())
        assert b"event-busd: started the" in line, line

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stderr.close()
        return self.p.returncode

    @property
    def pull_path(self):
        return os.path.join(self.sock_dir, f"{self.node}_event_pull.ipc")

    def push_raw(self, body: bytes):
        """One event body in Salt's legacy framing, packed by python3-msgpack (not by tagbus);
        returns once the bus has read it (it closes its end after our half-close)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(DEADLINE)
        s.connect(self.pull_path)
        s.sendall(msgpack.packb({"head": {}, "body": body}, use_bin_type=True))
        s.shutdown(socket.SHUT_WR)
        s.recv(1)
        s.close()


@pytest.fixture
def root():
    d = tempfile.mkdtemp(prefix="tbpy-", dir="/tmp")
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def bus(root):
    b = Bus(root)
    yield b
    b.stop(signal.SIGKILL)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("TAGBUS_SOCK_DIR", raising=False)
    monkeypatch.delenv("TAGBUS_FRAMING", raising=False)


def synced(ev, bus_event=None):
    """Returns `ev` once the bus delivers to it: a subscriber connected a moment ago may not be
    registered by the bus yet. Fires probes (through `bus_event`, or `ev` itself) until one arrives."""
    sender = bus_event or ev
    end = time.monotonic() + DEADLINE
    n = 0
    while time.monotonic() < end:
        assert sender.fire_event({"n": n}, f"sync/{n}")
        if ev.get_event(wait=0.2, tag="sync/", match_type="startswith") is not None:
            while ev.get_event(wait=0.05, tag="sync/", match_type="startswith") is not None:
                pass
            return ev
        n += 1
    raise AssertionError("the listener never saw a probe")
