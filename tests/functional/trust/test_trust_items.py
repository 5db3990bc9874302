# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 15, "never trust what is on disk" and "finish what a dead run started", with
the real plugins: one test (or table) per item, each failing before its fix.

- 4/5: an unusable cache entry of a live container (truncated, garbage, wrong-typed,
  a symlink, another user's) changes nothing of it (check mode and real runs refuse,
  naming the file), blocks neither another container nor the GC, and is reported;
  a host port it may map is not handed out again.
- 4: an interface that exists without a usable cache entry is never ADDed over (the
  rollback of that ADD deleted the container's live eth0 and released its IP).
- 5: a plugin result that is not a valid result fails the ADD, which is rolled back.
- 6: a plugin that exits 0 with no or non-object output: the rollback still finds the
  firewall plugin's FORWARD rules.
- 9: a module killed while a slow plugin runs leaves no plugin running; an immediate
  re-run recovers and nothing is added for the old address afterwards.
- 10: a rollback whose DEL times out keeps the intent; the next run finishes the undo.
- 12: a plugin writing 10 MB to stderr makes a small module result.
- 13 (without podman): an entry without ``netns`` (libcni <= 1.1) is taken at its
  sandbox: info shows it, prune_stale leaves the live attachment alone.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

import pnb_env
import pnd_env
from pnd_env import T


def _live(pnd, suffix="a", net=None, port=None):
    """A container attached to net (with a host port): (cid, netns name, IP, args)."""
    net = net or pnd.network("n")["name"]
    cid = pnd.cid(suffix)
    args = pnd.common(container_id=cid, netns=cid, networks=[net])
    if port:
        args["port_mappings"] = [{"host_port": port, "container_port": 80}]
    res = pnd.run("container_netns", args)
    assert not res.get("failed"), res
    return cid, cid, res["network_settings"]["IPAddress"], args


def _refused(res, *names):
    assert res.get("failed"), "accepted: %s" % json.dumps(res)[:1500]
    msg = res.get("msg", "")
    assert "unexpected error" not in msg and "Traceback" not in msg, msg
    for name in names:
        assert name in msg, "message does not name %r: %s" % (name, msg[:2000])


def _eth0_with(ns, ip):
    out = T.run(["ip", "-n", ns, "-o", "-4", "addr", "show", "eth0"], check=False).stdout.decode()
    return ip in out


def _bad_entry(kind, original, pnd, path):
    """Replace the cache entry at path with a bad one of that kind."""
    data = json.loads(original)
    if kind == "truncated":
        pnd_env.write_bytes(path, original[:len(original) // 2])
    elif kind == "garbage":
        pnd_env.write_bytes(path, b"\x00\xff\xfe garbage \x01")
    elif kind in ("result-garbage", "interfaces-x", "ips-strings", "address-not-an-ip", "ports-x"):
        if kind == "result-garbage":
            data["result"] = "garbage"
        elif kind == "interfaces-x":
            data["result"]["interfaces"] = "x"
        elif kind == "ips-strings":
            data["result"]["ips"] = [ip["address"] for ip in data["result"]["ips"]]
        elif kind == "address-not-an-ip":
            data["result"]["ips"][0]["address"] = "not-an-ip/24"
        else:
            data["capabilityArgs"]["portMappings"] = "x"
        pnd_env.write_bytes(path, json.dumps(data).encode())
    elif kind == "symlink":
        elsewhere = os.path.join(pnd.tmp, "elsewhere.json")
        pnd_env.write_bytes(elsewhere, original)
        os.unlink(path)
        os.symlink(elsewhere, path)
    elif kind == "foreign-owner":
        os.chown(path, 65534, 65534)
    else:
        raise AssertionError(kind)


BAD_ENTRIES = ["truncated", "garbage", "result-garbage", "interfaces-x", "ips-strings",
               "address-not-an-ip", "ports-x", "symlink", "foreign-owner"]


@pytest.mark.parametrize("kind", BAD_ENTRIES)
def test_unusable_cache_entry_of_a_live_container(pnd, kind):
    """Items 4 and 5."""
    initial = pnd.snapshot()
    net = pnd.network("n")["name"]
    port = pnd.port(0)
    cid, ns, ip, args = _live(pnd, "a", net, port)
    path = pnd.entry_path(net, cid)
    with open(path, "rb") as f:
        original = f.read()
    _bad_entry(kind, original, pnd, path)
    before = pnd.snapshot()

    # the container itself: nothing changes, check mode included
    for module, margs in (("container_netns", args),
                          ("container_netns", dict(args, state="absent")),
                          ("cni_attachment", pnd.common(container_id=cid, netns=ns, network=net)),
                          ("cni_attachment", pnd.common(container_id=cid, netns=ns, network=net,
                                                        state="absent"))):
        for check in (True, False):
            _refused(pnd.run(module, margs, check=check), path)
    pnb_env.assert_same(before, pnd.snapshot(), "after runs refused for %s" % kind)
    assert _eth0_with(ns, ip) and pnd.forward_rules(ip)

    # another container: its host port cannot be the one the unusable entry may map
    other = pnd.common(container_id=pnd.cid("b"), netns=pnd.cid("b"), networks=[net],
                       port_mappings=[{"host_port": port, "container_port": 80}])
    _refused(pnd.run("container_netns", other), "host port %d" % port, path)
    pnb_env.assert_same(before, pnd.snapshot(), "after a port conflict with an unusable entry")
    # ... and is attached otherwise, told about the file
    other["port_mappings"][0]["host_port"] = pnd.port(1) if pnd.port(1) != port else port + 1
    res = pnd.run("container_netns", other)
    assert not res.get("failed"), res
    assert pnd_env.names_file(pnd_env.warnings_of(res), path), res.get("warnings")
    assert not pnd.run("container_netns", dict(other, state="absent")).get("failed")

    # reported by info, and in the reload's errors; the GC goes on around it
    info = pnd.run("container_netns_info", pnd.common(statistics=False))
    assert not info.get("failed"), info
    assert [u["path"] for u in info["containers"][cid]["unreadable"]] == [path]
    assert [u["path"] for u in info["unreadable"]] == [path]
    assert pnd_env.names_file(pnd_env.warnings_of(info), path), info.get("warnings")
    stale = pnd.cid("gone")
    T.run(["ip", "netns", "add", stale])
    res = pnd.run("container_netns", pnd.common(container_id=stale, netns=stale, networks=[net]))
    assert not res.get("failed"), res
    T.run(["ip", "netns", "del", stale])                      # gone behind our back
    res = pnd.run("container_net_reload", pnd.common(containers=["all"], prune_stale=True))
    _refused(res, path)                                       # the container: not reloaded
    assert [a["container_id"] for a in res["pruned"]["attachments"]] == [stale]
    assert path in [u["path"] for u in res["pruned"]["unreadable"]]
    assert list(pnd.reservations(net).values()) == [cid]      # what the entry may hold stays
    pnb_env.assert_same(before, pnd.snapshot(), "after a prune around an unusable entry")

    # put the file back: everything works again and nothing is left
    if os.path.islink(path):
        os.unlink(path)
    pnd_env.write_bytes(path, original)
    assert not pnd.run("container_netns", dict(args, state="absent")).get("failed")
    pnb_env.assert_same(initial, pnd.snapshot(), "after the file was restored and absent ran")


@pytest.mark.parametrize("module", ["container_netns", "cni_attachment"])
def test_an_existing_interface_is_never_added_over(pnd, module):
    """Item 4: the cache entry of a live attachment is gone (removed by hand, another
    tool's bug): the ADD over its eth0 would fail and its rollback delete that eth0 and
    release its address. Refused before anything, naming the interface."""
    net = pnd.network("n")["name"]
    cid, ns, ip, args = _live(pnd, "a", net)
    os.unlink(pnd.entry_path(net, cid))
    before = pnd.snapshot()
    if module == "cni_attachment":
        args = pnd.common(container_id=cid, netns=ns, network=net, interface="eth0")
    for check in (True, False):
        _refused(pnd.run(module, args, check=check), "interface eth0 already exists", ns)
    pnb_env.assert_same(before, pnd.snapshot(), "after an ADD over an existing eth0 was refused")
    assert _eth0_with(ns, ip)


def _answers_after_real(directory, ptype, output):
    """A plugin dir where ptype does its real ADD, then prints output instead of its result."""
    return pnd_env.wrapper_plugin(directory, ptype,
                                  'if [ "$CNI_COMMAND" = ADD ]; then printf "%%s" "$input" | $REAL >/dev/null '
                                  "|| exit 1; printf '%s'; exit 0; fi\nprintf '%%s' \"$input\" | exec $REAL\n"
                                  % output)


@pytest.mark.parametrize("output", [
    '{"cniVersion":"0.4.0","interfaces":"x"}',
    '{"cniVersion":"0.4.0","ips":["10.231.9.9/24"]}',
    '{"cniVersion":"0.4.0","ips":[{"version":"4","address":"not-an-ip/24"}]}',
], ids=["interfaces-x", "ips-strings", "address-not-an-ip"])
def test_an_invalid_plugin_result_fails_the_add(pnd, tmp_path, output):
    """Item 5: tuning does its work, then answers garbage: the ADD fails naming it, is
    rolled back, nothing is cached, and no module crashes on it later."""
    net = pnd.network("n")["name"]
    plugins = _answers_after_real(str(tmp_path / "p"), "tuning", output)
    before = pnd.snapshot()
    cid = pnd.cid("a")
    args = pnd.common(container_id=cid, netns=cid, networks=[net], cni_plugin_dirs=[plugins],
                      port_mappings=[{"host_port": pnd.port(), "container_port": 80}])
    res = pnd.run("container_netns", args)
    _refused(res, "invalid result on ADD", "tuning")
    pnb_env.assert_same(before, pnd.snapshot(), "after an invalid result")
    info = pnd.run("container_netns_info", pnd.common(statistics=False))
    assert not info.get("failed"), info


@pytest.mark.parametrize("output", ["", "[]", "null", "42"], ids=["nothing", "list", "null", "number"])
def test_rollback_after_a_result_that_is_no_object_leaks_no_rules(pnd, tmp_path, output):
    """Item 6: the firewall plugin adds its FORWARD rules, then prints nothing (or not an
    object): the rollback DEL gets the partial result, so the rules go."""
    net = pnd.network("n")["name"]
    plugins = _answers_after_real(str(tmp_path / "p"), "firewall", output)
    before = pnd.snapshot()
    cid = pnd.cid("a")
    res = pnd.run("container_netns", pnd.common(container_id=cid, netns=cid, networks=[net],
                                                cni_plugin_dirs=[plugins]))
    _refused(res, "firewall")
    pnb_env.assert_same(before, pnd.snapshot(), "after a firewall ADD without a result")


def test_ten_megabytes_of_plugin_stderr_make_a_small_result(pnd, tmp_path):
    """Item 12."""
    net = pnd.network("n")["name"]
    plugins = pnd_env.wrapper_plugin(str(tmp_path / "p"), "portmap",
                                     'if [ "$CNI_COMMAND" = ADD ]; then head -c 10000000 /dev/zero | tr "\\0" E >&2; '
                                     "exit 1; fi\nprintf '%s' \"$input\" | exec $REAL\n")
    before = pnd.snapshot()
    cid = pnd.cid("a")
    path = pnd.args_file(pnd.common(container_id=cid, netns=cid, networks=[net], cni_plugin_dirs=[plugins],
                                    port_mappings=[{"host_port": pnd.port(), "container_port": 80}]))
    proc = subprocess.run([pnb_env.PYTHON, pnb_env.module_path("container_netns"), path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=pnb_env.module_env(),
                          cwd=pnd.tmp, timeout=300, check=False)
    res = pnb_env.parse_module_output(proc.stdout)
    _refused(res, "portmap", "more bytes cut")
    assert len(proc.stdout) < 1024 * 1024, "module result of %d bytes" % len(proc.stdout)
    pnb_env.assert_same(before, pnd.snapshot(), "after a plugin with 10 MB of stderr")


def _add_fails_and_its_del_hangs_once(tmp_path, del_once="exec sleep 600"):
    """A plugin dir where tuning fails every ADD and the bridge plugin's first DEL (the
    rollback's) runs ``del_once`` instead (default: hangs past plugin_timeout); returns
    (dir, the marker whose removal says that DEL ran)."""
    marker = str(tmp_path / "del-once")
    plugins = pnd_env.wrapper_plugin(str(tmp_path / "p"), "bridge",
                                     'if [ "$CNI_COMMAND" = DEL ] && [ -e %s ]; then rm -f %s; %s; fi\n'
                                     "printf '%%s' \"$input\" | exec $REAL\n" % (marker, marker, del_once))
    pnd_env.wrapper_plugin(plugins, "tuning",
                           'if [ "$CNI_COMMAND" = ADD ]; then echo \'{"code":11,"msg":"pnd injected"}\'; '
                           "exit 1; fi\nprintf '%s' \"$input\" | exec $REAL\n")
    open(marker, "w").close()
    return plugins, marker


def test_a_rollback_that_times_out_keeps_its_intent(pnd, tmp_path):
    """Item 10: ADD fails in tuning; in the rollback the bridge plugin's DEL hangs past
    plugin_timeout. The intent stays, and the next run undoes what is left."""
    net = pnd.network("n")["name"]
    plugins, marker = _add_fails_and_its_del_hangs_once(tmp_path)
    before = pnd.snapshot()
    cid = pnd.cid("a")
    args = pnd.common(container_id=cid, netns=cid, networks=[net])
    res = pnd.run("container_netns", dict(args, cni_plugin_dirs=[plugins], plugin_timeout=5))
    _refused(res, "pnd injected", "undo is incomplete")
    assert os.path.exists(pnd.intent_path(net, cid)), os.listdir(os.path.dirname(pnd.intent_path(net, cid)))
    pnd.wait_plugins_gone()
    res = pnd.run("container_netns", args)
    assert not res.get("failed"), res
    assert not os.path.exists(pnd.intent_path(net, cid))
    assert list(pnd.reservations(net).values()) == [cid]
    assert not pnd.run("container_netns", dict(args, state="absent")).get("failed")
    pnb_env.assert_same(before, pnd.snapshot(), "after the next run finished the undo")


def test_a_rollback_del_that_lost_a_race_runs_again(pnd, tmp_path):
    """ADD fails in tuning; in the rollback the bridge plugin's DEL fails once the way a
    lost race does (the xtables lock). The undo runs once more and completes: no intent
    stays, nothing is left (and a concurrent batch may then retry the ADD)."""
    net = pnd.network("n")["name"]
    plugins, marker = _add_fails_and_its_del_hangs_once(
        tmp_path, 'echo \'{"code":999,"msg":"Another app is currently holding the xtables lock; '
                  'Resource temporarily unavailable"}\'; exit 1')
    before = pnd.snapshot()
    cid = pnd.cid("r")
    res = pnd.run("container_netns", pnd.common(container_id=cid, netns=cid, networks=[net],
                                                cni_plugin_dirs=[plugins]))
    _refused(res, "pnd injected")
    assert "undo is incomplete" not in res["msg"] and not os.path.exists(marker), res["msg"]
    assert not os.path.exists(pnd.intent_path(net, cid))
    pnb_env.assert_same(before, pnd.snapshot(), "after a rollback whose DEL lost a race once")


def test_prune_stale_finishes_an_interrupted_add_whose_namespace_is_gone(pnd, tmp_path):
    """An ADD whose undo did not finish (its intent stays), then its namespace goes away
    (a reboot): prune_stale undoes the rest with the reserved address (the bridge's
    masquerade rule is found by it), never releases that address on its own and leaves
    the intent behind, which would make a later recovery blind."""
    net = pnd.network("n")["name"]
    plugins, marker = _add_fails_and_its_del_hangs_once(tmp_path)
    before = pnd.snapshot()
    cid = pnd.cid("g")
    args = pnd.common(container_id=cid, netns=cid, networks=[net])
    res = pnd.run("container_netns", dict(args, cni_plugin_dirs=[plugins], plugin_timeout=5))
    _refused(res, "pnd injected", "undo is incomplete")
    pnd.wait_plugins_gone()
    assert os.path.exists(pnd.intent_path(net, cid))
    assert not os.path.exists("/run/netns/%s" % cid)  # the failed run removed what it created
    old = time.time() - 3600  # past the reservations' grace time
    d = os.path.join(pnd.ipam_dir, net)
    for name in os.listdir(d):
        os.utime(os.path.join(d, name), (old, old))
    check = pnd.run("container_net_reload", pnd.common(containers=["all"], prune_stale=True), check=True)
    assert check["changed"] and [i["container_id"] for i in check["pruned"]["interrupted"]] == [cid], check
    assert check["pruned"]["reservations"] == [], check
    res = pnd.run("container_net_reload", pnd.common(containers=["all"], prune_stale=True))
    assert not res.get("failed") and res["changed"], res
    assert [i["container_id"] for i in res["pruned"]["interrupted"]] == [cid], res
    assert not os.path.exists(pnd.intent_path(net, cid))
    again = pnd.run("container_net_reload", pnd.common(containers=["all"], prune_stale=True))
    assert not again.get("failed") and not again["changed"], again
    pnb_env.assert_same(before, pnd.snapshot(), "after prune_stale finished the interrupted ADD")


def test_two_keys_of_one_cache_file_name_are_refused(pnd):
    """The cache and intent file of an attachment is <network>-<container>-<interface>, as
    libcni names it, and '-' may be in names: network P-a with container P-b-P-c2 and
    network P-a-P-b with container P-c2 share a file. The second ADD is refused, naming
    both, before anything runs; the first keeps its entry."""
    n1 = pnd.network("a")["name"]
    n2 = pnd.network("a-%s-b" % pnd.prefix)["name"]
    c1, c2 = pnd.cid("b-%s-c2" % pnd.prefix), pnd.cid("c2")
    before = pnd.snapshot()
    for cid in (c1, c2):
        pnb_env.T.run(["ip", "netns", "add", cid])
    try:
        first = pnd.run("cni_attachment", pnd.common(container_id=c1, netns=c1, network=n1))
        assert not first.get("failed"), first
        res = pnd.run("cni_attachment", pnd.common(container_id=c2, netns=c2, network=n2))
        _refused(res, "%s-%s-eth0" % (n2, c2), n1, c1)
        assert _eth0_with(c1, first["ips"][0].split("/")[0]) if first.get("ips") else True
        assert not pnb_env.T.run(["ip", "-n", c2, "link", "show", "eth0"], check=False).returncode == 0
        again = pnd.run("cni_attachment", pnd.common(container_id=c1, netns=c1, network=n1))
        assert not again.get("failed") and not again["changed"], again
        assert not pnd.run("cni_attachment", pnd.common(container_id=c1, netns=c1, network=n1,
                                                        state="absent")).get("failed")
    finally:
        for cid in (c1, c2):
            pnb_env.T.run(["ip", "netns", "delete", cid], check=False)
    pnb_env.assert_same(before, pnd.snapshot(), "after the refused ADD and the first one's absent")


@pytest.mark.parametrize("where", ["plugin", "plugin-child"])
def test_a_killed_module_leaves_no_plugin_running(pnd, tmp_path, where):
    """Item 9: SIGKILL of the module while a slow firewall plugin runs (itself, or in a
    child it started). No plugin of that run goes on; an immediate re-run recovers and
    attaches; afterwards no rule names the old address."""
    net = pnd.network("n")["name"]
    if where == "plugin":
        body = 'if [ "$CNI_COMMAND" = ADD ]; then sleep 6; fi\nprintf "%s" "$input" | exec $REAL\n'
    else:
        body = ('if [ "$CNI_COMMAND" = ADD ]; then sh -c \'sleep 6; printf "%s" "$1" | exec $2\' x "$input" $REAL & '
                'wait; exit $?; fi\nprintf "%s" "$input" | exec $REAL\n')
    plugins = pnd_env.wrapper_plugin(str(tmp_path / "p"), "firewall", body)
    before = pnd.snapshot()
    cid = pnd.cid("a")
    port = pnd.port()
    args = pnd.common(container_id=cid, netns=cid, networks=[net],
                      port_mappings=[{"host_port": port, "container_port": 80}])
    proc = pnd.spawn("container_netns", dict(args, cni_plugin_dirs=[plugins]))
    assert pnd.wait_for_plugin("firewall", cid, proc)
    old_ip = [ip for ip, owner in pnd.reservations(net).items() if owner == cid]
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    res = pnd.run("container_netns", args)          # at once: the orphan would still run
    assert not res.get("failed"), res
    new_ip = res["network_settings"]["IPAddress"]
    pnd.wait_plugins_gone()                         # (returns at once with the fix)
    time.sleep(1)
    for ip in old_ip:
        if ip != new_ip:
            assert not pnd.forward_rules(ip), "rules for the old address %s: %s" % (ip, pnd.forward_rules(ip))
            assert not [l for l in T.run(["iptables-save"]).stdout.decode().splitlines() if ip + "/" in l
                        or ip + ":" in l], "rules name the old address %s" % ip
    assert not pnd.run("container_netns", dict(args, state="absent")).get("failed")
    pnb_env.assert_same(before, pnd.snapshot(), "after a kill during a slow %s" % where)


def test_entry_without_netns_is_taken_at_its_sandbox(pnd):
    """Item 13 (the cache format; tests/functional/trust/test_podman_interop.py runs podman):
    libcni <= 1.1 writes no netns. prune_stale took such a live attachment for stale
    and DELed it; info showed netns null."""
    net = pnd.network("n")["name"]
    cid, ns, ip, args = _live(pnd, "a", net, pnd.port())
    path = pnd.entry_path(net, cid)
    with open(path) as f:
        data = json.load(f)
    del data["netns"]
    pnd_env.write_bytes(path, json.dumps(data).encode())
    os.unlink(pnd.record_path(cid))                 # as if podman had made it
    before = pnd.snapshot()
    info = pnd.run("container_netns_info", pnd.common(container_id=cid, statistics=False))
    (att,) = info["containers"][cid]["attachments"]
    assert info["containers"][cid]["netns"] == "/run/netns/%s" % ns and att["netns"] == "/run/netns/%s" % ns
    res = pnd.run("container_net_reload", pnd.common(containers=["all"], prune_stale=True))
    assert not res.get("failed"), res
    assert res["pruned"]["attachments"] == [] and not res["changed"], res
    pnb_env.assert_same(before, pnd.snapshot(), "prune_stale with a live libcni 1.1 entry")
    assert _eth0_with(ns, ip)
