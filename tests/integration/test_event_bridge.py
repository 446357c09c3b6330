"""event-bridge and `state-event --from` against real nats-server processes (one node, or a
3-node cluster) on loopback ports chosen here, real event-busd buses and the real tools. What a
stream holds is read with a NATS client written in natsc.py from the protocol, not with libnats."""
import glob
import json
import os
import re
import signal
import struct
import subprocess
import threading
import time

import msgpack

from tb import BusTest, DEADLINE, Proc, main, tool
import natsc


def spool_records(folder):
    """How many records the spool's segment files hold (the format is spool.hpp's)."""
    n = 0
    for path in sorted(glob.glob(os.path.join(folder, "*.seg"))):
        with open(path, "rb") as f:
            data = f.read()
        pos = 0
        while pos + 8 <= len(data):
            length = struct.unpack_from("<I", data, pos)[0]
            if pos + 8 + length > len(data):
                break
            n += 1
            pos += 8 + length
    return n


def salt_body(tag, data):
    return tag.encode() + b"\n\n" + msgpack.packb(data, use_bin_type=True)


class BridgeBase(BusTest):
    def setUp(self):
        super().setUp()
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop(9)
        super().tearDown()

    def nats(self, **kw):
        s = natsc.Server(self.dir, **kw).start()
        self.servers.append(s)
        natsc.wait_for(lambda: natsc.jetstream_ready(s), "JetStream on " + s.url)
        return s

    def client(self, server):
        c = natsc.Client(server.port, server.user, server.password)
        self.addCleanup(c.close)
        return c

    def bus(self, name):
        """A master bus of its own (sock_dir name) for the tests with two buses."""
        sock = os.path.join(self.dir, name)
        self.start_bus(sock_dir=sock)
        return sock

    def out(self, server_urls, *extra, sock_dir=None, wait=True):
        args = [tool("event-bridge"), "out", "--server", ",".join(server_urls), "--sock-dir", sock_dir or self.sock_dir,
                "-c", self.config_dir, "--node", "master", *extra]
        p = Proc(args, env=self.env)
        self.procs.append(p)
        if wait:
            self.wait_log(p, b"out: reading ")
        return p

    def into(self, server_urls, *extra, sock_dir=None, wait=True):
        args = [tool("event-bridge"), "in", "--server", ",".join(server_urls), "--sock-dir", sock_dir or self.sock_dir,
                "-c", self.config_dir, "--node", "master", "--state-dir", os.path.join(self.dir, "state"), *extra]
        p = Proc(args, env=self.env)
        self.procs.append(p)
        if wait:
            self.wait_log(p, b"in: firing stream ")
        return p

    def wait_log(self, p, needle, deadline=DEADLINE):
        seen = []
        while True:
            line = p.err.readline(deadline)
            seen.append(line)
            if needle in line:
                return line

    def fire_many(self, n, tag_fmt="myco/ev/{i}", sock_dir=None, start=0, extra=()):
        """n events through one event-fire --lines run (the bus confirmed it read them all)."""
        lines = "".join("%s\t%s\n" % (tag_fmt.format(i=i), json.dumps({"i": i, "pad": "x" * 40}))
                        for i in range(start, start + n))
        r = subprocess.run([tool("event-fire"), "--sock-dir", sock_dir or self.sock_dir, "-c", self.config_dir,
                            "--node", "master", "--lines", *extra], input=lines.encode(), capture_output=True,
                           env=self.env, timeout=DEADLINE * 3)
        self.assertEqual(r.returncode, 0, r.stderr)

    def stream_count(self, c, stream):
        """How many messages the stream holds; -1 when JetStream did not answer (a cluster electing
        a leader can drop an API request: the caller asks again)."""
        try:
            c.sock.settimeout(5)
            return c.stream_state(stream)["state"]["messages"]
        except KeyError:
            return 0
        except TimeoutError:
            return -1
        finally:
            c.sock.settimeout(DEADLINE)

    def assert_exactly_once_in_order(self, msgs, expected):
        got = [json.loads(json.dumps(msgpack.unpackb(m["data"].split(b"\n\n", 1)[1], raw=False)))["i"] for m in msgs]
        self.assertEqual(len(got), len(set(got)), "duplicates in the stream")
        self.assertEqual(got, expected)


