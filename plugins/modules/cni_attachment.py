#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: cni_attachment
short_description: Connect or disconnect a running container to a CNI network
version_added: 0.1.0
description:
  - Connects one container (its id and network namespace) to one CNI network while it runs,
    or disconnects it, the way C(podman network connect) and C(podman network disconnect) do
    with podman's CNI backend.
  - An attachment is identified by (network, container id, interface), the libcni key. An
    entry for that key in the libcni cache means the container is attached, whoever made it
    (this collection, C(cnitool), podman's CNI backend, CRI-O); such an attachment is left
    alone (C(changed=false)) unless it differs from the request.
  - A request whose I(ips), I(mac), I(aliases), I(port_mappings), I(cni_args) or
    I(capability_args) differ from the existing attachment re-attaches that network only
    (DEL, then ADD). What the request does not give is kept from the existing attachment
    (addresses; I(aliases), I(port_mappings), I(cni_args) and I(capability_args) when
    omitted — an empty list asks for none). Other networks of the container are not touched.
  - With I(verify=true) an existing attachment is checked with CNI CHECK (also in check
    mode, as CHECK changes nothing); when CHECK fails it is repaired by DEL and ADD with the
    same addresses (and MAC when the chain can set one).
  - Disconnecting (I(state=absent)) runs DEL with the configuration, arguments and result
    cached at ADD time, so a network edited or removed since still tears down cleanly; the
    container's other networks stay and its C(lo) is brought back up, as podman does.
  - I(attachments) attaches or detaches many containers in one task. Entries of different
    containers run concurrently on at most I(workers) threads; entries of one container run
    in order. The first ADD of each network in a batch (and the first one with port
    mappings) runs alone, because the plugins' one-time setup (bridge creation, the portmap
    and firewall jump rules) is not safe to race; the others overlap.
  - Every entry is validated first (IP outside the network, IP already taken, interface name
    already used, host port already mapped by another container, unknown network, missing
    netns, missing plugin); one bad entry fails the task before anything changes.
  - A failure while running rolls back only that entry (nothing of its half-made attachment
    is left; a failed re-attach restores the previous attachment) and is reported in its
    C(results) item; the task then fails, naming the entries that failed.
  - A cache entry, intent or record that may describe a container and cannot be used
    (truncated, wrong-typed, another tool's, a symlink, another user's, ...) fails that
    container's entries, naming the file (check mode too); the other containers' entries
    go on. See C(docs/state-and-trust.md).
  - The container's record (the one C(podnet.cni.container_netns) keeps) is updated with the
    interface names, so the next default interface is the lowest free C(ethN), and says that
    this module attached the network (C(attached_by)).
author: podnet.cni contributors (@podnet)
extends_documentation_fragment:
  - podnet.cni.common
  - podnet.cni.common.state
  - podnet.cni.common.check_mode_pending
  - podnet.cni.common.requirements
  - podnet.cni.attachment_options
  - podnet.cni.attachment_options.batch
  - podnet.cni.port_mappings
options:
  verify:
    description:
      - Run CNI CHECK on an existing attachment and repair it when CHECK fails.
      - Needs a network with C(cniVersion) 0.4.0 or later.
    type: bool
    default: false
    version_added: 0.1.0
  state:
    description: Whether the attachment should exist.
  attachments:
    description:
      - A batch of entries, each with the single-entry options (same meaning as above).
      - An entry without I(verify) or I(state) takes the task's.
      - Mutually exclusive with the single-entry options.
    type: list
    elements: dict
    version_added: 0.1.0
    # suboptions: the single form's options (doc fragment podnet.cni.attachment_options.batch)
  workers:
    description:
      - How many containers of a batch are attached at the same time (threads; the plugins are
        separate processes). C(1) runs the batch in order.
      - Rootless, a batch always runs in order (the rootless namespace and its slirp4netns
        port forwards are set up on first use).
      - ADD chains overlap at most one per CPU of the managed host, as with
        M(podnet.cni.container_netns) I(workers).
    type: int
    default: 8
    version_added: 0.1.0
notes:
  - Runs as root here; rootless operation is selected with I(rootless).
  - A connect is durable, as C(podman network connect) is. C(podnet.cni.container_netns)
    run again for the container keeps the networks attached here although its I(networks)
    does not list them (no change reported); its I(purge_networks=true) detaches them.
  - A container of network mode C(host), C(container:<id>) or C(ns:<path>) has no namespace
    of its own to connect; such an entry fails (connect the owner of the namespace instead).
  - The C(dnsname) plugin keeps its C(INPUT) rule for port 53 on the bridge after the last
    container left the network (plugin behaviour).
  - Interoperable with libcni; an attachment made here passes C(cnitool check) and is removed
    by C(cnitool del) (give C(CAP_ARGS) with the port mappings to C(cnitool del), or portmap
    leaves its DNAT rules); one made by C(cnitool add) is seen as attached and detached here.
