"""sock_dir squatting (issue 9, "Security"): the tools and the daemon refuse a folder another local
user controls, as tmux refuses /tmp/tmux-<uid>. Two real users: a victim who runs the tools with
the built-in default sock_dir /tmp/tagbus-<uid>/<node>, and a squatter who creates that folder
first. Needs root to create the users and to run processes as them; skipped otherwise."""
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import unittest

import tb

VICTIM, SQUATTER = "tagbus-victim", "tagbus-squat"


def ensure_user(name):
    """Creates a system user without a home or shell if missing (idempotent); returns its passwd entry."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       check=True, capture_output=True, timeout=tb.DEADLINE)
        return pwd.getpwnam(name)


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("useradd"), "needs root and useradd for two real users")
class Squatting(unittest.TestCase):
    def setUp(self):
        self.victim = ensure_user(VICTIM)
        self.squatter = ensure_user(SQUATTER)
        self.private = f"/tmp/tagbus-{self.victim.pw_uid}"
        shutil.rmtree(self.private, ignore_errors=True)
        # A config folder every user may read (an empty one: the machine's /etc/salt stays out).
        self.dir = tempfile.mkdtemp(prefix="tb-sec-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.config_dir = os.path.join(self.dir, "etc")
        os.mkdir(self.config_dir, 0o755)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"}
        self.listeners = []
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            p.stop()
        for s in self.listeners:
            s.close()
        shutil.rmtree(self.private, ignore_errors=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    def as_user(self, user, argv, input=None):
        return subprocess.run(argv, input=input, capture_output=True, env=self.env, timeout=tb.DEADLINE,
                              user=user.pw_uid, group=user.pw_gid, extra_groups=[], cwd="/")

    def squat(self, path, mode=0o777):
        """The squatter creates `path` (a folder) with `mode`."""
        r = self.as_user(self.squatter, ["/bin/sh", "-c", f'mkdir -p "$0" && chmod {mode:o} "$0"', path])
        self.assertEqual(r.returncode, 0, r.stderr)

    def trap(self, path):
        """A listener of the squatter's at `path`: what a victim would send or read there."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.listen(16)
        s.setblocking(False)
        os.chmod(path, 0o777)
        self.listeners.append(s)
        return s

    def assert_untouched(self, trap):
        with self.assertRaises(BlockingIOError):
            trap.accept()

    def victim_tools(self):
        """The victim's state-event and event-fire with every default (no --sock-dir)."""
        c = ["-c", self.config_dir]
        return {
            "state-event": self.as_user(self.victim, [tb.tool("state-event"), *c, "--timeout", "2"]),
            "event-fire": self.as_user(self.victim, [tb.tool("event-fire"), *c, "{secret: hunter2}", "t"]),
        }

    def test_a_squatted_default_folder_is_refused_by_every_tool(self):
        if os.path.isdir("/var/run/salt/master") or os.path.isdir("/var/run/salt/minion"):
            self.skipTest("Salt's own sock_dir exists here; the built-in default is not used")
        # The squatter takes the victim's default folder and waits on both default buses.
        self.squat(self.private + "/master")
        self.squat(self.private + "/minion")
        os.chmod(self.private, 0o777)
        traps = [self.trap(self.private + "/master/master_event_pub.ipc")]
        uid = self.squatter.pw_uid
        why = (f"unsafe sock_dir {self.private}: it belongs to {SQUATTER} (uid {uid}), not to you; "
               "remove it or choose another with --sock-dir\n")
        for name, r in self.victim_tools().items():
            with self.subTest(name):
                self.assertEqual((r.returncode, r.stderr.decode(), r.stdout), (78, f"{name}: {why}", b""))
        for t in traps:
            self.assert_untouched(t)
        # The daemon refuses it too.
        r = self.as_user(self.victim, [tb.tool("event-busd"), "-c", self.config_dir])
        self.assertEqual((r.returncode, r.stderr.decode()), (78, f"event-busd: {why}"))

    def test_the_default_folder_must_be_private(self):
        os.mkdir(self.private)
        os.chown(self.private, self.victim.pw_uid, self.victim.pw_gid)
        os.chmod(self.private, 0o755)
        for name, r in self.victim_tools().items():
            with self.subTest(name):
                self.assertEqual((r.returncode, r.stderr.decode(), r.stdout),
                                 (78, f"{name}: unsafe sock_dir {self.private}: its mode is 0755, not 0700; "
                                      "remove it or choose another with --sock-dir\n", b""))

    def test_the_default_folder_is_created_private(self):
        r = self.victim_tools()["state-event"]
        self.assertEqual(r.returncode, 69, r.stderr)
        st = os.lstat(self.private)
        self.assertEqual((st.st_uid, stat.S_IMODE(st.st_mode), stat.S_ISDIR(st.st_mode)),
                         (self.victim.pw_uid, 0o700, True))

    def test_a_user_is_told_where_roots_default_bus_is(self):
        if os.path.isdir("/var/run/salt/master"):
            self.skipTest("Salt's own sock_dir exists here; the built-in default is not used")
        if not os.path.isdir("/tmp/tagbus-0"):
            os.mkdir("/tmp/tagbus-0", 0o700)  # what any of root's tools would create
        r = self.as_user(self.victim, [tb.tool("state-event"), "-c", self.config_dir])
        pub = f"{self.private}/master/master_event_pub.ipc"
        self.assertEqual((r.returncode, r.stderr.decode(), r.stdout), (69,
            f"state-event: cannot connect to {pub}: No such file or directory; no bus is running there: start "
            "`event-busd --node master`, or use node=minion; a bus root started without --sock-dir is in "
            "/tmp/tagbus-0/master, which only root can reach (root can share one with `event-busd --sock-dir DIR "
            "--group GROUP`)\n", b""))

    def test_any_sock_dir_another_user_controls_is_refused(self):
        owned = os.path.join(self.dir, "owned")
        os.mkdir(owned, 0o755)
        os.chown(owned, self.squatter.pw_uid, self.squatter.pw_gid)
        open_dir = os.path.join(self.dir, "open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        sticky = os.path.join(self.dir, "sticky")
        os.mkdir(sticky)
        os.chmod(sticky, 0o1777)
        link = os.path.join(self.dir, "link")
        os.symlink(sticky, link)
        uid = self.squatter.pw_uid
        cases = [
            (owned, f"it belongs to {SQUATTER} (uid {uid}), not to you or root"),
            (open_dir, "others may write to it (mode 0777, no sticky bit)"),
            (link, "it is a symbolic link"),
        ]
        for d, why in cases:
            for name, argv in [("state-event", ["--timeout", "2"]), ("event-fire", ["{a: 1}", "t"]),
                               ("event-busd", [])]:
                with self.subTest(d=d, tool=name):
                    r = self.as_user(self.victim, [tb.tool(name), "-c", self.config_dir, "--sock-dir", d, *argv])
                    self.assertEqual((r.returncode, r.stderr.decode(), r.stdout),
                                     (78, f"{name}: unsafe sock_dir {d}: {why}; remove it or choose another "
                                          "with --sock-dir\n", b""))
        # A root-owned sticky folder like /tmp is fine: nothing listens there, so 69.
        r = self.as_user(self.victim, [tb.tool("event-fire"), "-c", self.config_dir, "--sock-dir", sticky,
                                       "{a: 1}", "t"])
        self.assertEqual(r.returncode, 69, r.stderr)


if __name__ == "__main__":
    tb.main()