class OutAndReplay(BridgeBase):
    def test_subjects_headers_payload_and_replay_bytes(self):
        """The stream holds the Salt body bytes unchanged on <prefix>.<source>.<tag> with the tag,
        _stamp and message id in headers; state-event --from prints the same bytes as the live
        watch, with count= and a tag filter."""
        srv = self.nats()
        self.start_bus()
        live = self.watch("count=4")
        out = self.out([srv.url], "--stream", "EV", "--source-id", "web 1")
        tags = ["myco/a", "salt/job/20261206/ret/web1", "odd tag/with.dot/", "é/x*y>"]
        for i, t in enumerate(tags):
            self.fire('{"n": %d, "s": "é", "l": [1, 2.5, null]}' % i, t)
        live_out = live.out.read_until_eof()
        self.assertEqual(live.wait(), 0)
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "EV") == 4, "4 messages in the stream")
        msgs = c.messages("EV")
        self.assertEqual([m["subject"] for m in msgs],
                         ["salt.web~201.myco.a", "salt.web~201.salt.job.20261206.ret.web1",
                          "salt.web~201.odd~20tag.with~2Edot.~", "salt.web~201.~C3~A9.x~2Ay~3E"])
        run_ids = set()
        for i, (m, t) in enumerate(zip(msgs, tags)):
            self.assertEqual(m["headers"]["Salt-Tag"], t)
            body_tag, packed = m["data"].split(b"\n\n", 1)
            self.assertEqual(body_tag.decode(), t)
            data = msgpack.unpackb(packed, raw=False)
            self.assertEqual(m["headers"]["Salt-Stamp"], data["_stamp"])
            mid = m["headers"]["Nats-Msg-Id"].split(".")
            self.assertEqual(len(mid), 3)
            self.assertEqual(mid[0], "web~201")
            self.assertEqual(mid[2], str(i + 1))
            run_ids.add(mid[1])
        self.assertEqual(len(run_ids), 1)
        # Replay: the same bytes as the live output.
        r = self.run_tool("state-event", "--from", srv.url, "--stream", "EV", "--all", "count=4")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, live_out)
        r = self.run_tool("state-event", "--from", srv.url, "--stream", "EV", "--since", "10m", "count=4")
        self.assertEqual(r.stdout, live_out)
        r = self.run_tool("state-event", "--from", srv.url, "--stream", "EV", "--seq", "3", "count=2")
        self.assertEqual(r.stdout, b"".join(live_out.splitlines(keepends=True)[2:]))
        r = self.run_tool("state-event", "--from", srv.url, "--stream", "EV", "--all", "salt/job/*", "count=1", "-p")
        self.assertTrue(r.stdout.startswith(b"salt/job/20261206/ret/web1\t{\n"), r.stdout)
        # History, then live: an event fired after the replay started comes too.
        rp = Proc([tool("state-event"), "--from", srv.url, "--stream", "EV", "--all", "count=5"], env=self.env)
        self.procs.append(rp)
        for _ in range(4):
            rp.out.readline()
        self.fire('{"late": true}', "myco/late")
        self.assertTrue(rp.out.readline().startswith(b"myco/late\t{\"late\": true"))
        self.assertEqual(rp.wait(), 0)
        self.assertEqual(out.stop(), 0)

    def test_json_format_and_tagmatch(self):
        srv = self.nats()
        self.start_bus()
        self.out([srv.url], "--stream", "J", "--format", "json", "myco/*")
        self.fire('{"a": 1}', "other/x")
        self.fire('{"a": 2}', "myco/y")
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "J") == 1, "1 message")
        m = c.messages("J")[0]
        self.assertEqual(m["headers"]["Salt-Format"], "json")
        doc = json.loads(m["data"])
        self.assertEqual(doc["tag"], "myco/y")
        self.assertEqual(doc["data"]["a"], 2)
        # Replay renders it as state-event would have.
        r = self.run_tool("state-event", "--from", srv.url, "--stream", "J", "--all", "count=1")
        self.assertRegex(r.stdout, rb'^myco/y\t\{"a": 2, "_stamp": "[0-9T:.-]+"\}\n$')

    def test_bad_arguments_and_refused_auth(self):
        srv = self.nats(user="u", password="secretpw")
        self.start_bus()
        r = self.run_tool("event-bridge", "out", "--server", srv.url, "--stream", "EV", "--sock-dir", self.sock_dir,
                          "-c", self.config_dir, "--user", "u", "--password", "wrong")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"Authorization", r.stderr)
        self.assertNotIn(b"wrong", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write("secretpw\n")
        p = self.out([srv.url], "--stream", "EV", "--user", "u", "--password", "@" + pwfile)
        self.assertEqual(p.stop(), 0)
        for args, code, text in [
            (["out", "--stream", "EV"], 64, b"no NATS server"),
            (["out", "--server", srv.url], 64, b"--stream"),
            (["out", "--server", "http://x", "--stream", "EV"], 64, b"invalid --server"),
            (["out", "--server", srv.url, "--stream", "a.b"], 64, b"invalid --stream"),
            (["out", "--server", srv.url, "--stream", "EV", "--max-age", "ten"], 64, b"invalid duration"),
            (["out", "--server", srv.url, "--stream", "EV", "--prefix", "a..b"], 64, b"--prefix"),
            (["sideways"], 64, b"unknown direction"),
            (["in", "--server", srv.url, "--stream", "EV"], 64, b"--durable"),
        ]:
            r = self.run_tool("event-bridge", *args, "--sock-dir", self.sock_dir, "-c", self.config_dir)
            self.assertEqual(r.returncode, code, (args, r.stderr))
            self.assertIn(text, r.stderr)
        r = self.run_tool("state-event", "--from", "nats://127.0.0.1:%d" % natsc.free_port(), "--stream", "EV", "--all")
        self.assertEqual(r.returncode, 69, r.stderr)
        r = self.run_tool("state-event", "--stream", "EV")
        self.assertEqual(r.returncode, 64)


def nkey_pair():
    """A user nkey (seed "SU...", public key "U...") made here with python3-cryptography and the
    nkeys encoding (prefix bytes, CRC-16/XMODEM, base32), independently of event-bridge's code."""
    import base64
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives import serialization

    def crc16(data):
        crc = 0
        for b in data:
            crc ^= b << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        return crc

    def enc(raw):
        return base64.b32encode(raw + struct.pack("<H", crc16(raw))).decode().rstrip("=")

    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    user = 20 << 3
    return enc(bytes([(18 << 3) | (user >> 5), (user & 31) << 3]) + seed), enc(bytes([user]) + pub)


class Security(BridgeBase):
    def test_nkey(self):
        seed, public = nkey_pair()
        self.assertTrue(seed.startswith("SU") and public.startswith("U"), (seed, public))
        conf = os.path.join(self.dir, "nkey.conf")
        with open(conf, "w") as f:
            f.write('authorization { users = [ { nkey: "%s" } ] }\n' % public)
        seed_file = os.path.join(self.dir, "user.nk")
        with open(seed_file, "w") as f:
            f.write(seed + "\n")
        srv = natsc.Server(self.dir, extra=["-c", conf]).start()
        self.servers.append(srv)
        natsc.wait_for(srv.healthy, "nats-server health")
        self.start_bus()
        out = self.out([srv.url], "--stream", "EV", "--nkey", seed_file)
        self.fire('{"k": 1}', "myco/nkey")
        r = self.run_tool("state-event", "--from", srv.url, "--stream", "EV", "--all", "--nkey", seed_file, "count=1",
                          "--timeout", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(b'myco/nkey\t{"k": 1, '), r.stdout)
        self.assertEqual(out.stop(), 0)
        # Another user's seed is refused: exit 78, the seed never printed.
        other, _ = nkey_pair()
        with open(seed_file, "w") as f:
            f.write(other + "\n")
        r = self.run_tool("event-bridge", "out", "--server", srv.url, "--stream", "EV", "--nkey", seed_file,
                          "--sock-dir", self.sock_dir, "-c", self.config_dir)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertNotIn(other.encode(), r.stderr)
        with open(seed_file, "w") as f:
            f.write("not a seed\n")
        r = self.run_tool("event-bridge", "out", "--server", srv.url, "--stream", "EV", "--nkey", seed_file,
                          "--sock-dir", self.sock_dir, "-c", self.config_dir)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"holds no user seed", r.stderr)

    def test_tls_with_client_certificates(self):
        d = self.dir

        def openssl(*args):
            r = subprocess.run(["openssl", *args], capture_output=True, timeout=DEADLINE)
            self.assertEqual(r.returncode, 0, r.stderr)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/ca.key", "-out", d + "/ca.pem",
                "-days", "2", "-subj", "/CN=tagbus test CA")
        for name in ("server", "client"):
            openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "%s/%s.key" % (d, name), "-out",
                    "%s/%s.csr" % (d, name), "-subj", "/CN=127.0.0.1")
            with open("%s/%s.ext" % (d, name), "w") as f:
                f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=%s\n" % ("serverAuth" if name == "server" else "clientAuth"))
            openssl("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
                    "-CAcreateserial", "-out", "%s/%s.pem" % (d, name), "-days", "2", "-extfile", "%s/%s.ext" % (d, name))
        srv = natsc.Server(d, extra=["--tls", "--tlscert", d + "/server.pem", "--tlskey", d + "/server.key",
                                     "--tlscacert", d + "/ca.pem", "--tlsverify"]).start()
        self.servers.append(srv)
        natsc.wait_for(srv.healthy, "nats-server health")
        self.start_bus()
        url = "tls://127.0.0.1:%d" % srv.port
        tls = ["--tls-ca", d + "/ca.pem", "--tls-cert", d + "/client.pem", "--tls-key", d + "/client.key"]
        out = self.out([url], "--stream", "EV", *tls)
        self.fire('{"t": 1}', "myco/tls")
        r = self.run_tool("state-event", "--from", url, "--stream", "EV", "--all", *tls, "count=1", "--timeout", "10")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(b'myco/tls\t{"t": 1, '), r.stdout)
        self.assertEqual(out.stop(), 0)
        # Without a client certificate the server refuses: exit 78, one line.
        r = self.run_tool("event-bridge", "out", "--server", url, "--stream", "EV", "--tls-ca", d + "/ca.pem",
                          "--sock-dir", self.sock_dir, "-c", self.config_dir)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"does it require a client certificate?", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
        # A CA that did not sign the server's certificate: refused too.
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", d + "/other.key", "-out", d + "/other.pem",
                "-days", "2", "-subj", "/CN=another CA")
        r = self.run_tool("event-bridge", "out", "--server", url, "--stream", "EV", "--tls-ca", d + "/other.pem",
                          "--tls-cert", d + "/client.pem", "--tls-key", d + "/client.key",
                          "--sock-dir", self.sock_dir, "-c", self.config_dir)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(b"unable to get local issuer certificate", r.stderr)


