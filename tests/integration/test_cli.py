"""The command-line contract of every binary (STYLE.md "Tests: CLI contract"): --help on stdout
within 80 columns, --version, the usage error for an unknown option, and every long option that
--help lists documented in the man page and completed by bash and zsh. Also: the man pages
render without groff warnings, the completion files parse, and bash completion answers.

No bus is needed: nothing here opens a socket.
"""
import json
import os
import re
import subprocess
import tempfile
import unittest

import tb
from tb import tool

TOOLS = ["state-event", "event-fire", "event-send", "event-busd", "event-bridge"]
if os.path.exists(tool("event-api")):  # an optional build (-Devent_api); dev.sh enables it
    TOOLS.append("event-api")
# Each program's man page: section 1 (user commands), but event-api's and event-bridge's, services
# an administrator sets up, are in section 8.
MAN_PAGE = {t: t + ".1" for t in TOOLS} | {"event-api": "event-api.8", "event-bridge": "event-bridge.8"}
# A tool with directions: each has its own --help, and the tool's options are all of theirs.
SUBCOMMANDS = {"event-bridge": ["out", "in"]}
PAGES = [MAN_PAGE[t] for t in TOOLS] + ["tagbus.7", "tagbus-python.7", "libtagbus.3"]

SRC = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BUILD = os.path.dirname(os.path.normpath(os.path.abspath(tb.BIN)))
MAN = os.path.join(BUILD, "man")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"

# A long option as a whole token: "--sock-dir" but not the "--sock" in it, nor "x--y".
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])")


