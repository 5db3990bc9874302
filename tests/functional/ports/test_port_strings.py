# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Port mappings written as podman/docker strings ("127.0.0.1:8080:80/tcp",
"8080-8082:80-82", "53:53/udp") with real plugins and real traffic, in container_netns
(single and batch), cni_attachment (single and batch) and the container_network role: the
traffic goes where the string says, a string and its dict are the same mapping (no change),
and a bad string fails naming the option and the value before anything changes."""
from __future__ import annotations

import os

import podnet_testlib as T


def test_container_netns_strings_carry_traffic(env):
    net = env.network("n", 1)
    cid, ns = env.name("c1"), env.name("c1")
    env.namespaces.append(ns)  # the module creates it; the cleanup removes it after a failure
    p = env.port
    args = {"container_id": cid, "netns": ns, "networks": [net],
            "port_mappings": ["127.0.0.1:%d:8080" % p, "127.0.0.1:%d-%d:8081-8082/tcp" % (p + 1, p + 2),
                              "127.0.0.1:%d:5353/udp" % (p + 3)]}

    # a bad string: the option and the value named, in check mode and for real; nothing made
    for check in (True, False):
        bad = env.module("container_netns", dict(args, port_mappings=["8080"]), check=check)
        assert bad["failed"], bad
        assert bad["msg"].startswith("invalid port_mappings entry '8080': no host port"), bad["msg"]
        bad = env.module("container_netns", dict(args, port_mappings=["8080:80/icmp"]), check=check)
        assert "invalid port_mappings entry '8080:80/icmp': unknown protocol 'icmp'" in bad["msg"], bad
        bad = env.module("container_netns", dict(args, port_mappings=[{"container_port": 80, "hostport": 1}]),
                         check=check)
        assert "unknown key hostport (valid keys: container_port, host_ip, host_port, protocol, range)" \
            in bad["msg"], bad
    assert not os.path.exists("/run/netns/" + ns) and not env.rules()

    res = env.module("container_netns", args, check=True)
    assert res["changed"] and not res.get("failed"), res
    assert not os.path.exists("/run/netns/" + ns)
    res = env.module("container_netns", args)
    assert res["changed"] and not res.get("failed"), res
    ports = res["network_settings"]["Ports"]
    assert ports["8080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p)}], ports
    assert ports["8082/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p + 2)}], ports
    assert ports["5353/udp"] == [{"HostIp": "127.0.0.1", "HostPort": str(p + 3)}], ports

    for port, text in ((8080, "a"), (8081, "b"), (8082, "c")):
        env.serve(ns, "tcp", port, "%s-%s" % (cid, text))
    env.serve(ns, "udp", 5353, "%s-udp" % cid)
    assert T.tcp_get("127.0.0.1", p) == cid + "-a"
    assert T.tcp_get("127.0.0.1", p + 1) == cid + "-b"
    assert T.tcp_get("127.0.0.1", p + 2) == cid + "-c"
    assert T.udp_get("127.0.0.1", p + 3) == cid + "-udp"

    # the same request, and the dicts the strings stand for: nothing to do
    assert env.module("container_netns", args)["changed"] is False
    as_dicts = dict(args, port_mappings=[
        {"host_port": p, "container_port": 8080, "host_ip": "127.0.0.1"},
        {"host_port": p + 1, "container_port": 8081, "range": 2, "host_ip": "127.0.0.1", "protocol": "tcp"},
        {"host_port": p + 3, "container_port": 5353, "protocol": "udp", "host_ip": "127.0.0.1"}])
    res = env.module("container_netns", as_dicts, check=True)
    assert res["changed"] is False, res
    assert env.module("container_netns", as_dicts)["changed"] is False

    res = env.module("container_netns", {"container_id": cid, "state": "absent"})
    assert res["changed"] and not res.get("failed"), res
    assert T.tcp_get("127.0.0.1", p, timeout=1) == ""
    assert not env.rules() and not os.path.exists("/run/netns/" + ns)


def test_batch_forms_and_cni_attachment_take_strings(env):
    n1, n2 = env.network("n", 2), env.network("m", 3)
    p = env.port
    c2, c3 = env.name("c2"), env.name("c3")
    env.namespaces.append(c2)
    ns3 = env.add_netns("c3")

    # container_netns containers: a bad string names the entry, the option and the value
    bad = env.module("container_netns", {"containers": [
        {"container_id": c2, "netns": c2, "networks": [n1], "port_mappings": ["1.2.3.4:5:6:7"]}]})
    assert bad["failed"] and "%s: invalid port_mappings entry '1.2.3.4:5:6:7': too many ':'" % c2 \
        in bad["msg"], bad
    res = env.module("container_netns", {"containers": [
        {"container_id": c2, "netns": c2, "networks": [n1], "port_mappings": ["127.0.0.1:%d:8080" % p]}]})
    assert res["changed"] and not res.get("failed"), res

    # cni_attachment attachments, then the single form on a second network
    bad = env.module("cni_attachment", {"attachments": [
        {"container_id": c3, "netns": ns3, "network": n1, "port_mappings": ["%d-%d:80" % (p, p + 1)]}]})
    assert bad["failed"] and "invalid port_mappings entry '%d-%d:80': host and container port ranges " \
        "have different lengths: 2 and 1" % (p, p + 1) in bad["msg"], bad
    assert not env.rules() or all(c3 not in l for l in env.rules())
    res = env.module("cni_attachment", {"attachments": [
        {"container_id": c3, "netns": ns3, "network": n1, "port_mappings": ["127.0.0.1:%d:8080" % (p + 1)]}]})
    assert res["changed"] and not res.get("failed"), res
    res = env.module("cni_attachment", {"container_id": c3, "netns": ns3, "network": n2,
                                        "port_mappings": ["127.0.0.1:%d:8081/tcp" % (p + 2)]})
    assert res["changed"] and res["interface"] == "eth1", res
    assert res["attachment"]["port_mappings"] == [["127.0.0.1", p + 2, 8081, "tcp"]], res

    env.serve(c2, "tcp", 8080, "c2")
    env.serve(ns3, "tcp", 8080, "c3-n1")
    env.serve(ns3, "tcp", 8081, "c3-n2")
    assert T.tcp_get("127.0.0.1", p) == "c2"
    assert T.tcp_get("127.0.0.1", p + 1) == "c3-n1"
    assert T.tcp_get("127.0.0.1", p + 2) == "c3-n2"

    # again, as dicts: nothing changes
    res = env.module("cni_attachment", {"container_id": c3, "netns": ns3, "network": n2, "port_mappings": [
        {"host_port": p + 2, "container_port": 8081, "host_ip": "127.0.0.1"}]})
    assert res["changed"] is False, res
    res = env.module("container_netns", {"containers": [
        {"container_id": c2, "netns": c2, "networks": [n1], "port_mappings": ["127.0.0.1:%d:8080" % p]}]})
    assert res["changed"] is False, res


def test_container_network_role_takes_strings(env):
    net = env.network("n", 4)
    cid = env.name("c4")
    env.namespaces.append(cid)
    p = env.port + 5
    role_vars = {"container_network_cni_config_dir": env.config_dir,
                 "container_network_cni_plugin_dirs": [T.PLUGIN_DIR],
                 "container_network_cni_cache_dir": env.cache_dir,
                 "container_network_state_dir": env.state_dir}

    def role(containers):
        return {"name": "role", "ansible.builtin.include_role": {"name": "podnet.cni.container_network"},
                "vars": dict(role_vars, container_network_containers=containers)}

    present = [{"id": cid, "netns": cid, "networks": [net],
                "port_mappings": ["127.0.0.1:%d:8080" % p, "127.0.0.1:%d:5353/udp" % p]}]
    converge = "Converge the containers' namespaces and networks"
    first, again = env.playbook([role(present), role(present)], only=converge)
    assert first["changed"] and not first.get("failed"), first
    assert again["changed"] is False, again
    env.serve(cid, "tcp", 8080, "role-tcp")
    env.serve(cid, "udp", 5353, "role-udp")
    assert T.tcp_get("127.0.0.1", p) == "role-tcp"
    assert T.udp_get("127.0.0.1", p) == "role-udp"
    gone = env.playbook([role([{"id": cid, "state": "absent"}])], only=converge)[0]
    assert gone["changed"] and not gone.get("failed"), gone
    assert T.tcp_get("127.0.0.1", p, timeout=1) == ""
    assert not env.rules()
