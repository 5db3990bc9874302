# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Over 450 lines: one program's interface (command line, features, API socket, host forwards), used alike by the rootless CNI namespace and slirp4netns mode.
"""slirp4netns: feature detection, command line, start with a ready fd, the API socket
(port forwarding), and the addresses slirp4netns derives from its CIDR.

slirp4netns connects a network namespace to the host's network in user mode through
a tap device. With ``--configure`` it gives the tap ``network+100``, the gateway is
``network+2`` and its DNS forwarder ``network+3`` (10.0.2.100/.2/.3 by default).
"""
from __future__ import annotations

import errno
import ipaddress
import json
import os
import shutil
import socket
import subprocess
from typing import Any, Callable, Dict, List, Optional, Sequence

from ansible_collections.podnet.cni.plugins.module_utils import _procs
from ansible_collections.podnet.cni.plugins.module_utils._errors import RootlessError, ValidationError
from ansible_collections.podnet.cni.plugins.module_utils import _constants as C

DEFAULT_CIDR = "10.0.2.0/24"
DEFAULT_MTU = C.SLIRP_MTU
MAX_MTU = 65521
DEFAULT_TAP = "tap0"
READY_TIMEOUT = 10.0
API_TIMEOUT = 5.0

# option in --help → feature name
_FEATURES = {
    "--configure": "configure",
    "--ready-fd": "ready_fd",
    "--exit-fd": "exit_fd",
    "--mtu": "mtu",
    "--enable-ipv6": "ipv6",
    "--api-socket": "api_socket",
    "--cidr": "cidr",
    "--disable-host-loopback": "disable_host_loopback",
    "--netns-type": "netns_type",
    "--userns-path": "userns_path",
    "--enable-sandbox": "sandbox",
    "--enable-seccomp": "seccomp",
    "--outbound-addr": "outbound_addr",
    "--outbound-addr6": "outbound_addr6",
    "--disable-dns": "disable_dns",
    "--macaddress": "macaddress",
}


def find_binary(path: Optional[str] = None) -> str:
    """The slirp4netns executable: the given path, else the first on PATH (+ sbin dirs)."""
    if path:
        if not os.path.isabs(path) or not os.access(path, os.X_OK):
            raise ValidationError("slirp4netns path %r is not an absolute path to an executable"
                                  % path, value=path)
        return path
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/bin", "/usr/bin", "/usr/sbin"])
    found = shutil.which("slirp4netns", path=search)
    if not found:
        raise RootlessError("slirp4netns not found: install the slirp4netns package "
                            "(Debian/Ubuntu/Fedora: slirp4netns) or set its path")
    return found


def parse_features(help_text: str) -> Dict[str, bool]:
    """Which options this slirp4netns knows, from its --help text."""
    words = set()
    for line in help_text.splitlines():
        for token in line.replace(",", " ").replace("=", " ").split():
            if token.startswith("--"):
                words.add(token)
    return {name: opt in words for opt, name in sorted(_FEATURES.items())}


def detect_features(binary: str) -> Dict[str, bool]:
    try:
        proc = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RootlessError("cannot run %s --help: %s" % (binary, exc), binary=binary)
    return parse_features(proc.stdout.decode("utf-8", "replace"))


class SlirpNetwork:
    """The addresses slirp4netns uses for a CIDR (IPv4; at least a /25 so .100 fits)."""

    def __init__(self, cidr: Optional[str] = None) -> None:
        text = cidr or DEFAULT_CIDR
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValidationError("invalid slirp4netns cidr %r" % (text,), value=text)
        if net.version != 4:
            raise ValidationError("invalid slirp4netns cidr %r: it must be IPv4" % text, value=text)
        if net.prefixlen > 25:
            raise ValidationError("invalid slirp4netns cidr %r: the prefix must be /25 or "
                                  "shorter (slirp4netns puts the namespace at network+100)" % text,
                                  value=text)
        self.network = net
        self.cidr = str(net)
        self.gateway = str(net.network_address + 2)
        self.dns = str(net.network_address + 3)
        self.guest = str(net.network_address + 100)

    def to_dict(self) -> Dict[str, str]:
        return {"cidr": self.cidr, "gateway": self.gateway, "dns": self.dns, "guest": self.guest}