class Faults(BridgeBase):
    N = 3000
    OUTAGE = float(os.environ.get("TAGBUS_BRIDGE_OUTAGE", "0"))

    def test_sigkill_restart_resends_unacknowledged_once(self):
        """NATS frozen (SIGSTOP) so nothing is acknowledged; the bridge has every event in its spool
        and is killed with SIGKILL; NATS thawed, a new bridge resends the spool under the old message
        ids: the stream holds each event once, in order."""
        srv = self.nats()
        self.start_bus()
        spool = os.path.join(self.dir, "spool")
        c = self.client(srv)
        out = self.out([srv.url], "--stream", "EV", "--spool", spool)
        self.fire_many(200)
        natsc.wait_for(lambda: self.stream_count(c, "EV") == 200, "the first 200")
        c.close()
        srv.proc.p.send_signal(signal.SIGSTOP)
        self.fire_many(self.N - 200, start=200)
        natsc.wait_for(lambda: spool_records(spool) >= self.N, "the events in the spool")
        out.stop(signal.SIGKILL)
        srv.proc.p.send_signal(signal.SIGCONT)
        out2 = self.out([srv.url], "--stream", "EV", "--spool", spool, wait=False)
        line = self.wait_log(out2, b"not acknowledged by the last run")
        self.wait_log(out2, b"out: reading ")
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "EV") >= self.N, "all events in the stream")
        self.assertEqual(out2.stop(), 0)
        msgs = c.messages("EV")
        self.assert_exactly_once_in_order(msgs, list(range(self.N)))
        self.assertIsNotNone(re.search(rb"spool .*: (\d+) events were not", line))

    def test_nats_away_spool_holds_and_drains(self):
        """NATS stopped while events keep coming: they wait in the spool, then go in order."""
        srv = self.nats()
        self.start_bus()
        spool = os.path.join(self.dir, "spool")
        out = self.out([srv.url], "--stream", "EV", "--spool", spool)
        self.fire_many(100)
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "EV") == 100, "the first 100")
        c.close()
        srv.stop()
        self.wait_log(out, b"lost the NATS connection")
        outage_end = time.monotonic() + self.OUTAGE
        self.fire_many(self.N, start=100)
        natsc.wait_for(lambda: spool_records(spool) >= self.N, "the spooled events")
        # The outage lasts at least OUTAGE seconds (the 30 by hand: TAGBUS_BRIDGE_OUTAGE=30):
        # a deliberate duration, during which the bridge keeps trying to reconnect.
        natsc.wait_for(lambda: time.monotonic() >= outage_end, "the end of the outage", self.OUTAGE + DEADLINE)
        srv.start()
        self.wait_log(out, b"reconnected to NATS")
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "EV") >= self.N + 100, "the spool drained")
        self.assertEqual(out.stop(), 0)
        self.assert_exactly_once_in_order(c.messages("EV"), list(range(self.N + 100)))

    def test_event_over_max_payload_is_dropped_counted_and_logged(self):
        """An event the server can never take does not block the ones after it."""
        conf = os.path.join(self.dir, "small.conf")
        with open(conf, "w") as f:
            f.write("max_payload: 4096\n")
        srv = self.nats(extra=["-c", conf])
        self.start_bus()
        out = self.out([srv.url], "--stream", "EV")
        self.fire('{"big": "%s"}' % ("x" * 8000), "myco/big")
        self.fire('{"small": 1}', "myco/small")
        line = self.wait_log(out, b"dropped event ")
        self.assertIn(b"over the server's max_payload", line)
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "EV") == 1, "the small event")
        self.assertEqual(c.messages("EV")[0]["headers"]["Salt-Tag"], "myco/small")
        out.p.send_signal(signal.SIGTERM)
        self.assertIn(b"took 2 events, published 1 (0 already in the stream), lost 1", self.wait_log(out, b"took "))
        self.assertEqual(out.wait(), 0)

    def test_spool_full_loss_is_counted_and_logged(self):
        srv = self.nats()
        self.start_bus()
        spool = os.path.join(self.dir, "spool")
        out = self.out([srv.url], "--stream", "EV", "--spool", spool, "--spool-max", "64K")
        srv.stop()
        self.wait_log(out, b"lost the NATS connection")
        self.fire_many(1000)
        full = self.wait_log(out, b"spool full")
        first_lost = int(re.search(rb"from event #(\d+)", full).group(1))
        srv.start()
        out.p.send_signal(signal.SIGTERM)
        lost = self.wait_log(out, b"while the spool was full")
        m = re.search(rb"lost (\d+) events \(#(\d+)-#(\d+)\)", lost)
        count, a, b = (int(x) for x in m.groups())
        self.assertEqual(a, first_lost)
        self.assertEqual(b - a + 1, count)
        self.assertEqual(b, 1000)
        summary = self.wait_log(out, b"took 1000 events")
        self.assertIn(b"lost %d" % count, summary)
        self.assertEqual(out.wait(), 0)
        c = self.client(srv)
        natsc.wait_for(lambda: self.stream_count(c, "EV") == 1000 - count, "the kept events")
        self.assert_exactly_once_in_order(c.messages("EV"), list(range(first_lost - 1)))


