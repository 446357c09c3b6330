#!/usr/bin/python3
"""Differential test of render_json and parse_json against Python's json, as Salt uses it.

A seeded corpus of msgpack documents (hand-encoded, so maps can repeat keys and mix 1, True and
1.0 the way the wire allows) goes to the probe. The reference is what Salt's state.event prints:
msgpack-python builds the objects (raw=False, strict_map_key=False, Salt's ext hook), Salt's
decode step turns bytes into str in a second dict comprehension, then json.dumps, compact and
pretty. Where Salt would crash we print the offending bytes as backslashreplace does and raise an
issue flag; the reference models that with a marking error handler. The probe's compact outputs,
plus hand-written and mutated texts, then go through parse_json and are compared with json.loads.

Usage: diff_json.py PROBE
"""

import codecs
import datetime
import json
import math
import random
import struct
import subprocess
import sys

import msgpack

SEED = 20240501
ITEMS = 4000

ISSUE_INVALID_UTF8 = 1
ISSUE_EXT79 = 2
ISSUE_TIMESTAMP = 4
ISSUE_MIXED_KEYS = 16

# Undecodable bytes come out as "\xNN" text preceded by this marker, so the reference can tell
# (after dicts have collapsed) which strings were bad. The generator never emits the marker.
MARK = "\U0010fffd"


def _mark_errors(err):
    bad = err.object[err.start:err.end]
    return MARK + "".join("\\x%02x" % b for b in bad), err.end


codecs.register_error("tagbus-mark", _mark_errors)


# ---- corpus: Python-side model with exact msgpack encoding ------------------------------------

class F32:
    def __init__(self, v):
        try:
            self.v = struct.unpack(">f", struct.pack(">f", v))[0]
        except OverflowError:
            self.v = math.copysign(math.inf, v)


class RawStr:
    """A msgpack str whose bytes need not be UTF-8."""
    def __init__(self, b):
        self.b = b


class Map:
    def __init__(self, pairs):
        self.pairs = pairs


class Ext:
    def __init__(self, code, data):
        self.code, self.data = code, data


def enc(x, out):
    if isinstance(x, Map):
        n = len(x.pairs)
        out += bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        for k, v in x.pairs:
            enc(k, out)
            enc(v, out)
    elif isinstance(x, list):
        n = len(x)
        out += bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        for v in x:
            enc(v, out)
    elif isinstance(x, F32):
        out += b"\xca" + struct.pack(">f", x.v)
    elif isinstance(x, RawStr):
        n = len(x.b)
        out += (bytes([0xa0 | n]) if n < 32 else b"\xd9" + bytes([n])) + x.b
    elif isinstance(x, Ext):
        n = len(x.data)
        fixed = {1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}
        out += bytes([fixed[n]]) if n in fixed else b"\xc7" + bytes([n])
        out += struct.pack(">b", x.code) + x.data
    else:
        out += msgpack.packb(x, use_bin_type=True)
    return out


CHARS = (
    [chr(c) for c in range(0x20, 0x7f) if chr(c) != "\\"] * 3
    + [chr(c) for c in range(0x20)] + ["\\", "\x7f"]
    + [chr(c) for c in range(0x80, 0xa0)]
    + ["\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff", "\ufdd0", "\ue000", "\U0001f600",
       "\U0010ffff", "\u00e9", "\u4e2d", "\U00020000", "/", '"']
)
BAD_BYTES = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"\x80",
             b"\xf0\x9f\x98"]

SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 1e16, 1e15, 9999999999999998.0, 1e17, 1e-5, 1e-4, 0.0001,
                  0.00012, 1e-7, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
                  9007199254740992.0, 9007199254740993.0, 0.1, 0.30000000000000004, 1e22, 1e-320,
                  123456789.123, 2.0 ** 63, 2.0 ** 64, -2.0 ** 63, float("nan"), float("inf"),
                  float("-inf")]
SPECIAL_INTS = [0, 1, -1, 31, 127, 128, 255, 256, -32, -33, -128, -129, 65535, 65536, 2 ** 31 - 1,
                2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 1, 2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1,
                -2 ** 31, -2 ** 31 - 1, -2 ** 63]
KEY_STRS = ["a", "b", "1", "0", "true", "null", "NaN", "1.0", "_stamp", "\u00e9", "\U0001f600", "10", "9",
            "\ue000", "\uffff", ""]
