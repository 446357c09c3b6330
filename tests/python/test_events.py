"""tagbus as salt.utils.event: SaltEvent's API against the real event-busd (SALT-WIRE §3, §5)."""
import datetime
import logging
import multiprocessing
import os
import select
import signal
import sys
import threading
import time

import msgpack
import pytest

import tagbus
from conftest import DEADLINE, Bus, synced
from tb import Proc


def master(bus, **kw):
    return synced(tagbus.MasterEvent(bus.sock_dir, **kw))


def test_attributes_as_salt_computes_them(bus):
    ev = tagbus.MasterEvent(bus.sock_dir)
    assert (ev.node, ev.puburi, ev.pulluri) == ("master", bus.sock_dir + "/master_event_pub.ipc",
                                                bus.sock_dir + "/master_event_pull.ipc")
    assert ev.opts["sock_dir"] == bus.sock_dir
    assert ev.cpub is True and ev.cpush is False
    minion = tagbus.MinionEvent({"sock_dir": bus.sock_dir, "id": "web1", "hash_type": "md5"}, listen=False)
    # hashlib.md5(b"web1").hexdigest()[:10], computed by Python here, not by tagbus
    import hashlib
    h = hashlib.md5(b"web1").hexdigest()[:10]
    assert minion.puburi == f"{bus.sock_dir}/minion_event_{h}_pub.ipc"
    assert minion.pulluri == f"{bus.sock_dir}/minion_event_{h}_pull.ipc"
    assert minion.cpub is False
    tcp = tagbus.SaltEvent("master", bus.sock_dir, opts={"ipc_mode": "tcp", "tcp_master_pub_port": 14512,
                                                          "tcp_master_pull_port": 14513}, listen=False)
    assert (tcp.puburi, tcp.pulluri) == (14512, 14513)
    with pytest.raises(ValueError):
        tagbus.SaltEvent("syndic")


def test_fire_event_stamps_the_callers_dict_and_get_event_returns_it(bus):
    ev = master(bus)
    data = {"foo": "bar", "n": 1}
    assert ev.fire_event(data, "myco/test") is True
    got = ev.get_event(wait=DEADLINE, tag="myco/", full=True)
    assert list(got) == ["data", "tag"]
    assert got["tag"] == "myco/test"
    assert got["data"] == data  # data now holds the same _stamp, set by fire_event as Salt sets it
    stamp = datetime.datetime.fromisoformat(data["_stamp"])
    assert abs(stamp - datetime.datetime.utcnow()) < datetime.timedelta(seconds=DEADLINE)
    assert list(got["data"]) == ["foo", "n", "_stamp"]
    # full=False: the data alone; re-firing the same dict re-stamps it in place
    assert ev.fire_event(data, "myco/again")
    assert ev.get_event(wait=DEADLINE, tag="myco/again") == data
    assert list(data) == ["foo", "n", "_stamp"]


def test_fire_event_refuses_what_salt_refuses(bus):
    ev = tagbus.MasterEvent(bus.sock_dir, listen=False)
    with pytest.raises(ValueError, match="Empty tag."):
        ev.fire_event({}, "")
    with pytest.raises(ValueError, match="Dict object expected"):
        ev.fire_event([1], "t")
    with pytest.raises(ValueError, match="blank line"):
        ev.fire_event({}, "a\n\nb")
    with pytest.raises(TypeError, match="can not serialize 'object' object"):
        ev.fire_event({"x": object()}, "t")


def test_no_bus_fire_event_is_false_or_raises(root):
    ev = tagbus.MasterEvent(os.path.join(root, "nobus"), listen=False)
    assert ev.fire_event({"a": 1}, "t") is False
    strict = tagbus.MasterEvent(os.path.join(root, "nobus"), listen=False, raise_errors=True)
    with pytest.raises(tagbus.Error) as e:
        strict.fire_event({"a": 1}, "t")
    assert e.value.kind == "unavailable"
    assert "master_event_pull.ipc" in str(e.value)