seealso:
  - module: podnet.cni.container_netns
  - module: podnet.cni.container_netns_info
  - module: podnet.cni.cni_network
"""

EXAMPLES = r"""
- name: Connect web1 to the backend network with a static address and an alias
  podnet.cni.cni_attachment:
    container_id: web1
    network: backend
    ips: [10.89.1.10, "fd00:89:1::10"]
    aliases: [web]

- name: Publish a port on the frontend network, bound to localhost
  podnet.cni.cni_attachment:
    container_id: web1
    network: frontend
    port_mappings:
      - host_port: 8080
        container_port: 80
        host_ip: 127.0.0.1

- name: Check the attachment and repair it when its rules were flushed
  podnet.cni.cni_attachment:
    container_id: web1
    network: frontend
    verify: true

- name: Attach several containers in one task
  podnet.cni.cni_attachment:
    attachments:
      - {container_id: c1, network: backend}
      - {container_id: c2, network: backend, ips: [10.89.1.12]}
      - {container_id: c3, network: frontend, port_mappings: ["8083:80", "127.0.0.1:5353:53/udp"]}
    workers: 8

- name: Disconnect web1 from the backend network
  podnet.cni.cni_attachment:
    container_id: web1
    network: backend
    state: absent
"""

RETURN = r"""
attachment:
  description:
    - Single-entry form only. The attachment after the run (in check mode, as it would be);
      null when detached.
  returned: when I(attachments) is not used
  type: dict
  sample:
    network: backend
    interface: eth1
    container_id: web1
    netns: /run/netns/podnet-web1
    ips: [10.89.1.10]
    mac: 0a:58:0a:59:01:0a
    aliases: [web]
    port_mappings: []
    result: {"cniVersion": "1.0.0", "ips": [{"address": "10.89.1.10/24", "gateway": "10.89.1.1"}]}
interface:
  description: Single-entry form only. The interface name chosen (null when nothing matched a detach).
  returned: when I(attachments) is not used
  type: str
  sample: eth1
netns:
  description: Single-entry form only. The container's network namespace path.
  returned: when I(attachments) is not used
  type: str
  sample: /run/netns/podnet-web1
actions:
  description: The steps planned (check mode) or taken, over all entries.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "attach", "container_id": "web1", "network": "backend", "interface": "eth1"}]
results:
  description:
    - One item per entry (one for the single form), in order, with C(container_id),
      C(network), C(interface), C(netns), C(state), C(changed), C(failed), C(actions),
      C(attachment) (without the CNI C(result) when there are several entries), and C(msg)
      when it failed (C(restored) says whether a failed re-attach put the previous attachment
      back).
  returned: always
  type: list
  elements: dict
  sample: [{"container_id": "web1", "network": "backend", "interface": "eth1", "changed": true, "failed": false, "actions": [], "attachment": {}}]
failed_entries:
  description: How many entries failed while running (the task fails when it is not 0).
  returned: always
  type: int
  sample: 0
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import (
    CHECK_MODE_PENDING_SPEC, ENTRY_STATE_SPEC, PORT_MAPPINGS_SPEC, STATE_SPEC, WORKERS_SPEC,
    run, single_or_batch)

ENTRY_OPTIONS = {
    "container_id": {"type": "str"},
    "name": {"type": "str"},
    "netns": {"type": "str"},
    "network": {"type": "str"},
    "interface": {"type": "str"},
    "ips": {"type": "list", "elements": "str"},
    "mac": {"type": "str"},
    "aliases": {"type": "list", "elements": "str"},
    "port_mappings": PORT_MAPPINGS_SPEC,
    "cni_args": {"type": "raw"},
    "capability_args": {"type": "dict"},
}


def main():
    module = AnsibleModule(**single_or_batch(
        "attachments", ENTRY_OPTIONS,
        entry={"container_id": {"type": "str", "required": True},
               "network": {"type": "str", "required": True},
               "verify": {"type": "bool"}, "state": ENTRY_STATE_SPEC},
        verify={"type": "bool", "default": False}, state=STATE_SPEC, workers=WORKERS_SPEC,
        **CHECK_MODE_PENDING_SPEC))
    from ansible_collections.podnet.cni.plugins.module_utils._connect import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
