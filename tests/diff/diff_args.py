"""Differential test of Salt CLI word parsing (SALT-WIRE §6) against PyYAML.

Generates a fixed-seed corpus of command-line words, computes what Salt would make of each one
(a small reimplementation of salt.utils.yamlloader.SaltYamlSafeLoader over Debian's python3-yaml,
and of salt.utils.args.parse_kwarg / yamlify_arg), runs the probe over the same words and compares
the typed results word by word.

usage: diff_args.py PROBE
"""

import math
import random
import re
import struct
import subprocess
import sys

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, SequenceNode


class SaltLoader(yaml.SafeLoader):
    """salt.utils.yamlloader.SaltYamlSafeLoader, reduced to what the CLI path uses."""

    def construct_scalar(self, node):
        # Integers with leading zeros are decimal; u'...' strings are evaluated.
        if node.tag == "tag:yaml.org,2002:int":
            if node.value == "0":
                pass
            elif node.value.startswith("0") and not node.value.startswith(("0b", "0x")):
                node.value = node.value.lstrip("0")
                if node.value == "":
                    node.value = "0"
        elif node.tag == "tag:yaml.org,2002:str":
            if re.match(r"^u([\"\'])(.*)\1$", node.value):
                node.value = eval(node.value, {}, {})  # the corpus is our own; Salt does this too
        return super().construct_scalar(node)

    def construct_mapping(self, node, deep=False):
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, "expected a mapping node", node.start_mark)
        self.flatten_mapping(node)
        mapping = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                raise ConstructorError(None, None, "found unacceptable key", key_node.start_mark)
            value = self.construct_object(value_node, deep=deep)
            if key in mapping:
                raise ConstructorError(None, None, "found conflicting ID '{}'".format(key), key_node.start_mark)
            mapping[key] = value
        return mapping

    def flatten_mapping(self, node):
        merge = []
        index = 0
        while index < len(node.value):
            key_node, value_node = node.value[index]
            if key_node.tag == "tag:yaml.org,2002:merge":
                del node.value[index]
                if isinstance(value_node, MappingNode):
                    self.flatten_mapping(value_node)
                    merge.extend(value_node.value)
                elif isinstance(value_node, SequenceNode):
                    submerge = []
                    for subnode in value_node.value:
                        if not isinstance(subnode, MappingNode):
                            raise ConstructorError(None, None, "expected a mapping for merging", subnode.start_mark)
                        self.flatten_mapping(subnode)
                        submerge.append(subnode.value)
                    submerge.reverse()
                    for value in submerge:
                        merge.extend(value)
                else:
                    raise ConstructorError(None, None, "expected a mapping or list of mappings", value_node.start_mark)
            elif key_node.tag == "tag:yaml.org,2002:value":
                key_node.tag = "tag:yaml.org,2002:str"
                index += 1
            else:
                index += 1
        if merge:
            existing_nodes = [name_node.value for name_node, value_node in node.value]
            mergeable_items = [x for x in merge if x[0].value not in existing_nodes]
            node.value = mergeable_items + node.value


SaltLoader.add_constructor("tag:yaml.org,2002:timestamp", SaltLoader.construct_scalar)
SaltLoader.add_constructor("tag:yaml.org,2002:python/unicode", lambda loader, node: node.value)
SaltLoader.add_constructor("tag:yaml.org,2002:str", SaltLoader.construct_yaml_str)

KWARG_REGEX = re.compile(r"^([^\d\W][\w.-]*)=(?!=)(.*)$", re.UNICODE)


def salt_load(text):
    return yaml.load(text, Loader=SaltLoader)


def yamlify_arg(arg):
    """salt.utils.args.yamlify_arg, with SALT-WIRE §6's TAB/CR/LF rule."""
    if arg.strip() in ("", "---", "..."):
        return arg
    if "_" in arg and all(x in "0123456789_" for x in arg.strip()):
        return arg
    if any(c in arg for c in "\t\r\n"):
        return arg
    original_arg = arg
    try:
        if "#" in arg:
            parsed_arg = salt_load(arg)
            if isinstance(parsed_arg, str) or parsed_arg is None:
                return arg
            return parsed_arg
        if arg == "None":
            arg = None
        else:
            arg = salt_load(arg)
        if isinstance(arg, dict):
            return arg if original_arg.startswith("{") else original_arg
        if isinstance(arg, list):
            return arg if original_arg.startswith("[") else original_arg
        if arg is None or isinstance(arg, (list, float, int, str)):
            if arg == "" and original_arg in ("|", "!"):
                return original_arg
            if arg is None and original_arg.strip().startswith("#"):
                return original_arg
            if arg is None and original_arg == "!":
                return original_arg
            return arg
        return original_arg
    except Exception:  # Salt: "In case anything goes wrong..."
        return original_arg