class SlirpOptions:
    """Validated slirp4netns options (the module's parameters)."""

    FIELDS = ("mtu", "cidr", "enable_ipv6", "disable_host_loopback", "outbound_addr",
              "enable_sandbox", "enable_seccomp")

    def __init__(self, mtu: Optional[int] = None, cidr: Optional[str] = None,
                 enable_ipv6: bool = False, disable_host_loopback: bool = True,
                 outbound_addr: Optional[str] = None, enable_sandbox: bool = False,
                 enable_seccomp: bool = False) -> None:
        mtu = DEFAULT_MTU if mtu is None else mtu
        if isinstance(mtu, bool) or not isinstance(mtu, int) or not 1280 <= mtu <= MAX_MTU:
            raise ValidationError("invalid slirp4netns mtu %r: use 1280..%d" % (mtu, MAX_MTU), value=mtu)
        self.mtu = mtu
        self.net = SlirpNetwork(cidr)
        self.cidr = self.net.cidr if cidr else None
        self.enable_ipv6 = bool(enable_ipv6)
        self.disable_host_loopback = bool(disable_host_loopback)
        if outbound_addr:
            try:
                addr = ipaddress.ip_address(outbound_addr)
            except ValueError:
                addr = None
            if addr is None or addr.version != 4:
                raise ValidationError("invalid outbound_addr %r: an IPv4 address" % (outbound_addr,),
                                      value=outbound_addr)
            outbound_addr = str(addr)
        self.outbound_addr = outbound_addr or None
        self.enable_sandbox = bool(enable_sandbox)
        self.enable_seccomp = bool(enable_seccomp)

    def to_dict(self) -> Dict[str, Any]:
        return {f: getattr(self, f) for f in self.FIELDS}


_NEEDS = (("cidr", "cidr", "--cidr"), ("enable_ipv6", "ipv6", "--enable-ipv6"),
          ("disable_host_loopback", "disable_host_loopback", "--disable-host-loopback"),
          ("outbound_addr", "outbound_addr", "--outbound-addr"),
          ("enable_sandbox", "sandbox", "--enable-sandbox"),
          ("enable_seccomp", "seccomp", "--enable-seccomp"))


def build_args(binary: str, features: Dict[str, bool], opts: SlirpOptions, target: str,
               api_socket: Optional[str], ready_fd: Optional[int], netns_type: str = "path",
               tap: str = DEFAULT_TAP, exit_fd: Optional[int] = None) -> List[str]:
    """The argv podman builds (setupSlirp4netns / the rootless CNI netns)."""
    for attr, feature, option in _NEEDS:
        if getattr(opts, attr) and not features.get(feature):
            raise RootlessError("this slirp4netns does not support %s (asked by %s)"
                                % (option, attr), option=option)
    for feature, option in (("configure", "--configure"), ("ready_fd", "--ready-fd"),
                            ("mtu", "--mtu")):
        if not features.get(feature):
            raise RootlessError("this slirp4netns is too old: it lacks %s" % option, option=option)
    argv = [binary, "--configure", "--mtu=%d" % opts.mtu]
    if opts.disable_host_loopback:
        argv.append("--disable-host-loopback")
    if opts.cidr:
        argv.append("--cidr=%s" % opts.cidr)
    if opts.enable_ipv6:
        argv.append("--enable-ipv6")
    if opts.outbound_addr:
        argv.append("--outbound-addr=%s" % opts.outbound_addr)
    if opts.enable_sandbox:
        argv.append("--enable-sandbox")
    if opts.enable_seccomp:
        argv.append("--enable-seccomp")
    if api_socket:
        if not features.get("api_socket"):
            raise RootlessError("this slirp4netns does not support --api-socket (needed for "
                                "port forwarding)", option="--api-socket")
        argv.append("--api-socket=%s" % api_socket)
    if ready_fd is not None:
        argv.append("--ready-fd=%d" % ready_fd)
    if exit_fd is not None:
        argv.append("--exit-fd=%d" % exit_fd)
    if netns_type == "path":
        if not features.get("netns_type"):
            raise RootlessError("this slirp4netns does not support --netns-type=path",
                                option="--netns-type")
        argv.append("--netns-type=path")
    argv += [target, tap]
    return argv


