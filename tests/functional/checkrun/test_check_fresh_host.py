# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""``ansible-playbook --check`` on a host that has nothing yet (issue 14, item 6): the
README's role example, and the firewall_reload_hook role, complete, report what would
change, say what they predicted, and leave nothing behind.

Area ``pnk``: names ``pnk`` + 4 hex digits, subnets in 10.238.0.0/16, host ports
21900-21999. The host is a fresh private network namespace (``nsenter --net``: the mounts,
/run/netns included, stay the machine's), so a rule, link or sysctl the run would change
would show there; the CNI config, cache and state directories and the hook's install
directories are paths in a temporary directory that do not exist. The packages are this
machine's (``make test`` installed them): the package task's check mode without python3-apt
runs on the fleet's pristine hosts (molecule/fleet/prepare.yml). The controller's TMPDIR is a
directory of the test, so a temporary directory left on the controller is seen.
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess

import pytest

import podnet_testlib as tl
from docs_snippets import REPO, blocks

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: a private host netns")

HOST_LOCAL_DIR = "/var/lib/cni/networks"
NETNS_DIR = "/run/netns"


class Names:
    def __init__(self) -> None:
        self.prefix = tl.unique_prefix("pnk")
        self.host = self.prefix + "-h"
        self.network = self.prefix + "fe"
        self.container = self.prefix + "w1"
        self.subnet = "10.238.%d." % random.randrange(0, 256)
        self.port = str(random.randrange(21900, 22000))
        self.map = {"frontend": self.network, "web1": self.container, "10.89.10.": self.subnet,
                    "8080": self.port}

    def apply(self, text: str) -> str:
        pattern = re.compile("|".join(re.escape(k) for k in sorted(self.map, key=len, reverse=True)))
        return pattern.sub(lambda m: self.map[m.group(0)], text)


def readme_role_example() -> str:
    found = [text for _line, text in blocks(os.path.join(REPO, "README.md"), "yaml")
             if "podnet.cni.cni_host" in text and "podnet.cni.container_network" in text]
    assert len(found) == 1, "the README has one role example"
    return found[0]


def snapshot(names):
    """What the host netns, its firewall and the machine's shared places hold."""
    def ns(argv):
        proc = tl.run(["nsenter", "--net=%s/%s" % (NETNS_DIR, names.host)] + argv, check=False)
        return proc.stdout.decode()
    return {"links": ns(["ip", "-o", "link"]), "iptables": ns(["iptables-save"]),
            "nft": ns(["nft", "list", "ruleset"]), "ip_forward": ns(["sysctl", "-n", "net.ipv4.ip_forward"]),
            "netns": sorted(n for n in os.listdir(NETNS_DIR) if names.prefix in n),
            "host_local": os.path.exists(os.path.join(HOST_LOCAL_DIR, names.network))}


@pytest.fixture
def env(tmp_path):
    names = Names()
    tl.run(["ip", "netns", "add", names.host])
    try:
        yield names, tmp_path
    finally:
        for ns in os.listdir(NETNS_DIR):
            if names.prefix in ns and ns != names.host:
                subprocess.run(["ip", "netns", "delete", ns], check=False)
        subprocess.run(["ip", "netns", "delete", names.host], check=False)


def run_check(names, tmp, playbook_text, extra):
    """ansible-playbook --check in the host netns; (returncode, per-task results, output)."""
    book = tmp / "play.yml"
    book.write_text(names.apply(playbook_text))
    inventory = tmp / "inventory.ini"
    inventory.write_text("[container_hosts]\nlocalhost ansible_connection=local "
                         "ansible_python_interpreter=%s\n" % tl.VENV_PYTHON)
    controller_tmp = tmp / "controller-tmp"
    controller_tmp.mkdir()
    playbook = os.path.join(os.path.dirname(tl.ANSIBLE), "ansible-playbook")
    proc = subprocess.run(["nsenter", "--net=%s/%s" % (NETNS_DIR, names.host), playbook, "--check",
                           "-i", str(inventory), "-e", json.dumps(extra), str(book)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(tmp),
                          env=tl.ansible_env({"TMPDIR": str(controller_tmp)}), check=False)
    out = proc.stdout.decode()
    match = re.search(r'^\{"tasks": .*$', out, re.M)
    tasks = json.loads(match.group(0))["tasks"] if match else []
    return proc.returncode, tasks, out, controller_tmp


def task_name(task):
    """The task's name without its role's prefix."""
    return task["task"].split(" : ", 1)[-1]


def changed(tasks):
    return [task_name(t) for t in tasks if t["result"].get("changed")]


def warnings(tasks):
    return [w for t in tasks for w in t["result"].get("warnings") or []]


def test_readme_role_example_check_run_on_a_fresh_host(env):
    names, tmp = env
    fresh = tmp / "fresh"   # none of these exists: the run would create them
    dirs = {"config": str(fresh / "net.d"), "cache": str(fresh / "cache"), "state": str(fresh / "state")}
    extra = {"cni_host_install_packages": False,
             "cni_host_sysctl_file": str(fresh / "sysctl.d" / "60-podnet-cni.conf"),
             "cni_host_cni_config_dir": dirs["config"], "cni_host_cni_cache_dir": dirs["cache"],
             "container_network_cni_config_dir": dirs["config"],
             "container_network_cni_cache_dir": dirs["cache"], "container_network_state_dir": dirs["state"]}
    before = snapshot(names)
    rc, tasks, out, controller_tmp = run_check(names, tmp, readme_role_example(), extra)
    assert rc == 0, out[-6000:]

    # it reports what would change: the network, the container (and ip_forward's file)
    assert "Define the CNI networks" in changed(tasks), out[-4000:]
    converge = [t for t in tasks if task_name(t) == "Converge the containers' namespaces and networks"]
    assert len(converge) == 1 and converge[0]["result"]["changed"], out[-4000:]
    item = converge[0]["result"]["containers"][names.container]
    assert item["changed"], item
    actions = [a["action"] for a in item["actions"]]
    assert actions[:2] == ["create_netns", "attach"], actions
    # ... and says what it predicted (the network the cni_host task would write)
    predicted = [w for w in warnings(tasks) if "check_mode_pending" in w]
    assert any(names.network in w and "predicted" in w for w in predicted), warnings(tasks)

    # nothing is left: no directory, no namespace, no link, rule or reservation, no
    # temporary directory on the controller
    assert not fresh.exists(), sorted(str(p) for p in fresh.rglob("*"))
    assert snapshot(names) == before
    assert os.listdir(str(controller_tmp)) == []


def test_readme_check_run_still_fails_on_an_unknown_network(env):
    """What no earlier task would create still fails, as it does in the real run."""
    names, tmp = env
    fresh = tmp / "fresh"
    extra = {"cni_host_install_packages": False, "cni_host_sysctl_file": "",
             "cni_host_cni_config_dir": str(fresh / "net.d"),
             "container_network_cni_config_dir": str(fresh / "net.d"),
             "container_network_state_dir": str(fresh / "state")}
    text = readme_role_example().replace(
        "networks: [frontend]", "networks: [%snotdeclared]" % names.prefix)
    rc, tasks, out, controller_tmp = run_check(names, tmp, text, extra)
    assert rc != 0
    failed = [t for t in tasks if t["result"].get("_status") == "failed"]
    assert len(failed) == 1 and "unknown CNI network" in failed[0]["result"]["msg"], out[-4000:]
    assert "%snotdeclared" % names.prefix in failed[0]["result"]["msg"]
    assert not fresh.exists()
    assert os.listdir(str(controller_tmp)) == []


HOOK_PLAY = """\
- hosts: container_hosts
  become: true
  roles:
    - role: podnet.cni.firewall_reload_hook
"""


def test_firewall_reload_hook_check_run_on_a_fresh_host(env):
    names, tmp = env
    fresh = tmp / "fresh"
    extra = {"firewall_reload_hook_unit_dir": str(fresh / "systemd"),
             "firewall_reload_hook_libexec_dir": str(fresh / "libexec"),
             "firewall_reload_hook_lib_dir": str(fresh / "lib")}
    rc, tasks, out, controller_tmp = run_check(names, tmp, HOOK_PLAY, extra)
    assert rc == 0, out[-6000:]
    done = changed(tasks)
    for task in ("Make the watcher's directories", "Install the watcher", "Install the systemd unit",
                 "Report the module_utils the host would get (check mode, its directory is not made yet)"):
        assert task in done, (task, done)
    assert not fresh.exists(), sorted(str(p) for p in fresh.rglob("*"))
    assert os.listdir(str(controller_tmp)) == []   # the packed module_utils are gone
