"""event-api against the real event-busd, with real HTTP clients: curl over HTTP/1.1, HTTP/2 and
TLS, a WebSocket client written here from RFC 6455, Python's own sockets for a client that stops
reading. Exact stream bytes and headers as SALT-WIRE §9 gives salt-api's; every token source."""
import base64
import json
import os
import re
import signal
import socket
import struct
import subprocess
import time

import msgpack

from tb import BusTest, DEADLINE, Proc, main, tool

CURL = "/usr/bin/curl"
STAMP = re.compile(rb'"_stamp": "(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?)"')


class ApiBase(BusTest):
    """event-api's harness: a tokens file, the server on a free port, curl streams."""

    def setUp(self):
        super().setUp()
        self.tokens = os.path.join(self.dir, "tokens")
        with open(self.tokens, "w") as f:
            f.write("# test tokens\ngoodtoken\nexpiring %d\nexpired 1000\n" % (time.time() + 3600))

    def start_api(self, *extra, tokens=True, tls=False, expect_start=True):
        args = [tool("event-api"), *self.common(), "--host", "127.0.0.1", "--port", "0", "-v", *extra]
        if tokens:
            args += ["--tokens", self.tokens]
        if tls:
            args += ["--ssl-crt", self.crt, "--ssl-key", self.key]
        elif "--ssl-crt" not in extra:
            args += ["--disable-ssl"]
        p = Proc(args, env=self.env)
        self.procs.append(p)
        if not expect_start:
            return p
        while True:
            line = p.err.readline()
            m = re.search(rb"serving (https?)://127\.0\.0\.1:(\d+) ", line)
            if m:
                p.url = "%s://127.0.0.1:%s" % (m.group(1).decode(), m.group(2).decode())
                break
        while b"subscribed to" not in line:
            line = p.err.readline()
        return p

    def wait_log(self, p, needle):
        while True:
            line = p.err.readline()
            if needle in line:
                return line

    def stream(self, api, query="token=goodtoken", *curl_args):
        """curl -sSN on /events; returns once event-api has registered the stream (its -v line)."""
        c = Proc([CURL, "-sSN", "--http1.1", "-D", "/dev/stderr", *curl_args, api.url + "/events?" + query], env=self.env)
        self.procs.append(c)
        self.wait_log(api, b"stream for 127.0.0.1")
        return c

    def read_blocks(self, c, n):
        """The stream's bytes through its n-th blank line."""
        lines, blocks, last = [], 0, b""
        while blocks < n:
            line = c.out.readline()
            lines.append(line)
            if line == b"\n" and last.endswith(b"\n"):
                blocks += 1
            last = line
        return b"".join(lines)

    def make_cert(self):
        self.crt = os.path.join(self.dir, "crt.pem")
        self.key = os.path.join(self.dir, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", self.key, "-out",
                            self.crt, "-days", "1", "-subj", "/CN=127.0.0.1"], capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)



