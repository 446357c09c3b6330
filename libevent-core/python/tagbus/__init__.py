"""tagbus: Salt's event bus from Python, without Salt.

A drop-in for ``salt.utils.event`` (``get_event``, ``MasterEvent``, ``MinionEvent``,
``SaltEvent.get_event``/``iter_events``/``fire_event``...), ``salt.config``'s config loading
for the keys the bus needs (``client_config``, ``minion_config``), and ``salt.client.Caller``
for the event module, over libtagbus (C++). It works against event-busd and against the
sockets of a running Salt master or minion::

    import tagbus
    opts = tagbus.client_config("/etc/salt/master")
    event = tagbus.get_event("master", sock_dir=opts["sock_dir"], opts=opts)
    data = event.get_event(wait=10, tag="salt/auth", full=True)

See tagbus(7) for the whole API and how it differs from Salt's.
"""
from ._types import Constant, Error, ExtType
from ._event import (MATCH_TYPES, SALT, TAGEND, TAGPARTER, TAGS, MasterEvent, MinionEvent, SaltEvent, get_event,
                     get_master_event, tagify)
from ._config import client_config, master_config, minion_config
from ._caller import Caller, fire, fire_master, grains, send
from ._replay import replay

__version__ = "0.1.0"

__all__ = ["Caller", "Constant", "Error", "ExtType", "MasterEvent", "MinionEvent", "SaltEvent", "client_config",
           "fire", "fire_master", "get_event", "get_master_event", "grains", "master_config", "minion_config",
           "replay", "send", "tagify", "MATCH_TYPES", "SALT", "TAGEND", "TAGPARTER", "TAGS"]
