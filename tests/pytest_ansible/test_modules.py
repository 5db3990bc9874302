# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The modules as a playbook author calls them, one task at a time through pytest-ansible:
check mode predicts, apply changes, the second apply changes nothing; bad input fails
before anything changes. Real plugins, real namespaces (root)."""
from __future__ import annotations

import os
import subprocess

MOD = "podnet.cni."


def netns_exists(name: str) -> bool:
    return os.path.exists("/run/netns/%s" % name)


def test_network_container_attachment_roundtrip(host, scratch):
    net_a, net_b = scratch.name("a"), scratch.name("b")
    scratch.networks += [net_a, net_b]
    conflist = os.path.join(scratch.common["cni_config_dir"], net_a + ".conflist")
    netdef = dict(name=net_a, bridge=scratch.id + "a", subnets=[{"subnet": scratch.net_a + ".0/24"}],
                  **scratch.common)

    # cni_network: check mode predicts, writes nothing; apply; idempotent
    res = host.run(MOD + "cni_network", check=True, **netdef)
    assert res["changed"] and not res.get("failed"), res
    assert not os.path.exists(conflist)
    res = host.run(MOD + "cni_network", **netdef)
    assert res["changed"] and os.path.exists(conflist), res
    assert not host.run(MOD + "cni_network", **netdef)["changed"]
    res = host.run(MOD + "cni_network", name=net_b, bridge=scratch.id + "b", internal=True,
                   subnets=[{"subnet": scratch.net_b + ".0/24"}], **scratch.common)
    assert res["changed"], res

    # container_netns: check mode creates no namespace; apply; idempotent
    cid = scratch.name("web")
    scratch.netns.append(cid)
    ctr = dict(container_id=cid, netns=cid, networks=[net_a], static_ip=scratch.net_a + ".10",
               **scratch.common)
    res = host.run(MOD + "container_netns", check=True, **ctr)
    assert res["changed"] and not netns_exists(cid), res
    res = host.run(MOD + "container_netns", **ctr)
    assert res["changed"] and netns_exists(cid), res
    assert res["network_settings"]["IPAddress"] == scratch.net_a + ".10"
    assert not host.run(MOD + "container_netns", **ctr)["changed"]

    # cni_attachment: connect a second network at run time (next free ethN), idempotent
    att = dict(container_id=cid, netns="/run/netns/" + cid, network=net_b,
               ips=[scratch.net_b + ".20"], **scratch.common)
    res = host.run(MOD + "cni_attachment", check=True, **att)
    assert res["changed"], res
    res = host.run(MOD + "cni_attachment", **att)
    assert res["changed"] and res["interface"] == "eth1", res
    assert not host.run(MOD + "cni_attachment", **att)["changed"]
    addrs = subprocess.run(["ip", "-n", cid, "-4", "-o", "addr", "show", "eth1"],
                           stdout=subprocess.PIPE, check=True).stdout.decode()
    assert scratch.net_b + ".20/24" in addrs

    # container_netns_info sees both attachments and the podman-inspect settings
    info = host.run(MOD + "container_netns_info", container_id=cid, **scratch.common)
    entry = info["containers"][cid]
    assert entry["recorded"] and entry["netns_status"] == "mounted"
    assert sorted(a["network"] for a in entry["attachments"]) == sorted([net_a, net_b])
    assert entry["network_settings"]["Networks"][net_b]["IPAddress"] == scratch.net_b + ".20"

    # detach the second network; the first stays
    res = host.run(MOD + "cni_attachment", state="absent", **att)
    assert res["changed"], res
    assert not host.run(MOD + "cni_attachment", state="absent", **att)["changed"]
    info = host.run(MOD + "container_netns_info", container_id=cid, **scratch.common)
    assert [a["network"] for a in info["containers"][cid]["attachments"]] == [net_a]

    # remove the container: check mode keeps it, apply removes the namespace, idempotent
    res = host.run(MOD + "container_netns", check=True, container_id=cid, netns=cid, state="absent",
                   **scratch.common)
    assert res["changed"] and netns_exists(cid)
    res = host.run(MOD + "container_netns", container_id=cid, netns=cid, state="absent", **scratch.common)
    assert res["changed"] and not netns_exists(cid)
    assert not host.run(MOD + "container_netns", container_id=cid, netns=cid, state="absent",
                        **scratch.common)["changed"]


def test_bad_input_fails_before_anything_changes(host, scratch):
    net_a = scratch.name("a")
    scratch.networks.append(net_a)
    res = host.run(MOD + "cni_network", name=net_a, bridge=scratch.id + "a",
                   subnets=[{"subnet": scratch.net_a + ".0/24"}], **scratch.common)
    assert res["changed"], res

    # a second network overlapping the first: an error naming both, no file written
    other = scratch.name("o")
    res = host.run(MOD + "cni_network", name=other, bridge=scratch.id + "o",
                   subnets=[{"subnet": scratch.net_a + ".128/25"}], **scratch.common)
    assert res.get("failed") and net_a in res["msg"] and other in res["msg"], res
    assert not os.path.exists(os.path.join(scratch.common["cni_config_dir"], other + ".conflist"))

    # a static IP outside the network: an error naming the IP, no namespace created
    cid = scratch.name("bad")
    scratch.netns.append(cid)
    res = host.run(MOD + "container_netns", container_id=cid, netns=cid, networks=[net_a],
                   static_ip="10.226.255.77", **scratch.common)
    assert res.get("failed") and "10.226.255.77" in res["msg"], res
    assert not netns_exists(cid)

    # an unknown network: an error naming it, no namespace created
    res = host.run(MOD + "container_netns", container_id=cid, netns=cid,
                   networks=[scratch.name("missing")], **scratch.common)
    assert res.get("failed") and scratch.name("missing") in res["msg"], res
    assert not netns_exists(cid)


def test_absent_without_netns_uses_the_recorded_namespace(host, scratch):
    """A container created in a namespace of its own name is removed by id alone: the
    recorded namespace goes, with its attachment (DEL with the namespace, not as stale)."""
    net_a = scratch.name("a")
    scratch.networks.append(net_a)
    assert host.run(MOD + "cni_network", name=net_a, bridge=scratch.id + "a",
                    subnets=[{"subnet": scratch.net_a + ".0/24"}], **scratch.common)["changed"]
    cid = scratch.name("own")
    scratch.netns.append(cid)
    res = host.run(MOD + "container_netns", container_id=cid, netns=cid, networks=[net_a], **scratch.common)
    assert res["changed"] and netns_exists(cid), res

    res = host.run(MOD + "container_netns", check=True, container_id=cid, state="absent", **scratch.common)
    assert res["changed"] and netns_exists(cid), res
    assert {"action": "remove_netns", "netns": "/run/netns/" + cid} in res["actions"], res["actions"]
    res = host.run(MOD + "container_netns", container_id=cid, state="absent", **scratch.common)
    assert res["changed"] and not netns_exists(cid), res
    assert not host.run(MOD + "container_netns", container_id=cid, state="absent", **scratch.common)["changed"]
    info = host.run(MOD + "container_netns_info", **scratch.common)
    assert cid not in info["containers"], info["containers"].get(cid)
    # host-local released the address (its reservations are files named by IP)
    leases = os.listdir(os.path.join("/var/lib/cni/networks", net_a))
    assert [f for f in leases if f.startswith(scratch.net_a + ".")] == [], leases
