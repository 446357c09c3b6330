"""Salt's config loading, for the keys the event library uses (salt.config's client_config,
master_config, minion_config): the same files, includes, root_dir and precedence as the tools."""
import os

from . import _tagbus

# Salt's defaults for what the event library reads; every key the config files set is added.
_DEFAULTS = {
    "master": {"transport": "zeromq", "ipc_mode": "ipc", "ipv6": False, "hash_type": "sha256",
               "tcp_master_pub_port": 4512, "tcp_master_pull_port": 4513, "event_match_type": "startswith",
               "max_event_size": 1048576, "root_dir": "/", "cachedir": "/var/cache/salt/master"},
    "minion": {"transport": "zeromq", "ipc_mode": "ipc", "ipv6": False, "hash_type": "sha256",
               "tcp_pub_port": 4510, "tcp_pull_port": 4511, "event_match_type": "startswith",
               "max_event_size": 1048576, "root_dir": "/", "cachedir": "/var/cache/salt/minion",
               "file_client": "remote", "master_type": "str"},
}


def _load(node, path, env_var, default_path, minion_id=None):
    if path == default_path and env_var and os.environ.get(env_var):
        path = os.environ[env_var]
    if os.path.isdir(path):
        config_dir = path
        path = os.path.join(path, node)
    else:
        config_dir = os.path.dirname(path) or "."
    base = os.path.basename(path)
    if base not in ("master", "minion"):
        raise ValueError(f"cannot tell which node {path} configures: tagbus reads a config file named "
                         f"'master' or 'minion' (with its {base}.d folder), as Salt installs them")
    node = base
    if os.path.isdir(config_dir):
        dest = _tagbus.Destination(node, config_dir=config_dir, id=minion_id)
    else:  # no config at all: Salt's defaults, as Salt's loaders give them for a missing file
        dest = _tagbus.Destination(node, id=minion_id, opts={})
    opts = dict(_DEFAULTS[node])
    opts.update(dest.config)
    opts["sock_dir"] = dest.sock_dir
    opts["max_event_size"] = dest.max_event_size
    opts["conf_file"] = path
    opts["config_dir"] = config_dir
    opts["__role"] = node
    if dest.id:
        opts["id"] = dest.id
    return opts


def client_config(path="/etc/salt/master", env_var="SALT_CLIENT_CONFIG", defaults=None):
    """The options of the master (or minion) config file at ``path``, as
    ``salt.config.client_config`` gives them to a program that talks to the bus: ``sock_dir``
    resolved as the tagbus tools resolve it, ``id``, ``transport``, ``hash_type``, the tcp ports,
    ``max_event_size``, ``event_match_type``, and every key the files set."""
    opts = _load("master", path, env_var, "/etc/salt/master")
    if defaults:
        for key, val in defaults.items():
            opts.setdefault(key, val)
    return opts


def master_config(path="/etc/salt/master", env_var="SALT_MASTER_CONFIG", defaults=None, exit_on_config_errors=False):
    """As :func:`client_config`, for a master's config file."""
    return client_config(path, env_var, defaults)


def minion_config(path="/etc/salt/minion", env_var="SALT_MINION_CONFIG", defaults=None, cache_minion_id=False,
                  ignore_config_errors=True, minion_id=None, role="minion"):
    """The options of the minion config file at ``path``, as ``salt.config.minion_config``: its
    ``id`` (config, ``minion_id`` file, else the host's FQDN, or ``minion_id`` when given),
    ``sock_dir``, ``hash_type`` and the rest the event library uses, and every key the files set."""
    opts = _load("minion", path, env_var, "/etc/salt/minion", minion_id=minion_id)
    if defaults:
        for key, val in defaults.items():
            opts.setdefault(key, val)
    return opts
