"""Messages that say how to fix it (issue 9): every error names what was wrong and what to do."""
import os
import pwd
import shutil
import stat
import subprocess
import unittest

import tb

ID_HASH = {"web01": "1f94fe445b", "db02": None}


class Messages(tb.BusTest):
    def err(self, name, *args, code):
        r = self.run_tool(name, *args)
        self.assertEqual(r.stdout, b"")
        self.assertEqual(r.returncode, code, r.stderr)
        return r.stderr.decode()

    def test_no_bus_names_the_socket_and_how_to_start_it(self):
        pub = os.path.join(self.sock_dir, "master_event_pub.ipc")
        self.assertEqual(self.err("state-event", "--sock-dir", self.sock_dir, "-c", self.config_dir, code=69),
                         f"state-event: cannot connect to {pub}: No such file or directory; no bus is running there: "
                         f"start `event-busd --node master --sock-dir {self.sock_dir}`, or use node=minion\n")
        pull = os.path.join(self.sock_dir, "minion_event_1f94fe445b_pull.ipc")
        self.assertEqual(
            self.err("event-fire", "--sock-dir", self.sock_dir, "-c", self.config_dir, "--id", "web01", "{a: 1}", "t",
                     code=69),
            f"event-fire: cannot connect to {pull}: No such file or directory; no bus is running there: "
            f"start `event-busd --node minion --sock-dir {self.sock_dir} --id web01 --no-forward`, or use node=master\n")

    def test_a_minion_id_without_sockets_lists_the_ids_found(self):
        self.start_bus("minion", extra=("--id", "web01", "--no-forward"))
        with open(os.path.join(self.config_dir, "minion_id"), "w") as f:
            f.write("db02\n")
        r = self.run_tool("event-fire", "--sock-dir", self.sock_dir, "-c", self.config_dir, "{a: 1}", "t")
        self.assertEqual(r.returncode, 69, r.stderr)
        ours = r.stderr.decode().split("minion_event_")[1].split("_pull")[0]
        self.assertEqual(
            r.stderr.decode(),
            f"event-fire: cannot connect to {self.sock_dir}/minion_event_{ours}_pull.ipc: No such file or directory; "
            f"no minion bus for id 'db02' (from {self.config_dir}/minion_id, hash {ours}) is there, but "
            f"{self.sock_dir} has the sockets of minion 1f94fe445b: give that minion's id with --id, or its "
            "config folder with -c\n")

    def test_wait_for_bus_that_never_appears(self):
        pub = os.path.join(self.sock_dir, "master_event_pub.ipc")
        self.assertEqual(
            self.err("state-event", *self.common(), "--wait-for-bus", "--timeout", "0.2", code=69),
            f"state-event: cannot connect to {pub}: the bus never appeared within 0.2 s; no bus is running there: "
            f"start `event-busd --node master --sock-dir {self.sock_dir}`, or use node=minion\n")

    def test_a_config_folder_that_does_not_exist(self):
        missing = os.path.join(self.dir, "nope")
        for name, args in [("state-event", ()), ("event-fire", ("{a: 1}", "t")), ("event-busd", ())]:
            with self.subTest(name):
                self.assertEqual(self.err(name, "--sock-dir", self.sock_dir, "-c", missing, *args, code=78),
                                 f"{name}: cannot read config folder {missing}: No such file or directory\n")

    def test_a_config_file_yaml_cpp_would_run_away_on(self):
        # Issue 9, defect 12: six bytes that cost 22 s and 1.9 GB before bad_alloc.
        with open(os.path.join(self.config_dir, "minion"), "w") as f:
            f.write("&c:a\n,")
        self.assertEqual(self.err("event-fire", "--sock-dir", self.sock_dir, "-c", self.config_dir, "{a: 1}", "t",
                                  code=78),
                         f"event-fire: invalid config file {self.config_dir}/minion: expected a mapping of options, "
                         "not a string\n")
        with open(os.path.join(self.config_dir, "minion"), "w") as f:
            f.write("- a\n,")
        self.assertEqual(self.err("event-fire", "--sock-dir", self.sock_dir, "-c", self.config_dir, "{a: 1}", "t",
                                  code=78),
                         f"event-fire: invalid YAML in {self.config_dir}/minion at line 2, column 1: expected "
                         "<block end>, but found ','\n")

    def test_command_line_mistakes_in_our_words(self):
        rows = [
            (("-t", "a", "-t", "b"), "--tagmatch given more than once (it takes one value)"),
            (("--count", "x"), "invalid --count 'x' (expected a number)"),
            (("--bogus",), "unknown option --bogus"),
            (("--timeout",), "--timeout needs a value (SECONDS)"),
            (("--", "a", "b", "--x"), None),
        ]
        for args, msg in rows:
            if msg is None:
                continue
            with self.subTest(args):
                self.assertEqual(self.err("state-event", *args, code=64),
                                 f"state-event: {msg}\nTry 'state-event --help'.\n")
        self.assertEqual(self.err("event-fire", "--timeout", "1", "--timeout", "2", code=64),
                         "event-fire: --timeout given more than once (it takes one value)\n"
                         "Try 'event-fire --help'.\n")
        self.assertEqual(self.err("event-busd", "stray", code=64),
                         "event-busd: unexpected argument stray\nTry 'event-busd --help'.\n")

    def test_no_tool_aborts_on_odd_input(self):
        """Odd words, options and config files: every outcome is a code from the table, never a
        signal (an abort is 134, where an internal error must be 70)."""
        self.start_bus()
        odd_words = ["", "-", "--", "{", "[", "&c:a\n,", "- a\n,", "!!binary x", "*a", "&a [*a]", "{a: *b}",
                     "\x00", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"), "a=" * 200, "=" * 3,
                     "{" * 600 + "}" * 600, "[" * 600, "{data: 1}", "0x" + "f" * 40, "99999999999999999999999",
                     "count=-1", "count=1e400", "timeout=-5", "node=x", "sock_dir=", "tag=" + "t" * 70000]
        configs = ["&c:a\n,", "{", "id: [1, 2]", "include: '*'", "sock_dir: {a: 1}", "hash_type: x",
                   "default_include: ../" * 5, "- " * 300, "a: " * 300]
        tools = {"state-event": ["--timeout", "0"], "event-fire": [], "event-send": ["--timeout", "0.2"]}
        words = {"state-event": [], "event-fire": ["{a: 1}", "t"], "event-send": ["t"]}
        for name, extra in tools.items():
            for w in odd_words:
                for args in ([w], [w, w], ["-t", w], ["--id", w], ["{a: 1}", w]):
                    args = [a.replace("\x00", "") for a in args]
                    r = self.run_tool(name, *self.common("master"), *extra, *args)
                    self.assertIn(r.returncode, (0, 1, 64, 65, 69, 74, 75, 78), (name, args, r.stderr[-300:]))
            for c in configs:
                for node in ("master", "minion"):
                    with open(os.path.join(self.config_dir, node), "w") as f:
                        f.write(c)
                r = self.run_tool(name, "--sock-dir", self.sock_dir, "-c", self.config_dir, *extra, *words[name])
                self.assertEqual(r.returncode, 78, (name, c, r.stderr[-300:]))
            for node in ("master", "minion"):
                os.unlink(os.path.join(self.config_dir, node))

    def test_help_states_the_default_node_and_route(self):
        for name, words in [("state-event", "master bus"), ("event-fire", "minion bus"),
                            ("event-busd", "master bus")]:
            with self.subTest(name):
                r = self.run_tool(name, "--help")
                self.assertEqual(r.returncode, 0)
                self.assertIn(f"Default: the {words}", r.stdout.decode())


VICTIM = "tagbus-victim"


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root and useradd for a second user")
class PermissionDenied(tb.BusTest):
    def test_permission_denied_shows_modes_and_the_group_remedy(self):
        try:
            user = pwd.getpwnam(VICTIM)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", VICTIM],
                           check=True, capture_output=True, timeout=tb.DEADLINE)
            user = pwd.getpwnam(VICTIM)
        os.chmod(self.dir, 0o755)
        os.chmod(self.config_dir, 0o755)
        os.mkdir(self.sock_dir, 0o755)
        self.start_bus()
        pub = os.path.join(self.sock_dir, "master_event_pub.ipc")
        r = subprocess.run([tb.tool("state-event"), *self.common()], capture_output=True, env=self.env,
                           timeout=tb.DEADLINE, user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/")
        self.assertEqual((r.returncode, r.stdout), (69, b""))
        self.assertEqual(r.stderr.decode(),
                         f"state-event: cannot connect to {pub}: Permission denied; the socket has owner root, "
                         f"group root, mode 0600, its folder {self.sock_dir} has owner root, group root, mode 0755: "
                         "the bus's owner can start it with `event-busd --group GROUP` for a group you are in\n")


if __name__ == "__main__":
    tb.main()
