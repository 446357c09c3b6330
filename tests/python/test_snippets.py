"""The Salt documentation's event snippets, run as written with only `salt.config`,
`salt.utils.event` and `salt.client` replaced by `tagbus`. The bus is found through
TAGBUS_SOCK_DIR, which beats any /etc/salt config (a machine without Salt has none)."""
import os
import signal
import sys

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