KEY_NUMS = [0, 1, -1, 2, 10, 9, 2 ** 53, 2 ** 53 + 1, 2 ** 64 - 1, -2 ** 63, True, False, 0.0, -0.0, 1.0,
            2.0, 0.5, -1.0, 1e16, float("nan"), float("inf"), float("-inf"), 9007199254740992.0,
            2.0 ** 63, 2.0 ** 64, -2.0 ** 63]


class Gen:
    def __init__(self, seed):
        self.r = random.Random(seed)

    def text(self, n=None):
        r = self.r
        if n is None:
            n = r.randint(0, 12) if r.random() < 0.9 else r.randint(13, 60)
        return "".join(r.choices(CHARS, k=n))

    def bad_bytes(self):
        r = self.r
        parts = [r.choice(BAD_BYTES)]
        for _ in range(r.randint(0, 2)):
            parts.insert(r.randint(0, len(parts)), r.choice([self.text(2).encode(), r.choice(BAD_BYTES)]))
        return b"".join(parts)

    def double(self):
        r = self.r
        k = r.randint(0, 3)
        if k == 0:
            return r.choice(SPECIAL_FLOATS)
        if k == 1:
            return r.uniform(-10, 10) * 10.0 ** r.randint(-330, 300)
        if k == 2:
            return struct.unpack(">d", r.getrandbits(64).to_bytes(8, "big"))[0]
        return float(r.randint(-10 ** 6, 10 ** 6)) / r.choice([1, 10, 100, 1000, 3, 7])

    def integer(self):
        r = self.r
        k = r.randint(0, 2)
        if k == 0:
            return r.choice(SPECIAL_INTS)
        if k == 1:
            return r.randint(-1000, 1000)
        return r.randint(-2 ** 63, 2 ** 64 - 1)

    def ext(self):
        r = self.r
        k = r.randint(0, 9)
        if k == 4 and r.random() < 0.9:
            k = 0
        if k <= 3:
            d = datetime.datetime(1, 1, 1) + datetime.timedelta(
                seconds=r.randint(0, 315537897599), microseconds=r.choice([0, r.randint(0, 999999)]))
            return Ext(78, d.strftime("%Y%m%dT%H:%M:%S.%f").zfill(24).encode())
        if k == 4:
            return Ext(78, r.choice([b"2024-05-01", b"20240230T12:00:00.000000", b"", b"x"]))  # Salt drops
        if k == 5:
            value = self.scalar()
            while isinstance(value, (Ext, RawStr)):  # Salt's own loads of the payload would fail
                value = self.scalar()
            payload = enc([r.choice(["OPTIONAL", "MISSING", "x"]), value], bytearray())
            return Ext(79, bytes(payload))
        if k <= 7:
            s = r.randint(-62135596800, 253402300799)
            ns = r.choice([0, r.randint(0, 999) * 1000000, r.randint(0, 999999) * 1000, r.randint(0, 999999999)])
            if 0 <= s < 2 ** 32 and ns == 0 and r.random() < 0.5:
                return Ext(-1, struct.pack(">I", s))
            if 0 <= s < 2 ** 34 and r.random() < 0.5:
                return Ext(-1, struct.pack(">Q", (ns << 34) | s))
            return Ext(-1, struct.pack(">Iq", ns, s))
        return Ext(r.choice([0, 1, 5, 42, 77, 80, 127, -2, -128]), r.randbytes(r.randint(0, 6)))

    def scalar(self):
        r = self.r
        k = r.randint(0, 19)
        if k == 0:
            return None
        if k == 1:
            return r.choice([True, False])
        if k <= 4:
            return self.integer()
        if k <= 7:
            return self.double()
        if k == 8:
            k = r.random()
            if k < 0.4:
                return F32(struct.unpack(">f", r.getrandbits(32).to_bytes(4, "big"))[0])
            return F32(self.double() if k < 0.7 else r.choice([0.1, 1.0, 3.4e38, 1e-45]))
        if k <= 13:
            return self.text()
        if k == 14:
            return RawStr(self.bad_bytes())
        if k == 15:
            return self.text().encode() if r.random() < 0.7 else self.bad_bytes()
        if k == 16:
            return self.ext()
        return self.text(r.randint(0, 4))

    def key(self, mode):
        r = self.r
        if mode == "str" or (mode == "mixed" and r.random() < 0.5):
            k = r.randint(0, 9)
            if k <= 6:
                return r.choice(KEY_STRS)
            if k == 7:
                return r.choice(KEY_STRS).encode()
            if k == 8:
                if r.random() < 0.15:  # a datetime or another ext as a key: text to Salt
                    return r.choice([Ext(78, b"20240501T12:00:00.000000"), Ext(78, b"20240501T12:00:00.5"),
                                     Ext(5, r.choice(KEY_STRS).encode()), Ext(-2, b"\xff")])
                return self.text()
            return RawStr(self.bad_bytes()) if r.random() < 0.5 else self.bad_bytes()
        if mode == "mixed" and r.random() < 0.15:
            return None
        k = r.random()
        if k < 0.7:
            return r.choice(KEY_NUMS)
        if k < 0.8:
            return F32(r.choice([1.0, 0.5, 0.0, 2.0, 1e16]))
        return self.double() if k < 0.9 else self.integer()

    def value(self, depth):
        r = self.r
        if depth >= 4 or r.random() < 0.55 + 0.1 * depth:
            return self.scalar()
        if r.random() < 0.4:
            return [self.value(depth + 1) for _ in range(r.choice([0, 1, 2, 3, 4, 5, 17]))]
        return self.map(depth + 1)

    def map(self, depth):
        r = self.r
        mode = r.choice(["str"] * 12 + ["num"] * 3 + ["mixed"])
        if r.random() < 0.97:
            n = r.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 20])
        else:  # large maps (hashed collapse, sorts of 64 and more) hold scalars only
            n, depth = r.randint(40, 80), 4
        pairs = [(self.key(mode), self.value(depth)) for _ in range(n)]
        if pairs and r.random() < 0.3:  # repeat some keys on purpose
            for _ in range(r.randint(1, 3)):
                pairs.insert(r.randint(0, len(pairs)), (r.choice(pairs)[0], self.value(depth)))
        if r.random() < 0.002:  # a container as a key: Salt drops the event
            pairs.insert(r.randint(0, len(pairs)), (r.choice([[1], Map([])]), 1))
        return Map(pairs)


