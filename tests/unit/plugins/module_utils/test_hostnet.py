# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host's routes as /proc/net/route shows them (_hostnet.py), from a table in a temp file."""
from __future__ import annotations

from ansible_collections.podnet.cni.plugins.module_utils import _hostnet


ROUTE_TABLE = (
    "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
    "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
    "eth0\t0002000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
    "short\tline\n"
)


def test_host_routes_from_proc_net_route(tmp_path, monkeypatch):
    """/proc/net/route read once per question: the default route's interface, and the
    destinations of the other routes (the default one overlaps everything)."""
    table = tmp_path / "route"
    table.write_text(ROUTE_TABLE)
    monkeypatch.setattr(_hostnet, "PROC_ROUTE", str(table))
    assert _hostnet.default_route_interface() == "eth0"
    assert [str(n) for n in _hostnet.ipv4_routes()] == ["10.0.2.0/24"]
    monkeypatch.setattr(_hostnet, "PROC_ROUTE", str(tmp_path / "missing"))
    assert _hostnet.default_route_interface() is None
    assert _hostnet.ipv4_routes() == []
