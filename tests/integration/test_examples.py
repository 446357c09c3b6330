"""libtagbus as a program outside the tree sees it: `meson install` into a temporary prefix, the
examples in libevent-core/examples compiled against the installed tagbus.pc (pkg-config, the
installed headers and libtagbus.so.0 only), then run against the real event-busd."""
import glob
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import unittest

from tb import BusTest, Proc, DEADLINE, main

BUILD = os.environ["TAGBUS_BUILD_ROOT"]
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "libevent-core", "examples")


class Installed:
    """One install and one compile per run, shared by the tests below."""
    root = None

    @classmethod
    def get(cls):
        if cls.root is None:
            cls.root = tempfile.mkdtemp(prefix="tb-inst-", dir="/tmp")
            dest = os.path.join(cls.root, "dest")
            subprocess.run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet", "--destdir", dest],
                           check=True, capture_output=True, timeout=300)
            pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "tagbus.pc"), recursive=True)
            assert len(pcs) == 1, pcs
            env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=dest, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
            flags = subprocess.run(["pkg-config", "--cflags", "--libs", "tagbus"], env=env, check=True,
                                   capture_output=True, text=True).stdout.split()
            cls.libdir = [f[2:] for f in flags if f.startswith("-L")][0]
            cls.bin = os.path.join(cls.root, "bin")
            os.mkdir(cls.bin)
            # A sanitizer build's libtagbus needs the program built with the same runtime.
            san = os.environ.get("TAGBUS_SANITIZE", "none")
            if san not in ("", "none"):
                flags = [f"-fsanitize={san}", *flags]
            for name in ("wait_auth", "job_returns", "fire", "send_grains"):
                r = subprocess.run(["c++", os.path.join(EXAMPLES, name + ".cpp"), "-o", os.path.join(cls.bin, name),
                                    "-Wall", "-Wextra", "-Werror", *flags], capture_output=True, text=True, timeout=300)
                assert r.returncode == 0, f"{name}: {shlex.join(r.args)}\n{r.stderr}"
        return cls


def tearDownModule():
    if Installed.root is not None:
        shutil.rmtree(Installed.root, ignore_errors=True)


