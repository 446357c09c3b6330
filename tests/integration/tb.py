"""Integration harness: the real event-busd and the real tools over real sockets.

Every test gets its own short temporary sock_dir (sun_path is 108 bytes; meson runs tests in
parallel). Readiness is read from a file descriptor (event-busd's start line, state-event -v's
"connected" line); every wait has a deadline; nothing sleeps.
"""
import datetime
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

import msgpack

BIN = os.environ.get("TAGBUS_BIN", os.path.join(os.path.dirname(__file__), "..", "..", "build", "tools"))
DEADLINE = 20.0  # seconds; generous for a loaded 2-core CI machine, never reached when things work


def tool(name):
    return os.path.join(BIN, name)


def legacy_frame(body: bytes) -> bytes:
    """A frame built independently of our code, with python3-msgpack, as Salt 3006 writes it."""
    return msgpack.packb({"head": {}, "body": body}, use_bin_type=True)


def prefixed_frame(body: bytes) -> bytes:
    f = legacy_frame(body)
    return struct.pack(">I", len(f)) + f


def body(tag: str, data) -> bytes:
    return tag.encode() + b"\n\n" + msgpack.packb(data, use_bin_type=True)


def read_frames(sock, unpacker, n):
    """Reads n whole frames from a pub socket with python3-msgpack (independent of our decoder)."""
    got = []
    while len(got) < n:
        for obj in unpacker:
            got.append(obj)
        if len(got) >= n:
            break
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise EOFError(f"pub closed after {len(got)} frames")
        unpacker.feed(chunk)
    return got


def stamp_now() -> str:
    return datetime.datetime.utcnow().isoformat()


class LineReader:
    """Reads lines from a pipe with a deadline (no sleeps: select on the fd)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""

    def readline(self, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no line within {deadline}s; have {self.buf!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                if self.buf:
                    break
                raise EOFError("pipe closed")
            self.buf += chunk
        line, sep, rest = self.buf.partition(b"\n")
        self.buf = rest
        return line + sep

    def read_until_eof(self, deadline=DEADLINE):
        end = time.monotonic() + deadline
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no EOF within {deadline}s")
            r, _, _ = select.select([self.fd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.fd, 65536)
            if not chunk:
                out, self.buf = self.buf, b""
                return out
            self.buf += chunk


class Proc:
    """A background tool with line access to stdout and stderr."""

    def __init__(self, argv, env=None, stdin=subprocess.DEVNULL):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self.out = LineReader(self.p.stdout.fileno())
        self.err = LineReader(self.p.stderr.fileno())

    def wait(self, deadline=DEADLINE):
        return self.p.wait(timeout=deadline)

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.p.stdout.close()
        self.p.stderr.close()
        return self.p.returncode


class BusTest(unittest.TestCase):
    """Each test: a fresh temporary sock_dir; helpers to start the daemon and run the tools."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="tb-", dir="/tmp")
        self.sock_dir = os.path.join(self.dir, "s")
        self.procs = []
        self.env = dict(os.environ)
        self.env.pop("TAGBUS_SOCK_DIR", None)
        self.env.pop("TAGBUS_FRAMING", None)
        self.env["NO_COLOR"] = "1"
        # An empty config dir, so the machine's /etc/salt never leaks into a test.
        self.config_dir = os.path.join(self.dir, "etc")
        os.mkdir(self.config_dir)

    def tearDown(self):
        for p in self.procs:
            p.stop(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def common(self, node="master"):
        return ["--sock-dir", self.sock_dir, "-c", self.config_dir, "--node", node]

    def start_bus(self, node="master", extra=(), sock_dir=None, wait=True):
        """Starts event-busd; with `wait`, returns once it has printed its start line."""
        args = [tool("event-busd"), "--node", node, "--sock-dir", sock_dir or self.sock_dir,
                "-c", self.config_dir, *extra]
        p = Proc(args, env=self.env)
        self.procs.append(p)
        if wait:
            line = p.err.readline()  # printed once both sockets are bound and listening
            self.assertIn(b"event-busd: started the", line, line)
        return p

    def watch(self, *words, node="master", extra=()):
        """Starts state-event and returns once it is subscribed (its -v 'connected' line)."""
        args = [tool("state-event"), *self.common(node), "-v", *extra, *words]
        p = Proc(args, env=self.env)
        self.procs.append(p)
        while True:
            line = p.err.readline()
            if b"connected to" in line:
                return p

    def run_tool(self, name, *args, input=None, deadline=DEADLINE):
        return subprocess.run([tool(name), *args], input=input, capture_output=True, env=self.env, timeout=deadline)

    def fire(self, data, tag, node="master", extra=()):
        r = self.run_tool("event-fire", *self.common(node), *extra, data, tag)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        return r

    def pull_path(self, node="master", name=None):
        return os.path.join(self.sock_dir, name or f"{node}_event_pull.ipc")

    def push_raw(self, data: bytes, node="master", name=None):
        """Writes raw bytes to the pull socket with Python's own socket (independent of our client)."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(DEADLINE)
        s.connect(self.pull_path(node, name))
        s.sendall(data)
        return s


def main():
    unittest.main(verbosity=2)