def start(binary: str, features: Dict[str, bool], opts: SlirpOptions, target: str,
          api_socket: Optional[str], log_path: str, netns_type: str = "path",
          preexec: Optional[Callable[[], None]] = None,
          timeout: float = READY_TIMEOUT, pid_ns: Optional[str] = None) -> _procs.ProcessIdentity:
    """Start slirp4netns for target (a netns path or a pid) and wait for its ready fd;
    with pid_ns (rootless: the holder's) it runs there and the holder reaps it."""
    if api_socket:
        try:
            os.unlink(api_socket)
        except FileNotFoundError:
            pass
    try:
        return _procs.start_daemon(
            lambda fd: build_args(binary, features, opts, target, api_socket, fd, netns_type),
            use_ready_fd=True, preexec=preexec, log_path=log_path, timeout=timeout,
            what="slirp4netns", pid_ns=pid_ns)
    except _procs.ChildFailure as exc:
        raise RootlessError(str(exc), log=log_path)


def is_slirp_of(ident: _procs.ProcessIdentity, target: str) -> bool:
    """Does this process look like a slirp4netns serving target (cmdline check)?"""
    return (bool(ident.cmdline) and os.path.basename(ident.cmdline[0]) == "slirp4netns"
            and target in ident.cmdline)


# --- the API socket ---

# a unix socket address (sun_path) holds 108 bytes, the last one a NUL
UNIX_PATH_MAX = 107


def check_api_socket_path(path: str, option: str, value: str) -> None:
    """Refuse an API socket path a unix socket cannot bind, naming the option that made it
    long: slirp4netns would only fail once started, after the namespace was made."""
    size = len(os.fsencode(path))
    if size > UNIX_PATH_MAX:
        raise ValidationError("%s %r is too long for slirp4netns: its API socket %s would be %d bytes, "
                              "a unix socket path holds at most %d; use a shorter %s"
                              % (option, value, path, size, UNIX_PATH_MAX, option), value=value)


def api_call(api_socket: str, request: Dict[str, Any], timeout: float = API_TIMEOUT) -> Dict[str, Any]:
    """One JSON request on the API socket; returns the ``return`` object or raises."""
    data = json.dumps(request).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(api_socket)
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError as exc:
        raise RootlessError("slirp4netns API %s: %s failed: %s"
                            % (api_socket, request.get("execute"), exc), socket=api_socket)
    try:
        reply = json.loads(b"".join(chunks) or b"{}")
    except ValueError:
        raise RootlessError("slirp4netns API %s: invalid reply %r" % (api_socket, b"".join(chunks)[:200]))
    if "error" in reply:
        err = reply["error"]
        desc = err.get("desc", err) if isinstance(err, dict) else err
        raise RootlessError("slirp4netns API %s: %s failed: %s"
                            % (api_socket, request.get("execute"), desc), socket=api_socket)
    # add_hostfwd answers {"return": {"id": N}}, list_hostfwd {"entries": [...]}
    ret = reply.get("return", reply)
    return ret if isinstance(ret, dict) else {}


FORWARD_PROTOCOLS = ("tcp", "udp")


def check_forwardable(mappings: Any) -> None:
    """slirp4netns forwards TCP and UDP from IPv4 host addresses only: raise
    ValidationError for the first (validated) port mapping it cannot forward, before
    anything is attached."""
    for pm in mappings or []:
        if pm.get("protocol", "tcp") not in FORWARD_PROTOCOLS:
            raise ValidationError("rootless port mapping %s/%s: slirp4netns forwards only tcp "
                                  "and udp" % (pm.get("host_port"), pm.get("protocol")),
                                  value=pm.get("protocol"))
        if ":" in (pm.get("host_ip") or ""):
            raise ValidationError("rootless port mapping on %s: slirp4netns forwards from IPv4 "
                                  "host addresses only" % pm.get("host_ip"),
                                  value=pm.get("host_ip"))