def parse_word(word):
    m = KWARG_REGEX.match(word) if "\n" not in word else None
    if m:
        return ("kw", m.group(1), yamlify_arg(m.group(2)))
    return ("pos", None, yamlify_arg(word))


def esc(s):
    out = []
    for b in s.encode("utf-8", "surrogateescape"):
        out.append(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else "\\x%02x" % b)
    return "".join(out)


def typed(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        # Python ints beyond 64 bits reach the bus as their decimal text.
        return "int:%d" % v if -(2**63) <= v < 2**64 else 'str:"%s"' % v
    if isinstance(v, float):
        return "float:nan" if math.isnan(v) else "float:" + struct.pack(">d", v).hex()
    if isinstance(v, str):
        return 'str:"%s"' % esc(v)
    if isinstance(v, list):
        return "[" + ",".join(typed(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(typed(k) + ":" + typed(x) for k, x in v.items()) + "}"
    return "other:" + type(v).__name__


def holds_nodes(v):
    """True when Salt's result holds PyYAML node objects (!!python/unicode on a collection)."""
    if isinstance(v, (list, tuple)):
        return any(holds_nodes(x) for x in v)
    if isinstance(v, dict):
        return any(holds_nodes(k) or holds_nodes(x) for k, x in v.items())
    return isinstance(v, yaml.Node)


def reference(word):
    kind, name, value = parse_word(word)
    if holds_nodes(value):
        # The one deliberate difference: Salt would try (and fail) to publish node objects; we
        # keep the word as typed, as yamlify_arg does for every other value it cannot use.
        value = name is not None and word.split("=", 1)[1] or word
    if kind == "kw":
        return 'kw "%s" %s' % (esc(name), typed(value))
    if isinstance(value, str):
        # Step 4, salt.minion.load_args_and_kwargs: a positional still a str is parsed again, and
        # one that now splits as NAME=VALUE is that keyword, its value yamlified.
        kind2, name2, value2 = parse_word(value)
        if kind2 == "kw" and not holds_nodes(value2):
            return 'kw "%s" %s' % (esc(name2), typed(value2))
    return "pos " + typed(value)


# --- corpus -------------------------------------------------------------------------------------

TABLE = [
    "True", "true", "yes", "Yes", "on", "off", "no", "y", "n", "1", "-1", "+1", "010", "07", "00",
    "08", "09", "0x1f", "0b101", "-0x10", "0o17", "1_000", "12:30", "1:2:3", "1.5", "3.", "1e3",
    "1.0e3", "1.0e+3", ".inf", ".nan", "None", "~", "null", "none", "{a: b}", "a: b", "[1, 2]",
    "- a", "'quoted'", '"1"', "2024-05-01", "2019-01-01T00:00", "a #b", "#foo", "!!int 5",
    "!!str 5", "!!python/object:os.system x", "!!binary aGk=", "a=1", "a=b=c", "a=", "x=None",
    "x={a: 1}", "x=a: b", "foo==bar", "1a=b", "-a=b", "=x", "\u20ac=1", "\u00e9=1", "a.b-c=d",
    "", " ", "---", "...", "|", "!", "a: b # c", "1 #c", "true #x", "+010", "-010", "a\tb", "a\nb",
    "a\rb", "1\t", "[1]\n", "{a: 1}x", " {a: 1}", "[1, 2] #c", "a: b #c", "- a #c", "# x",
    "#", " #", "=", "<<", "{<<: {a: 1}, b: 2}", "{<<: [{a: 1}, {b: 2}], c: 3}",
    "{<<: [{a: 1}, {a: 2}]}", "{<<: {a: 1}, a: 2}", "{a: 1, a: 2}", "{1: a, 1.0: b}",
    "{1: a, true: b}", "{=: a}", "[=]", "{a: =}", "[<<]", "{<<: a}", "{.nan: 1, .nan: 2}",
    "u'abc'", 'u"a\\tb"', "u'x' 'y'", "[u'x']", "{u'k': 1}", "!!timestamp 2024-01-01",
    "! 5", '! "5"', "!foo x", "!!float 1", "!!bool yes", "!!bool y", "!!null x", "!!map {a: 1}",
    "!!seq [1]", "!!str", "[!!str , a]", "!!python/unicode [a] #c", "!>1", "!<tag:yaml.org,2002:int> 5", "[,]", "{,}", "[a, ]", "{a: 1, }", "&a [1, *a]",
    "[&a 1, *a]", "*a", "99999999999999999999", "-99999999999999999999", "0x1ffffffffffffffffff",
    "18446744073709551615", "18446744073709551616", "-9223372036854775808",
    "-9223372036854775809", "[99999999999999999999]", "99999999999999999999 #x",
    "{99999999999999999999: a, '99999999999999999999': b}", "1:60", "1:59:59", "-1:30",
    "190:20:30", "1:30.5", "-1:30.5", "1_0.5", "._5", "._", "0_", "00_", "0b_", "0x_", "0b",
    "0x", "+0", "-0", "-0.0", "0.", "+.5", "-.inf", "+.INF", ".Inf", ".NaN", ".NAN", "-.nan",
    "1e+999", "1e-999", "1.0e-400", "1." + "0" * 400 + "e+3", "0.0000001", "1.7976931348623157e+308",
]

NAMES = ["a", "_", "_x", "x1", "a.b", "a-b", "a.b-c", "\u00e9", "\u00e9t\u00e9", "\u4e2d",
         "\u00b2", "\u2167", "\u0661", "1a", "-a", ".a", "\u20ac", "a b", "a\u00a0", "A_Z",
         "tagmatch", "count", "x\u0301", "\U0001F600", "a\u200b", "\u03a9"]


def rand_digits(r, lo=1, hi=6, first_nonzero=False):
    n = r.randint(lo, hi)
    s = "".join(r.choice("0123456789") for _ in range(n))
    if first_nonzero:
        s = r.choice("123456789") + s[1:]
    return s


def underscored(r, s):
    if len(s) > 1 and r.random() < 0.3:
        i = r.randint(1, len(s) - 1)
        s = s[:i] + "_" * r.randint(1, 2) + s[i:]
    if r.random() < 0.05:
        s = s + "_"
    return s


def rand_number(r):
    sign = r.choice(["", "", "", "+", "-"])
    kind = r.randrange(12)
    if kind == 0:
        body = underscored(r, rand_digits(r))
    elif kind == 1:
        body = "0" + underscored(r, "".join(r.choice("01234567") for _ in range(r.randint(1, 4))))
    elif kind == 2:
        body = "0" + r.choice("bB") + underscored(r, "".join(r.choice("01") for _ in range(r.randint(0, 8))))
    elif kind == 3:
        body = "0" + r.choice("xX") + underscored(r, "".join(r.choice("0123456789abcdefABCDEFg") for _ in range(r.randint(0, 6))))
    elif kind == 4:
        body = "0o" + rand_digits(r, 1, 3)
    elif kind == 5:
        parts = [rand_digits(r, 1, 3, True)] + [rand_digits(r, 1, 2) for _ in range(r.randint(1, 3))]
        body = ":".join(parts)
    elif kind == 6:
        body = rand_digits(r, 0, 4) + "." + rand_digits(r, 0, 4)
    elif kind == 7:
        body = rand_digits(r, 1, 3) + "." + rand_digits(r, 0, 3) + r.choice("eE") + r.choice(["", "+", "-"]) + rand_digits(r, 1, 3)
    elif kind == 8:
        body = "." + rand_digits(r, 1, 3) + r.choice(["", "e+2", "E-1", "e5"])
    elif kind == 9:
        body = ":".join([rand_digits(r, 1, 2, True)] + [rand_digits(r, 1, 2) for _ in range(r.randint(1, 2))]) + "." + rand_digits(r, 0, 2)
    elif kind == 10:
        body = "." + r.choice(["inf", "Inf", "INF", "iNf", "nan", "NaN", "NAN", "nAn"])
    else:
        body = rand_digits(r, 18, 30, True)
    return sign + body


def case_variants(r, word):
    return "".join(c.upper() if r.random() < 0.5 else c.lower() for c in word)


def rand_special(r):
    w = r.choice(["yes", "no", "true", "false", "on", "off", "null", "none", "y", "n", "~", "nil"])
    return r.choice([w, w.capitalize(), w.upper(), case_variants(r, w)])


PLAIN_WORDS = ["a", "foo", "b c", "\u00e9t\u00e9", "\u4e2d\u6587", "\U0001F600", "x/y", "a-b", "a.b",
               "/path/to", "http://x", "*", "?", "@x", "%x", "`x", "a'b", 'a"b', "a!b", "a&b",
               "a*b", "-", "--", "a -b", "a\u00a0b", "a\u2028b", "a\x85b", "\u00a0", "a ", " a"]


def rand_quoted(r):
    body = r.choice(["x", "a b", "1", "yes", "a#b", "a: b", "a=b", "\u00e9", "", "#", "a''b", "null", "0x10"])
    if r.random() < 0.5:
        return "'" + body + "'"
    body = body.replace("''", "'") + r.choice(["", "\\t", "\\n", "\\x41", "\\u00e9", '\\"', "\\\\", "\\q"])
    return '"' + body + '"'


def rand_scalar(r, depth=0):
    k = r.randrange(6)
    if k == 0:
        return rand_number(r)
    if k == 1:
        return rand_special(r)
    if k == 2:
        return rand_quoted(r)
    if k == 3:
        return r.choice(PLAIN_WORDS)
    if k == 4 and depth < 3:
        return rand_flow(r, depth + 1)
    return r.choice(["a", "1", "-1", "0x1f", "1.5", "~", "True", "010"])


def rand_flow(r, depth=0):
    n = r.randint(0, 3)
    if r.random() < 0.5:
        items = [rand_scalar(r, depth) for _ in range(n)]
        return "[" + ", ".join(items) + "]"
    items = []
    for _ in range(n):
        key = r.choice([r.choice(["a", "b", "1", "k"]), rand_special(r), rand_number(r), rand_quoted(r)])
        items.append(key + ": " + rand_scalar(r, depth))
    return "{" + ", ".join(items) + "}"


NOISE = "[]{},:?#!&*'\"|>-%@ a1=_.\\"


def rand_noise(r):
    """Short strings over YAML's indicator characters: where yaml-cpp and PyYAML could differ."""
    return "".join(r.choice(NOISE) for _ in range(r.randint(1, 8)))


def rand_word(r):
    k = r.randrange(12)
    if k >= 10:
        return rand_noise(r)
    if k == 0:
        w = rand_number(r)
    elif k == 1:
        w = rand_special(r)
    elif k == 2:
        w = rand_quoted(r)
    elif k == 3:
        w = rand_flow(r)
    elif k == 4:
        w = rand_scalar(r) + r.choice([" #c", "#c", " # x: y", " #", "  # 1"])
    elif k == 5:
        w = r.choice(PLAIN_WORDS) + r.choice(["", "=", "==", ": ", " = ", "\t", " "]) + rand_scalar(r)
    elif k == 6:
        w = r.choice(["", "", " ", "  ", "\t", "\n", "\u00a0", "\u3000"]) + rand_scalar(r) + r.choice(["", "", " ", "\n", "\u2003"])
    elif k == 7:
        w = r.choice(["!!int ", "!!str ", "!!float ", "!!bool ", "!!null ", "! ", "!x ", "&a ", "!!python/unicode "]) + rand_scalar(r)
    else:
        w = rand_scalar(r)
    if r.random() < 0.25:
        w = r.choice(NAMES) + r.choice(["=", "=", "=", "==", "= "]) + w
    return w


def corpus():
    r = random.Random(20240501)
    words = list(TABLE)
    for name in NAMES:
        for val in ["1", "", "=x", "yes", "{a: 1}"]:
            words.append(name + "=" + val)
    for base in ["yes", "no", "true", "false", "on", "off", "null", "none"]:
        for i in range(2 ** len(base)):
            words.append("".join(c.upper() if i >> j & 1 else c for j, c in enumerate(base)))
    words.append("\udcff\udcfe")  # undecodable argv bytes, as Python sees them
    words.append("a=\udcc3")
    while len(words) < 6000:
        words.append(rand_word(r))
    return [w for w in words if "\0" not in w]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    words = corpus()
    data = b"".join(w.encode("utf-8", "surrogateescape") + b"\0" for w in words)
    proc = subprocess.run([sys.argv[1]], input=data, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        print("probe failed with exit code %d" % proc.returncode)
        return 1
    got = proc.stdout.decode("ascii").split("\n")[: len(words)]
    failed = []
    for i, w in enumerate(words):
        want = reference(w)
        have = got[i] if i < len(got) else "<missing>"
        if want != have:
            failed.append((w, want, have))
    for w, want, have in failed[:30]:
        print("MISMATCH %r\n  salt:  %s\n  probe: %s" % (w, want, have))
    print("args: %d passed, %d failed" % (len(words) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