class ExampleTest(BusTest):
    def setUp(self):
        super().setUp()
        self.inst = Installed.get()
        self.env["TAGBUS_SOCK_DIR"] = self.sock_dir
        self.env["LD_LIBRARY_PATH"] = self.inst.libdir

    def example(self, name, *args):
        p = Proc([os.path.join(self.inst.bin, name), *args], env=self.env)
        self.procs.append(p)
        return p

    def fire_until_exit(self, p, events):
        """Fires `events` (data, tag) again and again until `p` exits: a subscriber that has just
        connected may not be registered by the bus yet, and missed events are gone."""
        end = time.monotonic() + DEADLINE
        while p.p.poll() is None:
            self.assertLess(time.monotonic(), end, "the example never exited")
            for data, tag in events:
                self.fire(data, tag)
        return p.p.wait()

    def test_installed_python_module(self):
        if not glob.glob(os.path.join(BUILD, "libevent-core", "python", "tagbus", "_tagbus*.so")):
            self.skipTest("the build has no Python module (-Dpython=disabled)")
        if os.environ.get("TAGBUS_SANITIZE", "none") not in ("", "none"):
            self.skipTest("a sanitizer build's module runs in tests/python, with the runtimes preloaded")
        dest = os.path.join(self.inst.root, "dest")
        pkgs = glob.glob(os.path.join(dest, "**", "dist-packages", "tagbus"), recursive=True)
        self.assertEqual(len(pkgs), 1, pkgs)
        pkg = pkgs[0]
        for name in ("__init__.py", "__init__.pyi", "py.typed", "_event.py"):
            self.assertTrue(os.path.isfile(os.path.join(pkg, name)), name)
        self.assertTrue(glob.glob(os.path.join(pkg, "_tagbus.cpython-*.so")))
        self.assertTrue(glob.glob(os.path.join(pkg, "__pycache__", "_event.cpython-*.pyc")))  # compiled at install
        self.start_bus()
        code = ("import pydoc, tagbus\n"
                "assert tagbus.__file__.startswith(%r), tagbus.__file__\n"
                "doc = pydoc.render_doc(tagbus.MasterEvent, renderer=pydoc.plaintext)\n"
                "assert 'get_event' in doc and 'fire_event' in doc and 'aget_event' in doc\n"
                "bus = tagbus.MasterEvent(%r)\n"
                "n = 0\n"
                "while True:\n"
                "    assert bus.fire_event({'n': n}, 'installed/%%d' %% n)\n"
                "    got = bus.get_event(wait=0.2, tag='installed/', full=True)\n"
                "    if got: break\n"
                "    n += 1\n"
                "print(got['tag'].split('/')[0], sorted(got['data']))\n") % (pkg, self.sock_dir)
        env = dict(self.env, PYTHONPATH=os.path.dirname(pkg), PYTHONDONTWRITEBYTECODE="1")
        r = subprocess.run(["/usr/bin/python3", "-c", code], env=env, capture_output=True, text=True, timeout=DEADLINE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "installed ['_stamp', 'n']\n")

    def test_installed_files(self):
        dest = os.path.join(self.inst.root, "dest")
        libs = glob.glob(os.path.join(dest, "**", "libtagbus.so.0*"), recursive=True)
        self.assertTrue(any(os.path.basename(f) == "libtagbus.so.0" for f in libs), libs)
        self.assertTrue(glob.glob(os.path.join(dest, "**", "libtagbus.a"), recursive=True))
        headers = sorted(os.path.basename(f) for f in glob.glob(os.path.join(dest, "**", "include", "tagbus", "*.hpp"),
                                                                  recursive=True))
        self.assertIn("tagbus.hpp", headers)
        # Only the public API is installed: no internal header.
        self.assertNotIn("config.hpp", headers)
        soname = subprocess.run(["objdump", "-p", [f for f in libs if f.endswith(".so.0")][0]],
                                capture_output=True, text=True, check=True).stdout
        self.assertIn("SONAME               libtagbus.so.0", soname)

    def test_wait_auth(self):
        self.start_bus()
        p = self.example("wait_auth")
        self.assertEqual(p.out.readline(), b"waiting for salt/auth\n")
        code = self.fire_until_exit(p, [('{"id": "web1", "act": "accept", "result": true}', "salt/auth")])
        self.assertEqual(code, 0, p.err.read_until_eof())
        self.assertEqual(p.out.readline(), b"salt/auth id=web1 act=accept\n")

    def test_wait_auth_gives_up_after_10_s(self):
        self.start_bus()
        p = self.example("wait_auth")
        self.assertEqual(p.out.readline(), b"waiting for salt/auth\n")
        self.fire('{"x": 1}', "salt/job/1/new")  # not salt/auth: dropped, and the wait goes on
        self.assertEqual(p.wait(deadline=DEADLINE), 1)
        self.assertEqual(p.out.readline(), b"no salt/auth event within 10 s\n")

    def test_job_returns_fnmatch(self):
        self.start_bus()
        p = self.example("job_returns", "2")
        code = self.fire_until_exit(p, [('{"retcode": 0}', "salt/job/20240101/ret/web1"),
                                        ('{"retcode": 0}', "salt/job/20240101/new"),
                                        ('{"retcode": 2}', "salt/job/20240102/ret/db1")])
        self.assertEqual(code, 0, p.err.read_until_eof())
        lines = p.out.read_until_eof().decode().splitlines()
        self.assertEqual(len(lines), 2, lines)
        for line in lines:
            self.assertIn(line, ("20240101 web1 retcode=0", "20240102 db1 retcode=2"))

    def test_fire(self):
        self.start_bus()
        w = self.watch("myapp/*")
        p = self.example("fire", "myapp/batch")
        self.assertEqual(p.wait(), 0, p.err.read_until_eof())
        self.assertEqual(p.out.readline(), b"fired\n")
        line = w.out.readline()
        self.assertTrue(line.startswith(b"myapp/batch\t{"), line)
        self.assertIn(b'"status": "done", "items": 3', line)

    def test_fire_without_bus_fails_with_the_reason(self):
        p = self.example("fire")
        self.assertEqual(p.wait(), 1)
        err = p.err.read_until_eof()
        self.assertIn(b"fire: cannot connect to " + self.sock_dir.encode() + b"/master_event_pull.ipc: No such file or directory", err)

    def test_send_grains_through_the_minion_bus(self):
        # The example and the bus both take the minion id the host gives (no config: the FQDN).
        self.start_bus(node="minion", extra=["--no-forward"])
        w = self.watch("fire_master", node="minion")
        p = self.example("send_grains", "myco/deploy/done")
        self.assertEqual(p.wait(), 0, p.err.read_until_eof())
        self.assertEqual(p.out.readline(), b"sent through the minion's bus\n")
        line = w.out.readline()
        self.assertTrue(line.startswith(b'fire_master\t{"data": {"grains": {"id": "'), line)
        self.assertIn(b'"kernel": "Linux"}, "__pub_fun": "event.send"', line)
        self.assertIn(b'"app": "web"}, "tag": "myco/deploy/done", "events": null, "pretag": null', line)


if __name__ == "__main__":
    main()
