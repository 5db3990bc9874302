#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_net_reload
short_description: Restore containers' CNI networking after a firewall reload
version_added: 0.1.0
description:
  - A firewall reload (C(firewall-cmd --reload), C(nft flush ruleset), C(iptables -F),
    an iptables service restart) wipes the iptables/nftables rules CNI plugins created,
    and containers lose connectivity and port mappings. This module sets their networks up
    again, as C(podman network reload) does.
  - Without I(force), each attachment is checked first and only broken ones are reloaded.
    The check is a CNI CHECK with the cached configuration and result, plus a look at the
    masquerade rules of the bridge plugin's C(ipMasq) (which CHECK does not cover). One
    C(iptables -S) listing serves all attachments. A missing chain marks an attachment
    broken without a CHECK. A plugin whose rules are listed intact (portmap's DNAT rule
    of every mapping, the firewall plugin's FORWARD accepts) is not CHECKed again. When
    one of those rules is missing, the plugin's own CHECK decides. For a
    network whose C(cniVersion) cannot CHECK (before 0.4.0, or C(disableCheck)), the
    chains and rules its plugins own (bridge masquerade, portmap DNAT, firewall FORWARD
    accept, IPv4) and the container's interface are looked at instead.
  - A known false alarm is ignored - portmap 1.1 fails CHECK on its IPv6 DNAT chain for
    every container without an IPv6 address.
  - A reload is a DEL with the cached configuration (the errors of rules that are
    already gone, such as C(Couldn't load target `CNI-...') or
    C(Chain 'CNI-...' does not exist), are expected) followed by an ADD with the same
    configuration, interface name, IPs and MAC on every network, aliases, port mappings
    and extra CNI args (podman v4 behaviour; v3 preserved addresses only for a single
    network).
  - A DEL that fails with another error does not keep the network down - every plugin's DEL
    has still run, so the ADD with the same IPs and MAC follows (as podman logs the DEL
    error and sets the network up again). Both are reported, the DEL error in the network's
    C(del_error) and a warning.
  - With I(prune_stale), state left by namespaces that are gone (after a reboot, a crash)
    is garbage-collected. Cache entries whose netns is not a live namespace get a DEL
    with the cached configuration and an empty netns, which releases their IPs. Records
    of such containers are removed (a leftover namespace file only when it is an empty
    mount point of ours in the netns directory, see C(docs/safety.md)). Host-local
    reservations held by no cache entry
    (networks of I(cni_config_dir) or of a cache entry only, files older than 60
    seconds) are released under host-local's lock. An attachment whose netns is alive
    is never touched, nor one whose entry names no netns at all (C(pruned.skipped)).
    An ADD a dead run left half-done (its intent) whose namespace is gone is undone with
    the addresses it had reserved (C(pruned.interrupted)); those reservations are never
    released on their own, since the undo finds the plugins' rules by them.
  - An attachment recorded in the module's own or the host's network namespace (by
    another tool, or by hand) is never reloaded there - skipped with a warning for C(all),
    an error for a listed container.
  - Files that cannot be used (a corrupt or wrong-typed cache entry, intent or record, a
    symlink, another user's file) are never acted upon, and block nothing else. A container
    they may belong to is not reloaded, and its C(errors) name the file (the task fails);
    the others are reloaded, and the rest is reported as a warning and in
    C(pruned.unreadable). A reservation an unusable cache entry may hold is not released.
    libcni 1.1 entries (podman 4, cnitool) have no C(netns), so their netns is the sandbox
    of their result. See C(docs/state-and-trust.md).
  - Check mode touches nothing. It still runs the CNI CHECKs and lists the iptables
    rules, both read-only, so it reports exactly what would be reloaded and pruned.
  - When a container fails, the task fails with the per-container results, and
    C(changed) is true whenever anything was changed (another container reloaded, or
    the failed attachment deleted before its ADD failed).
author: podnet.cni contributors (@podnet)
requirements:
  - For the firewalld hook, C(dbus-monitor) (the C(podnet.cni.firewall_reload_hook) role installs
    the watcher).
extends_documentation_fragment:
  - podnet.cni.common
  - podnet.cni.common.requirements
attributes:
  idempotent:
    support: partial
    details: Idempotent without I(force); with I(force) every attachment is reloaded on each run.
options:
  containers:
    description:
      - Container ids to reload, or the single item C(all). C(all) means every container
        with a record, plus every attachment in the libcni cache whose netns is alive -
        including ones podman, cnitool or CRI-O made.
      - A listed id without a live netns fails the task before anything changes.
    type: list
    elements: str
    default: [all]
    version_added: 0.1.0
  force:
    description:
      - Reload every attachment of the selected containers, healthy or not.
    type: bool
    default: false
    version_added: 0.1.0
  prune_stale:
    description:
      - Also garbage-collect attachments, records and IP reservations whose namespace is gone.
    type: bool
    default: false
    version_added: 0.1.0
  workers:
    description:
      - How many attachments are checked, and how many containers are reloaded, at the
        same time (reloads run side by side as root only; their ADD chains at most one per
        CPU of the managed host, as with M(podnet.cni.container_netns) I(workers)).
    type: int
    default: 8
    version_added: 0.1.0
notes:
  - Reload the containers after every firewall reload. The C(podnet.cni.firewall_reload_hook)
    role installs a systemd unit that does so on firewalld's C(Reloaded) D-Bus signal
    and a handler for playbooks. See C(docs/howto-firewall-reload.md).
  - Rootless, the checks and reloads run inside the user's rootless CNI namespace.
seealso:
  - module: podnet.cni.container_netns
  - module: podnet.cni.cni_attachment
"""

EXAMPLES = r"""
- name: After a firewall reload, repair what it broke
  podnet.cni.container_net_reload:
    containers: all

- name: Reload two containers unconditionally
  podnet.cni.container_net_reload:
    containers: [web1, db1]
    force: true

- name: After a reboot, release the IPs and rules of containers that are gone
  podnet.cni.container_net_reload:
    containers: all
    prune_stale: true
"""

RETURN = r"""
actions:
  description:
    - What the run does (in check mode, would do), in order, as every module of the
      collection returns it, C(action) naming each - C(reload) per broken attachment
      (C(container_id), C(network), C(interface)), then C(prune) (C(stale), how many
      leftovers) when C(prune_stale) found any.
  returned: always
  type: list
  elements: dict
  sample:
    - {action: reload, container_id: web1, network: frontend, interface: eth0}
containers:
  description:
    - Per container id, its netns, its networks and what happened to them.
    - C(networks.<name>.state) is C(healthy), C(would_reload) (check mode), C(reloaded),
      C(failed) or C(skipped) (detached while the module ran). A C(failed) network has
      C(error) and C(changed) (true when its DEL had run, so its attachment was taken down).
    - C(networks.<name>.del_error) is the error of a DEL that failed unexpectedly before the
      ADD set the network up again (null when the DEL succeeded).
  returned: always
  type: dict
  sample:
    web1:
      netns: /run/netns/podnet-web1
      reloaded: [frontend]
      errors: []
      networks:
        frontend:
          interface: eth0
          state: reloaded
          reason: "CNI plugin portmap failed on CHECK for network frontend (code 999): ..."
          ips: [10.89.0.2]
          mac: 0a:58:0a:59:00:02
          ips_preserved: true
          mac_preserved: true
          tolerated_errors: []
          del_error: null
        backend:
          interface: eth1
          state: healthy
          reason: null
          ips: [10.89.1.10]
          mac: 0a:58:0a:59:01:0a
reloaded:
  description: How many attachments were reloaded (or would be, in check mode).
  returned: always
  type: int
  sample: 1
pruned:
  description:
    - What I(prune_stale) removed (check mode - would remove). C(attachments) are cache
      entries that got a DEL, C(interrupted) ADDs a dead run left half-done whose namespace
      is gone (their undo finished here, with the addresses they had reserved), C(records)
      container records, C(reservations) host-local IP files; C(errors) what could not be
      pruned.
    - C(unreadable) lists the files that cannot be used and were left alone (C(path),
      C(kind) C(cache), C(intent) or C(record), C(reason)); C(skipped) the cache entries
      that name no netns (C(path), C(reason)), which may be alive.
  returned: when I(prune_stale=true)
  type: dict
  sample:
    attachments: [{"network": "frontend", "container_id": "web1", "interface": "eth0",
                   "netns": "/run/netns/podnet-web1", "ips": ["10.89.0.2"]}]
    interrupted: []
    records: [{"container_id": "web1", "netns": "/run/netns/podnet-web1", "remove_netns": false}]
    reservations: []
    unreadable: [{"path": "/var/lib/cni/results/frontend-web9-eth0", "kind": "cache",
                  "reason": "corrupt JSON: Expecting value: line 1 column 1 (char 0)"}]
    skipped: []
    errors: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import (
    WORKERS_SPEC, argument_spec, run)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            containers={"type": "list", "elements": "str", "default": ["all"]},
            force={"type": "bool", "default": False},
            prune_stale={"type": "bool", "default": False},
            workers=WORKERS_SPEC,
        ),
        supports_check_mode=True,
    )
    from ansible_collections.podnet.cni.plugins.module_utils._reload import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
