#!/usr/bin/python3
"""Builds a self-contained man page from one page source and the shared fragments.

Shared text (connection options, exit status, environment, files) is written once in
man/fragments/ and pulled into every page at build time, so the installed pages never drift
apart. A source line

    .\\" @include NAME [KEY=VALUE ...]

is replaced by man/fragments/NAME.man, in which @KEY@ is replaced by VALUE. Everywhere, @TOOL@
is the page's name and @VERSION@ the project version. A placeholder left unfilled, a missing
fragment or an include inside a fragment is an error, so a typo fails the build instead of
reaching a reader.

usage: assemble.py --version VERSION --fragments DIR SOURCE OUTPUT
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\.\\"\s*@include\s+(\S+)((?:\s+\S+=\S*)*)\s*$')
PLACEHOLDER = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)@")


class AssembleError(Exception):
    pass


def substitute(text, values, where):
    def one(m):
        key = m.group(1)
        if key not in values:
            raise AssembleError(f"{where}: no value for @{key}@")
        return values[key]

    return PLACEHOLDER.sub(one, text)


def assemble(source, fragments, version):
    tool = os.path.splitext(os.path.basename(source))[0]
    common = {"TOOL": tool, "VERSION": version}
    out = []
    with open(source, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for lineno, line in enumerate(lines, 1):
        where = f"{source}:{lineno}"
        m = INCLUDE.match(line)
        if not m:
            out.append(substitute(line, common, where))
            continue
        name = m.group(1)
        values = dict(common)
        for pair in m.group(2).split():
            key, _, value = pair.partition("=")
            values[key] = value
        path = os.path.join(fragments, name + ".man")
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError as e:
            raise AssembleError(f"{where}: cannot read fragment {path}: {e.strerror}") from None
        out.append(f'.\\" ---- from fragments/{name}.man')
        for flineno, fline in enumerate(text.splitlines(), 1):
            fwhere = f"{path}:{flineno}"
            if INCLUDE.match(fline):
                raise AssembleError(f"{fwhere}: fragments cannot include fragments")
            out.append(substitute(fline, values, fwhere))
        out.append(f'.\\" ---- end of fragments/{name}.man')
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description="Assemble a man page from its source and fragments.")
    ap.add_argument("--version", required=True)
    ap.add_argument("--fragments", required=True)
    ap.add_argument("source")
    ap.add_argument("output")
    a = ap.parse_args()
    try:
        text = assemble(a.source, a.fragments, a.version)
    except (AssembleError, OSError) as e:
        print(f"assemble.py: {e}", file=sys.stderr)
        return 1
    # Written whole, then renamed: an interrupted build never leaves half a page behind.
    tmp = a.output + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