VALUES = {
    "str": "héllo", "bytes": b"\x00\xff", "int": 7, "neg": -5, "u64": 2**64 - 1, "float": 1.5, "true": True,
    "none": None, "list": [1, "a", [2]], "tuple": (1, 2), "nested": {"a": {"b": [1, {"c": None}]}},
    "dt": datetime.datetime(2024, 5, 1, 12, 0, 0, 123456), 5: "int key", b"k": "bytes key",
}


def test_values_cross_as_salt_packs_them(bus):
    ev = master(bus)
    assert ev.fire_event(dict(VALUES, big=2**70, small=-2**70, aset={3}), "v/1")
    got = ev.get_event(wait=DEADLINE, tag="v/1")
    expected = dict(VALUES, tuple=[1, 2], big=str(2**70), small=str(-2**70), aset=[3])
    del got["_stamp"]
    assert got == expected
    assert type(got["dt"]) is datetime.datetime and type(got["u64"]) is int


def test_datetime_is_ext_78_as_salt_writes_it():
    raw = tagbus._tagbus.pack({"d": datetime.datetime(2024, 5, 1, 12, 0)})
    assert raw == b"\x81\xa1d\xc7\x18N20240501T12:00:00.000000"
    assert tagbus._tagbus.pack(datetime.date(2024, 5, 1)) == b"\xc7\x18N20240501T00:00:00.000000"


def test_not_utf8_falls_back_to_bytes_for_every_string(bus):
    ev = master(bus)
    bus.push_raw(b"raw/1\n\n" + msgpack.packb({"ok": "fine", "bad": b"\xff"}, use_bin_type=False))
    got = ev.get_event(wait=DEADLINE, tag="raw/1")
    assert got == {b"ok": b"fine", b"bad": b"\xff"}


def test_undecodable_event_is_none_with_a_warning(bus, caplog):
    ev = master(bus)
    bus.push_raw(b"raw/bad\n\n\xc1")
    bus.push_raw(b"raw/good\n\n" + msgpack.packb({"a": 1}))
    with caplog.at_level(logging.WARNING, logger="tagbus"):
        assert ev.get_event(wait=DEADLINE, tag="raw/bad") is None
    assert any("could not decode" in r.getMessage() and "0xc1" in r.getMessage() for r in caplog.records)
    assert ev.get_event(wait=DEADLINE, tag="raw/good") == {"a": 1}


@pytest.mark.parametrize("match_type,search,tag,matches", [
    ("startswith", "salt/job", "salt/job/1/ret/web1", True),
    ("startswith", "", "anything", True),
    ("startswith", "job", "salt/job/1", False),
    ("endswith", "/ret/web1", "salt/job/1/ret/web1", True),
    ("endswith", "web1", "salt/job/1/ret/web2", False),
    ("find", "/ret/", "salt/job/1/ret/web1", True),
    ("find", "/new", "salt/job/1/ret/web1", False),
    ("regex", r"salt/job/\d+/ret", "salt/job/12/ret/web1", True),  # anchored at the start only
    ("regex", r"job/\d+", "salt/job/12", False),
    ("fnmatch", "salt/job/*/ret/*", "salt/job/1/ret/web1", True),  # * crosses /
    ("fnmatch", "salt/job/*/RET/*", "salt/job/1/ret/web1", False),
])
def test_match_types(bus, match_type, search, tag, matches):
    ev = master(bus)
    ev.fire_event({}, tag)
    ev.fire_event({}, "zz/end")
    if matches:
        got = ev.get_event(wait=DEADLINE, tag=search, match_type=match_type, full=True)
        assert got["tag"] == tag
    else:
        # The marker fired after it has arrived once the wait for it ends: by then the event
        # was read, and it did not match.
        assert ev.get_event(wait=DEADLINE, tag="zz/end", full=True)["tag"] == "zz/end"
        assert ev.get_event(wait=0, tag=search, match_type=match_type, no_block=True) is None


