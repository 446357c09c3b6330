#!/usr/bin/python3
"""bench-python: the tagbus Python module against a pure-Python client on the same bus (issue 11).

  bench_python.py import RUNS
      `import tagbus` in RUNS fresh interpreters, timed inside each from before the import to
      after it (the interpreter's own start is not counted), from bytecode as an installed
      package; prints the median ms for tagbus and for `import socket, msgpack`, all a
      pure-Python client needs.
  bench_python.py listen tagbus|pure SOCK_DIR COUNT READY_FILE
      Reads bench-load's events into Python dicts until COUNT bench/data events have come, each
      one's seq checked against the order sent. tagbus: MasterEvent.get_event(tag="bench/data").
      pure: a socket on the pub socket, msgpack.Unpacker over the stream, each frame's body split
      at the tag and its data unpacked, the tag compared as Salt's startswith does. Readiness:
      it answers bench-load's bench/hello by creating READY_FILE. Rate: first event to last.
  bench_python.py fire tagbus|pure|tagbus-batch|pure-batch SOCK_DIR COUNT ID
      Fires COUNT events {pub: ID, seq, t, pad} (a new dict each, as a program makes them), then
      waits until the bus has read them all (tagbus: the end of the batch or destroy(); pure:
      half-close and wait for the bus to close its end). tagbus: MasterEvent.fire_event(data,
      "bench/data"), which adds _stamp and writes each event to the socket before it returns,
      as Salt's does; tagbus-batch: the same calls inside `with bus.batch():`, queued and
      written in large writes. pure: the _stamp added with datetime, the body and frame packed
      with msgpack.packb, one sendall per event; pure-batch: one sendall per 256 frames.
      bench-count checks what arrives. Rate: COUNT over the whole time.
"""
import os
import socket
import statistics
import subprocess
import sys
import time

SEQ_BASE = 1 << 33  # bench_common.hpp's seq_base
T_MARKER = (1 << 62) + 12345
PAD = "x" * 139  # with pub, seq, t and _stamp, a frame of about 200 bytes, as bench-load's


def die(msg):
    sys.exit(f"bench-python: {msg}")


def import_time(runs):
    code = ("import time\n"
            "t = time.perf_counter()\n"
            "import {}\n"
            "print((time.perf_counter() - t) * 1000)\n")
    # As an installed package is imported: from its bytecode (Debian compiles it at install; so
    # does tagbus's meson install). The first, untimed run writes what is missing.
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out = {}
    for name, mods in (("tagbus", "tagbus"), ("pure", "socket, msgpack")):
        times = []
        for i in range(runs + 1):
            r = subprocess.run([sys.executable, "-c", code.format(mods)], capture_output=True, text=True, timeout=60,
                               env=env)
            if r.returncode != 0:
                die(f"import {mods} failed: {r.stderr.strip()}")
            if i:
                times.append(float(r.stdout))
        out[name] = statistics.median(times)
    print(f"tagbus_ms={out['tagbus']:.2f} pure_ms={out['pure']:.2f}")


def touch(path):
    with open(path, "w"):
        pass


def count_in_order(next_data, count):
    """Takes `count` events' data from next_data(), each seq checked against the order sent;
    returns the count and the times of the first and the last."""
    got = 0
    first = last = 0.0
    while got < count:
        data = next_data()
        if data is None:
            die(f"no event for 30 s after {got}")
        if data["seq"] != SEQ_BASE + got:
            die(f"event {got} out of order")
        last = time.perf_counter()
        if got == 0:
            first = last
        got += 1
    return got, first, last


def listen_tagbus(sock_dir, count, ready):
    import tagbus

    ev = tagbus.MasterEvent(sock_dir)
    end = time.monotonic() + 10
    while ev.get_event(wait=0.1, tag="bench/hello") is None:
        if time.monotonic() > end:
            die("no bench/hello within 10 s")
    touch(ready)
    get = ev.get_event
    return count_in_order(lambda: get(wait=30, tag="bench/data"), count)