def env():
    """The tools' environment without anything of the caller's that could change their output."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("TAGBUS_")}
    e["NO_COLOR"] = "1"
    e["LC_ALL"] = "C.UTF-8"
    return e


def run(argv, deadline=tb.DEADLINE, **kw):
    return subprocess.run(argv, capture_output=True, env=kw.pop("env", env()), timeout=deadline, **kw)


def project_version():
    """The version the build was configured with (meson writes it into tagbus_version.h)."""
    with open(os.path.join(BUILD, "tagbus_version.h"), encoding="utf-8") as f:
        m = re.search(r'#define\s+TAGBUS_VERSION\s+"([^"]+)"', f.read())
    assert m, "TAGBUS_VERSION not found in tagbus_version.h"
    return m.group(1)


def man_text(page):
    """The built page's roff (scdoc's output) with the escapes that can split an option removed."""
    with open(os.path.join(MAN, page), encoding="utf-8") as f:
        text = f.read()
    text = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", text)  # font changes: \fB, \fI, \fP, \f[CR]
    return text.replace("\\-", "-").replace("\\%", "").replace("\\&", "")


def man_rendered(page):
    """The page as man shows it, on a terminal wide enough that no example wraps."""
    e = env()
    e["MANWIDTH"] = "200"
    r = run(["man", "-E", "UTF-8", "-l", os.path.join(MAN, page)], env=e)
    assert r.returncode == 0, r.stderr
    return r.stdout.decode("utf-8")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def bash_file(t):
    return os.path.join(SRC, "completions", "bash", t)


def zsh_file(t):
    return os.path.join(SRC, "completions", "zsh", "_" + t)


class Help(unittest.TestCase):
    def help(self, t, sub=()):
        r = run([tool(t), *sub, "--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        return r.stdout.decode("utf-8")

    def long_options(self, t):
        opts = set(LONG_OPTION.findall(self.help(t)))
        for sub in SUBCOMMANDS.get(t, []):
            opts |= set(LONG_OPTION.findall(self.help(t, [sub])))
        self.assertTrue({"--help", "--version"} <= opts, opts)
        return opts

    def test_help_on_stdout_within_80_columns(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                out = self.help(t)
                self.assertTrue(out.startswith(t) or "Usage: " + t in out, out)
                wide = [line for line in out.splitlines() if len(line) > 80]
                self.assertEqual(wide, [], f"{t} --help lines over 80 columns")
                for sub in SUBCOMMANDS.get(t, []):
                    out = self.help(t, [sub])
                    self.assertIn("Usage: %s %s" % (t, sub), out)
                    wide = [line for line in out.splitlines() if len(line) > 80]
                    self.assertEqual(wide, [], f"{t} {sub} --help lines over 80 columns")

    def test_short_help_is_help(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                r = run([tool(t), "-h"])
                self.assertEqual((r.returncode, r.stderr), (0, b""))
                self.assertEqual(r.stdout.decode("utf-8"), self.help(t))
                for sub in SUBCOMMANDS.get(t, []):
                    r = run([tool(t), sub, "-h"])
                    self.assertEqual((r.returncode, r.stderr), (0, b""))
                    self.assertEqual(r.stdout.decode("utf-8"), self.help(t, [sub]))

    def test_version(self):
        version = project_version()
        for t in TOOLS:
            with self.subTest(tool=t):
                r = run([tool(t), "--version"])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout, f"{t} (tagbus) {version}\n".encode())
                self.assertEqual(r.stderr, b"")

    def test_unknown_option_is_a_usage_error(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                r = run([tool(t), "--bogus"])
                self.assertEqual(r.returncode, 64)
                self.assertEqual(r.stdout, b"")
                self.assertEqual(r.stderr, (f"{t}: unknown option --bogus\n"
                                            f"Try '{t} --help'.\n").encode())

    def test_every_long_option_is_in_the_man_page(self):
        for t in TOOLS:
            documented = set(LONG_OPTION.findall(man_text(MAN_PAGE[t])))
            for opt in sorted(self.long_options(t)):
                with self.subTest(tool=t, option=opt):
                    self.assertIn(opt, documented, f"{opt} is not in man/{MAN_PAGE[t]} (assembled)")

    def test_every_long_option_is_completed(self):
        for t in TOOLS:
            for path in (bash_file(t), zsh_file(t)):
                completed = set(LONG_OPTION.findall(read(path)))
                for opt in sorted(self.long_options(t)):
                    with self.subTest(file=path, option=opt):
                        self.assertIn(opt, completed)

    def test_completions_offer_no_option_the_tool_lacks(self):
        for t in TOOLS:
            known = self.long_options(t)
            for path in (bash_file(t), zsh_file(t)):
                with self.subTest(file=path):
                    self.assertEqual(set(LONG_OPTION.findall(read(path))) - known, set())


class ManPages(unittest.TestCase):
    def test_pages_render_without_warnings(self):
        e = env()
        e["MANWIDTH"] = "80"
        e.pop("MANPAGER", None)
        e.pop("PAGER", None)
        for page in PAGES:
            with self.subTest(page=page):
                r = run(["man", "--warnings", "-E", "UTF-8", "-l", os.path.join(MAN, page)], env=e)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr.decode(), "")
                out = r.stdout.decode("utf-8")
                self.assertIn("NAME", out)
                wide = [line for line in out.splitlines() if len(line) > 80]
                self.assertEqual(wide, [], f"{page}: rendered lines over 80 columns")
                # Every groff warning, not only man's default set.
                r = run(["groff", "-man", "-ww", "-z", "-Tutf8", os.path.join(MAN, page)])
                self.assertEqual((r.returncode, r.stderr.decode()), (0, ""))

    def test_every_program_page_has_the_sections_a_reader_looks_for(self):
        for t in TOOLS:
            with self.subTest(page=MAN_PAGE[t]):
                sections = re.findall(r'(?m)^\.SH\s+"?([^"\n]+)"?\s*$', read(os.path.join(MAN, MAN_PAGE[t])))
                for want in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXAMPLES", "EXIT STATUS", "SEE ALSO"):
                    self.assertIn(want, sections)

    def test_pages_are_self_contained(self):
        for page in PAGES:
            with self.subTest(page=page):
                text = read(os.path.join(MAN, page))
                # (An include line assemble.py does not take fails the build: ManSources.)
                left = re.findall(r'(?m)@[A-Za-z_]+@|^\.so\b.*$', text)
                self.assertEqual(left, [], "placeholders not filled, or a page that sources another")
                # A program's page says how it exits; a library's page (C++ or Python) what its calls return.
                api = page.endswith(".3") or page == "tagbus-python.7"
                sections = re.findall(r'(?m)^\.SH\s+"?([^"\n]+)"?\s*$', text)
                self.assertIn("RETURN VALUE" if api else "EXIT STATUS", sections)

    def test_tool_pages_have_what_scripts_need(self):
        for t in ["state-event", "event-fire"]:
            with self.subTest(page=t):
                text = man_text(t + ".1")
                for section in ("SALT WORDS", "DIFFERENCES FROM SALT", "EXAMPLES", "ENVIRONMENT",
                                "SOCKET DIRECTORY"):
                    self.assertIn(section, text)
        # The recipes as a reader sees them, to copy into a shell.
        text = man_rendered("state-event.1")
        self.assertIn("state-event 'salt/minion/*/start' count=1 quiet=True --timeout 60 &&", text)
        self.assertIn("while IFS=$'\\t' read -r tag data; do", text)
        self.assertIn("event-fire --lines", text)


class ManSources(unittest.TestCase):
    """man/assemble.py, which pastes the fragments into a page and runs scdoc: a mistake fails the
    build with the file and line it is in, not a line of the assembled text."""

    def assemble(self, d, page, fragments):
        os.mkdir(os.path.join(d, "fragments"))
        for name, text in fragments.items():
            with open(os.path.join(d, "fragments", name + ".scd"), "w", encoding="utf-8") as f:
                f.write(text)
        with open(os.path.join(d, "x.1.scd"), "w", encoding="utf-8") as f:
            f.write(page)
        return run(["/usr/bin/python3", os.path.join(SRC, "man", "assemble.py"), "--version", "9.9",
                    "--fragments", os.path.join(d, "fragments"), "--scdoc", "scdoc",
                    os.path.join(d, "x.1.scd"), os.path.join(d, "x.1")])

    PAGE = 'x(1) "tagbus @VERSION@"\n\n# NAME\n\nx - a page\n\n; @include opts DEFAULT=master\n\n# SEE ALSO\n\nnone\n'

    def test_fragment_is_pasted_with_its_values(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.assemble(d, self.PAGE, {"opts": "# OPTIONS\n\n*--node* _NODE_\n\tDefault: *@DEFAULT@* for @TOOL@.\n"})
            self.assertEqual((r.returncode, r.stderr), (0, b""))
            roff = read(os.path.join(d, "x.1"))
            self.assertIn(".SH OPTIONS", roff)
            self.assertIn("Default: \\fBmaster\\fR for x.", roff)
            self.assertIn('"tagbus 9.9"', roff)
            # words are not hyphenated, and a hyphen is a minus that no line is broken after
            self.assertIn("\\fB\\-\\-node\\fR", roff)
            self.assertRegex(roff, r'(?m)^\.TH .*\n\.nr HY 0\n\.nh$')

    def test_scdoc_error_names_the_fragment_and_line(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.assemble(d, self.PAGE, {"opts": "# OPTIONS\n\nfine\n\n*unclosed bold\n\nnext\n"})
            self.assertEqual(r.returncode, 1)
            err = r.stderr.decode()
            self.assertIn(os.path.join(d, "fragments", "opts.scd") + ":5:", err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertFalse(os.path.exists(os.path.join(d, "x.1")))

    def test_unfilled_placeholder_and_missing_fragment_fail(self):
        with tempfile.TemporaryDirectory() as d:
            r = self.assemble(d, self.PAGE, {"opts": "*--node*\n\tDefault: @DEFALT@\n"})
            self.assertEqual(r.returncode, 1)
            self.assertIn("opts.scd:2: no value for @DEFALT@", r.stderr.decode())
        with tempfile.TemporaryDirectory() as d:
            r = self.assemble(d, self.PAGE, {})
            self.assertEqual(r.returncode, 1)
            self.assertIn("x.1.scd:7: cannot read fragment", r.stderr.decode())

    def test_a_mistyped_include_line_fails_instead_of_vanishing(self):
        # scdoc would drop either line as a comment, and the fragment with it.
        for line in ("; @includ opts", "; @include opts DEFAULT = master"):
            with self.subTest(line=line), tempfile.TemporaryDirectory() as d:
                r = self.assemble(d, self.PAGE.replace("; @include opts DEFAULT=master", line), {"opts": "# OPTIONS\n"})
                self.assertEqual(r.returncode, 1)
                self.assertIn(f"x.1.scd:7: not an include line: {line!r}", r.stderr.decode())
                self.assertFalse(os.path.exists(os.path.join(d, "x.1")))


class Completions(unittest.TestCase):
    def test_bash_files_parse(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                r = run(["bash", "-n", bash_file(t)])
                self.assertEqual((r.returncode, r.stderr), (0, b""))

    def test_zsh_files_parse(self):
        for t in TOOLS:
            with self.subTest(tool=t):
                r = run(["zsh", "-n", zsh_file(t)])
                self.assertEqual((r.returncode, r.stderr), (0, b""))

    # Loads bash-completion and one file, sets COMP_* as bash does for a command line, runs the
    # completion function the file registered and prints COMPREPLY, one item a line.
    # compopt only works inside a completion started by readline, so it is a no-op here.
    COMPLETE = r"""