# ---- reference: what Salt prints ----------------------------------------------------------------

class Sentinel(list):
    pass


def ext_hook(code, data):
    if code == 78:  # as salt.payload.loads; a bad payload raises ValueError and Salt drops it
        return datetime.datetime.strptime(data.decode(), "%Y%m%dT%H:%M:%S.%f")
    if code == 79:
        name, value = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return Sentinel([name, value])
    return data  # salt.payload's ext_hook: any other code gives its payload as bytes


def timestamp_text(ts):
    s, ns = ts.seconds, ts.nanoseconds
    text = (datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=s)).isoformat()
    if ns:
        if ns % 1000000 == 0:
            text += ".%03d" % (ns // 1000000)
        elif ns % 1000 == 0:
            text += ".%06d" % (ns // 1000)
        else:
            text += ".%09d" % ns
    return text + "Z"


def salt_decode(o):
    """Salt's decode step: bytes become str, each dict rebuilt key by key (so a bin key now equal
    to a str key collapses with it)."""
    if isinstance(o, dict):
        return {salt_decode(k): salt_decode(v) for k, v in o.items()}
    if isinstance(o, Sentinel):
        return Sentinel(salt_decode(x) for x in o)
    if isinstance(o, list):
        return [salt_decode(x) for x in o]
    if isinstance(o, bytes):
        return o.decode("utf-8", "tagbus-mark")
    if isinstance(o, datetime.datetime):  # a datetime key is its ISO text before sorting (SALT-WIRE §7)
        return o.isoformat()
    return o


def salt_view(o, flags):
    """What json cannot print turned into what we print, collecting the issue flags of what is
    left after both dict constructions."""
    if isinstance(o, dict):
        return {salt_view(k, flags): salt_view(v, flags) for k, v in o.items()}
    if isinstance(o, Sentinel):
        flags[0] |= ISSUE_EXT79
        return [salt_view(x, flags) for x in o]
    if isinstance(o, list):
        return [salt_view(x, flags) for x in o]
    if isinstance(o, str):
        if MARK in o:
            flags[0] |= ISSUE_INVALID_UTF8
            o = o.replace(MARK, "")
        return o
    if isinstance(o, datetime.datetime):
        return o.isoformat()
    if isinstance(o, msgpack.Timestamp):
        flags[0] |= ISSUE_TIMESTAMP
        return timestamp_text(o)
    return o


def big_nan_dict(o):
    """CPython's sort of 64+ items with NaN keys is not something we emulate."""
    if isinstance(o, dict):
        if len(o) >= 64 and any(isinstance(k, float) and math.isnan(k) for k in o):
            return True
        return any(big_nan_dict(v) for v in o.values())
    if isinstance(o, list):
        return any(big_nan_dict(v) for v in o)
    return False


def reference(packed):
    """(drop, flags, compact, pretty or None when Python's sort raises TypeError)"""
    try:
        obj = msgpack.unpackb(packed, raw=False, strict_map_key=False, ext_hook=ext_hook,
                              unicode_errors="tagbus-mark")
    except (TypeError, ValueError):
        return True, 0, None, None
    flags = [0]
    obj = salt_view(salt_decode(obj), flags)
    compact = json.dumps(obj, ensure_ascii=False)
    try:
        pretty = None if big_nan_dict(obj) else json.dumps(obj, ensure_ascii=False, indent=4, sort_keys=True)
    except TypeError:
        pretty = "TypeError"
    return False, flags[0], compact, pretty


# ---- parse_json reference ------------------------------------------------------------------------

def salt_packable(o):
    """json.loads result as parse_json models it: ints beyond 64 bits become their digits."""
    if isinstance(o, dict):
        return {k: salt_packable(v) for k, v in o.items()}
    if isinstance(o, list):
        return [salt_packable(x) for x in o]
    if isinstance(o, int) and not isinstance(o, bool) and not -2 ** 63 <= o < 2 ** 64:
        return str(o)
    return o


def nesting(o):
    if isinstance(o, dict):
        return 1 + max(map(nesting, o.values()), default=0)
    if isinstance(o, list):
        return 1 + max(map(nesting, o), default=0)
    return 0


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(same(ka, kb) and same(va, vb)
                                        for (ka, va), (kb, vb) in zip(a.items(), b.items()))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


PARSE_CASES = [
    "NaN", "Infinity", "-Infinity", "[NaN,Infinity,-Infinity]", "{\"NaN\":NaN}", "[1e400]", "1E400", "-1e400",
    "1e-400", "-1e-400", "123456789012345678901234567890", "-123456789012345678901234567890",
    "18446744073709551615", "18446744073709551616", "-9223372036854775808", "-9223372036854775809",
    "[-0, -0.0, 0.0]", "{\"a\":1,\"a\":2,\"b\":3,\"a\":4}", " [1, 2] ", "\t\r\n1\n", "1e5", "1E+5", "1e-5",
    "0.1", "\"\\/\"", "\"\\u00e9\\ud83d\\ude00\"", "\"\u2028\"", "\"\x7f\"", "[1,]", "01", "1.", ".5", "+1", "-",
    "NaNa", "nan", "infinity", "-NaN", "- Infinity", "tru", "[", "{\"a\" 1}", "{'a': 1}", "\ufeff1", "[1 2]",
    "true false", "", " ", "\"\t\"", "[1]x", "1NaN", "[1,NaN2]", "{NaN:1}", "[Infinity1]",
    "[" + "7" * 4300 + "]", "[" + "7" * 4301 + "]", "[" * 511 + "]" * 511, "1" + "0" * 400 + ".5",
    "1" + "0" * 400, "[1.7976931348623157e308, 1.7976931348623159e308, 2e308]", "[2.4703282292062328e-324]",
]

REFUSED = object()
MUTATION_CHARS = list("[]{},:\"0123456789-.eE+ NaIfinty\\") + ["\n"]


def mutations(r, texts, n):
    out = []
    for _ in range(n):
        t = r.choice(texts)
        if "\\u" in t:
            continue  # a broken surrogate pair is a lone surrogate, which Python accepts and we refuse
        for _ in range(r.randint(1, 2)):
            i = r.randint(0, len(t))
            k = r.randint(0, 2)
            if k == 0 and t:
                t = t[:i] + t[i + 1:]
            elif k == 1:
                t = t[:i] + r.choice(MUTATION_CHARS) + t[i:]
            else:
                t = t[:i] + r.choice(["NaN", "Infinity", "-Infinity", "1e400", "99999999999999999999"]) + t[i:]
        out.append(t)
    return out


# ---- driver --------------------------------------------------------------------------------------

def request(op, payload):
    return op + struct.pack(">I", len(payload)) + payload


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, n):
        b = self.d[self.p:self.p + n]
        if len(b) != n:
            raise EOFError("probe output ends early")
        self.p += n
        return b

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def blob(self):
        return self.take(self.u32())


def run_probe(probe, requests):
    proc = subprocess.run([probe], input=b"".join(requests), capture_output=True, timeout=240)
    if proc.returncode != 0:
        sys.exit("probe exited %d: %s" % (proc.returncode, proc.stderr.decode(errors="replace")))
    return Reader(proc.stdout)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    # json.loads' nesting limit is the interpreter's recursion limit, which depends on the caller's
    # stack; parse_json's fixed limit (512, msgpack-python's own) is checked on its own instead.
    sys.setrecursionlimit(10000)
    probe = sys.argv[1]
    gen = Gen(SEED)
    docs = []
    for i in range(ITEMS):
        top = gen.map(0) if i % 10 else gen.value(0)
        docs.append(bytes(enc(top, bytearray())))

    passed, failures = 0, []

    def fail(what, detail):
        failures.append("%s\n%s" % (what, detail))

    out = run_probe(probe, [request(b"R", d) for d in docs])
    compacts = []
    for n, doc in enumerate(docs):
        drop, flags, compact, pretty = reference(doc)
        tag = out.take(1)
        if tag != b"R":
            fail("item %d: probe could not unpack %s" % (n, doc.hex()), out.blob().decode(errors="replace"))
            continue
        got = []
        for _ in range(2):
            gdrop = out.take(1) == b"\1"
            gflags = out.u32()
            got.append((gdrop, gflags, out.blob().decode("utf-8", errors="surrogateescape")))
        (cdrop, cflags, ctext), (pdrop, pflags, ptext) = got
        ok = True
        if drop:
            if not (cdrop and pdrop):
                ok = False
                fail("item %d (%s): Salt drops it, probe printed" % (n, doc.hex()), ctext)
        elif cdrop or ctext != compact or cflags != flags:
            ok = False
            fail("item %d (%s): compact differs" % (n, doc.hex()),
                 "want %r flags %d\ngot  %r flags %d drop %s" % (compact, flags, ctext, cflags, cdrop))
        elif pretty == "TypeError":
            if not pflags & ISSUE_MIXED_KEYS or pdrop:
                ok = False
                fail("item %d (%s): Python's sort raises, probe did not flag mixed keys" % (n, doc.hex()), ptext)
        elif pretty is not None and (pdrop or ptext != pretty or pflags != flags):
            ok = False
            fail("item %d (%s): pretty differs" % (n, doc.hex()),
                 "want %r flags %d\ngot  %r flags %d" % (pretty, flags, ptext, pflags))
        if ok:
            passed += 1
        if not drop and not cdrop:
            compacts.append(ctext)

    r = random.Random(SEED + 1)
    texts = compacts + PARSE_CASES + mutations(r, compacts[:2000] + PARSE_CASES, 3000)
    out = run_probe(probe, [request(b"P", t.encode("utf-8", errors="surrogateescape")) for t in texts])
    for t in texts:
        try:
            want = salt_packable(json.loads(t))
        except (ValueError, RecursionError) as e:
            want, why = REFUSED, e
        tag = out.take(1)
        if tag == b"E":
            msg = out.blob().decode(errors="replace")
            if want is REFUSED or (nesting(want) > 512 and "nesting deeper than 512" in msg):
                passed += 1
            else:
                fail("parse %r: probe refused it" % t[:200], msg)
            continue
        got = msgpack.unpackb(out.blob(), raw=False, strict_map_key=False)
        if want is REFUSED:
            fail("parse %r: json.loads refuses it (%r), probe accepted" % (t[:200], why), repr(got)[:200])
        elif not same(got, want):
            fail("parse %r: values differ" % t[:200], "want %r\ngot  %r" % (want, got))
        else:
            passed += 1

    for f in failures[:10]:
        print(f, "\n")
    print("json: %d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
