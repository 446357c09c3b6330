"""Fixtures for the tagbus Python module's tests: the real event-busd over real sockets, each test
in its own short temporary folder (a socket path has at most 107 bytes), every wait bounded."""
import os
import shutil
import signal
import socket
import tempfile
import time

import pytest

from tb import BIN, DEADLINE, Proc, legacy_frame  # tests/integration's harness


class Bus:
    """event-busd as a child process (tests/integration's Proc), ready once its start line is read."""

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
        self.proc = Proc(self.args)
        line = self.proc.err.readline()
        assert b"event-busd: started the" in line, line

    def stop(self, sig=signal.SIGTERM):
        return self.proc.stop(sig)

    @property
    def pull_path(self):
        return os.path.join(self.sock_dir, f"{self.node}_event_pull.ipc")

    def push_raw(self, body: bytes):
        """One event body in Salt's legacy framing, packed by python3-msgpack (not by tagbus);
        returns once the bus has read it (it closes its end after our half-close)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(DEADLINE)
        s.connect(self.pull_path)
        s.sendall(legacy_frame(body))
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