source "$1" || exit 90
source "$2" || exit 91
compopt() { :; }
[ -n "$3" ] && COMP_WORDBREAKS=$3
COMP_LINE=$4
COMP_POINT=${#COMP_LINE}
shift 4
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
spec=$(complete -p "$1") || exit 92
fn=${spec##*-F }
fn=${fn%% *}
"$fn" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""

    def complete(self, t, words, wordbreaks="", line=None):
        """COMPREPLY for `words`, split as readline splits them (the last is being completed);
        `line` is the command line when it is not the words joined by spaces."""
        if line is None:
            line = " ".join([t, *words])
        # The tools on PATH, as installed: event-send's completion asks `event-send --list-grains`.
        e = env()
        e["PATH"] = os.path.dirname(tool(t)) + os.pathsep + e.get("PATH", "/usr/bin:/bin")
        r = run(["bash", "-c", self.COMPLETE, "bash", BASH_COMPLETION, bash_file(t), wordbreaks, line, t,
                 *words], env=e)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        return r.stdout.decode().splitlines()

    def test_long_option(self):
        self.assertIn("--node", self.complete("state-event", ["--no"]))
        self.assertEqual(self.complete("state-event", ["--json"]), ["--json-lines"])
        self.assertIn("--framing", self.complete("event-fire", ["--fr"]))
        self.assertIn("--pidfile", self.complete("event-busd", ["--pid"]))
        self.assertEqual(self.complete("event-api", ["--salt"]), ["--salt-token-dir"])
        self.assertEqual(self.complete("event-api", ["-"]).count("-c"), 1)
        self.assertEqual(self.complete("state-event", ["--tls-c"]), ["--tls-ca", "--tls-cert"])

    def test_event_bridge_directions(self):
        self.assertEqual(self.complete("event-bridge", ["o"]), ["out"])
        self.assertEqual(self.complete("event-bridge", ["out", "--sp"]), ["--spool", "--spool-max"])
        self.assertEqual(self.complete("event-bridge", ["in", "--du"]), ["--durable"])
        self.assertNotIn("--durable", self.complete("event-bridge", ["out", "--"]))
        self.assertNotIn("--spool", self.complete("event-bridge", ["in", "--"]))
        self.assertEqual(self.complete("event-bridge", ["out", "--format", "j"]), ["json"])
        self.assertEqual(self.complete("event-bridge", ["in", "node=m"], wordbreaks=" "), ["node=master", "node=minion"])

    def test_salt_word_value(self):
        # Readline's default COMP_WORDBREAKS holds '=', so for `state-event node=` bash sets
        # COMP_WORDS=(state-event node =), COMP_CWORD=2 (checked in an interactive bash). Readline
        # then replaces only the text after '=', so the reply "master" makes the word node=master.
        reply = self.complete("state-event", ["node", "="], line="state-event node=")
        self.assertIn("master", reply)
        self.assertIn("node=master", ["node=" + c for c in reply])
        self.assertEqual(self.complete("state-event", ["node", "=", "ma"], line="state-event node=ma"),
                         ["master"])
        self.assertEqual(self.complete("event-fire", ["{}", "t", "node", "=", "mi"],
                                       line="event-fire {} t node=mi"), ["minion"])
        # Without '=' among the word breaks the whole word is replaced: the reply carries the key.
        no_equals = " \t\n\"'><;|&(:"
        self.assertIn("node=master", self.complete("state-event", ["node="], no_equals))
        self.assertEqual(self.complete("state-event", ["quiet=T"], no_equals), ["quiet=True"])

    def test_salt_words_offered(self):
        reply = self.complete("state-event", ["count=1", ""], " \t\n\"'><;|&(:")
        self.assertEqual(sorted(reply), ["node=", "pretty=", "quiet=", "sock_dir="])

    def test_grain_names_and_sock_dir_paths(self):
        grains = sorted(k for k in json.loads(run([tool("event-send"), "--list-grains"]).stdout) if k.startswith("os"))
        self.assertIn("os", grains)
        no_equals = " \t\n\"'><;|&(:"
        self.assertEqual(sorted(self.complete("event-send", ["t", "{}", "with_grains=[o"], no_equals)),
                         ["with_grains=[" + g for g in grains])
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "socks"))
            open(os.path.join(d, "some-file"), "w").close()
            self.assertEqual(self.complete("state-event", ["--sock-dir", d + "/so"]), [d + "/socks"])
            self.assertEqual(self.complete("state-event", ["sock_dir=" + d + "/so"], no_equals),
                             ["sock_dir=" + d + "/socks"])

    def test_option_values(self):
        self.assertEqual(self.complete("state-event", ["--color", "a"]), ["auto", "always"])
        self.assertEqual(self.complete("state-event", ["--color", "=", "a"], line="state-event --color=a"),
                         ["auto", "always"])
        self.assertEqual(self.complete("state-event", ["--node", ""]), ["master", "minion"])
        self.assertEqual(self.complete("event-fire", ["--framing", "p"]), ["prefixed"])
        self.assertEqual(self.complete("event-busd", ["--ipc-mode", "t"]), ["tcp"])
        self.assertIn("root", self.complete("event-busd", ["--group", "roo"]))
        self.assertEqual(self.complete("event-api", ["--node", "mi"]), ["minion"])
        self.assertEqual(self.complete("event-api", ["--ipc-mode", "i"]), ["ipc"])
        self.assertIn("0.0.0.0", self.complete("event-api", ["--host", "0"]))


