# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""CNI network configuration: load conf/conflist files the way libcni and ocicni do.

- files ending .conflist, .conf, .json in a directory, in sorted order;
- a .conf/.json single-plugin config is upconverted to a list of one plugin;
- an invalid file is skipped with a warning; the first file defining a name wins.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ansible_collections.podnet.cni.plugins.module_utils._errors import ConfigError, ValidationError

CONFIG_EXTENSIONS = (".conf", ".conflist", ".json")
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
PLUGIN_TYPE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

DEFAULT_CONFIG_DIR = "/etc/cni/net.d"
DEFAULT_PLUGIN_DIRS = ("/usr/lib/cni", "/usr/libexec/cni", "/usr/local/libexec/cni",
                       "/usr/local/lib/cni", "/opt/cni/bin")
DEFAULT_CACHE_DIR = "/var/lib/cni"


def validate_network_name(name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ValidationError("invalid network name %r: use letters, digits, '_', '.', '-', "
                              "starting with a letter or digit" % (name,), value=name)
    return name


class NetworkConfigList:
    """One CNI network: a list of plugin configs sharing a name and cniVersion.

    ``raw`` holds the bytes libcni would store in its cache for it (the file's bytes
    for a conflist, the upconverted list for a single conf).
    """

    __slots__ = ("name", "cni_version", "disable_check", "plugins", "raw", "path")

    def __init__(self, name: str, cni_version: str, plugins: List[Dict[str, Any]], raw: bytes,
                 disable_check: bool = False, path: Optional[str] = None) -> None:
        self.name = name
        self.cni_version = cni_version
        self.plugins = plugins
        self.raw = raw
        self.disable_check = disable_check
        self.path = path

    @property
    def plugin_types(self) -> List[str]:
        return [p["type"] for p in self.plugins]

    def capabilities(self) -> Dict[str, bool]:
        """Union of the capabilities the plugins declare."""
        caps: Dict[str, bool] = {}
        for plugin in self.plugins:
            for key, on in (plugin.get("capabilities") or {}).items():
                if on:
                    caps[key] = True
        return caps

    def __repr__(self) -> str:
        return "NetworkConfigList(%r, %r, %r)" % (self.name, self.cni_version, self.plugin_types)


def _check_plugin(plugin: Any, where: str) -> Dict[str, Any]:
    if not isinstance(plugin, dict):
        raise ConfigError("%s: a plugin entry is not an object" % where)
    ptype = plugin.get("type")
    if not isinstance(ptype, str) or not PLUGIN_TYPE_RE.match(ptype):
        raise ConfigError("%s: plugin type %r is missing or invalid" % (where, ptype))
    caps = plugin.get("capabilities")
    if caps is not None and not isinstance(caps, dict):
        raise ConfigError("%s: capabilities of plugin %s must be an object" % (where, ptype))
    return plugin


def _json_object(data: bytes, path: str) -> Dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ConfigError("%s: not valid JSON: %s" % (path, exc), path=path)
    if not isinstance(obj, dict):
        raise ConfigError("%s: the top level is not a JSON object" % path, path=path)
    return obj


def conflist_from_bytes(data: bytes, path: str = "<bytes>") -> NetworkConfigList:
    """Parse a .conflist (libcni ConfListFromBytes)."""
    obj = _json_object(data, path)
    name = obj.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise ConfigError("%s: missing or invalid network name %r" % (path, name), path=path)
    version = obj.get("cniVersion", "")
    if not isinstance(version, str):
        raise ConfigError("%s: cniVersion must be a string" % path, path=path)
    plugins = obj.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise ConfigError("%s: no plugins in network %s" % (path, name), path=path)
    disable_check = obj.get("disableCheck", False)
    if isinstance(disable_check, str):
        disable_check = disable_check.lower() == "true"
    checked = [_check_plugin(p, "%s (network %s)" % (path, name)) for p in plugins]
    return NetworkConfigList(name, version, checked, bytes(data), bool(disable_check), path)


def conflist_from_conf_bytes(data: bytes, path: str = "<bytes>") -> NetworkConfigList:
    """Parse a single-plugin .conf and upconvert it (libcni ConfListFromConf)."""
    obj = _json_object(data, path)
    if "plugins" in obj:
        raise ConfigError("%s: a .conf file holds one plugin, not a plugin list" % path, path=path)
    _check_plugin(obj, path)
    name = obj.get("name")
    version = obj.get("cniVersion", "")
    raw = go_json_bytes({"name": name, "cniVersion": version, "plugins": [obj]})
    return conflist_from_bytes(raw, path)


def go_json_bytes(obj: Any) -> bytes:
    """JSON as Go's json.Marshal writes a map: sorted keys, no spaces, UTF-8, and
    <, >, &, U+2028, U+2029 escaped. libcni upconverts a .conf this way and caches
    those bytes; writing the same bytes keeps our cache entries identical to its."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for char, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                      ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, esc)
    return text.encode("utf-8")


def load_file(path: str) -> NetworkConfigList:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ConfigError("%s: cannot read: %s" % (path, exc.strerror), path=path)
    if path.endswith(".conflist"):
        return conflist_from_bytes(data, path)
    return conflist_from_conf_bytes(data, path)


def config_files(config_dir: str) -> List[str]:
    try:
        names = os.listdir(config_dir)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ConfigError("cannot list CNI config dir %s: %s" % (config_dir, exc.strerror))
    return [os.path.join(config_dir, n) for n in sorted(names)
            if n.endswith(CONFIG_EXTENSIONS) and os.path.isfile(os.path.join(config_dir, n))]


def load_networks(config_dir: str) -> Tuple[Dict[str, NetworkConfigList], List[str]]:
    """All networks of config_dir by name, and the warnings for skipped files."""
    networks: Dict[str, NetworkConfigList] = {}
    warnings: List[str] = []
    for path in config_files(config_dir):
        try:
            conf = load_file(path)
        except ConfigError as exc:
            warnings.append("skipped CNI config %s" % exc)
            continue
        if conf.name in networks:
            warnings.append("skipped CNI config %s: network %s is already defined by %s"
                            % (path, conf.name, networks[conf.name].path))
            continue
        networks[conf.name] = conf
    return networks, warnings


def find_plugin(ptype: str, plugin_dirs: Sequence[str]) -> Optional[str]:
    for directory in plugin_dirs:
        candidate = os.path.join(directory, ptype)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def validate_plugins(conf: NetworkConfigList, plugin_dirs: Sequence[str]) -> Dict[str, str]:
    """Path of every plugin binary of conf; ConfigError naming the first one missing."""
    found: Dict[str, str] = {}
    for ptype in conf.plugin_types:
        if ptype in found:
            continue
        path = find_plugin(ptype, plugin_dirs)
        if path is None:
            raise ConfigError("network %s: CNI plugin %r not found in %s"
                              % (conf.name, ptype, ":".join(plugin_dirs)),
                              network=conf.name, plugin=ptype)
        found[ptype] = path
    return found


def get_network(config_dir: str, name: str,
                networks: Optional[Dict[str, NetworkConfigList]] = None) -> NetworkConfigList:
    validate_network_name(name)
    if networks is None:
        networks = load_networks(config_dir)[0]
    try:
        return networks[name]
    except KeyError:
        raise ValidationError("unknown CNI network %r: not defined in %s (known: %s)"
                              % (name, config_dir, ", ".join(sorted(networks)) or "none"),
                              value=name)


# --- IPAM ranges (host-local), used to validate static IPs and detect overlaps ---

class IpRange:
    __slots__ = ("subnet", "start", "end", "gateway")

    def __init__(self, subnet: Any, start: Any = None, end: Any = None, gateway: Any = None) -> None:
        self.subnet = subnet
        self.start = start
        self.end = end
        self.gateway = gateway

    def contains(self, ip: Any) -> bool:
        """Whether host-local may hand out ip from this range: inside the subnet and
        [rangeStart, rangeEnd] (default: the network address + 1 to the last address, less
        the broadcast address for IPv4), and not the gateway (default: network + 1)."""
        if ip.version != self.subnet.version or ip not in self.subnet:
            return False
        start = self.start if self.start is not None else self.subnet.network_address + 1
        end = self.end if self.end is not None else self.subnet.broadcast_address - (
            1 if self.subnet.version == 4 else 0)
        if ip < start or ip > end:
            return False
        gateway = self.gateway if self.gateway is not None else self.subnet.network_address + 1
        return ip != gateway

    def __repr__(self) -> str:
        text = str(self.subnet)
        if self.start is not None or self.end is not None:
            text += " [%s-%s]" % (self.start or "", self.end or "")
        return text


def _parse_range(obj: Dict[str, Any]) -> Optional[IpRange]:
    try:
        subnet = ipaddress.ip_network(obj["subnet"], strict=False)
    except (KeyError, ValueError, TypeError):
        return None
    conv = {}
    for key in ("rangeStart", "rangeEnd", "gateway"):
        try:
            conv[key] = ipaddress.ip_address(obj[key]) if obj.get(key) else None
        except ValueError:
            conv[key] = None
    return IpRange(subnet, conv["rangeStart"], conv["rangeEnd"], conv["gateway"])


def ipam_ranges(conf: NetworkConfigList) -> List[IpRange]:
    """The host-local ranges of the network ([] when its IPAM is not host-local)."""
    result: List[IpRange] = []
    for plugin in conf.plugins:
        ipam = plugin.get("ipam")
        if not isinstance(ipam, dict) or ipam.get("type") != "host-local":
            continue
        for rangeset in ipam.get("ranges") or []:
            for item in rangeset if isinstance(rangeset, list) else []:
                parsed = _parse_range(item) if isinstance(item, dict) else None
                if parsed:
                    result.append(parsed)
        if ipam.get("subnet"):
            parsed = _parse_range(ipam)
            if parsed:
                result.append(parsed)
    return result


def check_ip_in_network(conf: NetworkConfigList, ip: Any) -> None:
    """ValidationError unless ip lies in a host-local range of conf (other IPAMs: no check)."""
    ranges = ipam_ranges(conf)
    if ranges and not any(r.contains(ip) for r in ranges):
        raise ValidationError("IP %s is outside every range of network %s (%s), or is its "
                              "network, broadcast or gateway address"
                              % (ip, conf.name, ", ".join(repr(r) for r in ranges)),
                              value=str(ip), network=conf.name)


def subnets(conf: NetworkConfigList) -> List[Any]:
    return [r.subnet for r in ipam_ranges(conf)]


def iter_ipam_dirs(conf: NetworkConfigList) -> Iterable[Tuple[str, str]]:
    """(ipam dataDir, network name) for each host-local IPAM of conf."""
    for plugin in conf.plugins:
        ipam = plugin.get("ipam")
        if isinstance(ipam, dict) and ipam.get("type") == "host-local":
            yield (ipam.get("dataDir") or "/var/lib/cni/networks", conf.name)
