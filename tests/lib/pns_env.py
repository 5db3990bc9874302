# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The environment of the namespace-safety tests (prefix ``pns``, subnets in
10.230.0.0/16, host ports 21000-21099).

``PnsEnv`` is ``pnb_env.PnbEnv`` with that prefix, range and ports. ``host_view`` lists what of the
network namespace the test runs in — links, addresses and routes, IPv4 and IPv6, every
table — mentions the env's prefix, bridges or subnets, for the tests that aim modules at
that namespace itself: they prove nothing appeared there, and ``undo_host_changes``
removes what did (only what was not there before and is the env's, so a failing test
can leave no container interface or route in the host, and never touches another's).
"""
from __future__ import annotations

import subprocess
from typing import Any, Dict, List

import pnb_env

T = pnb_env.T
PORT_BASE = 21000


class PnsEnv(pnb_env.PnbEnv):
    PREFIX = "pns"
    NET16 = "10.230"
    PORT_BASE = PORT_BASE

    def network_without_routes(self, suffix: str, **kw: Any) -> Dict[str, Any]:
        """A network whose IPAM adds no route: an ADD that wrongly ran in the host's
        namespace would then add an address and a link there, never a default route."""
        conf = self.network(suffix, write=False, **kw)
        for plugin in conf["plugins"]:
            if isinstance(plugin.get("ipam"), dict):
                plugin["ipam"]["routes"] = []
        T.write_conflist(self.config_dir, conf)
        self.networks[conf["name"]] = conf
        return conf


def _lines(argv: List[str]) -> List[str]:
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return sorted(proc.stdout.decode("utf-8", "replace").splitlines())


def host_view(env: PnsEnv) -> Dict[str, List[str]]:
    """The links, addresses and routes (IPv4 and IPv6, every table) of the namespace this
    process is in that mention the env's prefix, bridges or subnets: what an ADD run in
    it could have made (other tests running meanwhile use other names)."""
    def mine(argv: List[str]) -> List[str]:
        return [l for l in _lines(argv) if any(m in l for m in env.markers())]
    return {"links": [l.split(":")[1].strip().split("@")[0] for l in mine(["ip", "-o", "link", "show"])],
            "addrs": [" ".join(l.split()[1:4]) for l in mine(["ip", "-o", "addr", "show"])],
            "routes": mine(["ip", "route", "show", "table", "all"]),
            "routes6": mine(["ip", "-6", "route", "show", "table", "all"])}


def host_diff(before: Dict[str, List[str]], after: Dict[str, List[str]]) -> Dict[str, Any]:
    out = {}
    for key in before:
        new = sorted(set(after.get(key, [])) - set(before[key]))
        gone = sorted(set(before[key]) - set(after.get(key, [])))
        if new or gone:
            out[key] = {"new": new, "gone": gone}
    return out


def undo_host_changes(env: PnsEnv, before: Dict[str, List[str]]) -> List[str]:
    """Delete the env's links and routes that appeared since ``before`` (never one that
    was there, never another test's); returns what was removed."""
    now = host_view(env)
    removed = []
    for family, key in (("-4", "routes"), ("-6", "routes6")):
        for route in sorted(set(now[key]) - set(before[key])):
            if " proto kernel " in route:
                continue  # goes with its address
            if subprocess.run(["ip", family, "route", "del"] + route.split(), stderr=subprocess.DEVNULL,
                              check=False).returncode == 0:
                removed.append("route %s" % route)
    for link in sorted(set(now["links"]) - set(before["links"])):
        if subprocess.run(["ip", "link", "del", link], stderr=subprocess.DEVNULL,
                          check=False).returncode == 0:
            removed.append("link %s" % link)
    return removed
