# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Input validation and normalisation: ids, names, interfaces, IPs, MACs, ports.

Every function returns the normalised value or raises ValidationError naming the
bad value, so modules can validate everything before touching the host.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any, Dict, List, Optional, Sequence

from ansible_collections.podnet.cni.plugins.module_utils._errors import ValidationError

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ID_MAX = 253
# a container id names files: <state_dir>/containers/<id>.json, <state_dir>/locks/<id>.lock
FILE_NAME_MAX = 255
CONTAINER_ID_MAX = FILE_NAME_MAX - len(".json")
IFNAME_MAX = 15
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}$")
PROTOCOLS = ("tcp", "udp", "sctp")


def container_id(value: Any, what: str = "container_id") -> str:
    """A container id (or name, ``what``): ids name files, so at most CONTAINER_ID_MAX
    characters; names at most ID_MAX (a DNS name)."""
    limit = CONTAINER_ID_MAX if what == "container_id" else ID_MAX
    if isinstance(value, str) and ID_RE.match(value) and len(value) > limit:
        raise ValidationError("invalid %s %r: too long (%d characters, at most %d%s)"
                              % (what, value, len(value), limit,
                                 ": it names the container's record and lock files"
                                 if what == "container_id" else ""), value=value)
    if not isinstance(value, str) or not ID_RE.match(value):
        raise ValidationError("invalid %s %r: it must match [A-Za-z0-9][A-Za-z0-9_.-]* "
                              "and be at most %d characters" % (what, value, limit), value=value)
    return value


def any_container_id(value: Any) -> str:
    """A container id another tool may have given (libcni accepts any non-empty string
    without '/'): for finding attachments, never for naming our files."""
    if not isinstance(value, str) or not value or "/" in value or value in (".", ".."):
        raise ValidationError("invalid container id %r" % (value,), value=value)
    return value


def attachment_names_fit(network: str, cid: str, ifname: str) -> None:
    """The libcni cache file of an attachment is ``<network>-<id>-<ifname>`` (and our
    intent file that name + ``.json``): it must fit in a file name."""
    length = len(network) + len(cid) + len(ifname) + 2 + len(".json")
    if length > FILE_NAME_MAX:
        raise ValidationError("container id %r is too long for network %s and interface %s: "
                              "the libcni cache file <network>-<id>-<interface> (with the "
                              ".json of its intent) would be %d characters, at most %d"
                              % (cid, network, ifname, length, FILE_NAME_MAX),
                              value=cid, network=network)


