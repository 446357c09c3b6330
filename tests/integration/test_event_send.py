"""event-send against real event-busd instances: for each route (masterless, the minion bus's
fire_master request, forwarded by a minion event-busd, the direct route to this host's master
bus) the frame on the bus is compared byte for byte with one built independently by
python3-msgpack, after the variable values (_stamp, __pub_pid, __pub_jid) are checked by format
and carried over. Also the order event.send builds its data in, the environ and grains subsets,
and every error's message and exit code."""
import datetime
import hashlib
import json
import os
import re
import socket
import subprocess

import msgpack

import tb
import test_cli
from tb import legacy_frame, tool

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?$")
JID = re.compile(r"^\d{20}$")
ID = "web01"
H = hashlib.sha256(ID.encode()).hexdigest()[:10]  # 1f94fe445b (SALT-WIRE §1.1)
USAGE_HINT = "Try 'event-send --help'.\n"


class PubReader:
    """A raw subscriber on a pub socket (Python's own socket, not our client): yields each frame's
    exact bytes and its decoded form."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(tb.DEADLINE)
        self.s.connect(path)
        self.buf = b""

    def frame(self):
        while True:
            up = msgpack.Unpacker(raw=False)
            up.feed(self.buf)
            try:
                obj = up.unpack()
            except msgpack.OutOfData:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise EOFError("pub socket closed")
                self.buf += chunk
                continue
            raw, self.buf = self.buf[:up.tell()], self.buf[up.tell():]
            return raw, obj

    def event(self):
        """(raw frame bytes, tag, data)."""
        raw, frame = self.frame()
        tag, _, packed = frame["body"].partition(b"\n\n")
        return raw, tag.decode(), msgpack.unpackb(packed, raw=False, strict_map_key=False)

    def close(self):
        self.s.close()


class EventSend(tb.BusTest):
    def setUp(self):
        super().setUp()
        self.master_dir = os.path.join(self.dir, "m")
        self.write_config("minion", f"id: {ID}\n")

    def write_config(self, node, text):
        with open(os.path.join(self.config_dir, node), "w", encoding="utf-8") as f:
            f.write(text)

    def minion_pull(self):
        return os.path.join(self.sock_dir, f"minion_event_{H}_pull.ipc")

    def master_pull(self):
        return os.path.join(self.master_dir, "master_event_pull.ipc")

    def start_minion(self, extra=()):
        if "--master-sock-dir" not in extra:
            extra = ["--no-forward", *extra]  # no master here: fire_master requests stay on the minion bus
        self.start_bus("minion", extra=extra)
        return self.reader(os.path.join(self.sock_dir, f"minion_event_{H}_pub.ipc"))

    def start_master(self):
        self.start_bus("master", sock_dir=self.master_dir)
        return self.reader(os.path.join(self.master_dir, "master_event_pub.ipc"))

    def reader(self, path):
        r = PubReader(path)
        self.addCleanup(r.close)
        return r

    def args(self):
        return ["--sock-dir", self.sock_dir, "--master-sock-dir", self.master_dir, "-c", self.config_dir]

    def send(self, *words, env=None, ok=True):
        r = subprocess.run([tool("event-send"), *self.args(), *words], capture_output=True,
                           env=self.env if env is None else env, timeout=tb.DEADLINE)
        if ok:
            self.assertEqual((r.returncode, r.stderr), (0, b""))
            self.assertEqual(r.stdout, b"")
        return r

    def fails(self, code, message, *words, usage=False):
        r = self.send(*words, ok=False)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(r.stderr.decode(), f"event-send: {message}\n" + (USAGE_HINT if usage else ""))
        self.assertEqual(r.returncode, code)

    # The variable values are checked by format, then carried into the expected map so the rest
    # is compared byte for byte.
    def carry_pub(self, got, expected, pid=None):
        self.assertIsInstance(got["__pub_pid"], int)
        if pid is not None:
            self.assertEqual(got["__pub_pid"], pid)
        self.assertRegex(got["__pub_jid"], JID)
        jid = datetime.datetime.strptime(got["__pub_jid"], "%Y%m%d%H%M%S%f")
        self.assertLess(abs(datetime.datetime.utcnow() - jid), datetime.timedelta(minutes=5))
        expected["__pub_pid"] = got["__pub_pid"]
        expected["__pub_jid"] = got["__pub_jid"]

    def check_frame(self, raw, tag, got, expected):
        """`expected` without _stamp: the stamp is checked by format and appended, then the whole
        frame must equal python3-msgpack's."""
        self.assertRegex(got["_stamp"], STAMP)
        expected = dict(expected, _stamp=got["_stamp"])
        self.assertEqual(got, expected)
        self.assertEqual(list(got), list(expected))
        want = legacy_frame(tag.encode() + b"\n\n" + msgpack.packb(expected, use_bin_type=True))
        self.assertEqual(raw, want)

    def pubs(self, got):
        want = {"__pub_fun": "event.send", "__pub_pid": None, "__pub_jid": None, "__pub_tgt": "salt-call"}
        self.carry_pub(got, want)
        return want

    # ---- routes ---------------------------------------------------------------------------------

    def test_masterless_fires_tag_on_the_local_minion_bus(self):
        self.write_config("minion", f"id: {ID}\nfile_client: local\n")
        minion = self.start_minion()
        self.send("myco/deploy/done", "{ok: True, n: 3}", "foo=bar")
        raw, tag, got = minion.event()
        self.assertEqual(tag, "myco/deploy/done")
        self.check_frame(raw, tag, got, {"foo": "bar", **self.pubs(got), "ok": True, "n": 3})

    def test_trimmed_values_are_reported(self):
        self.write_config("minion", f"id: {ID}\nfile_client: local\nmax_event_size: 1000\n")
        minion = self.start_minion()
        r = self.send("--no-pub-keys", "t", "{big: " + "x" * 2000 + ", small: 1}", ok=False)
        self.assertEqual((r.returncode, r.stdout), (0, b""))
        self.assertRegex(r.stderr.decode(), r"\Aevent-send: warning: event 't' is \d+ bytes, over max_event_size "
                                            r"1000: trimmed key 'big' \(\d+ bytes\) to \"VALUE_TRIMMED\"\n\Z")
        raw, tag, got = minion.event()
        self.check_frame(raw, "t", got, {"big": "VALUE_TRIMMED", "small": 1})

    def test_master_type_disable_and_local_flag_are_masterless(self):
        for config, flag in ((f"id: {ID}\nmaster_type: disable\n", []), (f"id: {ID}\n", ["--local"])):
            with self.subTest(config=config, flag=flag):
                self.write_config("minion", config)
                minion = self.start_minion()
                self.send(*flag, "--no-pub-keys", "t", "{a: 1}")
                raw, tag, got = minion.event()
                self.check_frame(raw, "t", got, {"a": 1})
                self.procs.pop().stop()

    def test_use_master_when_local_goes_to_the_master(self):
        self.write_config("minion", f"id: {ID}\nfile_client: local\nuse_master_when_local: True\n")
        minion = self.start_minion()
        self.send("--no-pub-keys", "t", "{a: 1}")
        raw, tag, got = minion.event()
        self.assertEqual(tag, "fire_master")

    def test_masterless_without_a_minion_bus(self):
        self.write_config("minion", f"id: {ID}\nfile_client: local\n")
        self.fails(69, f"cannot fire on the local minion bus (masterless minion config): cannot connect to "
                       f"{self.minion_pull()}: No such file or directory; no bus is running there: start "
                       f"`event-busd --node minion --sock-dir {self.sock_dir} -c {self.config_dir}`", "t")

    def test_minion_bus_gets_a_fire_master_request(self):
        minion = self.start_minion()
        self.send("myco/deploy/done", "{ok: True}", "foo=1")
        raw, tag, got = minion.event()
        self.assertEqual(tag, "fire_master")
        inner = got["data"]
        self.check_frame(raw, "fire_master", got, {
            "data": {"foo": 1, **self.pubs(inner), "ok": True},
            "tag": "myco/deploy/done", "events": None, "pretag": None})
        self.assertNotIn("_stamp", inner)

    def test_forwarded_by_the_minion_daemon_to_the_master_bus(self):
        master = self.start_master()
        self.start_minion(extra=["--master-sock-dir", self.master_dir])
        self.send("myco/deploy/done", "{ok: True}")
        raw, tag, got = master.event()
        self.assertEqual(tag, "myco/deploy/done")
        self.check_frame(raw, tag, got, {
            "id": ID, "cmd": "_minion_event", "pretag": None,
            "data": {**self.pubs(got["data"]), "ok": True}, "tag": "myco/deploy/done"})

    def test_direct_route_to_this_hosts_master_bus(self):
        master = self.start_master()
        self.send("myco/deploy/done", "{ok: True}")
        raw, tag, got = master.event()
        self.assertEqual(tag, "myco/deploy/done")
        self.check_frame(raw, tag, got, {
            "id": ID, "tag": "myco/deploy/done", "data": {**self.pubs(got["data"]), "ok": True},
            "cmd": "_minion_event"})

    def test_preload_takes_the_direct_route_even_with_a_minion_bus(self):
        self.start_minion()
        master = self.start_master()
        r = self.send("-v", "--no-pub-keys", "t", "{a: 1}", "preload={extra: [1, 2], id: x, tag: u}", ok=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"event-send: route: master bus {self.master_pull()} (direct)\n".encode(), r.stderr)
        raw, tag, got = master.event()
        # the load {id, tag, data, cmd} with the preload merged over it
        self.check_frame(raw, "u", got, {"id": "x", "tag": "u", "data": {"a": 1}, "cmd": "_minion_event",
                                         "extra": [1, 2]})

    def test_preload_batch_form(self):
        master = self.start_master()
        self.send("--no-pub-keys", "--preload", '{"events": [{"tag": "a", "data": {"x": 1}}], "pretag": "pre"}', "t")
        for want_tag in ("a", "pre/a"):
            raw, tag, got = master.event()
            self.assertEqual(tag, want_tag)
            self.check_frame(raw, want_tag, got, {"x": 1})

    def test_sock_dirs_from_the_config_files(self):
        self.write_config("minion", f"id: {ID}\nsock_dir: {self.dir}/cm\n")
        self.write_config("master", f"sock_dir: {self.master_dir}\n")
        master = self.start_master()
        r = subprocess.run([tool("event-send"), "-c", self.config_dir, "-v", "--no-pub-keys", "t"],
                           capture_output=True, env=self.env, timeout=tb.DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.decode().splitlines()[:4], [
            f"event-send: minion id {ID}, minion sock_dir {self.dir}/cm (from {self.config_dir}/minion)",
            f"event-send: no minion bus: cannot connect to {self.dir}/cm/minion_event_{H}_pull.ipc: "
            "No such file or directory",
            f"event-send: master sock_dir {self.master_dir} (from {self.config_dir}/master)",
            f"event-send: route: master bus {self.master_pull()} (direct)"])
        raw, tag, got = master.event()
        self.check_frame(raw, "t", got, {"id": ID, "tag": "t", "data": {}, "cmd": "_minion_event"})

    def test_verbose_names_the_route(self):
        minion = self.start_minion()
        r = self.send("-v", "--no-pub-keys", "t", ok=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stderr.decode().splitlines()
        self.assertEqual(lines[1], f"event-send: route: minion bus {self.minion_pull()} (fire_master)")
        self.assertTrue(lines[2].startswith(f"event-send: sent to {self.minion_pull()}: fire_master\t"
                                            '{"data": {}, "tag": "t", "events": null, "pretag": null, "_stamp": "'),
                        lines[2])
        minion.event()

    # ---- the data map ---------------------------------------------------------------------------

    def test_merge_order(self):
        self.write_config("minion", f"id: {ID}\nsaltenv: dev\n")
        minion = self.start_minion()
        env = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": "/home/x", "LANG": "C"}
        self.send("t", '{foo: 9, environ: 0, new: 1, __pub_tgt: mine}', "with_env=[HOME]", "with_grains=[os]",
                  "with_env_opts=True", "foo=1", "zed=2", env=env)
        _, _, got = minion.event()
        data = got["data"]
        grains = self.grains()
        expected = {"environ": 0, "grains": {"os": grains["os"]}, "saltenv": "dev", "pillarenv": None,
                    "foo": 9, "zed": 2, "__pub_fun": "event.send", "__pub_pid": None, "__pub_jid": None,
                    "__pub_tgt": "mine", "new": 1}
        self.carry_pub(data, expected)
        self.assertEqual(list(data.items()), list(expected.items()))

    def test_keyword_named_like_a_pub_key_is_overwritten_in_place(self):
        minion = self.start_minion()
        self.send("t", "__pub_tgt=me", "a=1")
        _, _, got = minion.event()
        self.assertEqual(list(got["data"]), ["__pub_tgt", "a", "__pub_fun", "__pub_pid", "__pub_jid"])
        self.assertEqual(got["data"]["__pub_tgt"], "salt-call")

    def test_env_opts_defaults(self):
        minion = self.start_minion()
        self.send("--no-pub-keys", "--with-env-opts", "t")
        _, _, got = minion.event()
        # SALT-WIRE §8 step 4: both null unless the config sets them (observed on 3006).
        self.assertEqual(list(got["data"].items()), [("saltenv", None), ("pillarenv", None)])

    def test_quoted_keyword_word_is_a_keyword(self):
        # SALT-WIRE §6 step 4: "'a=b'" is YAML-unquoted to a=b on the CLI side and re-split into a
        # keyword on the executing side; re-split keywords come before the command line's.
        minion = self.start_minion()
        self.send("--no-pub-keys", "t", "'a=1'", "b=x", '"with_env_opts=True"')
        _, _, got = minion.event()
        self.assertEqual(list(got["data"].items()),
                         [("saltenv", None), ("pillarenv", None), ("a", 1), ("b", "x")])

    def test_data_that_is_not_a_map_is_ignored_and_the_event_sent(self):
        # SALT-WIRE §8 step 6: Salt ignores such DATA and still sends the event (observed on 3006).
        minion = self.start_minion()
        for data, kind in [("hello", "a string"), ("[1, 2]", "a list"), ("5", "an integer"), ("True", "a boolean")]:
            r = self.send("--no-pub-keys", "t", data, "k=1", ok=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, b"event-send: warning: ignoring DATA: it is " + kind.encode() +
                             b", not a map (Salt's event.send ignores it too and sends the event without it)\n")
            self.assertEqual(minion.event()[2]["data"], {"k": 1})
        r = self.send("--no-pub-keys", "t", "{a: [", ok=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stderr.startswith(b"event-send: warning: ignoring DATA: cannot parse DATA: invalid YAML at "
                                            b"line"), r.stderr)
        self.assertEqual(minion.event()[2]["data"], {})

    def test_with_env_all_in_environ_order(self):
        minion = self.start_minion()
        env = {"ZZ": "1", "AA": "two words", "PATH": os.environ.get("PATH", "/usr/bin"), "MM": ""}
        self.send("--no-pub-keys", "t", "with_env=True", env=env)
        raw, tag, got = minion.event()
        self.assertEqual(list(got["data"]["environ"].items()), list(env.items()))
        self.check_frame(raw, "fire_master", got, {"data": {"environ": env}, "tag": "t", "events": None,
                                                   "pretag": None})

    def test_with_env_subset(self):
        minion = self.start_minion()
        env = {"USER": "u", "HOME": "/home/x", "PATH": os.environ.get("PATH", "/usr/bin")}
        for words in (["with_env=[HOME,NOPE,USER]"], ["--with-env=HOME,NOPE,USER"]):
            with self.subTest(words=words):
                self.send("--no-pub-keys", "t", *words, env=env)
                _, _, got = minion.event()
                # environ order, not the order asked for; a missing name is left out
                self.assertEqual(list(got["data"]["environ"].items()), [("USER", "u"), ("HOME", "/home/x")])
        self.send("--no-pub-keys", "t", "with_env=[NOPE]", env=env)
        _, _, got = minion.event()
        self.assertEqual(got["data"], {"environ": {}})
        self.send("--no-pub-keys", "t", "with_env=[]", "with_grains=False", env=env)
        _, _, got = minion.event()
        self.assertEqual(got["data"], {})

    def grains(self):
        r = self.send("--list-grains", ok=False)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        return json.loads(r.stdout)

    def test_list_grains(self):
        r = self.send("--list-grains", ok=False)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        grains = json.loads(r.stdout)
        self.assertEqual(r.stdout.decode(), json.dumps(grains, indent=4, sort_keys=True, ensure_ascii=False) + "\n")
        self.assertEqual(grains["id"], ID)
        self.assertIsInstance(grains["num_cpus"], int)
        self.assertIsInstance(grains["os"], str)

    def test_list_grains_does_not_use_the_sock_dir(self):
        # Listing reads the configuration only: a sock_dir it would refuse to send through (others
        # may write to it) is neither used nor checked, while sending through it is refused.
        os.makedirs(self.sock_dir, exist_ok=True)
        os.chmod(self.sock_dir, 0o777)
        r = self.send("--list-grains", ok=False)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        self.assertEqual(json.loads(r.stdout)["id"], ID)
        self.fails(78, f"unsafe sock_dir {self.sock_dir}: others may write to it (mode 0777, no sticky bit); "
                       "remove it or choose another with --sock-dir", "t")

    def test_with_grains_types(self):
        minion = self.start_minion()
        grains = self.grains()
        for words in (["with_grains=[num_cpus,os,nope]"], ["--with-grains=num_cpus,os,nope"]):
            with self.subTest(words=words):
                self.send("--no-pub-keys", "t", *words)
                raw, _, got = minion.event()
                g = got["data"]["grains"]
                self.assertEqual(g, {"num_cpus": grains["num_cpus"], "os": grains["os"]})
                self.assertIsInstance(g["num_cpus"], int)
                self.assertIsInstance(g["os"], str)
                # Salt keeps its grains' order (sorted), not the order asked for
                self.assertEqual(list(g), ["num_cpus", "os"])
                self.check_frame(raw, "fire_master", got, {"data": {"grains": g}, "tag": "t", "events": None,
                                                           "pretag": None})

    def test_with_grains_all_and_static_grains(self):
        self.write_config("minion", f"id: {ID}\ngrains:\n  roles: [web]\n")
        minion = self.start_minion()
        self.send("--no-pub-keys", "--with-grains", "t")
        _, _, got = minion.event()
        grains, listed = got["data"]["grains"], self.grains()
        # the pid grain is the pid of the process that collected them
        self.assertIsInstance(grains.pop("pid"), int)
        listed.pop("pid")
        self.assertEqual(grains, listed)
        self.assertEqual(list(grains), sorted(grains))
        self.assertEqual(got["data"]["grains"]["roles"], ["web"])

    def test_jid_and_pid(self):
        minion = self.start_minion()
        p = subprocess.Popen([tool("event-send"), *self.args(), "t"], env=self.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = p.communicate(timeout=tb.DEADLINE)
        self.assertEqual((p.returncode, out, err), (0, b"", b""))
        _, _, got = minion.event()
        data = got["data"]
        self.carry_pub(data, {}, pid=p.pid)
        self.assertEqual(data["__pub_fun"], "event.send")
        self.assertEqual(data["__pub_tgt"], "salt-call")

    def test_unknown_keywords_are_data(self):
        minion = self.start_minion()
        self.send("--no-pub-keys", "t", "sock_dir=/x", "timeout=5", "a=b=c", "x=None")
        _, _, got = minion.event()
        self.assertEqual(list(got["data"].items()), [("sock_dir", "/x"), ("timeout", 5), ("a", "b=c"), ("x", None)])

    def test_tag_typed_as_a_number_is_text(self):
        minion = self.start_minion()
        self.send("--no-pub-keys", "2024", "data=None")
        _, _, got = minion.event()
        self.assertEqual(got["tag"], "2024")

    # ---- errors ---------------------------------------------------------------------------------

    def test_no_route(self):
        self.fails(69, f"no route to the master: minion bus: cannot connect to {self.minion_pull()}: "
                       f"No such file or directory; master bus: cannot connect to {self.master_pull()}: "
                       "No such file or directory; no bus is running there: start "
                       f"`event-busd --node minion --sock-dir {self.sock_dir} -c {self.config_dir}`", "t")
        self.fails(69, f"no route to the master (a preload goes to the master bus only): master bus: cannot "
                       f"connect to {self.master_pull()}: No such file or directory; no bus is running there: "
                       f"start `event-busd --node master --sock-dir {self.master_dir}`", "t", "preload={a: 1}")

    def test_with_pillar_is_refused(self):
        self.start_minion()
        msg = ("cannot add pillar data: with_pillar needs the pillar a Salt minion compiles with its master, "
               "which tagbus cannot do")
        self.fails(69, msg, "t", "with_pillar=True")
        self.fails(69, msg, "t", "with_pillar=[a]")

    def test_with_pillar_false_is_fine(self):
        minion = self.start_minion()
        self.send("--no-pub-keys", "t", "with_pillar=False")
        self.assertEqual(minion.event()[2]["data"], {})

    def test_bad_data(self):
        self.fails(65, "tag is empty", "")
        self.fails(65, "TAG must be a string, not a map", "{a: 1}")
        self.fails(65, "preload must be a map, not a string", "t", "preload=x")
        self.fails(65, "preload must be a map, not a list", "t", "--preload", "[1]")
        self.fails(65, 'preload replaces "cmd": the master would not handle the request as an event',
                   "t", "preload={cmd: x}")
        r = self.send("t", "--preload", "{a: [", ok=False)
        self.assertEqual(r.returncode, 65)
        self.assertTrue(r.stderr.startswith(b"event-send: cannot parse --preload: invalid YAML at line"), r.stderr)

    def test_usage_errors(self):
        self.fails(64, "missing TAG", usage=True)
        self.fails(64, "missing TAG", "data={a: 1}", usage=True)
        self.fails(64, "takes at most 7 arguments (8 given)", "t", "{}", "{}", "1", "1", "0", "1", "x", usage=True)
        self.fails(64, "got multiple values for argument 'tag'", "t", "tag=u", usage=True)
        self.fails(64, "with_env given twice: as with_env= and as --with-env", "t", "with_env=True",
                   "--with-env", usage=True)
        self.fails(64, "preload given twice: as preload= and as --preload", "t", "preload={}",
                   "--preload", "{}", usage=True)
        self.fails(64, "--list-grains takes no TAG or words", "--list-grains", "t", usage=True)
        self.fails(64, "invalid --timeout 'x' (expected seconds, e.g. 2 or 0.5)", "--timeout", "x", "t", usage=True)

    def test_config_error(self):
        self.write_config("minion", "id: [unclosed\n")
        r = self.send("t", ok=False)
        self.assertEqual(r.returncode, 78)
        self.assertTrue(r.stderr.startswith(b"event-send: "), r.stderr)
        self.assertIn(self.config_dir.encode(), r.stderr)


class Completion(tb.BusTest):
    """bash completion asks the tool for grain names (--list-grains, with the -c of the line)."""

    def complete(self, words, line=None, wordbreaks=""):
        """As test_cli's: `words` split as readline splits them, `line` when not their join."""
        line = " ".join(["event-send", *words]) if line is None else line
        env = test_cli.env()
        env["PATH"] = os.path.abspath(tb.BIN) + os.pathsep + env.get("PATH", "/usr/bin")
        env["TB_SEND_TEST_VAR"] = "1"
        r = subprocess.run(["bash", "-c", test_cli.Completions.COMPLETE, "bash", test_cli.BASH_COMPLETION,
                            test_cli.bash_file("event-send"), wordbreaks, line, "event-send", *words],
                           capture_output=True, env=env, timeout=tb.DEADLINE)
        self.assertEqual((r.returncode, r.stderr), (0, b""))
        return r.stdout.decode().splitlines()

    def test_grain_names(self):
        with open(os.path.join(self.config_dir, "minion"), "w", encoding="utf-8") as f:
            f.write(f"id: {ID}\ngrains:\n  roles_x: [web]\n")
        c = ["-c", self.config_dir]
        self.assertEqual(self.complete([*c, "t", "with_grains", "=", "[os,roles_"],
                                       f"event-send -c {self.config_dir} t with_grains=[os,roles_"),
                         ["[os,roles_x"])
        self.assertEqual(self.complete([*c, "--with-grains", "=", "roles_"],
                                       f"event-send -c {self.config_dir} --with-grains=roles_"), ["roles_x"])
        no_equals = " \t\n\"'><;|&(:"
        self.assertEqual(self.complete([*c, "t", "with_grains=[roles_"], wordbreaks=no_equals), ["with_grains=[roles_x"])

    def test_env_names_and_words(self):
        self.assertEqual(self.complete(["t", "with_env", "=", "[TB_SEND_TEST"], "event-send t with_env=[TB_SEND_TEST"),
                         ["[TB_SEND_TEST_VAR"])
        self.assertEqual(self.complete(["--with-env", "=", "A,TB_SEND_TEST"], "event-send --with-env=A,TB_SEND_TEST"),
                         ["A,TB_SEND_TEST_VAR"])
        self.assertEqual(self.complete(["t", "data={}", ""], wordbreaks=" \t\n\"'><;|&(:"),
                         ["preload=", "with_env=", "with_grains=", "with_env_opts="])
        self.assertEqual(self.complete(["--master-s"]), ["--master-sock-dir"])


if __name__ == "__main__":
    tb.main()
