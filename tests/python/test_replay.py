"""tagbus.replay against a real nats-server, filled by a real event-bridge out from a real
event-busd: the same events, decoded as get_event decodes them, from the start points a
Python programmer would reach for."""
import datetime
import os
import signal

import pytest

import natsc
import tagbus
from tb import BIN, Proc


@pytest.fixture
def nats(root):
    s = natsc.Server(root).start()
    natsc.wait_for(lambda: natsc.jetstream_ready(s), "JetStream")
    yield s
    s.stop(signal.SIGKILL)


@pytest.fixture
def bridged(root, bus, nats):
    """Six events fired on the bus, all in the stream EV; returns what a live listener got."""
    out = Proc([os.path.join(BIN, "event-bridge"), "out", "--server", nats.url, "--stream", "EV", "--sock-dir",
                bus.sock_dir, "-c", bus.config_dir, "--node", "master"])
    while b"out: reading " not in out.err.readline():
        pass
    ev = tagbus.get_event("master", sock_dir=bus.sock_dir, opts={"sock_dir": bus.sock_dir})
    from conftest import synced
    synced(ev)
    sent = [({"n": i, "s": "é", "when": datetime.datetime(2026, 12, 6, 1, 2, 3, 4 + i), "b": b"\x00\xff"}, "myco/ev/%d" % i)
            for i in range(6)]
    for data, tag in sent:
        assert ev.fire_event(dict(data), tag)
    live = [ev.get_event(wait=5, tag="myco/ev/", full=True) for _ in sent]
    c = natsc.Client(nats.port)
    # The sync probes went into the stream too; wait for the last event.
    natsc.wait_for(lambda: any(m["subject"].endswith(".myco.ev.5") for m in c.messages("EV")), "the events in the stream")
    c.close()
    yield live
    ev.destroy()
    assert out.stop() == 0


def test_all_history_matches_the_live_events(nats, bridged):
    got = list(tagbus.replay(nats.url, "EV", all=True, tag="myco/ev/", wait=1))
    assert got == bridged
    assert isinstance(got[0]["data"]["when"], datetime.datetime)
    assert got[0]["data"]["b"] == b"\x00\xff"


def test_start_points_filters_and_data_only(nats, bridged):
    n = len(list(tagbus.replay(nats.url, "EV", all=True, wait=1)))
    tail = list(tagbus.replay([nats.url], "EV", seq=n - 1, wait=1, full=False))
    assert tail == [bridged[4]["data"], bridged[5]["data"]]
    assert list(tagbus.replay(nats.url, "EV", since="10m", tag="myco/ev/[24]", match_type="fnmatch", wait=1)) == \
        [bridged[2], bridged[4]]
    assert list(tagbus.replay(nats.url, "EV", since=datetime.timedelta(minutes=10), tag="/5", match_type="endswith",
                              wait=1)) == [bridged[5]]
    assert list(tagbus.replay(nats.url, "EV", since=datetime.datetime.utcnow() + datetime.timedelta(hours=1),
                              wait=0.5)) == []
    # The default is what comes from now on, as a listener's.
    assert list(tagbus.replay(nats.url, "EV", wait=0.5)) == []


def test_errors_say_what_is_wrong(nats, root):
    with pytest.raises(tagbus.Error) as e:
        list(tagbus.replay(nats.url, "NOPE", all=True, wait=0.5))
    assert "stream not found" in str(e.value)
    assert e.value.kind == "unavailable"
    with pytest.raises(tagbus.Error) as e:
        list(tagbus.replay("nats://127.0.0.1:%d" % natsc.free_port(), "EV", all=True, wait=0.5))
    assert e.value.kind == "unavailable"
    with pytest.raises(ValueError):
        list(tagbus.replay(nats.url, "EV", all=True, seq=3))
    with pytest.raises(ValueError):
        list(tagbus.replay(nats.url, "EV", since="ten minutes"))
