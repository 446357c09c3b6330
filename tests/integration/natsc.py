"""NATS for the event-bridge tests: nats-server processes (one, or a cluster) on loopback ports the
test chooses, and a small client written here from the NATS protocol (INFO/CONNECT/PUB/HPUB/SUB/MSG/
HMSG) that asks JetStream's API directly, independent of libnats and of our code: what a stream
holds (subjects, headers, payloads, order) is read through it."""
import base64
import json
import os
import shutil
import re
import socket
import subprocess
import time
import urllib.request

from tb import DEADLINE, Proc

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """One nats-server -js; restartable on the same ports and store (a node that comes back)."""

    def __init__(self, folder, name="n1", cluster=None, routes=(), extra=(), user=None, password=None):
        self.folder = folder
        self.name = name
        self.port = free_port()
        self.http = free_port()
        self.cluster = cluster  # (cluster_name, cluster_port) or None
        self.routes = list(routes)
        self.extra = list(extra)
        self.user, self.password = user, password
        if user is not None:
            self.extra += ["--user", user, "--pass", password]
        self.proc = None

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def start(self):
        args = [NATS_SERVER, "-js", "-sd", os.path.join(self.folder, self.name), "-a", "127.0.0.1",
                "-p", str(self.port), "-m", str(self.http), "-n", self.name, *self.extra]
        if self.cluster:
            cname, cport = self.cluster
            args += ["--cluster_name", cname, "--cluster", "nats://127.0.0.1:%d" % cport]
            if self.routes:
                args += ["--routes", ",".join("nats://127.0.0.1:%d" % p for p in self.routes)]
        self.proc = Proc(args)
        # Ready once it listens for clients (its log line); JetStream readiness is waited for apart.
        while True:
            line = self.proc.err.readline()
            if b"Server is ready" in line:
                return self

    def healthy(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.http, timeout=2) as r:
                return r.status == 200
        except Exception:
            return False

    def stop(self, sig=15):
        if self.proc is not None:
            self.proc.stop(sig)
            self.proc = None


def wait_for(cond, what, deadline=DEADLINE * 3):
    end = time.monotonic() + deadline
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("no %s within %ss" % (what, deadline))
        time.sleep(0.05)  # polling a condition with a deadline, not a sleep standing in for one


class Client:
    """Just enough of the NATS protocol for JetStream's request/reply API."""

    def __init__(self, port, user=None, password=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        try:
            self._hello(user, password)
        except BaseException:
            self.sock.close()
            raise

    def _hello(self, user, password):
        self.buf = b""
        info = self._line()
        assert info.startswith(b"INFO "), info
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True, "lang": "python-test",
                "version": "0"}
        if user is not None:
            opts.update(user=user, **{"pass": password})
        self.sock.sendall(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise ConnectionError(line.decode())
        self.sid = 0

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("NATS closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _next_msg(self, sid):
        """The next message for subscription `sid` (a late answer to an earlier request is skipped)."""
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                parts = line.split()
                data = self._bytes(int(parts[-1]))
                if int(parts[2]) == sid:
                    return {}, data
            elif line.startswith(b"HMSG "):
                parts = line.split()
                hlen, total = int(parts[-2]), int(parts[-1])
                raw = self._bytes(total)
                if int(parts[2]) == sid:
                    return parse_headers(raw[:hlen]), raw[hlen:]
            elif line.startswith(b"-ERR"):
                raise ConnectionError(line.decode())

    def request(self, subject, payload=b"", headers=None):
        self.sid += 1
        inbox = "_INBOX.test.%d" % self.sid
        # Subscribed for one reply (UNSUB with a count before the request goes out).
        out = b"SUB %s %d\r\nUNSUB %d 1\r\n" % (inbox.encode(), self.sid, self.sid)
        if headers:
            h = b"NATS/1.0\r\n" + b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in headers.items()) + b"\r\n"
            out += b"HPUB %s %s %d %d\r\n%s%s\r\n" % (subject.encode(), inbox.encode(), len(h), len(h) + len(payload), h, payload)
        else:
            out += b"PUB %s %s %d\r\n%s\r\n" % (subject.encode(), inbox.encode(), len(payload), payload)
        self.sock.sendall(out)
        return self._next_msg(self.sid)

    def api(self, subject, req=None):
        _, data = self.request(subject, json.dumps(req).encode() if req is not None else b"")
        return json.loads(data)

    def publish(self, subject, payload, headers=None):
        """A JetStream publish, acknowledged: the ack's JSON."""
        _, data = self.request(subject, payload, headers)
        return json.loads(data)

    def stream_state(self, stream):
        r = self.api("$JS.API.STREAM.INFO." + stream)
        if "error" in r:
            raise KeyError(r["error"])
        return r

    def messages(self, stream):
        """Every message of the stream, in order: dicts with seq, subject, headers, data."""
        st = self.stream_state(stream)["state"]
        out = []
        if st["messages"] == 0:
            return out
        for seq in range(st["first_seq"], st["last_seq"] + 1):
            r = self.api("$JS.API.STREAM.MSG.GET." + stream, {"seq": seq})
            if "error" in r:
                continue  # deleted
            m = r["message"]
            out.append({"seq": m["seq"], "subject": m["subject"],
                        "headers": parse_headers(base64.b64decode(m["hdrs"])) if m.get("hdrs") else {},
                        "data": base64.b64decode(m.get("data", ""))})
        return out


def parse_headers(raw):
    lines = raw.decode().split("\r\n")
    assert lines[0].startswith("NATS/1.0"), lines[0]
    h = {}
    for line in lines[1:]:
        if line:
            k, _, v = line.partition(":")
            h[k.strip()] = v.strip()
    return h


def cluster(folder, n=3, name="tbc"):
    """n nodes routed to each other; returns them started (JetStream meta leader awaited apart)."""
    cports = [free_port() for _ in range(n)]
    nodes = [Server(folder, "n%d" % (i + 1), cluster=(name, cports[i]), routes=[p for j, p in enumerate(cports) if j != i])
             for i in range(n)]
    for s in nodes:
        s.start()
    return nodes


def jetstream_ready(server):
    """Whether the server answers JetStream's account info (a meta leader exists in a cluster)."""
    c = None
    try:
        c = Client(server.port, server.user, server.password)
        return "error" not in c.api("$JS.API.INFO")
    except (OSError, EOFError, ValueError):
        return False
    finally:
        if c is not None:
            c.close()