class Cluster(BridgeBase):
    # The figure is 250,000 per publisher; CI runs a tenth of it (both the release and the
    # sanitizer builds run this on two cores). TAGBUS_BRIDGE_EVENTS=250000 runs the full size.
    # The sanitizer build checks memory, not scale: a fifth of that.
    SANITIZED = os.environ.get("TAGBUS_SANITIZE", "none") not in ("", "none")
    PER_PUBLISHER = int(os.environ.get("TAGBUS_BRIDGE_EVENTS", "5000" if SANITIZED else "25000"))

    def test_r3_stream_node_killed_under_load(self):
        """A 3-node cluster and an R3 stream; 4 publishers fire into the bus at once while the node
        the bridge talks to is killed and restarted: the stream holds every event exactly once, in
        each publisher's order."""
        nodes = natsc.cluster(self.dir)
        self.servers += nodes
        for n in nodes:
            natsc.wait_for(lambda: natsc.jetstream_ready(n), "JetStream on " + n.url)
        self.start_bus()
        spool = os.path.join(self.dir, "spool")
        out = self.out([n.url for n in nodes], "--stream", "R3", "--replicas", "3", "--spool", spool)
        c = self.client(nodes[2])
        total = 4 * self.PER_PUBLISHER
        errors = []

        def publish(k):
            try:
                self.fire_many(self.PER_PUBLISHER, tag_fmt="pub/%d/{i}" % k)
            except Exception as e:  # reported by the main thread
                errors.append(e)

        threads = [threading.Thread(target=publish, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        natsc.wait_for(lambda: self.stream_count(c, "R3") >= total // 4, "a quarter of the events")
        nodes[0].stop(signal.SIGKILL)
        self.wait_log(out, b"lost the NATS connection")
        nodes[0].start()
        for t in threads:
            t.join(DEADLINE * 6)
        self.assertEqual(errors, [])
        natsc.wait_for(lambda: self.stream_count(c, "R3") >= total, "every event in the stream", DEADLINE * 6)
        self.assertEqual(self.stream_count(c, "R3"), total)
        out.p.send_signal(signal.SIGTERM)
        log = out.err.read_until_eof(DEADLINE * 2)
        self.assertEqual(out.wait(), 0, log)
        self.assertIn(b"took %d events, published %d" % (total, total), log)
        natsc.wait_for(lambda: natsc.jetstream_ready(nodes[0]), "the restarted node's JetStream")
        r = self.run_tool("state-event", "--from", nodes[1].url, "--stream", "R3", "--all", "-j", "count=%d" % total,
                          deadline=DEADLINE * 6)
        self.assertEqual(r.returncode, 0, r.stderr)
        per = {k: [] for k in range(4)}
        for line in r.stdout.splitlines():
            ev = json.loads(line)
            per[int(ev["tag"].split("/")[1])].append(ev["data"]["i"])
        for k in range(4):
            bad = next((i for i, v in enumerate(per[k]) if v != i), None)
            where = "" if bad is None else " (from index %d: %r)" % (bad, per[k][max(0, bad - 3):bad + 8])
            self.assertEqual(per[k], list(range(self.PER_PUBLISHER)),
                             "publisher %d%s; the bridge said:\n%s" % (k, where, log.decode()))


class Inbound(BridgeBase):
    def test_in_fires_exactly_once_across_a_restart(self):
        """A restart (SIGTERM) and a consumer reset fire nothing twice; a SIGKILL can land after the
        bus confirmed a batch and before its ids were written: then at most that batch comes again
        (at least once), and nothing is lost."""
        srv = self.nats()
        a = self.bus("a")
        b = self.bus("b")
        self.out([srv.url], "--stream", "EV", "--source-id", "a", sock_dir=a)
        watch_b = Proc([tool("state-event"), "--sock-dir", b, "-c", self.config_dir, "--node", "master", "-v", "-j"],
                       env=self.env)
        self.procs.append(watch_b)
        self.wait_log(watch_b, b"connected to")
        into_b = lambda: self.into([srv.url], "--stream", "EV", "--durable", "b", "--source-id", "b", "--batch", "50",
                                   sock_dir=b)
        inn = into_b()
        self.fire_many(500, sock_dir=a)
        got = [json.loads(watch_b.out.readline()) for _ in range(500)]
        self.assertEqual(inn.stop(), 0)
        self.fire_many(500, sock_dir=a, start=500)
        inn = into_b()
        got += [json.loads(watch_b.out.readline()) for _ in range(500)]
        self.assertEqual([g["data"]["i"] for g in got], list(range(1000)))
        # The data came unchanged, its _stamp the one the event had on bus a.
        c = self.client(srv)
        self.assertEqual(got[0]["data"]["_stamp"], c.messages("EV")[0]["headers"]["Salt-Stamp"])
        # NATS forgets the consumer's acknowledgments (the consumer deleted and made again from the
        # start): all 1000 come again, and the persisted ids keep every one from a second firing.
        self.assertEqual(inn.stop(), 0)
        reset = lambda: self.assertNotIn("error", c.api("$JS.API.CONSUMER.DELETE.EV.b"))
        reset()
        inn = into_b()
        self.fire_many(1, tag_fmt="myco/marker", sock_dir=a, start=5000)
        self.assertEqual(json.loads(watch_b.out.readline())["tag"], "myco/marker")
        inn.p.send_signal(signal.SIGTERM)
        self.assertIn(b"in: fired 1 events, skipped 1000 already fired", self.wait_log(inn, b"in: fired "))
        self.assertEqual(inn.wait(), 0)
        # SIGKILL right after the bus took 500 more; then a reset makes NATS deliver everything again.
        inn = into_b()
        self.fire_many(500, sock_dir=a, start=1000)
        seen = [json.loads(watch_b.out.readline())["data"]["i"] for _ in range(500)]
        self.assertEqual(seen, list(range(1000, 1500)))
        inn.stop(signal.SIGKILL)
        reset()
        inn = into_b()
        self.fire_many(1, tag_fmt="myco/marker2", sock_dir=a, start=6000)
        again = []
        while True:
            ev = json.loads(watch_b.out.readline())
            if ev["tag"] == "myco/marker2":
                break
            again.append(ev["data"]["i"])
        # At most the one batch (50) whose ids the kill kept from the file, and only from the end.
        self.assertLessEqual(len(again), 50, again)
        self.assertTrue(all(1450 <= i < 1500 for i in again), again)

    def test_two_buses_both_ways_no_loop(self):
        srv = self.nats()
        a = self.bus("a")
        b = self.bus("b")
        self.out([srv.url], "--stream", "EV", "--source-id", "a", sock_dir=a)
        self.out([srv.url], "--stream", "EV", "--source-id", "b", sock_dir=b)
        watch_a = Proc([tool("state-event"), "--sock-dir", a, "-c", self.config_dir, "-v", "-j"], env=self.env)
        watch_b = Proc([tool("state-event"), "--sock-dir", b, "-c", self.config_dir, "-v", "-j"], env=self.env)
        self.procs += [watch_a, watch_b]
        self.wait_log(watch_a, b"connected to")
        self.wait_log(watch_b, b"connected to")
        self.into([srv.url], "--stream", "EV", "--durable", "a", "--source-id", "a", sock_dir=a)
        self.into([srv.url], "--stream", "EV", "--durable", "b", "--source-id", "b", sock_dir=b)
        self.fire_many(50, tag_fmt="from/a/{i}", sock_dir=a)
        self.fire_many(50, tag_fmt="from/b/{i}", sock_dir=b, start=50)
        seen_a = sorted(json.loads(watch_a.out.readline())["data"]["i"] for _ in range(100))
        seen_b = sorted(json.loads(watch_b.out.readline())["data"]["i"] for _ in range(100))
        self.assertEqual(seen_a, list(range(100)))
        self.assertEqual(seen_b, list(range(100)))
        c = self.client(srv)
        # A marker through both: if anything looped, it would come before the marker.
        self.fire_many(1, tag_fmt="end/a", sock_dir=a, start=1000)
        self.assertEqual(json.loads(watch_a.out.readline())["tag"], "end/a")
        self.assertEqual(json.loads(watch_b.out.readline())["tag"], "end/a")
        natsc.wait_for(lambda: self.stream_count(c, "EV") == 101, "101 messages")
        msgs = c.messages("EV")
        self.assertEqual(len(msgs), 101)
        self.assertEqual(sorted(m["subject"].split(".")[1] for m in msgs).count("a"), 51)

    def test_bad_messages_are_skipped_and_the_bridge_goes_on(self):
        srv = self.nats()
        self.start_bus()
        c = self.client(srv)
        r = c.api("$JS.API.STREAM.CREATE.EV", {"name": "EV", "subjects": ["salt.>"], "storage": "memory"})
        self.assertNotIn("error", r)
        watch = self.watch("-j")
        inn = self.into([srv.url], "--stream", "EV", "--durable", "d", "--source-id", "here")
        ack = c.publish("salt.there.myco.bad", b"not a salt body")
        self.assertIn("seq", ack)
        self.assertIn(b"not a Salt event body", self.wait_log(inn, b"skipped message 1 "))
        c.publish("salt.there.bad~ZZescape", salt_body("x", {"a": 1}))
        self.assertIn(b"bad escape", self.wait_log(inn, b"skipped message 2 "))
        c.publish("salt.there.myco.good", salt_body("myco/good", {"a": 1}))
        self.assertEqual(json.loads(watch.out.readline()), {"tag": "myco/good", "data": {"a": 1}})
        self.assertEqual(inn.stop(), 0)


if __name__ == "__main__":
    main()
