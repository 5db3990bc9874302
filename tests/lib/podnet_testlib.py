# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the functional tests: unique names, conflists, running modules (the
module file as Ansible runs it, or through ``ansible``/``ansible-playbook``), servers and
clients in namespaces, bounded polls, host snapshots. Only real components: nothing here
mocks the kernel. The environments (dirs, networks, namespaces, cleanup) build on these:
host_env.HostEnv and the areas' environments derived from it."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

from unprivileged import USER_PYTHON

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(REPO, ".build")
VENV_PYTHON = os.path.join(REPO, ".venv", "bin", "python")
ANSIBLE = os.path.join(REPO, ".venv", "bin", "ansible")
PLUGIN_DIR = "/usr/lib/cni"
# ansible-core has no json stdout callback of its own (it lives in ansible.posix)
CALLBACK_PLUGINS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback_plugins")


def unique_prefix(prefix: str) -> str:
    """prefix + 4 random hex chars: short enough for bridge names (<= 15 with a suffix)."""
    return "%s%s" % (prefix, secrets.token_hex(2))


def bridge_conflist(name: str, bridge: str, subnet: str, gateway: Optional[str] = None,
                    cni_version: str = "1.0.0", portmap: bool = True, firewall: bool = True,
                    tuning: bool = True, ipam_extra: Optional[Dict[str, Any]] = None,
                    data_dir: Optional[str] = None, dnsname: bool = False,
                    subnet6: Optional[str] = None,
                    extra: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The bridge + host-local (+ portmap + firewall + tuning) chain podman v3 writes;
    ``subnet6`` adds an IPv6 range (gateway ::1 of it) and route, ``dnsname`` the dnsname
    plugin, ``extra`` more plugins at the end."""
    rng: Dict[str, Any] = {"subnet": subnet}
    if gateway:
        rng["gateway"] = gateway
    ranges: List[List[Dict[str, Any]]] = [[rng]]
    routes = [{"dst": "0.0.0.0/0"}]
    if subnet6:
        ranges.append([{"subnet": subnet6, "gateway": subnet6.split("/")[0] + "1"}])
        routes.append({"dst": "::/0"})
    ipam: Dict[str, Any] = {"type": "host-local", "routes": routes, "ranges": ranges}
    if data_dir:
        ipam["dataDir"] = data_dir
    ipam.update(ipam_extra or {})
    plugins: List[Dict[str, Any]] = [{"type": "bridge", "bridge": bridge, "isGateway": True,
                                      "ipMasq": True, "hairpinMode": True, "ipam": ipam}]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    if firewall:
        plugins.append({"type": "firewall"})
    if tuning:
        plugins.append({"type": "tuning"})
    if dnsname:
        plugins.append({"type": "dnsname", "domainName": "dns.podman",
                        "capabilities": {"aliases": True}})
    plugins.extend(extra or [])
    return {"cniVersion": cni_version, "name": name, "plugins": plugins}


def write_conflist(config_dir: str, conf: Dict[str, Any]) -> str:
    os.makedirs(config_dir, exist_ok=True)
    path = os.path.join(config_dir, "%s.conflist" % conf["name"])
    with open(path, "w") as f:
        json.dump(conf, f, indent=2)
    return path


def ansible_env(extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": BUILD,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_PLUGINS,
        "ANSIBLE_STDOUT_CALLBACK": "podnet_json",
        "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": VENV_PYTHON,
    })
    env.update(extra or {})
    return env


def run_module(module: str, args: Dict[str, Any], check: bool = False, diff: bool = False,
               become_user: Optional[str] = None, env: Optional[Dict[str, str]] = None,
               extra_argv: Sequence[str] = ()) -> Dict[str, Any]:
    """Run ``podnet.cni.<module>`` on localhost through ``ansible`` and return its result
    dict (with ``failed``/``msg`` on failure). As ``become_user``, on the distribution's
    python: that user may not reach the checkout's venv (unprivileged.py)."""
    python = USER_PYTHON if become_user else VENV_PYTHON
    argv = [ANSIBLE, "localhost", "-c", "local", "-i", "localhost,", "-m",
            module if "." in module else "podnet.cni.%s" % module, "-a", json.dumps(args),
            "-e", "ansible_python_interpreter=%s" % python]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    if become_user:
        argv += ["--become", "--become-user", become_user, "--become-method", "su"]
    argv += list(extra_argv)
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=ansible_env(env), cwd=REPO, check=False)
    out = proc.stdout.decode()
    try:
        data = json.loads(out[out.index('{"tasks"'):])
        return data["tasks"][0]["result"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("ansible did not return JSON (rc=%d):\n%s\n%s"
                             % (proc.returncode, out[-3000:], proc.stderr.decode()[-3000:]))


def run_module_file(module: str, args: Dict[str, Any], check: bool = False,
                    diff: bool = False, tag: str = "podnet",
                    prefix: Sequence[str] = ()) -> Dict[str, Any]:
    """Run plugins/modules/<module>.py the way Ansible does (args file, JSON on stdout),
    optionally under ``prefix`` (e.g. nsenter into another network namespace); ``tag``
    names the args file.

    Direct execution keeps the suite fast; the integration targets and run_module run
    the same modules through Ansible."""
    import tempfile
    payload = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    fd, path = tempfile.mkstemp(prefix="%s-args-" % tag, suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": payload}, f)
    try:
        proc = subprocess.run(list(prefix) + [VENV_PYTHON, os.path.join(REPO, "plugins", "modules",
                                                                        module + ".py"), path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, PYTHONPATH=BUILD), check=False)
    finally:
        os.unlink(path)
    out = proc.stdout.decode()
    try:
        return json.loads(out[out.index("{"):])
    except ValueError:
        raise AssertionError("module %s printed no JSON (rc=%d):\n%s\n%s"
                             % (module, proc.returncode, out[-3000:], proc.stderr.decode()[-3000:]))


def run_plays(tmp: str, plays: List[Dict[str, Any]], diff: bool = False,
              extra_vars: Optional[Dict[str, Any]] = None,
              env: Optional[Dict[str, str]] = None) -> Tuple[int, List[Tuple[str, Dict[str, Any]]]]:
    """Plays on localhost in one ansible-playbook run (Ansible's start-up costs seconds on
    this machine), the playbook written in ``tmp``: its exit code and (task name, result)
    of every task, in order. ``env``: more of Ansible's environment (ansible_env)."""
    path = os.path.join(tmp, "play-%d.yml" % len(os.listdir(tmp)))
    with open(path, "w") as f:  # JSON is YAML
        json.dump(plays, f)
    argv = [os.path.join(REPO, ".venv", "bin", "ansible-playbook"), "-c", "local", "-i", "localhost,",
            path, "-e", "ansible_python_interpreter=%s" % VENV_PYTHON]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if diff:
        argv.append("--diff")
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp, check=False,
                          env=ansible_env(dict({"ANSIBLE_RETRY_FILES_ENABLED": "false"}, **(env or {}))))
    out = proc.stdout.decode()
    for line in reversed(out.splitlines()):
        if line.startswith('{"tasks"'):
            return proc.returncode, [(t["task"], t["result"]) for t in json.loads(line)["tasks"]]
    raise AssertionError("ansible-playbook gave no results (rc=%d):\n%s\n%s"
                         % (proc.returncode, out[-3000:], proc.stderr.decode()[-3000:]))


def play(tasks: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One play of ``tasks`` on localhost, without facts."""
    return [{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]


def run(argv: Sequence[str], check: bool = True, **kw: Any) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, **kw)


def netns_exec(netns: str, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess:
    return run(["ip", "netns", "exec", netns] + list(argv), **kw)


def host_snapshot(prefix: Optional[str] = None) -> Dict[str, Any]:
    """Links, addresses, iptables/nft rules and named netns of the host netns.

    With a prefix, only lines mentioning it (what one test may have created); CNI's
    shared top-level chains (CNI-HOSTPORT-*, CNI-FORWARD, CNI-ADMIN) stay by design.
    """
    def lines(argv: Sequence[str]) -> List[str]:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        out = proc.stdout.decode().splitlines()
        out = [l for l in out if not l.startswith("#") and not l.startswith(":")]
        if prefix:
            out = [l for l in out if prefix in l]
        return sorted(out)
    return {
        "links": lines(["ip", "-o", "link", "show"]),
        "addrs": lines(["ip", "-o", "addr", "show"]),
        "iptables": lines(["iptables-save"]),
        "ip6tables": lines(["ip6tables-save"]),
        "nft": lines(["nft", "list", "ruleset"]),
        "netns": lines(["ip", "netns", "list"]),
    }


def container_chains(container_id: str) -> List[str]:
    """iptables-save lines that belong to one container (plugins comment rules with
    the container id, and name chains from a hash of it)."""
    out = run(["iptables-save"]).stdout.decode().splitlines()
    return [l for l in out if container_id in l]


def wait_listening(netns: str, port: int, timeout: float = 10.0) -> bool:
    """Wait until something listens on TCP port in netns: a probe right after starting a
    server would otherwise race its start-up and read "connection refused" as broken."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run(["ss", "-N", netns, "-Hltn", "sport = :%d" % port],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False).stdout
        if out.strip():
            return True
        time.sleep(0.02)
    return False


def tcp_echo_server(netns: str, port: int, text: str = "hello") -> subprocess.Popen:
    """A TCP server in netns answering ``text`` to each connection (busybox nc), listening
    when this returns."""
    proc = _start_echo_server(netns, port, text)
    wait_listening(netns, port)
    return proc


def _start_echo_server(netns: str, port: int, text: str) -> subprocess.Popen:
    return subprocess.Popen(["ip", "netns", "exec", netns, "busybox", "nc", "-ll", "-p", str(port),
                             "-e", "busybox", "echo", text],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# a tiny TCP (answers TEXT) or UDP (echoes TEXT to every datagram) server in a netns
SERVER = ("import socket,sys\nproto,port,text=sys.argv[1],int(sys.argv[2]),sys.argv[3].encode()\n"
          "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM if proto=='udp' else socket.SOCK_STREAM)\n"
          "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',port))\n"
          "if proto=='udp':\n while True:\n  d,a=s.recvfrom(100);s.sendto(text,a)\n"
          "s.listen(8)\nwhile True:\n c,_=s.accept();c.sendall(text+b'\\n');c.close()\n")


def serve(netns: str, proto: str, port: int, text: str) -> subprocess.Popen:
    """A server in netns (python, no busybox needed) answering ``text``: to each TCP
    connection (listening when this returns), or to every UDP datagram."""
    proc = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", SERVER, proto, str(port), text],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if proto == "tcp":
        wait_listening(netns, port)
    return proc


def udp_get(host: str, port: int, tries: int = 20) -> str:
    """What a UDP server at host:port answers ('' when nothing comes back)."""
    code = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.settimeout(0.5)\n"
            "for i in range(%d):\n s.sendto(b'?',(sys.argv[1],int(sys.argv[2])))\n"
            " try:\n  print(s.recv(100).decode());break\n except socket.timeout:\n  pass\n" % tries)
    proc = subprocess.run([sys.executable, "-c", code, host, str(port)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=tries + 5, check=False)
    return proc.stdout.decode().strip()


def wait_for(predicate: Any, timeout: float = 5.0, step: float = 0.05) -> Any:
    """Poll ``predicate()`` until it returns something true or ``timeout`` seconds passed
    (a bound for slow machines, never an assertion on speed); its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def tcp_get(host: str, port: int, netns: Optional[str] = None, timeout: float = 3.0,
            tries: int = 1, delay: float = 0.1) -> str:
    """What a TCP server at host:port says (from netns, or from the host); '' when nothing
    answers after ``tries`` attempts ``delay`` seconds apart (a server still starting)."""
    code = ("import socket,sys\ns=socket.create_connection((sys.argv[1],int(sys.argv[2])),%s)\n"
            "print(s.recv(100).decode().strip())" % timeout)
    argv = [sys.executable, "-c", code, host, str(port)]
    if netns:
        argv = ["ip", "netns", "exec", netns] + argv
    for attempt in range(tries):
        if attempt:
            time.sleep(delay)
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout + 5, check=False)
        text = proc.stdout.decode().strip() if proc.returncode == 0 else ""
        if text:
            return text
    return ""


DNSNAME_RUN = "/run/containers/cni/dnsname"


def stop_dnsname_dnsmasq(net: str) -> None:
    """Stop the dnsmasq the dnsname plugin keeps for network ``net`` (checked by its
    command line before the kill) and remove its directory."""
    directory = os.path.join(DNSNAME_RUN, net)
    try:
        with open(os.path.join(directory, "pidfile")) as f:
            pid = int(f.read().strip())
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmdline = f.read().split(b"\0")
        if os.path.basename(cmdline[0]) == b"dnsmasq" and any(directory.encode() in a for a in cmdline):
            os.kill(pid, 15)
    except (OSError, ValueError):
        pass
    shutil.rmtree(directory, ignore_errors=True)


def delete_cached_attachments(config_dir: str, cache_dir: str, state_dir: str,
                              select: Any = None, netns_of: Any = None,
                              plugin_dirs: Sequence[str] = (PLUGIN_DIR,)) -> List[str]:
    """Teardown: a CNI DEL (through the collection) of each cached attachment in cache_dir
    that ``select(entry)`` keeps (all by default), dropping the entry when the DEL fails.
    Returns what was found, plus one line if the collection could not even be imported
    (pytest-ansible's collection finder can refuse it late in a session): a test env's
    cleanup calls this first and then sweeps its namespaces, links and rules by name, so
    the sweep runs whatever happened here."""
    found: List[str] = []
    try:
        # pylint: disable=import-outside-toplevel
        from ansible_collections.podnet.cni.plugins.module_utils import _attach
        from ansible_collections.podnet.cni.plugins.module_utils._cni import cache as cnicache
        from ansible_collections.podnet.cni.plugins.module_utils._context import HostContext
        ctx = HostContext(config_dir=config_dir, plugin_dirs=list(plugin_dirs), cache_dir=cache_dir,
                          state_dir=state_dir, timeout=30)
        entries = cnicache.list_entries(cache_dir) if os.path.isdir(cache_dir) else []
    except Exception as exc:  # noqa: BLE001 - the caller's sweep must still run
        return ["cached attachments not deleted: %s" % exc]
    for entry in entries:
        if select is not None and not select(entry):
            continue
        found.append("cache %s/%s" % (entry.network, entry.container_id))
        netns = (netns_of(entry) if netns_of else "") or entry.netns
        try:
            _attach.remove(ctx, entry, netns=netns if netns and os.path.exists(netns) else "",
                           tolerate=lambda err: True)
        except Exception:  # noqa: BLE001 - best effort: drop the entry, the sweep follows
            try:
                cnicache.delete(cache_dir, entry.network, entry.container_id, entry.ifname)
            except Exception:  # noqa: BLE001
                pass
    return found
