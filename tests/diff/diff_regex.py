#!/usr/bin/python3
"""Differential test of tag regexes (SALT-WIRE §7) against Python 3.11's re and fnmatch.

A fixed-seed corpus of patterns is built from Python's regex constructs and from other engines'
constructs that Python lacks, some well-formed and some broken. For each pattern and a handful of
sample tags the reference is Salt's own code: expr_match (fnmatch OR re.match(r"\\A" + expr +
r"\\Z"), an invalid regex ignored) and get_event's regex match (re.compile("^" + expr).search).
The probe must agree on validity and on every match.

Not compared (documented in match.hpp): \\N{NAME} escapes and repeat counts above 65535.

usage: diff_regex.py PROBE
"""

import fnmatch
import random
import re
import subprocess
import sys
import warnings

SEED = 20240501
PATTERNS = 4000

warnings.simplefilter("ignore")  # FutureWarning for "[[" and the like: still valid

ATOMS = ["a", "b", "A", "/", "-", ".", "é", "É", "1", "9", "_", " ", "\\n", "x", "\\.", "\\/", "\\-",
         "\\d", "\\D", "\\w", "\\W", "\\s", "\\S", "\\b", "\\B", "\\A", "\\Z", "^", "$",
         "\\x41", "\\x4", "\\u00e9", "\\U0001f600", "\\101", "\\0", "\\07", "\\400", "\\1", "\\2", "\\12",
         "\\v", "\\a", "\\t", "\\\\", "\\K", "\\Q", "\\E", "\\z", "\\G", "\\h", "\\p{L}", "\\e", "\\c",
         "[ab]", "[^a]", "[a-z]", "[z-a]", "[\\d-]", "[\\d-z]", "[]a]", "[^]]", "[[:alpha:]]", "[a-]",
         "[\\s]", "[\\S]", "[\\w/]", "[\\b]", "[\\A]", "[é-ë]", "[", "]", "{", "}", "(*FAIL)", "(?R)",
         "(?1)", "\\ud800", "[\\ud800]", "[^\\ud800]", "\\x1c", "#"]
QUANTS = ["*", "+", "?", "*?", "+?", "??", "*+", "++", "?+", "{2}", "{1,3}", "{,2}", "{2,}", "{,}", "{}",
          "{3,1}", "{1,3}?", "{1,3}+", "**", "{", "{1"]
OPENERS = ["(", "(?:", "(?P<n>", "(?P<m>", "(?<n>", "(?'n'", "(?=", "(?!", "(?<=", "(?<!", "(?>",
           "(?i:", "(?x:", "(?a:", "(?s:", "(?m:", "(?-i:", "(?i-s:", "(?u:", "(?au:", "(?L:", "(?t:",
           "(?|", "(?#c"]
SPECIALS = ["(?P=n)", "(?P=m)", "(?(1)a|b)", "(?(n)a)", "(?(2)x|y|z)", "(?i)", "(?x)", "(?#comment)", "|"]
TAG_CHARS = ["a", "b", "A", "B", "/", "-", ".", "é", "É", "1", "9", "_", " ", "\n", "x", "\x1c", "\x0b", "\x07",
             "\\", "Z", "ë", "[", "]", ":", "{", "}", "aa", "ab", "myco/", "salt/job/"]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def seq(self, depth):
        r = self.r
        out = []
        for _ in range(r.randint(0, 4)):
            k = r.random()
            if k < 0.55:
                out.append(r.choice(ATOMS))
            elif k < 0.75 and depth < 3:
                closer = "" if r.random() < 0.04 else ")"
                out.append(r.choice(OPENERS) + self.alt(depth + 1) + closer)
            elif k < 0.85:
                out.append(r.choice(SPECIALS))
            else:
                out.append(r.choice(ATOMS) * r.randint(1, 3))
            if r.random() < 0.3:
                out.append(r.choice(QUANTS))
        return "".join(out)

    def alt(self, depth):
        parts = [self.seq(depth) for _ in range(1 if self.r.random() < 0.7 else self.r.randint(2, 3))]
        return "|".join(parts)

    def tag(self):
        return "".join(self.r.choice(TAG_CHARS) for _ in range(self.r.randint(0, 6)))


def compiles(pattern):
    try:
        return re.compile(pattern)
    except (re.error, OverflowError, ValueError):
        return None


def reference(expr, tags):
    full = compiles(r"\A" + expr + r"\Z")
    salt = ("V" if full else "I") + "".join(
        "1" if fnmatch.fnmatchcase(t, expr) or (full is not None and full.match(t)) else "0" for t in tags)
    caret = compiles("^" + expr)
    get_event = ("V" if caret else "I") + "".join(
        "1" if caret is not None and caret.search(t) else "0" for t in tags)
    return salt + " " + get_event


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    gen = Gen(SEED)
    cases = []
    while len(cases) < PATTERNS:
        expr = gen.alt(0)
        if "\\N" in expr or "\x00" in expr or "\x01" in expr:
            continue
        tags = [gen.tag() for _ in range(6)]
        # A few tags that a valid pattern is likely to match: the pattern's own text and a sample
        # of the characters it names.
        tags += [expr, expr.replace("\\", "")]
        cases.append((expr, tags))
    data = b"\0".join("\x01".join([e] + t).encode("utf-8", "surrogatepass") for e, t in cases)
    proc = subprocess.run([sys.argv[1]], input=data, capture_output=True, timeout=240)
    if proc.returncode != 0:
        sys.exit("probe exited %d: %s" % (proc.returncode, proc.stderr.decode(errors="replace")))
    got = proc.stdout.decode().split("\n")
    failures = []
    valid = 0
    for n, (expr, tags) in enumerate(cases):
        want = reference(expr, tags)
        valid += want[0] == "V"
        if got[n] != want:
            failures.append("pattern %r tags %r: want %s got %s" % (expr, tags, want, got[n]))
    print("regex: %d patterns (%d valid for Python), %d failed" % (len(cases), valid, len(failures)))
    for f in failures[:40]:
        print(f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