def hostfwd_host_addr(host_ip: Optional[str]) -> str:
    """The slirp4netns host address of a mapping: its host IP, all IPv4 when empty."""
    if not host_ip:
        return "0.0.0.0"
    addr = ipaddress.ip_address(host_ip)
    if addr.version != 4:
        raise ValidationError("rootless port forwarding supports IPv4 host addresses only, not %s"
                              % host_ip, value=host_ip)
    return str(addr)


def add_hostfwd(api_socket: str, proto: str, host_addr: str, host_port: int, guest_addr: str,
                guest_port: int) -> int:
    """Forward host_addr:host_port to guest_addr:guest_port; the error says why a port
    could not be forwarded (slirp4netns itself answers only "bad request")."""
    if proto not in FORWARD_PROTOCOLS:
        raise ValidationError("rootless port forwarding supports tcp and udp, not %s" % proto,
                              value=proto)
    try:
        ret = api_call(api_socket, {"execute": "add_hostfwd", "arguments": {
            "proto": proto, "host_addr": host_addr, "host_port": int(host_port),
            "guest_addr": guest_addr, "guest_port": int(guest_port)}})
    except RootlessError as exc:
        why = bind_error(proto, host_addr, host_port)
        if why is None or "add_hostfwd failed" not in exc.msg:
            raise
        raise RootlessError("cannot forward host port %d/%s on %s: %s" % (
            host_port, proto, host_addr, why), host_port=host_port, protocol=proto,
            host_ip=host_addr, socket=api_socket) from None
    return int(ret.get("id", -1))


def bind_error(proto: str, host_addr: str, host_port: int) -> Optional[str]:
    """Why this process cannot bind the host port (what slirp4netns meets), or None."""
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as sock:
            if proto == "tcp":  # as slirp4netns: TIME_WAIT does not count, a listener does
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host_addr, int(host_port)))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return ("the port is already in use on this host (another process or user holds "
                    "it); choose another host_port")
        if exc.errno == errno.EACCES:
            return ("ports below net.ipv4.ip_unprivileged_port_start need privileges; use a "
                    "higher host_port or lower that sysctl")
        if exc.errno == errno.EADDRNOTAVAIL:
            return "%s is not an address of this host" % host_addr
        return exc.strerror or str(exc)
    return None


SHADOW_PROBE_TIMEOUT = 0.3


def dnat_shadowed(proto: str, host_addr: str, host_port: int,
                  timeout: float = SHADOW_PROBE_TIMEOUT) -> bool:
    """True when traffic to the host port on this host does not reach a socket bound to
    it here: a DNAT rule (a root container's port mapping: portmap's CNI-HOSTPORT-DNAT,
    also for 127.0.0.1) takes it first, so slirp4netns would never see it. Probed before
    slirp4netns binds: a listener of our own, and a connection (a datagram) to it through
    the host's rules. False when it cannot be told (the port cannot be bound)."""
    target = "127.0.0.1" if host_addr in ("", "0.0.0.0") else host_addr
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    try:
        server = socket.socket(socket.AF_INET, kind)
    except OSError:
        return False
    with server:
        try:
            if proto == "tcp":
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((host_addr or "0.0.0.0", int(host_port)))
            if proto == "tcp":
                server.listen(1)
        except OSError:
            return False  # in use or privileged: add_hostfwd will say so
        server.settimeout(timeout)
        with socket.socket(socket.AF_INET, kind) as client:
            client.settimeout(timeout)
            token = os.urandom(8)
            try:
                if proto == "tcp":
                    client.connect((target, int(host_port)))
                    conn, peer = server.accept()
                    conn.close()
                    return peer != client.getsockname()
                client.sendto(token, (target, int(host_port)))
                while True:
                    data, peer = server.recvfrom(64)
                    if data == token:
                        return False
            except OSError:  # refused or nothing: the traffic went elsewhere
                return True


def shadow_warning(proto: str, host_addr: str, host_port: int) -> str:
    return ("host port %d/%s (%s): a DNAT rule on this host takes its traffic before "
            "slirp4netns sees it (a root container's port mapping: podman or podnet.cni as "
            "root), so this rootless mapping cannot be reached, not even on 127.0.0.1; "
            "choose another host_port or remove the other mapping"
            % (host_port, proto, host_addr or "0.0.0.0"))


