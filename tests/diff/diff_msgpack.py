"""Differential test: our msgpack codec, framing and trimming against msgpack-python.

Usage: diff_msgpack.py PROBE

Generates a fixed-seed corpus, packs every item with msgpack-python (packb(x, use_bin_type=True),
what Salt writes), and has PROBE (tests/diff/probe_msgpack.cpp) unpack and re-pack it with our
code. Every item must come back byte for byte. Frames built by our append_frame must equal
packb({"head": {}, "body": body}), and our max_event_size trimming must equal Salt's algorithm
run here on real CPython objects (sys.getsizeof and all).
"""

import random
import struct
import subprocess
import sys

import msgpack

SEED = 20240501
RANDOM_VALUES = 5000
FRAMES = 300
TRIMS = 600

INT_EDGES = [0, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 2**32 - 1, 2**32, 2**64 - 1]
NEG_EDGES = [-1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**63)]
LENGTHS = [0, 1, 15, 16, 31, 32, 33, 255, 256, 65535, 65536]


def make_int_edges():
    out = []
    for e in INT_EDGES + NEG_EDGES:
        for d in (-1, 0, 1):
            if -(2**63) <= e + d <= 2**64 - 1:
                out.append(e + d)
    return out


INT_EDGE_VALUES = make_int_edges()


def rand_char(rng, lo, hi):
    c = rng.randrange(lo, hi)
    return chr(c) if not 0xD800 <= c < 0xE000 else "?"  # surrogates cannot be UTF-8 encoded


def rand_text(rng, n):
    """n code points from one of: ASCII, Latin-1, BMP, anything (astral included)."""
    hi = rng.choice([0x7F, 0x100, 0x10000, 0x110000])
    return "".join(rand_char(rng, 0x20, hi) for _ in range(n))


def rand_float(rng):
    pick = rng.randrange(6)
    if pick == 0:
        return rng.choice([0.0, -0.0, float("nan"), float("inf"), float("-inf"), 5e-324, 1.7976931348623157e308])
    if pick == 1:
        return struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0]
    return rng.uniform(-1e6, 1e6)


def rand_scalar(rng):
    pick = rng.randrange(9)
    if pick == 0:
        return rng.choice(INT_EDGE_VALUES)
    if pick == 1:
        return rng.randrange(-(2**63), 2**64)
    if pick == 2:
        return rand_float(rng)
    if pick == 3:
        return rand_text(rng, rng.randrange(0, 40))
    if pick == 4:
        return rng.randbytes(rng.randrange(0, 40))
    if pick == 5:
        return rng.choice([None, True, False])
    if pick == 6:
        return msgpack.ExtType(rng.randrange(0, 128), rng.randbytes(rng.choice([0, 1, 2, 3, 4, 8, 16, 17, 30])))
    if pick == 7:
        return rand_text(rng, rng.choice([31, 32, 33, 100]))
    return rng.randrange(-40, 300)


def rand_key(rng):
    pick = rng.randrange(8)
    if pick < 4:
        return rand_text(rng, rng.randrange(0, 12))
    if pick == 4:
        return rng.randrange(-(2**63), 2**64)
    if pick == 5:
        return rng.randbytes(rng.randrange(0, 8))
    if pick == 6:
        return rng.choice([None, 1.5, -0.0])
    return (rng.randrange(100), rand_text(rng, 3))  # a tuple key packs as an array


def rand_value(rng, depth=0):
    pick = rng.randrange(10)
    if depth >= 4 or pick < 5:
        return rand_scalar(rng)
    # Sizes around the fix/16-bit boundary near the top; small ones deeper keep the corpus small.
    n = rng.choice([0, 1, 2, 3, 5, 15, 16, 17] if depth < 2 else [0, 1, 2, 3])
    if pick < 7:
        return [rand_value(rng, depth + 1) for _ in range(n)]
    if pick == 7:
        return tuple(rand_value(rng, depth + 1) for _ in range(n))
    return {rand_key(rng): rand_value(rng, depth + 1) for _ in range(n)}


def special_values(rng):
    vals = list(INT_EDGE_VALUES)
    vals += [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 1.5]
    for n in LENGTHS:
        vals += ["x" * n, rng.randbytes(n), [None] * n]
        vals.append(msgpack.ExtType(n % 128, rng.randbytes(n)))
    # msgpack-python refuses negative ext codes (reserved); Timestamp below covers -1.
    for n in (2, 3, 4, 8, 16, 17, 65537):
        vals.append(msgpack.ExtType(127 - n % 100, rng.randbytes(n)))
    # Non-ASCII strings whose UTF-8 length sits on a format boundary.
    vals += ["é" * 15 + "a", "é" * 16, "€" * 85, "€" * 85 + "a", "😀" * 16384, "😀" * 16383 + "abcd"]
    vals += [{i: None for i in range(n)} for n in (15, 16, 65535, 65536)]
    vals += [msgpack.Timestamp(0, 0), msgpack.Timestamp(2**34, 5), msgpack.Timestamp(-1, 0)]
    vals.append(msgpack.ExtType(78, b"20240501T12:00:00.000000"))
    vals.append(msgpack.ExtType(79, msgpack.packb(["OPTIONAL", None])))
    return vals


