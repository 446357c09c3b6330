#!/usr/bin/python3
"""Builds a self-contained man page from its scdoc source and the shared fragments.

Shared text (connection options, exit status, environment, files) is written once in
man/fragments/ and pulled into every page at build time, so the installed pages never drift
apart. A source line

    ; @include NAME [KEY=VALUE ...]

(an scdoc comment, so the source stays valid scdoc) is replaced by man/fragments/NAME.scd, in
which @KEY@ is replaced by VALUE. Everywhere, @TOOL@ is the page's name and @VERSION@ the
project version. A placeholder left unfilled, a missing fragment or an include inside a fragment
is an error, so a typo fails the build instead of reaching a reader.

The assembled text goes through scdoc(1), whose errors are reported at the line of the source or
fragment they are in, not of the assembled text. Hyphenation is then turned off after .TH (which
turns it back on): options, words and paths must survive copy and paste.

usage: assemble.py --version VERSION --fragments DIR --scdoc SCDOC SOURCE OUTPUT
"""
import argparse
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r"^;\s*@include\s+(\S+)((?:\s+\S+=\S*)*)\s*$")
# Any comment that starts like a directive: one INCLUDE does not match is a mistake, which scdoc
# would drop silently as a comment, and the fragment with it.
DIRECTIVE = re.compile(r"^;\s*@")
PLACEHOLDER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)@")
SCDOC_ERROR = re.compile(r"^Error at (\d+):(\d+): (.*)$")
SCDOC_AT = re.compile(r"\bat (\d+):(\d+)")


class AssembleError(Exception):
    pass


def substitute(text, values, where):
    def one(m):
        key = m.group(1)
        if key not in values:
            raise AssembleError(f"{where}: no value for @{key}@")
        return values[key]

    return PLACEHOLDER.sub(one, text)


def page_name(source):
    """man/event-fire.1.scd -> event-fire"""
    name = os.path.basename(source)
    name = name.removesuffix(".scd")
    return os.path.splitext(name)[0]


def assemble(source, fragments, version):
    """The page's scdoc text with the fragments pasted in, and for each of its lines the
    (file, line) it came from."""
    common = {"TOOL": page_name(source), "VERSION": version}
    out, origin = [], []
    with open(source, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for lineno, line in enumerate(lines, 1):
        where = f"{source}:{lineno}"
        m = INCLUDE.match(line)
        if not m and DIRECTIVE.match(line):
            raise AssembleError(f"{where}: not an include line: {line.strip()!r} "
                                "(write '; @include NAME KEY=VALUE ...', each value without spaces)")
        if not m:
            out.append(substitute(line, common, where))
            origin.append((source, lineno))
            continue
        name = m.group(1)
        values = dict(common)
        for pair in m.group(2).split():
            key, _, value = pair.partition("=")
            values[key] = value
        path = os.path.join(fragments, name + ".scd")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise AssembleError(f"{where}: cannot read fragment {path}: {e.strerror}") from None
        for flineno, fline in enumerate(text.splitlines(), 1):
            fwhere = f"{path}:{flineno}"
            if DIRECTIVE.match(fline):
                raise AssembleError(f"{fwhere}: fragments cannot include fragments")
            out.append(substitute(fline, values, fwhere))
            origin.append((path, flineno))
    return "\n".join(out) + "\n", origin


def at(m, origin):
    """scdoc's "at LINE:COLUMN" of the assembled text, as the source file and line."""
    n = int(m.group(1))
    if not 1 <= n <= len(origin):
        return m.group(0)
    path, line = origin[n - 1]
    return f"at {path}:{line}:{m.group(2)}"


ESCAPE = re.compile(r"""\\(?:[hvwlLNDoXbZ]'[^']*'|f(?:\[[^]]*\]|\(..|.)|\(..|\[[^]]*\]|.)""")


def minus(line):
    """A text line of scdoc's output with each hyphen written as \\-: a minus, which groff never
    breaks a line after, so --sock-dir or event-busd is not split at the end of a line, and which
    renders as the ASCII character a reader can copy into a shell."""
    out, pos = [], 0
    for m in ESCAPE.finditer(line):
        out.append(line[pos:m.start()].replace("-", "\\-"))
        out.append(m.group(0))
        pos = m.end()
    out.append(line[pos:].replace("-", "\\-"))
    return "".join(out)


def render(scdoc, text, origin):
    r = subprocess.run([scdoc], input=text.encode(), capture_output=True)
    if r.returncode != 0:
        msg = r.stderr.decode(errors="replace").strip()
        m = SCDOC_ERROR.match(msg.splitlines()[0] if msg else "")
        if m and 1 <= int(m.group(1)) <= len(origin):
            path, line = origin[int(m.group(1)) - 1]
            msg = f"{path}:{line}:{m.group(2)}: " + SCDOC_AT.sub(lambda a: at(a, origin), m.group(3))
        raise AssembleError(f"scdoc: {msg or 'failed with status %d' % r.returncode}")
    roff = r.stdout.decode()
    lines = [line if line.startswith((".", "'")) else minus(line) for line in roff.splitlines()]
    for k, line in enumerate(lines):
        if line.startswith(".TH "):
            lines[k + 1:k + 1] = [".nr HY 0", ".nh"]
            break
    else:
        raise AssembleError("scdoc wrote no .TH line")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="Assemble a man page from its source and fragments.")
    ap.add_argument("--version", required=True)
    ap.add_argument("--fragments", required=True)
    ap.add_argument("--scdoc", required=True)
    ap.add_argument("source")
    ap.add_argument("output")
    a = ap.parse_args()
    try:
        text, origin = assemble(a.source, a.fragments, a.version)
        roff = render(a.scdoc, text, origin)
    except (AssembleError, OSError) as e:
        print(f"assemble.py: {e}", file=sys.stderr)
        return 1
    # Written whole, then renamed: an interrupted build never leaves half a page behind.
    tmp = a.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(roff)
    os.replace(tmp, a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