class ApiTest(ApiBase):
    # --- the stream -----------------------------------------------------------------------------

    def test_strict_stream_is_salt_apis_bytes_and_headers(self):
        self.start_bus()
        api = self.start_api("--strict")
        c = self.stream(api)
        self.fire('{"foo": "bar", "n": 1, "u": "é"}', "myco/test")
        self.fire('{"b": [1, 2.5, null, true]}', "other/x")
        got = self.read_blocks(c, 2)
        stamps = STAMP.findall(got)
        self.assertEqual(len(stamps), 2, got)
        want = ('retry: 400\ntag: myco/test\ndata: {"data": {"foo": "bar", "n": 1, "u": "é", "_stamp": "%s"}, '
                '"tag": "myco/test"}\n\ntag: other/x\ndata: {"data": {"b": [1, 2.5, null, true], "_stamp": "%s"}, '
                '"tag": "other/x"}\n\n') % (stamps[0].decode(), stamps[1].decode())
        self.assertEqual(got, want.encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            head += c.err.readline()
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        headers = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(": ", 1)
                headers[k.lower()] = v
        for k, v in {"content-type": "text/event-stream;charset=utf-8", "allow": "GET, HEAD",
                     "access-control-allow-origin": "*", "access-control-expose-headers": "GET, POST",
                     "access-control-allow-credentials": "true", "cache-control": "no-cache",
                     "connection": "keep-alive", "vary": "Accept-Encoding", "transfer-encoding": "chunked"}.items():
            self.assertEqual(headers.get(k), v, k)
        self.assertRegex(headers["set-cookie"], r"^session_id=goodtoken; expires=\w{3}, \d\d \w{3} \d{4} "
                                                r"\d\d:\d\d:\d\d GMT; Max-Age=36000; Path=/$")
        self.assertIn("date", headers)
        self.assertIn("server", headers)
        self.assertIn("Content-Type: text/event-stream", head.decode())  # salt-api's spelling

    def test_event_salt_api_cannot_serialise_is_rendered_and_the_stream_goes_on(self):
        self.start_bus()
        api = self.start_api("--strict")
        c = self.stream(api)
        # bytes that are not UTF-8 and a datetime (ext 78): salt-api's stream dies on these
        body = b"odd/one\n\n" + msgpack.packb({"raw": b"\xff\x00", "when": msgpack.ExtType(78, b"20240501T12:00:00.000000")},
                                               use_bin_type=True)
        self.push_raw(msgpack.packb({"head": {}, "body": body}, use_bin_type=True)).close()
        self.fire("{}", "after/it")
        got = self.read_blocks(c, 2)
        self.assertIn(b'tag: odd/one\ndata: {"data": {"raw": "\\\\xff\\u0000", "when": "2024-05-01T12:00:00"}, '
                      b'"tag": "odd/one"}\n\n', got)
        self.assertIn(b"tag: after/it\n", got)

    def test_ids_and_last_event_id_replay(self):
        self.start_bus()
        api = self.start_api()
        c = self.stream(api)
        for i in range(5):
            self.fire('{"i": %d}' % i, "rep/%d" % i)
        got = self.read_blocks(c, 5).decode()
        ids = re.findall(r"^id: (\S+)$", got, re.M)
        self.assertEqual(len(ids), 5)
        self.assertTrue(got.startswith("retry: 400\nid: "))
        c.stop()
        # a client that had seen the second event: it gets the third to the fifth, then live ones
        again = self.stream(api, "token=goodtoken", "-H", "Last-Event-ID: " + ids[1])
        self.fire('{"i": 5}', "rep/5")
        got2 = self.read_blocks(again, 4).decode()
        self.assertEqual(re.findall(r"^tag: (\S+)$", got2, re.M), ["rep/2", "rep/3", "rep/4", "rep/5"])
        self.assertEqual(re.findall(r"^id: (\S+)$", got2, re.M)[:3], ids[2:])
        # an id from another run of event-api: everything still in the ring
        other = self.stream(api, "token=goodtoken&last_event_id=1.1")
        self.assertEqual(re.findall(r"^tag: (\S+)$", self.read_blocks(other, 6).decode(), re.M),
                         ["rep/%d" % i for i in range(6)])

    def test_ring_size_bounds_the_replay_and_says_what_was_missed(self):
        self.start_bus()
        api = self.start_api("--ring", "3")
        c = self.stream(api)
        for i in range(6):
            self.fire('{"i": %d}' % i, "ring/%d" % i)
        ids = re.findall(r"^id: (\S+)$", self.read_blocks(c, 6).decode(), re.M)
        again = self.stream(api, "token=goodtoken", "-H", "Last-Event-ID: " + ids[0])
        got = self.read_blocks(again, 4).decode()
        self.assertIn(": missed 2 events (older than the replay ring)\n\n", got)
        self.assertEqual(re.findall(r"^tag: (\S+)$", got, re.M), ["ring/3", "ring/4", "ring/5"])

    def test_tag_filter_server_side(self):
        self.start_bus()
        api = self.start_api()
        c = self.stream(api, "token=goodtoken&tag=salt/job/*/ret/*&ids=0")
        self.fire("{}", "salt/job/1/new")
        self.fire("{}", "salt/job/1/ret/web1")
        self.fire("{}", "salt/auth")
        self.fire("{}", "salt/job/2/ret/db1")
        got = self.read_blocks(c, 2).decode()
        self.assertEqual(re.findall(r"^tag: (\S+)$", got, re.M), ["salt/job/1/ret/web1", "salt/job/2/ret/db1"])
        self.assertNotIn("id: ", got)

    def test_keepalive_comments_and_strict_mode_without_them(self):
        self.start_bus()
        api = self.start_api("--keepalive", "1")
        c = self.stream(api)
        self.assertEqual(self.read_blocks(c, 1), b"retry: 400\n: keep-alive\n\n")
        quiet = self.stream(api, "token=goodtoken&keepalive=0")
        c.out.readline()  # the next keep-alive on the first stream: one went by the quiet one too
        c.out.readline()
        self.fire("{}", "after/keepalive")
        got = self.read_blocks(quiet, 1)
        self.assertTrue(got.startswith(b"retry: 400\nid: "), got)
        self.assertNotIn(b"keep-alive", got)

    def test_token_expiry_ends_the_stream(self):
        with open(self.tokens, "a") as f:
            f.write("shortlived %f\n" % (time.time() + 2))
        self.start_bus()
        api = self.start_api()
        c = self.stream(api, "token=shortlived")
        self.assertEqual(c.wait(), 0)  # the server ended the response: curl is done
        self.wait_log(api, b"its token expired")

    def test_token_sources_and_401(self):
        self.start_bus()
        api = self.start_api()

        def code(*args, path):
            r = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", *args, api.url + path],
                               capture_output=True, timeout=DEADLINE)
            return r.stdout.decode(), r.stderr

        # HEAD (-I) answers the stream's headers and ends: a quick way to test each source
        for args, path in ((["-I"], "/events?token=goodtoken"), (["-I"], "/events?salt_token=goodtoken"),
                           (["-I", "-H", "X-Auth-Token: goodtoken"], "/events"),
                           (["-I", "-b", "session_id=goodtoken"], "/events")):
            status, _ = code(*args, path=path)
            self.assertEqual(status, "200", (args, path))
        for args, path in ((["-I"], "/events"), (["-I"], "/events?token=wrong"), (["-I"], "/events?token=expired"),
                           (["-I", "-H", "X-Auth-Token: nope"], "/events")):
            status, body = code(*args, path=path)
            self.assertEqual(status, "401", (args, path))
        r = subprocess.run([CURL, "-s", "-D", "-", api.url + "/events?token=wrong"], capture_output=True, timeout=DEADLINE)
        self.assertTrue(r.stdout.startswith(b"HTTP/1.1 401 Unauthorized\r\n"), r.stdout)
        self.assertTrue(r.stdout.endswith(b"\r\n\r\n"), "a 401 has an empty body")
        self.assertIn(b"content-length: 0", r.stdout.lower())
        err = b"".join(api.err.readline() for _ in range(3))
        self.assertNotIn(b"wrong", err)  # tokens are never logged

    def test_salt_token_store(self):
        store = os.path.join(self.dir, "tokens.d")
        os.mkdir(store)
        now = time.time()
        for name, expire in (("abc123", now + 3600), ("dead00", now - 1)):
            with open(os.path.join(store, name), "wb") as f:  # as Salt's eauth token store writes them
                f.write(msgpack.packb({"start": now, "expire": expire, "name": "saltdev", "eauth": "pam",
                                       "token": name}, use_bin_type=True))
        self.start_bus()
        api = self.start_api("--salt-token-dir", store, tokens=False)
        for q, want in (("salt_token=abc123", "200"), ("token=abc123", "200"), ("salt_token=dead00", "401"),
                        ("salt_token=..%2Ftokens", "401"), ("salt_token=ffff", "401")):
            r = subprocess.run([CURL, "-s", "-I", "-o", "/dev/null", "-w", "%{http_code}", api.url + "/events?" + q],
                               capture_output=True, timeout=DEADLINE)
            self.assertEqual(r.stdout.decode(), want, q)

    def test_the_masters_token_dir_by_default(self):
        store = os.path.join(self.dir, "cache", "tokens")
        os.makedirs(store)
        now = time.time()
        with open(os.path.join(store, "beef01"), "wb") as f:
            f.write(msgpack.packb({"start": now, "expire": now + 3600, "name": "saltdev", "eauth": "pam",
                                   "token": "beef01"}, use_bin_type=True))
        with open(os.path.join(self.config_dir, "master"), "w") as f:  # <cachedir>/tokens, as Salt's default
            f.write("cachedir: %s\n" % os.path.join(self.dir, "cache"))
        self.start_bus()
        api = self.start_api(tokens=False)
        r = subprocess.run([CURL, "-s", "-I", "-o", "/dev/null", "-w", "%{http_code}", api.url + "/events?salt_token=beef01"],
                           capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.stdout, b"200")

    # --- hook and WebSocket ---------------------------------------------------------------------

    def test_hook_fires_salt_apis_data(self):
        self.start_bus()
        api = self.start_api()
        w = self.watch("salt/netapi/hook/*", "--json-lines")
        r = subprocess.run([CURL, "-s", "-H", "Content-Type: application/json", "-d", '{"ref": "main", "n": 2}',
                            api.url + "/hook/deploy/site?token=goodtoken"], capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.stdout, b'{"success": true}')
        ev = json.loads(w.out.readline())
        self.assertEqual(ev["tag"], "salt/netapi/hook/deploy/site")
        data = ev["data"]
        self.assertEqual(data["body"], '{"ref": "main", "n": 2}')
        self.assertEqual(data["post"], {"ref": "main", "n": 2})
        self.assertEqual(data["headers"]["Content-Type"], "application/json")
        self.assertEqual(data["headers"]["Content-Length"], "23")
        self.assertIn("Host", data["headers"])
        r = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-d", "x=1", api.url + "/hook/x"],
                           capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.stdout, b"401")

    def test_hook_without_auth_when_disabled_and_form_bodies(self):
        self.start_bus()
        api = self.start_api("--webhook-disable-auth")
        w = self.watch("salt/netapi/hook/form", "--json-lines")
        r = subprocess.run([CURL, "-s", "-d", "a=1&b=two+words", api.url + "/hook/form"], capture_output=True,
                           timeout=DEADLINE)
        self.assertEqual(r.stdout, b'{"success": true}')
        self.assertEqual(json.loads(w.out.readline())["data"]["post"], {"a": "1", "b": "two words"})

    def ws_connect(self, api, path):
        s = socket.create_connection(("127.0.0.1", int(api.url.rsplit(":", 1)[1])), timeout=DEADLINE)
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            self.assertTrue(chunk, "closed during the handshake")
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        return s, head, [rest]

    @staticmethod
    def ws_send(s, text):
        payload = text.encode()
        mask = os.urandom(4)
        assert len(payload) < 126
        s.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    @staticmethod
    def ws_recv(s, pending):
        buf = pending[0]
        while True:
            if len(buf) >= 2:
                n, off = buf[1] & 0x7F, 2
                if buf[1] & 0x80:
                    raise AssertionError("a server frame must not be masked")
                if n == 126 and len(buf) >= 4:
                    n, off = struct.unpack(">H", buf[2:4])[0], 4
                elif n == 127 and len(buf) >= 10:
                    n, off = struct.unpack(">Q", buf[2:10])[0], 10
                if n < 126 or off > 2:
                    if len(buf) >= off + n:
                        pending[0] = buf[off + n:]
                        return buf[0] & 0x0F, buf[off:off + n]
            chunk = s.recv(65536)
            if not chunk:
                raise EOFError("websocket closed")
            buf += chunk

    def test_websocket_protocol(self):
        self.start_bus()
        api = self.start_api()
        s, head, pending = self.ws_connect(api, "/ws/goodtoken")
        self.assertTrue(head.startswith(b"HTTP/1.1 101 "), head)
        self.ws_send(s, "websocket client ready")
        self.assertEqual(self.ws_recv(s, pending), (1, b"server received message"))
        self.fire('{"ws": 1}', "ws/test")
        op, msg = self.ws_recv(s, pending)
        self.assertEqual(op, 1)
        m = re.fullmatch(rb'data: \{"data": \{"ws": 1, "_stamp": "[^"]+"\}, "tag": "ws/test"\}\n\n', msg)
        self.assertTrue(m, msg)
        self.ws_send(s, "anything")
        self.assertEqual(self.ws_recv(s, pending), (1, b"server received message"))
        s.close()
        bad, head, _ = self.ws_connect(api, "/ws/wrongtoken")
        self.assertTrue(head.startswith(b"HTTP/1.1 401 "), head)
        bad.close()

    # --- TLS, limits, slow clients ----------------------------------------------------------------

    def test_https_http11_and_http2(self):
        self.make_cert()
        self.start_bus()
        api = self.start_api(tls=True)
        self.assertTrue(api.url.startswith("https://"))
        for proto in ("--http1.1", "--http2"):
            c = Proc([CURL, "-sSNk", proto, api.url + "/events?token=goodtoken"], env=self.env)
            self.procs.append(c)
            self.wait_log(api, b"stream for 127.0.0.1")
            self.fire('{"p": "%s"}' % proto, "tls/test")
            got = self.read_blocks(c, 1)
            self.assertTrue(got.startswith(b"retry: 400\nid: "), got)
            self.assertIn(b'"p": "%s"' % proto.encode(), got)
            c.stop()

    def test_plain_http_on_a_public_address_warns(self):
        self.start_bus()
        p = Proc([tool("event-api"), *self.common(), "--host", "0.0.0.0", "--port", "0", "--disable-ssl",
                  "--tokens", self.tokens], env=self.env)
        self.procs.append(p)
        self.assertIn(b"warning: serving plain HTTP on 0.0.0.0", p.err.readline())

    def test_a_client_that_stops_reading_is_dropped_and_the_others_keep_receiving(self):
        self.start_bus()
        api = self.start_api("--client-queue", "200000")
        port = int(api.url.rsplit(":", 1)[1])
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", port))
        stalled.sendall(b"GET /events?token=goodtoken HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        self.wait_log(api, b"stream for 127.0.0.1")
        live = self.stream(api, "token=goodtoken&tag=big/*&ids=0")
        # far more than the kernel's socket buffers can hide from the queue bound
        big = '{"pad": "%s", "i": %%d}' % ("x" * 8000)
        lines = "".join("big/%d\t%s\n" % (i, big % i) for i in range(1500))
        with open(os.path.join(self.dir, "big.lines"), "w") as f:
            f.write(lines)
        with open(os.path.join(self.dir, "big.lines"), "rb") as f:
            fire = Proc([tool("event-fire"), *self.common(), "--lines"], env=self.env, stdin=f)
        self.procs.append(fire)
        got = self.read_blocks(live, 1500).decode()  # read while they are fired: a live client reads
        self.assertEqual(re.findall(r"^tag: (\S+)$", got, re.M), ["big/%d" % i for i in range(1500)])
        self.assertEqual(fire.wait(), 0)
        self.wait_log(api, b"dropping client 127.0.0.1")
        stalled.close()

    def test_limits_answer_and_log(self):
        self.start_bus()
        api = self.start_api("--max-clients", "1", "--rate", "5", "--max-header-bytes", "600")
        self.stream(api)
        r = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", api.url + "/events?token=goodtoken"],
                           capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.stdout, b"503")
        self.wait_log(api, b"--max-clients")
        r = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", "X-Big: " + "y" * 700,
                            api.url + "/"], capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.stdout, b"431")
        self.wait_log(api, b"--max-header-bytes")
        # A burst of twice the rate is allowed, then 429. Fifteen requests from one curl, one after
        # the other on one connection: fifteen curl processes took over 3 s under ASan on a busy
        # machine, long enough for the allowance (5 a second) to refill as fast as it was used.
        burst = []
        for _ in range(15):
            burst += ["-o", "/dev/null", api.url + "/"]
        r = subprocess.run([CURL, "-s", "-w", "%{http_code}\n", *burst], capture_output=True, timeout=DEADLINE)
        codes = r.stdout.decode().split()
        self.assertEqual(len(codes), 15, r.stdout)
        self.assertIn("429", codes)
        self.wait_log(api, b"--rate")

    # --- page, config, signals, errors --------------------------------------------------------------

    def test_page_is_served_self_contained(self):
        self.start_bus()
        api = self.start_api()
        r = subprocess.run([CURL, "-s", "-D", "/dev/stderr", api.url + "/"], capture_output=True, timeout=DEADLINE)
        self.assertIn(b"text/html", r.stderr)
        self.assertIn(b"<title>tagbus event-api</title>", r.stdout)
        self.assertNotRegex(r.stdout, rb'(src|href)="(https?:)?//')  # nothing from elsewhere

    def test_rest_cherrypy_section_of_the_master_config(self):
        with open(os.path.join(self.config_dir, "master"), "w") as f:
            f.write("rest_cherrypy:\n  port: 0\n  host: 127.0.0.1\n  disable_ssl: True\n  webhook_disable_auth: True\n")
        self.start_bus()
        p = Proc([tool("event-api"), *self.common(), "--tokens", self.tokens], env=self.env)
        self.procs.append(p)
        line = p.err.readline()
        self.assertRegex(line, rb"serving http://127\.0\.0\.1:\d+ ")
        self.assertNotIn(b"warning", line)
        p.url = re.search(rb"(http://\S+)", line).group(1).decode()
        r = subprocess.run([CURL, "-s", "-d", "x=1", p.url + "/hook/noauth"], capture_output=True, timeout=DEADLINE)
        self.assertEqual(r.stdout, b'{"success": true}')

    def test_sigterm_ends_streams_and_exits_0(self):
        self.start_bus()
        api = self.start_api()
        c = self.stream(api)
        api.p.send_signal(signal.SIGTERM)
        self.assertEqual(api.wait(), 0)
        self.assertEqual(c.wait(), 0)

    def test_bad_settings_exit_with_the_table_codes(self):
        self.start_bus()
        cases = [
            (["--disable-ssl"], 78, b"no token source"),
            (["--tokens", "/nonexistent/tokens", "--disable-ssl"], 78, b"cannot read tokens file /nonexistent/tokens"),
            (["--tokens", self.tokens], 64, b"give --ssl-crt FILE and --ssl-key FILE"),
            (["--tokens", self.tokens, "--ssl-crt", "/nonexistent.pem", "--ssl-key", "/nonexistent.key"], 78,
             b"cannot use the certificate /nonexistent.pem (--ssl-crt)"),
            (["--tokens", self.tokens, "--disable-ssl", "--host", "not-an-address"], 64, b"--host not-an-address"),
            (["--tokens", self.tokens, "--disable-ssl", "--keepalive", "soon"], 64, b"--keepalive"),
        ]
        bad = os.path.join(self.dir, "bad-tokens")
        with open(bad, "w") as f:
            f.write("ok\nsecond next-tuesday\n")
        cases.append((["--tokens", bad, "--disable-ssl"], 78, b"tokens file %s, line 2: cannot read the expiry 'next-tuesday'"
                      % bad.encode()))
        for args, code, message in cases:
            r = self.run_tool("event-api", *self.common(), "--port", "0", *args)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertIn(message, r.stderr, args)
            self.assertTrue(r.stderr.startswith(b"event-api: "), r.stderr)


if __name__ == "__main__":
    main()