class ZshCompletion(unittest.TestCase):
    """The zsh completion functions in a real interactive zsh: tests/integration/zsh_complete.zsh
    types each line and a TAB into zsh in a pseudo-terminal (zpty) and reports what was offered."""

    def offered(self, *lines, cwd=None):
        r = run(["zsh", "-f", os.path.join(os.path.dirname(os.path.abspath(__file__)), "zsh_complete.zsh"),
                 os.path.join(SRC, "completions", "zsh"), os.path.dirname(tool("state-event")), *lines], cwd=cwd)
        self.assertEqual(r.returncode, 0, r.stderr)
        got, current = {}, None
        for line in r.stdout.decode().splitlines():
            if line.startswith("== "):
                current = line[3:]
                got[current] = []
            else:
                got[current].append(line)
        self.assertEqual(list(got), list(lines))
        return got

    def test_every_long_option_is_offered(self):
        lines = []
        for t in TOOLS:
            lines += [f"{t} {sub} --" for sub in SUBCOMMANDS[t]] if t in SUBCOMMANDS else [f"{t} --"]
        got = self.offered(*lines)
        for line in lines:
            with self.subTest(line=line):
                argv = line.split()[:-1]
                want = set(LONG_OPTION.findall(run([tool(argv[0]), *argv[1:], "--help"]).stdout.decode()))
                self.assertTrue(want, line)
                self.assertEqual(want - set(got[line]), set())

    def test_each_tool(self):
        got = self.offered("state-event --no", "state-event node=m", "state-event pretty=", "event-fire --fr",
                           "event-fire {} t node=mi", "event-send --list", "event-busd --ipc-mode t",
                           "event-busd --pid", "event-bridge o", "event-bridge out --sp", "event-bridge in --du",
                           "event-bridge out --format j", *(["event-api --salt"] if "event-api" in TOOLS else []))
        self.assertIn("--node", got["state-event --no"])
        self.assertEqual(got["state-event node=m"], ["master", "minion"])
        self.assertEqual(got["state-event pretty="], ["False", "True"])
        self.assertIn("--framing", got["event-fire --fr"])
        self.assertEqual(got["event-fire {} t node=mi"], ["minion"])
        self.assertEqual(got["event-send --list"], ["--list-grains"])
        self.assertEqual(got["event-busd --ipc-mode t"], ["tcp"])
        self.assertEqual(got["event-busd --pid"], ["--pidfile"])
        self.assertEqual(got["event-bridge o"], ["out"])
        self.assertEqual(got["event-bridge out --sp"], ["--spool", "--spool-max"])
        self.assertEqual(got["event-bridge in --du"], ["--durable"])
        self.assertEqual(got["event-bridge out --format j"], ["json"])
        if "event-api" in TOOLS:
            self.assertEqual(got["event-api --salt"], ["--salt-token-dir"])

    def test_grain_names_and_sock_dir_paths(self):
        grains = sorted(k for k in json.loads(run([tool("event-send"), "--list-grains"]).stdout) if k.startswith("os"))
        self.assertIn("os", grains)
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "socks"))
            open(os.path.join(d, "some-file"), "w").close()
            # zsh reads an unquoted [ as a glob, so a zsh user quotes the list.
            got = self.offered("event-send t {} 'with_grains=[o", "event-send t {} 'with_grains=[os,i",
                               "state-event --sock-dir so", "state-event sock_dir=so", cwd=d)
            self.assertEqual(got["event-send t {} 'with_grains=[o"], grains)
            self.assertEqual(got["event-send t {} 'with_grains=[os,i"],
                             sorted(k for k in json.loads(run([tool("event-send"), "--list-grains"]).stdout)
                                    if k.startswith("i")))
            self.assertEqual(got["state-event --sock-dir so"], ["socks"])
            self.assertEqual(got["state-event sock_dir=so"], ["socks"])


if __name__ == "__main__":
    tb.main()
