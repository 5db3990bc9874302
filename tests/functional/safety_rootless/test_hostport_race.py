# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host ports are claimed atomically per host (issue 15, item 8).

Root: runs started together asking for the same host port (container_netns and
cni_attachment, separate processes, as parallel Ansible forks would) - exactly one gets
it, the others fail naming the port, one DNAT rule exists. A batch with port mappings
still works and its entries with distinct ports all succeed.
Rootless: two users asking for the same host port - the kernel arbitrates (slirp4netns
binds it); the second fails naming the port, and nothing of it is left."""
from __future__ import annotations

import concurrent.futures
import secrets

import pnq_env as E

ROUNDS = 3


def test_concurrent_runs_for_one_host_port_one_wins(root_env):
    env = root_env
    net = env.network("r", 40)
    port = E.port(40)
    for rnd in range(ROUNDS):
        jobs = []
        for i in range(3):
            cid = env.name("r%dc%d" % (rnd, i))
            ns = env.add_netns("r%dn%d" % (rnd, i))
            pm = [{"host_port": port, "container_port": 80}]
            if i % 2:
                jobs.append(("cni_attachment", dict(env.common, container_id=cid, netns=ns,
                                                    network=net, port_mappings=pm)))
            else:
                jobs.append(("container_netns", dict(env.common, container_id=cid, netns=ns,
                                                     networks=[net], port_mappings=pm)))
        with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: E.run_module_root(*job), jobs))
        won = [r for r in results if not r.get("failed")]
        lost = [r for r in results if r.get("failed")]
        assert len(won) == 1, [r.get("msg") for r in results]
        for r in lost:
            assert "host port %d/tcp" % port in r["msg"], r["msg"]
            assert "unexpected error" not in r["msg"]
        assert len(env.dnat_rules(port)) == 1, env.dnat_rules(port)
        # the winner goes: the port is free for the next round
        for (module, args), r in zip(jobs, results):
            if not r.get("failed"):
                gone = dict(args, state="absent")
                gone.pop("port_mappings", None)
                assert not E.run_module_root(module, gone).get("failed")
        assert env.dnat_rules(port) == []


def test_batch_with_port_mappings_still_overlaps_and_succeeds(root_env):
    env = root_env
    net = env.network("b", 41)
    entries = []
    for i in range(6):
        ns = env.add_netns("b%d" % i)
        entries.append({"container_id": env.name("b%d" % i), "netns": ns, "network": net,
                        "port_mappings": [{"host_port": E.port(41 + i), "container_port": 80}]})
    res = E.run_module_root("cni_attachment", dict(env.common, attachments=entries, workers=4))
    assert res["changed"] and res["failed_entries"] == 0, res
    for i in range(6):
        assert len(env.dnat_rules(E.port(41 + i))) == 1
    res = E.run_module_root("cni_attachment", dict(env.common, workers=4, attachments=[
        dict(e, state="absent") for e in entries]))
    assert res["failed_entries"] == 0, res


def test_rootless_users_the_kernel_arbitrates(quser, fresh_user):
    tag = secrets.token_hex(2)
    port = E.port(50)
    confs = {}
    for n, user in enumerate((quser, fresh_user)):
        confs[user.name] = E.user_conflist(user, "pnq%su%d" % (tag, n), 50 + n)
    args = {"container_id": "pnq%sa" % tag, "port_mappings": [{"host_port": port, "container_port": 80}]}
    first = quser.direct("container_netns", dict(args, networks=["pnq%su0" % tag],
                                                 cni_config_dir=confs[quser.name]))
    try:
        assert first.get("changed") is True, first
        second = fresh_user.direct("container_netns", dict(args, networks=["pnq%su1" % tag],
                                                           cni_config_dir=confs[fresh_user.name]))
        assert second.get("failed") is True, second
        assert "host port %d/tcp" % port in second["msg"] and "in use" in second["msg"], second["msg"]
        assert "unexpected error" not in second["msg"]
        # nothing of the failed attempt is left: no forward, no cache entry, no namespace
        assert E.hostfwds(fresh_user) == []
        assert fresh_user.processes() == [] and fresh_user.mounts() == []
    finally:
        quser.direct("container_netns", {"container_id": args["container_id"], "state": "absent",
                                         "cni_config_dir": confs[quser.name]})