def test_event_match_type_option_is_the_default(bus):
    ev = synced(tagbus.MasterEvent(bus.sock_dir, opts={"event_match_type": "endswith"}))
    ev.fire_event({}, "salt/job/1/ret/web1")
    assert ev.get_event(wait=DEADLINE, tag="/web1", full=True)["tag"] == "salt/job/1/ret/web1"
    with pytest.raises(ValueError, match="unknown match_type 'glob'"):
        ev.get_event(tag="x", match_type="glob")


def test_pending_queue_keeps_subscribed_events_only(bus):
    ev = master(bus)
    ev.subscribe("keep/")
    for tag in ("keep/1", "drop/1", "want/1"):
        ev.fire_event({}, tag)
    assert ev.get_event(wait=DEADLINE, tag="want/", full=True)["tag"] == "want/1"
    assert ev.get_event(wait=0, tag="keep/", no_block=True, full=True)["tag"] == "keep/1"  # from the pending queue
    ev.fire_event({}, "keep/2")
    ev.fire_event({}, "want/2")
    assert ev.get_event(wait=DEADLINE, tag="want/", full=True)["tag"] == "want/2"
    ev.unsubscribe("keep/")
    assert ev.get_event(wait=0, tag="keep/", no_block=True) is None  # dropped with its subscription
    assert ev.get_event(wait=0, tag="drop/", no_block=True) is None


def test_the_wait_shrinks_and_no_block_does_not_wait(bus):
    ev = master(bus)
    stop = threading.Event()
    feeder = tagbus.MasterEvent(bus.sock_dir, listen=False)

    def feed():
        while not stop.is_set():
            feeder.fire_event({}, "noise/x")
            stop.wait(0.05)

    t = threading.Thread(target=feed)
    t.start()
    try:
        start = time.monotonic()
        assert ev.get_event(wait=0.5, tag="never/") is None
        took = time.monotonic() - start
    finally:
        stop.set()
        t.join()
    assert took >= 0.5
    assert took < 0.5 + DEADLINE / 2  # a restarted wait would never end while noise keeps coming
    start = time.monotonic()
    assert ev.get_event(wait=30, tag="never/", no_block=True) is None
    assert time.monotonic() - start < 30


def test_interrupt_from_another_thread_ends_a_wait_forever(bus):
    ev = master(bus)
    threading.Timer(0.2, ev.interrupt).start()
    assert ev.get_event(wait=0, tag="never/") is None


def test_the_gil_is_released_while_waiting(bus):
    ev = master(bus)
    count = 0
    done = threading.Event()

    def spin():
        nonlocal count
        while not done.is_set():
            count += 1

    t = threading.Thread(target=spin)
    t.start()
    try:
        assert ev.get_event(wait=0.5, tag="never/") is None
        seen = count
    finally:
        done.set()
        t.join()
    assert seen > 10000  # the other thread ran during the wait (a held GIL gives it only switch slices)


def test_one_waiter_per_object(bus):
    ev = master(bus)
    waiting = threading.Thread(target=lambda: ev.get_event(wait=2, tag="never/"))
    waiting.start()
    try:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            try:
                ev.get_event(wait=0, tag="x", no_block=True)
            except RuntimeError as e:
                assert "already waiting" in str(e)
                break
        else:
            pytest.fail("a second waiter was never refused")
    finally:
        ev.interrupt()
        waiting.join()


def test_ctrl_c_returns_salts_exit_event(bus):
    code = ("import sys, tagbus\n"
            f"ev = tagbus.MasterEvent({bus.sock_dir!r})\n"
            "print('waiting', flush=True)\n"
            "print(repr(ev.get_event(wait=0, tag='never/')), flush=True)\n")
    p = Proc([sys.executable, "-c", code], env=os.environ)
    try:
        assert p.out.readline() == b"waiting\n"
        # Ctrl-C must come during the wait, not before it: the child's main thread is in the wait
        # once it sleeps in epoll_wait/epoll_pwait (x86-64 system calls 232/281), as /proc shows.
        end = time.monotonic() + DEADLINE
        while True:
            try:
                with open(f"/proc/{p.p.pid}/syscall") as f:
                    call = f.read().split()[0]
            except PermissionError:
                pytest.skip("/proc/PID/syscall needs ptrace rights over the child")
            if call in ("232", "281"):
                break
            assert time.monotonic() < end, f"the child never waited (system call {call})"
            select.select([], [], [], 0.01)  # a 10 ms poll of the child's state, with a deadline
        p.p.send_signal(signal.SIGINT)
        assert p.out.readline() == b"{'tag': 'salt/event/exit', 'data': {}}\n"
        assert p.wait() == 0
    finally:
        p.stop(signal.SIGKILL)


