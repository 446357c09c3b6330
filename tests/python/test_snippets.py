"""The Salt documentation's event snippets, run as written with only `salt.config`,
`salt.utils.event` and `salt.client` replaced by `tagbus`. The bus is found through
TAGBUS_SOCK_DIR, which beats any /etc/salt config (a machine without Salt has none)."""
import os
import signal
import sys

from conftest import DEADLINE
from tb import Proc


def run_snippet(code, sock_dir):
    env = dict(os.environ, TAGBUS_SOCK_DIR=sock_dir)
    return Proc([sys.executable, "-c", code], env=env)


def test_from_python_get_event_with_client_config(bus):
    # "import salt.config" and "import salt.utils.event", each swapped for tagbus
    code = """
import tagbus
import tagbus

opts = tagbus.client_config("/etc/salt/master")

event = tagbus.get_event("master", sock_dir=opts["sock_dir"], transport=opts["transport"], opts=opts)
print("listening", flush=True)

data = event.get_event(wait=10, tag="salt/auth")
print(sorted(data.items()) if data else data, flush=True)
"""
    p = run_snippet(code, bus.sock_dir)
    try:
        assert p.out.readline() == b"listening\n"
        import tagbus
        sender = tagbus.MasterEvent(bus.sock_dir, listen=False)
        line = b""
        # the listener subscribed before it printed; fire until its answer comes (the bus may
        # register it a moment later)
        import select
        while not line:
            assert sender.fire_event({"act": "accept", "id": "web1", "result": True}, "salt/auth")
            if select.select([p.out.fd], [], [], 0.2)[0]:
                line = p.out.readline()
        assert line.startswith(b"[('_stamp', '") and line.endswith(b"('act', 'accept'), ('id', 'web1'), ('result', True)]\n")
        assert p.wait() == 0
    finally:
        p.stop(signal.SIGKILL)


def test_from_custom_python_scripts_caller_event_send(root):
    # "import salt.client" swapped for tagbus; a minion bus that forwards fire_master requests to
    # the master bus, as a Salt minion daemon does
    import tagbus
    from conftest import Bus, synced

    master_dir, minion_dir = os.path.join(root, "m"), os.path.join(root, "n")
    master = Bus(root, sock_dir=master_dir)
    minion = Bus(root, node="minion", sock_dir=minion_dir, extra=["--master-sock-dir", master_dir])
    try:
        ev = synced(tagbus.MasterEvent(master_dir))
        code = """
import tagbus

caller = tagbus.Caller()

caller.sminion.functions["event.send"](
    "myco/myevent/success",
    {
        "success": True,
        "message": "It works!",
    },
)
"""
        p = run_snippet(code, minion_dir)
        try:
            assert p.wait() == 0, p.err.read_until_eof()
        finally:
            p.stop(signal.SIGKILL)
        got = ev.get_event(wait=DEADLINE, tag="myco/myevent/success", full=True)
        assert got is not None
        assert got["tag"] == "myco/myevent/success", got
        # SALT-WIRE §8: through a minion, the master's event data is the whole request load
        load = got["data"]
        assert (load["cmd"], load["tag"], load["data"]) == ("_minion_event", "myco/myevent/success",
                                                            {"success": True, "message": "It works!"})
        # the same call returns True, and False (logged, as Salt's loader function) with no bus
        ok = run_snippet("import tagbus\nprint(tagbus.Caller().cmd('event.send', 'myco/again', {'n': 1}))", minion_dir)
        assert ok.wait() == 0 and ok.out.readline() == b"True\n"
        ok.stop()
        assert ev.get_event(wait=DEADLINE, tag="myco/again")["data"] == {"n": 1}
        minion.stop()
        master.stop()
        bad = run_snippet("import tagbus\nprint(tagbus.Caller().cmd('event.send', 'myco/lost', {'n': 1}))", minion_dir)
        assert bad.wait() == 0 and bad.out.readline() == b"False\n"
        assert b"event.send failed" in bad.err.read_until_eof()
        bad.stop()
    finally:
        minion.stop(signal.SIGKILL)
        master.stop(signal.SIGKILL)