def trim_reference(packed, max_size):
    """Salt's trim_dict(is_msgpacked=True, use_bin_type=True) as SALT-WIRE §3 describes it."""
    if sys.getsizeof(packed) <= max_size:
        return packed
    data = msgpack.unpackb(packed, raw=False, strict_map_key=False)

    def one_pass(d, limit):
        for k in d:
            if isinstance(d[k], dict):
                one_pass(d[k], limit)
            elif sys.getsizeof(d[k]) > limit:
                d[k] = "VALUE_TRIMMED"

    percent = 50.0
    while True:
        one_pass(data, float(max_size * (percent / 100)))
        percent -= 10
        out = msgpack.packb(data, use_bin_type=True)
        if sys.getsizeof(out) < max_size or float(max_size * (percent / 100)) == 0:
            return out


def trim_value(rng, depth=0):
    pick = rng.randrange(10)
    if pick < 3:
        return "x" * rng.randrange(0, 3000)
    if pick == 3:
        return rand_text(rng, rng.randrange(0, 1200))
    if pick == 4:
        return rng.randbytes(rng.randrange(0, 3000))
    if pick == 5:
        return [rand_scalar(rng) for _ in range(rng.randrange(0, 300))]
    if pick == 6 and depth < 3:
        return {rand_text(rng, 4): trim_value(rng, depth + 1) for _ in range(rng.randrange(0, 6))}
    return rand_scalar(rng)


def trim_case(rng):
    data = {rand_text(rng, rng.randrange(1, 8)) if rng.random() < 0.9 else rng.randrange(1000): trim_value(rng)
            for _ in range(rng.randrange(1, 12))}
    data["_stamp"] = "2024-05-01T12:34:56.789012"
    packed = msgpack.packb(data, use_bin_type=True)
    max_size = rng.randrange(max(1, len(packed) // 5), len(packed) + 80)
    return max_size, packed


def record(kind, payload):
    return kind + struct.pack(">I", len(payload)) + payload


def read_results(out):
    results, pos = [], 0
    while pos < len(out):
        ok = out[pos:pos + 1] == b"+"
        (n,) = struct.unpack(">I", out[pos + 1:pos + 5])
        results.append((ok, out[pos + 5:pos + 5 + n]))
        pos += 5 + n
    return results


def show(b):
    h = b[:48].hex(" ")
    return h + (" ..." if len(b) > 48 else "") + f" ({len(b)} bytes)"


def main():
    if len(sys.argv) != 2:
        print("usage: diff_msgpack.py PROBE", file=sys.stderr)
        return 2
    rng = random.Random(SEED)
    cases = []  # (category, description, record, expected bytes)
    values = special_values(rng) + [rand_value(rng) for _ in range(RANDOM_VALUES)]
    for v in values:
        packed = msgpack.packb(v, use_bin_type=True)
        cases.append(("msgpack", packed, record(b"v", packed), packed))
    for i in range(FRAMES):
        n = LENGTHS[i] if i < len(LENGTHS) else rng.choice([rng.randrange(0, 300), rng.randrange(0, 70000)])
        body = rng.randbytes(n)
        legacy = msgpack.packb({"head": {}, "body": body}, use_bin_type=True)
        cases.append(("frame", body, record(b"f", body), legacy + struct.pack(">I", len(legacy)) + legacy))
    for _ in range(TRIMS):
        max_size, packed = trim_case(rng)
        cases.append(("trim", packed, record(b"t", struct.pack(">Q", max_size) + packed),
                      trim_reference(packed, max_size)))

    proc = subprocess.run([sys.argv[1]], input=b"".join(c[2] for c in cases), capture_output=True, check=False)
    if proc.returncode != 0:
        print(f"probe exited with {proc.returncode}: {proc.stderr.decode(errors='replace')}", file=sys.stderr)
        return 1
    results = read_results(proc.stdout)
    if len(results) != len(cases):
        print(f"probe answered {len(results)} records for {len(cases)}", file=sys.stderr)
        return 1

    counts, failures = {}, []
    for (category, source, _, expected), (ok, got) in zip(cases, results):
        passed, failed = counts.get(category, (0, 0))
        if ok and got == expected:
            counts[category] = (passed + 1, failed)
            continue
        counts[category] = (passed, failed + 1)
        failures.append((category, source, expected, ok, got))

    for category, source, expected, ok, got in failures[:5]:
        print(f"MISMATCH ({category}) input:    {show(source)}")
        print(f"  expected: {show(expected)}")
        print(f"  got:      {show(got) if ok else 'error: ' + got.decode(errors='replace')}")
        if ok:
            at = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(expected), len(got)))
            print(f"  first difference at byte {at}: expected {expected[at:at + 16].hex(' ')}, got {got[at:at + 16].hex(' ')}")
    trimmed = sum(1 for c in cases if c[0] == "trim" and c[1] != c[3])
    for category in ("frame", "trim"):
        passed, failed = counts.get(category, (0, 0))
        extra = f" ({trimmed} of them trimmed)" if category == "trim" else ""
        print(f"{category}: {passed} passed, {failed} failed{extra}")
    passed, failed = counts.get("msgpack", (0, 0))
    print(f"msgpack: {passed} passed, {failed} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