def _fire_from_child(ev, n, first):
    for i in range(first, first + n):
        assert ev.fire_event({"i": i}, "mp/x")


def test_objects_made_before_fork_work_in_children(bus):
    ev = master(bus)
    sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
    assert sender.fire_event({"i": -1}, "mp/x")  # connected in the parent, then inherited
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_fire_from_child, args=(sender, 100, k * 100)) for k in range(4)]
    for p in procs:
        p.start()
    got = set()
    end = time.monotonic() + DEADLINE
    while len(got) < 401 and time.monotonic() < end:
        e = ev.get_event(wait=1, tag="mp/x")
        if e is not None:
            got.add(e["i"])
    for p in procs:
        p.join(DEADLINE)
        assert p.exitcode == 0
    assert got == set(range(-1, 400))
    assert sender.fire_event({"i": 1000}, "mp/x")  # the parent's connection was left alone
    assert ev.get_event(wait=DEADLINE, tag="mp/x") ["i"] == 1000


def test_a_restarted_bus_is_reconnected_and_counted_as_a_gap(bus):
    ev = master(bus)
    assert ev.gaps == 0
    bus.stop()
    assert ev.get_event(wait=0.3, tag="x") is None
    bus.start()
    sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
    end = time.monotonic() + DEADLINE
    got = None
    n = 0
    while got is None and time.monotonic() < end:
        sender.fire_event({"n": n}, "after/restart")
        got = ev.get_event(wait=0.3, tag="after/")
        n += 1
    assert got is not None
    assert ev.gaps == 1


def test_context_manager_and_destroy(bus):
    with tagbus.MasterEvent(bus.sock_dir) as ev:
        synced(ev)
        assert ev.fire_event({"a": 1}, "cm/1")
        assert ev.cpush
    assert not ev.cpub and not ev.cpush
    ev.destroy()  # twice is fine
    tagbus.MasterEvent(bus.sock_dir)  # dropped without destroy(): nothing to see


def test_iter_events_and_noblock_block(bus):
    ev = master(bus)
    for i in range(3):
        ev.fire_event({"i": i}, f"it/{i}")
    seen = []
    for data in ev.iter_events(tag="it/", match_type="startswith"):
        seen.append(data["i"])
        if len(seen) == 3:
            break
    assert seen == [0, 1, 2]
    assert ev.get_event_noblock() is None
    ev.fire_event({"z": 1}, "any/thing")
    got = ev.get_event_block()
    assert got["tag"] == "any/thing" and got["data"]["z"] == 1


def test_ipc_mode_tcp(root):
    import socket
    ports = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        ports.append(s.getsockname()[1])
        s.close()
    os.makedirs(os.path.join(root, "etc"))
    with open(os.path.join(root, "etc", "master"), "w") as f:
        f.write(f"ipc_mode: tcp\ntcp_master_pub_port: {ports[0]}\ntcp_master_pull_port: {ports[1]}\n")
    b = Bus(root)
    try:
        opts = tagbus.client_config(os.path.join(root, "etc", "master"))
        assert (opts["ipc_mode"], opts["tcp_master_pub_port"]) == ("tcp", ports[0])
        ev = synced(tagbus.get_event("master", sock_dir=opts["sock_dir"], opts=opts))
        assert (ev.puburi, ev.pulluri) == (ports[0], ports[1])
        assert ev.fire_event({"over": "tcp"}, "tcp/1")
        assert ev.get_event(wait=DEADLINE, tag="tcp/1")["over"] == "tcp"
    finally:
        b.stop()


