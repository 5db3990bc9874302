# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/getting-started.md run for real: its two playbooks, twice (the second run changes
nothing), then its "See them talk" commands, web1 serving and client1 fetching, and the host
through the published port.

Prefix ``pne``, subnets in 10.234.0.0/16, host ports 21500-21599. The playbooks run in a
network namespace of their own that plays the host (``nsenter --net``: the mounts, /run/netns
included, stay the machine's), so the bridge, the iptables rules and ip_forward of the test
live there and vanish with it. The doc's names, subnet and port are replaced by this test's;
its directories (config, cache, state) point into a temporary dir; two things the doc's
playbook would do to the machine itself are turned off with extra vars: installing packages
(``make test`` installed them; the molecule scenarios run that part) and writing
/etc/sysctl.d (ip_forward is set, per namespace)."""
from __future__ import annotations

import json
import os
import random
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from docs_snippets import REPO, blocks

import podnet_testlib as tl

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: netns, bridges, iptables")

DOC = os.path.join(REPO, "docs", "getting-started.md")
HOST_LOCAL_DIR = "/var/lib/cni/networks"


class Names:
    def __init__(self) -> None:
        self.prefix = tl.unique_prefix("pne")
        self.octet = random.randrange(0, 256)
        self.port = random.randrange(21500, 21600)
        self.host = self.prefix + "-h"
        self.network = self.prefix + "fe"       # bridge cni-<it>: 13 characters
        self.map = {"frontend": self.network, "client1": self.prefix + "c1", "web1": self.prefix + "w1",
                    "10.89.10.": "10.234.%d." % self.octet, "8080": str(self.port)}

    def apply(self, text: str) -> str:
        pattern = re.compile("|".join(re.escape(k) for k in sorted(self.map, key=len, reverse=True)))
        return pattern.sub(lambda m: self.map[m.group(0)], text)


def doc_playbooks():
    """The doc's playbooks, named by their first comment line (# prepare.yml)."""
    books = {}
    for _line, text in blocks(DOC, "yaml"):
        first = text.splitlines()[0]
        if first.startswith("# ") and first.endswith(".yml"):
            books[first[2:]] = text
    return books


def talk_commands():
    return [line for _l, text in blocks(DOC, "sh") for line in text.splitlines()
            if line.startswith("ip netns exec ")]


@pytest.fixture
def env(tmp_path):
    names = Names()
    tl.run(["ip", "netns", "add", names.host])
    procs = []
    try:
        tl.run(["ip", "netns", "exec", names.host, "ip", "link", "set", "lo", "up"])
        yield names, tmp_path, procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        for ns in (names.map["web1"], names.map["client1"]):
            subprocess.run(["ip", "netns", "delete", ns], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["ip", "netns", "delete", names.host], check=False)
        shutil.rmtree(os.path.join(HOST_LOCAL_DIR, names.network), ignore_errors=True)


def run_playbooks(names, tmp, books):
    inventory = tmp / "inventory.ini"
    inventory.write_text("[container_hosts]\nlocalhost ansible_connection=local "
                         "ansible_python_interpreter=%s\n" % tl.VENV_PYTHON)
    dirs = {"config": str(tmp / "net.d"), "cache": str(tmp / "cache"), "state": str(tmp / "state")}
    extra = {"cni_host_install_packages": False, "cni_host_sysctl_file": "",
             "cni_host_cni_config_dir": dirs["config"], "cni_host_cni_cache_dir": dirs["cache"],
             "container_network_cni_config_dir": dirs["config"],
             "container_network_cni_cache_dir": dirs["cache"], "container_network_state_dir": dirs["state"]}
    playbook = os.path.join(os.path.dirname(tl.ANSIBLE), "ansible-playbook")
    proc = subprocess.run(["nsenter", "--net=/run/netns/%s" % names.host, playbook, "-i", str(inventory),
                           "-e", json.dumps(extra)] + books,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=str(tmp),
                          env=tl.ansible_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default"}),
                          check=False)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-5000:]
    recap = re.search(r"^localhost\s+:\s+ok=\d+\s+changed=(\d+)", out, re.M)
    return int(recap.group(1)), out


def test_getting_started_runs_as_written(env):
    names, tmp, procs = env
    books = doc_playbooks()
    assert sorted(books) == ["containers.yml", "prepare.yml"]
    paths = []
    for name in ("prepare.yml", "containers.yml"):
        path = tmp / name
        path.write_text(names.apply(books[name]))
        paths.append(str(path))

    changed, out = run_playbooks(names, tmp, paths)
    assert changed > 0, out[-3000:]
    changed, out = run_playbooks(names, tmp, paths)   # "Run it twice: the second run reports no change"
    assert changed == 0, out[-5000:]

    server, client = [names.apply(c) for c in talk_commands()]
    web1 = names.map["web1"]
    procs.append(subprocess.Popen(shlex.split(server), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    assert tl.wait_listening(web1, 80), "the doc's server did not start in %s" % web1
    proc = subprocess.run(shlex.split(client), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30, check=False)
    assert proc.stdout.decode().strip() == "200", proc.stderr.decode()[-2000:]

    # the host, through the published port (portmap's DNAT of locally sent traffic)
    fetch = "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:%d/').status)" % names.port
    proc = subprocess.run(["nsenter", "--net=/run/netns/%s" % names.host, sys.executable, "-c", fetch],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, check=False)
    assert proc.stdout.decode().strip() == "200", proc.stderr.decode()[-2000:]