def ifname(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError("invalid interface name %r: empty" % (value,), value=value)
    if len(value) > IFNAME_MAX:
        raise ValidationError("invalid interface name %r: longer than %d characters"
                              % (value, IFNAME_MAX), value=value)
    if value in (".", "..") or any(c in value for c in "/:") or any(c.isspace() for c in value):
        raise ValidationError("invalid interface name %r: it must not contain '/', ':' or "
                              "whitespace, nor be '.' or '..'" % value, value=value)
    return value


def ip(value: Any, what: str = "IP address") -> str:
    try:
        if "%" in str(value):  # a scoped IPv6 address ("fe80::1%eth0") cannot be assigned
            raise ValueError
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValidationError("invalid %s %r" % (what, value), value=value)


def ip_list(values: Optional[Sequence[Any]], what: str = "IP address") -> List[str]:
    result = [ip(v, what) for v in values or []]
    seen = set()
    for item in result:
        if item in seen:
            raise ValidationError("duplicate %s %s" % (what, item), value=item)
        seen.add(item)
    versions = [ipaddress.ip_address(i).version for i in result]
    for version in (4, 6):
        if versions.count(version) > 1:
            raise ValidationError("at most one IPv%d address per network, got %s"
                                  % (version, ", ".join(result)), value=result)
    return result


def cidr(value: Any, what: str = "subnet") -> str:
    try:
        return str(ipaddress.ip_network(str(value).strip(), strict=False))
    except ValueError:
        raise ValidationError("invalid %s %r" % (what, value), value=value)


def mac(value: Any) -> str:
    if not isinstance(value, str) or not MAC_RE.match(value.strip()):
        raise ValidationError("invalid MAC address %r: expected six hex octets like "
                              "02:42:ac:11:00:02" % (value,), value=value)
    norm = value.strip().lower().replace("-", ":")
    if int(norm[:2], 16) & 1:
        raise ValidationError("invalid MAC address %r: a multicast address (the first "
                              "octet is odd) cannot be set on an interface" % value, value=value)
    if norm == "00:00:00:00:00:00":
        raise ValidationError("invalid MAC address %r: the all-zero address cannot be set on "
                              "an interface" % value, value=value)
    return norm


def port(value: Any, what: str = "port") -> int:
    try:
        num = int(value)
        if str(num) != str(value).strip() and not isinstance(value, int):
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError("invalid %s %r: not an integer" % (what, value), value=value)
    if isinstance(value, bool) or not 1 <= num <= 65535:
        raise ValidationError("invalid %s %r: must be between 1 and 65535" % (what, value),
                              value=value)
    return num


def protocol(value: Any) -> str:
    if not isinstance(value, str) or value.lower() not in PROTOCOLS:
        raise ValidationError("invalid protocol %r: use one of %s" % (value, ", ".join(PROTOCOLS)),
                              value=value)
    return value.lower()


PORT_MAPPING_KEYS = ("container_port", "host_ip", "host_port", "protocol", "range")


def unknown_keys(item: Dict[str, Any], valid: Sequence[str]) -> Optional[str]:
    """"unknown key X (valid keys: A, B)" when item has keys outside valid, else None."""
    unknown = sorted(str(k) for k in set(item) - set(valid))
    if not unknown:
        return None
    return "unknown key%s %s (valid keys: %s)" % ("s" if len(unknown) > 1 else "", ", ".join(unknown),
                                                  ", ".join(sorted(valid)))


PORT_STRING_FORMAT = "[[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"


def port_mapping(pm: Any, what: str = "port_mappings") -> Dict[str, Any]:
    """One port mapping (a dict or a podman/docker string) → normalised
    {host_port, container_port, protocol, host_ip, range}. A string naming several
    protocols ("53:53/tcp,udp") is refused here: port_mappings() expands it."""
    found = port_mapping_entries(pm, what)
    if len(found) != 1:
        raise ValidationError("invalid %s entry %r: one protocol here" % (what, pm), value=pm)
    return found[0]


def port_mapping_entries(pm: Any, what: str = "port_mappings") -> List[Dict[str, Any]]:
    """The normalised mappings of one entry of ``what``: a dict, or a podman/docker string
    (one per protocol of "/tcp,udp"). A bad entry raises naming ``what`` and the entry."""
    if isinstance(pm, dict):
        try:
            return [_port_mapping_dict(pm)]
        except ValidationError as exc:
            raise ValidationError("invalid %s entry %r: %s" % (what, pm, exc.msg), value=pm)
    if isinstance(pm, (str, int)) and not isinstance(pm, bool):
        return [_port_mapping_dict(d) for d in parse_port_string(str(pm), what, pm)]
    raise ValidationError("invalid %s entry %r: a dict with the keys %s, or a string %s "
                          "(like '8080:80' or '127.0.0.1:8080:80/tcp')"
                          % (what, pm, ", ".join(PORT_MAPPING_KEYS), PORT_STRING_FORMAT), value=pm)


def _port_range(text: str) -> List[int]:
    """'80' → [80, 1]; '80-82' → [80, 3]; ValueError when it is neither."""
    first, sep, last = text.partition("-")
    if not re.match(r"^[0-9]+$", first) or (sep and not re.match(r"^[0-9]+$", last)):
        raise ValueError("%r is not a port or a range START-END" % text)
    start, end = int(first), int(last) if sep else int(first)
    if not 1 <= start <= 65535 or not 1 <= end <= 65535:
        raise ValueError("port %s is not between 1 and 65535" % (start if not 1 <= start <= 65535 else end))
    if end < start:
        raise ValueError("range %s ends before it starts" % text)
    return [start, end - start + 1]


def parse_port_string(text: str, what: str = "port_mappings", shown: Any = None) -> List[Dict[str, Any]]:
    """A podman/docker port string (podman's CreatePortBindings rules) → raw mapping dicts:
    ``[[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL[,PROTOCOL]]``, ports or equal-length
    ranges (``8080-8082:80-82``), an IPv6 host address in brackets (``[::1]:8080:80``),
    ``0.0.0.0`` meaning every address. A container port alone (podman and docker publish
    it on a random host port) is refused: a random port would change on every run."""
    def bad(reason: str) -> ValidationError:
        return ValidationError("invalid %s entry %r: %s (format %s, e.g. '8080:80', "
                               "'127.0.0.1:8080:80/tcp', '[::1]:8080-8081:80-81/udp')"
                               % (what, text if shown is None else shown, reason,
                                  PORT_STRING_FORMAT), value=text)

    if not text or text != text.strip() or any(c.isspace() for c in text):
        raise bad("empty or with whitespace")
    rest, slash, protos = text.partition("/")
    if slash and "/" in protos:
        raise bad("the protocol can only be given once")
    protocols = protos.split(",") if slash else ["tcp"]
    for proto in protocols:
        if proto.lower() not in PROTOCOLS:
            raise bad("unknown protocol %r: use %s" % (proto, ", ".join(PROTOCOLS)))
    host_ip: Optional[str] = None
    if rest.startswith("["):
        addr, bracket, after = rest[1:].partition("]")
        if not bracket or not after.startswith(":") or "]" in after:
            raise bad("an IPv6 host address is written [ADDRESS]:HOST_PORT:CONTAINER_PORT")
        host_ip = addr
        parts = after[1:].split(":")
        if len(parts) != 2:
            raise bad("an IPv6 host address is written [ADDRESS]:HOST_PORT:CONTAINER_PORT")
    elif "]" in rest:
        raise bad("an IPv6 host address must be enclosed in []")
    else:
        parts = rest.split(":")
        if len(parts) > 3:
            raise bad("too many ':' (an IPv6 host address is written in [])")
        if len(parts) == 3:
            host_ip = parts.pop(0)
            if not host_ip:
                raise bad("an empty host address (leave it out for every address)")
    if len(parts) == 1 or not parts[0]:
        raise bad("no host port: podman and docker publish such a port on a random host port, "
                  "which podnet.cni does not pick (it would change on every run); give the host "
                  "port, e.g. '%s:%s'" % (parts[-1] or "8080", parts[-1] or "80"))
    try:
        cport, ccount = _port_range(parts[1])
        hport, hcount = _port_range(parts[0])
    except ValueError as exc:
        raise bad(str(exc))
    if hcount != ccount:
        raise bad("host and container port ranges have different lengths: %d and %d"
                  % (hcount, ccount))
    if host_ip is not None:
        try:
            host_ip = ip(host_ip, "host address")
        except ValidationError as exc:
            raise bad(exc.msg)
        if host_ip == "0.0.0.0":
            host_ip = ""  # every address, as podman takes it
    return [{"host_port": hport, "container_port": cport, "protocol": proto.lower(),
             "host_ip": host_ip or "", "range": ccount} for proto in protocols]


def _port_mapping_dict(pm: Dict[str, Any]) -> Dict[str, Any]:
    unknown = unknown_keys(pm, PORT_MAPPING_KEYS)
    if unknown:
        raise ValidationError(unknown, value=pm)
    if pm.get("container_port") is None:
        raise ValidationError("container_port is required", value=pm)
    cport = port(pm.get("container_port"), "container_port")
    hport = port(pm.get("host_port") if pm.get("host_port") is not None else cport, "host_port")
    count = pm.get("range") if pm.get("range") is not None else 1
    try:
        if isinstance(count, bool):
            raise ValueError
        count = int(count)
    except (TypeError, ValueError):
        raise ValidationError("invalid port range %r: not an integer" % (count,), value=count)
    if count < 1 or cport + count - 1 > 65535 or hport + count - 1 > 65535:
        raise ValidationError("invalid port range %r for ports %d/%d: it must be at least 1 and "
                              "stay within 65535" % (count, hport, cport), value=count)
    host_ip = pm.get("host_ip") or ""
    if host_ip:
        host_ip = ip(host_ip, "host_ip")
    return {"host_port": hport, "container_port": cport,
            "protocol": protocol(pm.get("protocol") or "tcp"), "host_ip": host_ip, "range": count}


def port_mappings(pms: Optional[Sequence[Any]], what: str = "port_mappings") -> List[Dict[str, Any]]:
    """Every entry (dicts and podman/docker strings) normalised, sorted; a host port mapped
    twice is refused."""
    if pms is not None and not isinstance(pms, (list, tuple)):
        raise ValidationError("invalid %s %r: a list of dicts or strings like '8080:80'"
                              % (what, pms), value=pms)
    result = [m for p in pms or [] for m in port_mapping_entries(p, what)]
    used = {}
    for pm in result:
        for i in range(pm["range"]):
            key = (pm["host_ip"], pm["host_port"] + i, pm["protocol"])
            if key in used:
                raise ValidationError("host port %s/%s%s is mapped twice"
                                      % (key[1], key[2], " on %s" % key[0] if key[0] else ""),
                                      value=key[1])
            used[key] = True
    return sorted(result, key=lambda p: (p["protocol"], p["host_port"], p["host_ip"]))


def cni_port_mappings(pms: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Normalised mappings → the CNI ``portMappings`` capability (ranges expanded, as podman)."""
    out = []
    for pm in pms:
        for i in range(pm["range"]):
            entry = {"hostPort": pm["host_port"] + i, "containerPort": pm["container_port"] + i,
                     "protocol": pm["protocol"]}
            if pm["host_ip"]:
                entry["hostIP"] = pm["host_ip"]
            out.append(entry)
    return out


def aliases(values: Optional[Sequence[Any]]) -> List[str]:
    out = []
    for alias in values or []:
        if not isinstance(alias, str) or not re.match(r"^[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9])?$", alias) \
                or len(alias) > 253:
            raise ValidationError("invalid alias %r: use a DNS name (letters, digits, '-', '.', '_')"
                                  % (alias,), value=alias)
        if alias not in out:
            out.append(alias)
    return sorted(out)


def cni_args(values: Any) -> List[List[str]]:
    """Extra CNI_ARGS: a dict or list of [key, value]; no ';' or '=' in keys, no ';' in values."""
    if not values:
        return []
    pairs = list(values.items()) if isinstance(values, dict) else list(values)
    out = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValidationError("invalid CNI arg %r: expected a key and a value" % (pair,), value=pair)
        key, val = str(pair[0]), str(pair[1])
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key) or ";" in val:
            raise ValidationError("invalid CNI arg %s=%s: keys are identifiers and values "
                                  "must not contain ';'" % (key, val), value=key)
        out.append([key, val])
    return out