def listen_pure(sock_dir, count, ready):
    import msgpack

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(sock_dir, "master_event_pub.ipc"))
    unpacker = msgpack.Unpacker(raw=False, max_buffer_size=100 * 1024 * 1024)
    unpackb = msgpack.unpackb

    def frames():
        while True:
            chunk = s.recv(1 << 18)
            if not chunk:
                die("the bus closed the connection")
            unpacker.feed(chunk)
            for frame in unpacker:
                body = frame["body"]
                tag, _, packed = body.partition(b"\n\n")
                yield tag.decode(), packed

    it = frames()
    s.settimeout(0.1)
    end = time.monotonic() + 10
    while True:
        try:
            tag, packed = next(it)
        except socket.timeout:
            if time.monotonic() > end:
                die("no bench/hello within 10 s")
            it = frames()
            continue
        if tag.startswith("bench/hello"):
            break
    touch(ready)
    s.settimeout(30)

    def next_data():
        while True:
            tag, packed = next(it)
            if tag.startswith("bench/data"):
                return unpackb(packed, raw=False, strict_map_key=False)

    return count_in_order(next_data, count)


def fire_tagbus(sock_dir, count, ident, batch):
    import tagbus

    start = time.perf_counter()
    ev = tagbus.MasterEvent(sock_dir, listen=False)
    fire = ev.fire_event
    t = T_MARKER
    with ev.batch() if batch else ev:  # the batch's end confirms; destroy() (the with's end) too
        for i in range(count):
            if not fire({"pub": ident, "seq": SEQ_BASE + i, "t": t, "pad": PAD}, "bench/data"):
                die(f"fire_event {i} failed")
    ev.destroy()
    return time.perf_counter() - start


def fire_pure(sock_dir, count, ident, batch):
    import datetime

    import msgpack

    start = time.perf_counter()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(os.path.join(sock_dir, "master_event_pull.ipc"))
    packb = msgpack.packb
    utcnow = datetime.datetime.utcnow
    sendall = s.sendall
    prefix = b"bench/data\n\n"
    t = T_MARKER
    frames = []
    for i in range(count):
        data = {"pub": ident, "seq": SEQ_BASE + i, "t": t, "pad": PAD}
        data["_stamp"] = utcnow().isoformat()
        frame = packb({"head": {}, "body": prefix + packb(data, use_bin_type=True)}, use_bin_type=True)
        if not batch:
            sendall(frame)
            continue
        frames.append(frame)  # at its best: one sendall per 256 frames, as bench-load batches
        if len(frames) == 256:
            sendall(b"".join(frames))
            frames.clear()
    if frames:
        sendall(b"".join(frames))
    s.shutdown(socket.SHUT_WR)
    s.settimeout(60)
    while s.recv(4096):
        pass
    s.close()
    return time.perf_counter() - start


def main(argv):
    if len(argv) == 3 and argv[1] == "import":
        import_time(int(argv[2]))
    elif len(argv) == 6 and argv[1] == "listen" and argv[2] in ("tagbus", "pure"):
        fn = listen_tagbus if argv[2] == "tagbus" else listen_pure
        got, first, last = fn(argv[3], int(argv[4]), argv[5])
        secs = last - first
        print(f"received={got} seconds={secs:.6f} rate={(got - 1) / secs if secs > 0 else 0:.0f}")
    elif len(argv) == 6 and argv[1] == "fire" and argv[2] in ("tagbus", "pure", "tagbus-batch", "pure-batch"):
        fn = fire_tagbus if argv[2].startswith("tagbus") else fire_pure
        count = int(argv[4])
        secs = fn(argv[3], count, int(argv[5]), argv[2].endswith("-batch"))
        print(f"sent={count} seconds={secs:.6f} rate={count / secs:.0f}")
    else:
        die("usage: bench_python.py import RUNS | listen tagbus|pure SOCK_DIR COUNT READY_FILE"
            " | fire tagbus|pure|tagbus-batch|pure-batch SOCK_DIR COUNT ID")


if __name__ == "__main__":
    main(sys.argv)