def list_hostfwd(api_socket: str) -> List[Dict[str, Any]]:
    ret = api_call(api_socket, {"execute": "list_hostfwd"})
    entries = ret.get("entries")
    return [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []


def remove_hostfwd(api_socket: str, fwd_id: int) -> None:
    api_call(api_socket, {"execute": "remove_hostfwd", "arguments": {"id": int(fwd_id)}})


def find_hostfwd(entries: Sequence[Dict[str, Any]], proto: str, host_addr: str,
                 host_port: int) -> Optional[Dict[str, Any]]:
    for e in entries:
        if (e.get("proto") == proto and int(e.get("host_port", -1)) == int(host_port)
                and e.get("host_addr") == host_addr):
            return e
    return None


# --- keeping a set of forwards (rootless CNI netns, network_mode slirp4netns) ---
# A forward is ``[proto, host address, host port(, guest port)]``: without the guest port,
# slirp4netns forwards to the same port of the guest (the rootless CNI netns, where portmap
# DNATs it on); with it, to that port (network_mode slirp4netns: the container is the guest).

def hostfwds(port_mappings: Any, guest_port: bool = False) -> List[List[Any]]:
    """The forwards of CNI ``portMappings`` (ranges expanded, ``_validate.cni_port_mappings``):
    ``[proto, host address, host port]``, with ``guest_port`` plus the container port.
    An entry that is not a mapping (no ``hostPort``) is passed over."""
    out = []
    for pm in port_mappings or []:
        if not isinstance(pm, dict) or "hostPort" not in pm:
            continue
        fwd = [str(pm.get("protocol", "tcp")).lower(), hostfwd_host_addr(pm.get("hostIP")),
               int(pm["hostPort"])]
        if guest_port:
            fwd.append(int(pm["containerPort"]))
        out.append(fwd)
    return out


def hostfwds_problem(fwds: Any, guest_port: bool = False) -> Optional[str]:
    """Why fwds (a state file's, read without trusting it) is not a list of forwards of
    the shape above, with the guest port or without (None: it is)."""
    if not isinstance(fwds, list):
        return "hostfwds is not a list"
    for fwd in fwds:
        if not (isinstance(fwd, list) and len(fwd) == (4 if guest_port else 3)
                and fwd[0] in FORWARD_PROTOCOLS and isinstance(fwd[1], str)
                and all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 65535
                        for p in fwd[2:])):
            return "hostfwd %r is not [tcp|udp, host address, host port%s]" % (
                fwd, ", guest port" if guest_port else "")
    return None


def add_hostfwds(api_socket: str, guest_addr: str, fwds: Sequence[Sequence[Any]],
                 added: Optional[List[List[Any]]] = None,
                 warn: Optional[Callable[[str], None]] = None) -> None:
    """Forward each ``[proto, host address, host port(, guest port)]`` of fwds that
    slirp4netns does not forward yet to guest_addr (the guest port defaults to the host
    port). Each forward added is appended to ``added`` at once, so a caller undoing a
    sync that failed half-way knows what to remove. With ``warn``, a host port a DNAT
    rule of this host shadows is said there (probed before slirp4netns binds it)."""
    existing = list_hostfwd(api_socket)
    for fwd in fwds:
        proto, host_addr, host_port = fwd[0], fwd[1], fwd[2]
        if find_hostfwd(existing, proto, host_addr, host_port) is not None:
            continue
        shadowed = warn is not None and dnat_shadowed(proto, host_addr, host_port)
        add_hostfwd(api_socket, proto, host_addr, host_port, guest_addr,
                    fwd[3] if len(fwd) > 3 else host_port)
        if added is not None:
            added.append([proto, host_addr, host_port])
        if shadowed and warn is not None:
            warn(shadow_warning(proto, host_addr, host_port))


def remove_hostfwds(api_socket: str, fwds: Sequence[Sequence[Any]]) -> None:
    """Stop forwarding each ``[proto, host address, host port, ...]`` of fwds (those not
    forwarded are left as they are)."""
    existing = list_hostfwd(api_socket)
    for fwd in fwds:
        found = find_hostfwd(existing, fwd[0], fwd[1], fwd[2])
        if found is not None:
            remove_hostfwd(api_socket, int(found["id"]))