def test_tagify():
    assert tagbus.tagify("job", "auth") == "salt/auth/job"
    assert tagbus.tagify(["20240501", "ret", "web1"], "job") == "salt/job/20240501/ret/web1"
    assert tagbus.tagify("x", "custom", base="myco") == "myco/custom/x"
    assert tagbus.tagify() == "salt"


def test_batch_queues_then_confirms_every_event_in_order(bus):
    ev = master(bus)
    sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
    with sender.batch():
        for i in range(5000):
            assert sender.fire_event({"i": i}, "batch/x")
        with sender.batch():  # nested: the outer block confirms
            assert sender.fire_event({"i": 5000}, "batch/x")
        assert sender.cpush  # still open inside the outer block
    assert not sender.cpush  # closed at the end, once the bus had read everything
    got = [ev.get_event(wait=DEADLINE, tag="batch/x")["i"] for _ in range(5001)]
    assert got == list(range(5001))
    assert sender.fire_event({"after": 1}, "batch/after")  # usable afterwards, one write per call again
    assert ev.get_event(wait=DEADLINE, tag="batch/after")["after"] == 1


def test_batch_end_raises_when_the_bus_did_not_read_everything(bus):
    sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
    with pytest.raises(tagbus.Error):
        with sender.batch():
            assert sender.fire_event({"i": 0}, "batch/x")
            bus.stop(signal.SIGKILL)  # gone before the queue is confirmed
            for i in range(1, 100):
                sender.fire_event({"i": i}, "batch/x")


def test_batch_end_raises_when_a_write_failed_during_the_batch(bus):
    sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
    with pytest.raises(tagbus.Error, match="may not have reached the bus"):
        with sender.batch():
            assert sender.fire_event({"i": 0}, "batch/x")
            bus.stop(signal.SIGKILL)
            big = {"pad": "x" * 100000}  # more than a write's worth: written, and failing, at once
            results = [sender.fire_event(dict(big), "batch/x") for _ in range(20)]
            assert results[-1] is False  # the loss shows in the calls, and again at the end


def test_send_fire_and_grains_as_the_event_module(root):
    master_dir, minion_dir = os.path.join(root, "m"), os.path.join(root, "n")
    master = Bus(root, sock_dir=master_dir)
    minion = Bus(root, node="minion", sock_dir=minion_dir, extra=["--master-sock-dir", master_dir, "--id", "web1"])
    try:
        ev = synced(tagbus.MasterEvent(master_dir))
        opts = {"sock_dir": minion_dir, "id": "web1"}
        assert tagbus.send("app/deploy", {"ok": 1}, opts=opts, with_grains=True, extra="kw") == "minion_bus"
        load = ev.get_event(wait=DEADLINE, tag="app/deploy")
        assert load["id"] == "web1" and load["cmd"] == "_minion_event"
        assert load["data"]["ok"] == 1 and load["data"]["extra"] == "kw"
        assert load["data"]["grains"] == tagbus.grains(opts)  # with_grains: the minion's grains
        assert load["data"]["grains"]["id"] == "web1" and "kernel" in load["data"]["grains"]
        minion_ev = synced(tagbus.MinionEvent(opts))
        assert tagbus.fire({"here": True}, "local/one", opts=opts) is True  # event.fire: the minion's own bus
        assert minion_ev.get_event(wait=DEADLINE, tag="local/one")["here"] is True
        assert tagbus.fire_master({"up": True}, "to/master", opts=opts) is True
        assert ev.get_event(wait=DEADLINE, tag="to/master")["data"] == {"up": True}  # the load, as above
    finally:
        minion.stop(signal.SIGKILL)
        master.stop(signal.SIGKILL)
    with pytest.raises(tagbus.Error) as err:
        tagbus.fire({"x": 1}, "no/bus", opts=opts)
    assert err.value.kind == "unavailable"
    with pytest.raises(tagbus.Error, match="no route to the master"):
        tagbus.send("no/route", {"x": 1}, opts=dict(opts, master_sock_dir=master_dir))
