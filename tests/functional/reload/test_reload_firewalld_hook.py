# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The firewalld hook (roles/firewall_reload_hook/files/podnet-firewalld-reload): a real
dbus-daemon (a private bus, not the machine's) carries the ``Reloaded`` signal, the
watcher runs in the isolated test host and repairs the wiped rules.

firewalld itself is not run here: on the machine's bus and in its network namespace it
would rewrite the machine's firewall. The signal it sends is sent with dbus-send,
exactly as firewalld emits it (path /org/fedoraproject/FirewallD1, interface
org.fedoraproject.FirewallD1, member Reloaded); see docs/howto-firewall-reload.md.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from podnet_testlib import wait_for
from reload_env import PYTHON, REPO, T

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
              pytest.mark.skipif(not shutil.which("dbus-daemon") or not shutil.which("dbus-monitor"),
                                 reason="needs dbus-daemon and dbus-monitor")]


def log_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def test_reloaded_signal_triggers_a_reload(env):
    n1 = env.networks[0]
    ns1 = env.add_container("c1", [n1], [env.port_base])
    env.add_container("c2", [n1])
    checks = {"client->c1": (env.client, env.host_ip, env.port_base, "c1"),
              "c1->c2": (ns1, env.ip_of("c2", 0), 8080, "c2")}
    assert all(env.probe(checks, timeout=3.0).values())
    before = env.entries()

    sock = os.path.join(env.tmp, "bus.sock")
    address = "unix:path=" + sock
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--address", address],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env.procs.append(bus)
    assert wait_for(lambda: os.path.exists(sock), 10)
    log = os.path.join(env.tmp, "watcher.log")
    with open(log, "w") as out:
        watcher = subprocess.Popen(env.watcher_argv("--bus", address, "--debounce", "0.2"),
                                   stdout=out, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, PATH=env.path))
    env.procs.append(watcher)
    assert wait_for(lambda: any(l.get("event") == "watching" for l in log_lines(log)), 20), open(log).read()
    startup = [l for l in log_lines(log) if l.get("event") == "reload"]
    assert startup and startup[0]["reloaded"] == {} and startup[0]["errors"] == {}

    env.wipe("iptables")
    assert not any(env.probe(checks).values())
    T.run(["dbus-send", "--address=" + address, "--type=signal", "/org/fedoraproject/FirewallD1",
           "org.fedoraproject.FirewallD1.Reloaded"])
    assert wait_for(lambda: len([l for l in log_lines(log) if l.get("event") == "reload"]) >= 2, 20), \
        open(log).read()
    run = [l for l in log_lines(log) if l.get("event") == "reload"][1]
    assert run["errors"] == {}, run
    assert run["reloaded"] == {env.cid("c1"): [n1], env.cid("c2"): [n1]}
    assert all(env.probe(checks, timeout=3.0).values())
    assert env.entries() == before
    assert watcher.poll() is None

    once = subprocess.run(env.watcher_argv("--once"), stdout=subprocess.PIPE, check=False,
                          env=dict(os.environ, PATH=env.path))
    assert once.returncode == 0
    assert json.loads(once.stdout.decode().strip().splitlines()[-1])["reloaded"] == {}


PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  vars: %s
  roles:
    - podnet.cni.firewall_reload_hook
  tasks:
    - name: Stand-in for a task that reloads firewalld
      ansible.builtin.command: /bin/true
      changed_when: true
      notify: firewalld reloaded
"""


def test_role_handler_and_installed_unit(env):
    """The role's handler repairs a wipe; the unit it renders runs the installed watcher."""
    n1 = env.networks[0]
    env.add_container("c1", [n1], [env.port_base])
    check = {"client->c1": (env.client, env.host_ip, env.port_base, "c1")}
    root = os.path.join(env.tmp, "root")
    variables = {
        "firewall_reload_hook_unit_dir": root + "/unit", "firewall_reload_hook_libexec_dir": root + "/libexec",
        "firewall_reload_hook_lib_dir": root + "/lib", "firewall_reload_hook_enable_unit": False,
        "firewall_reload_hook_python": PYTHON, "firewall_reload_hook_cni_config_dir": env.config_dir,
        "firewall_reload_hook_cni_plugin_dirs": [T.PLUGIN_DIR], "firewall_reload_hook_cni_cache_dir": env.cache_dir,
        "firewall_reload_hook_state_dir": env.state_dir}
    playbook = os.path.join(env.tmp, "play.yml")
    with open(playbook, "w") as f:
        f.write(PLAYBOOK % json.dumps(variables))
    env.wipe("iptables")
    assert env.probe(check) == {"client->c1": False}

    proc = subprocess.run(["ip", "netns", "exec", env.host, os.path.join(os.path.dirname(PYTHON), "ansible-playbook"),
                           "-i", "localhost,", "-c", "local", playbook,
                           "-e", "ansible_python_interpreter=" + PYTHON],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=T.ansible_env({"PATH": env.path, "ANSIBLE_STDOUT_CALLBACK": "default"}),
                          cwd=REPO)
    out = proc.stdout.decode()
    assert proc.returncode == 0, out[-3000:] + proc.stderr.decode()[-2000:]
    handler = out[out.index("RUNNING HANDLER [podnet.cni.firewall_reload_hook : Podnet firewall_reload_hook: reload container networks]"):]
    assert handler.split("\n")[1].startswith("changed: [localhost]"), out
    assert env.probe(check, timeout=3.0) == {"client->c1": True}

    unit = open(os.path.join(root, "unit", "podnet-firewalld-reload.service")).read()
    (execstart,) = [l for l in unit.splitlines() if l.startswith("ExecStart=")]
    assert "Restart=on-failure" in unit.splitlines()
    argv = execstart[len("ExecStart="):].split()
    assert argv[1] == os.path.join(root, "libexec", "podnet-firewalld-reload")
    assert os.path.isfile(os.path.join(root, "lib", "ansible_collections", "podnet", "cni", "plugins",
                                       "module_utils", "_reload.py"))
    once = subprocess.run(["ip", "netns", "exec", env.host] + argv + ["--once"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                          env=dict(os.environ, PATH=env.path))
    assert once.returncode == 0, once.stderr.decode()
    assert json.loads(once.stdout.decode().strip().splitlines()[-1])["reloaded"] == {}
