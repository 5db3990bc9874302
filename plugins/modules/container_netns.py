#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_netns
short_description: A container's network namespace and its CNI networks
version_added: 0.1.0
description:
  - Creates (or pins from a running process) a container's network namespace and attaches
    it to CNI networks, the way podman v3's CNI backend does for C(podman run).
  - Networks are attached in order with interface names C(eth0), C(eth1), ... unless given;
    changing the list attaches and detaches only the difference.
  - A network connected with M(podnet.cni.cni_attachment) (or by another tool sharing the
    libcni cache) stays when this module runs again with a list that does not name it, as a
    C(podman network connect) does; the run reports no change for it. Only networks this
    module attached and that left its list are detached, unless I(purge_networks).
  - Port mappings, I(static_ip) and I(static_mac) apply to the first network, as podman does;
    a network entry may carry its own I(ips), I(mac) and I(aliases).
  - Every attachment is recorded in the libcni cache, so cnitool, podman and CRI-O see it and
    a later detach uses the configuration it was made with.
  - With I(state=absent) every network is detached (DEL with the cached configuration) and a
    namespace this module created is removed. A namespace it pinned from I(pid) is unmounted
    from the netns directory (the process keeps running in it, as with podman's
    teardownNetNS); one that existed before is left in place.
  - A failure half-way rolls back what this run attached; no veth, IP reservation,
    iptables chain or cache entry is left behind. Only what this run added is undone, and
    an interface that exists already without a usable cache entry is never added over.
  - Nothing on disk is trusted. A cache entry, intent, record or slirp4netns state file
    that may describe this container and cannot be used (truncated, wrong-typed, another
    tool's, a symlink, another user's, ...) fails the module before anything changes, in
    check mode too, naming the file, the reason and what to do (see
    C(docs/state-and-trust.md)). Such files of other containers only cause a warning.
  - I(containers) converges many containers in one task, each with every guarantee of the
    single form (exact check mode, a diff per container, idempotence, a failure rolled back
    for that container alone). Every entry is validated first, then planned against one
    read of the libcni cache (no plugin runs), so a batch with nothing to do costs about one
    module start-up; only the containers that change run, on at most I(workers) threads,
    with the first ADD of each network alone (the plugins' one-time setup is not safe to
    race). Each container is changed under its own lock, as in the single form.
  - Bad input in any entry, two entries claiming the same container id, netns, pinned
    process, static IP or host port, or an entry that cannot be planned (unknown network,
    IP or host port already taken by another container) fails the task before anything
    changes, naming each problem. Entries are planned against the host as it is before the
    task, so an address or port that an C(absent) entry frees is free for the next run.
  - A container that fails while running is rolled back and reported in its
    C(containers) item; the others are done, and the task fails naming each failed
    container and why (C(changed) is still true when anything changed). A re-run converges.
author: podnet.cni contributors (@podnet)
extends_documentation_fragment:
  - podnet.cni.common
  - podnet.cni.common.state
  - podnet.cni.common.check_mode_pending
  - podnet.cni.common.requirements
  - podnet.cni.container_options
  - podnet.cni.container_options.batch
  - podnet.cni.port_mappings
options:
  state:
    description:
      - Whether the container's namespace and networks should exist.
      - With I(containers), the state of the entries that do not give their own.
  containers:
    description:
      - Many containers in one task (the batch form); each entry takes the per-container
        options above. The common options (I(cni_config_dir), I(state_dir), ...) are given
        once for the task.
      - Mutually exclusive with the single form's per-container options.
      - An entry with C(network_mode=container:<id>) may join another entry of the same task
        that makes C(<id>) present. Owners are planned and run before their joiners, whatever
        the order of the list; check mode predicts the joiner as changed; a joiner whose owner
        fails is not run and fails naming the owner. When both are removed, the joiners go
        first (no I(force) needed). A cycle (two entries joining each other), a
        self-reference, a joiner of a joiner and a joiner of an entry that the same task
        removes fail the task before anything changes.
    type: list
    elements: dict
    version_added: 0.2.0
    # suboptions: the single form's options (doc fragment podnet.cni.container_options.batch)
  workers:
    description:
      - With I(containers), how many containers are changed at the same time (threads; the
        plugins are processes). Rootless batches run one container after the other.
      - Attaching (a CNI ADD chain) overlaps at most one container per CPU of the managed host
        whatever I(workers) says (beyond the cores, concurrent ADDs slowed each other down
        here, see C(docs/performance.md)); removals and the rest use every worker.
    type: int
    default: 8
    version_added: 0.2.0
notes:
  - Runs as root here; rootless operation is selected with I(rootless).
seealso:
  - module: podnet.cni.cni_attachment
  - module: podnet.cni.container_netns_info
"""

EXAMPLES = r"""
- name: A container on two networks with a port mapping
  podnet.cni.container_netns:
    container_id: web1
    networks:
      - frontend
      - name: backend
        ips: [10.89.1.10]
        aliases: [web]
    port_mappings:
      - host_port: 8080
        container_port: 80
        host_ip: 127.0.0.1
      - "8443:443"                  # podman/docker strings work too
      - "127.0.0.1:5353:53/udp"

- name: A network connected at run time stays when the container is declared again
  podnet.cni.cni_attachment:
    container_id: web1
    network: monitoring

- name: Declared again with purge_networks, the connected network goes
  podnet.cni.container_netns:
    container_id: web1
    networks: [frontend, backend]
    purge_networks: true

- name: A sidecar in web1's network namespace (podman's --network container:web1)
  podnet.cni.container_netns:
    container_id: web1-proxy
    network_mode: "container:web1"

- name: An existing namespace used as it is (podman's --network ns:PATH)
  podnet.cni.container_netns:
    container_id: legacy1
    network_mode: "ns:/run/netns/legacy"

- name: A container on the host's network (no namespace of its own, no port mappings)
  podnet.cni.container_netns:
    container_id: monitor1
    network_mode: host

- name: Remove web1 and the containers that joined its namespace
  podnet.cni.container_netns:
    container_id: web1
    state: absent
    force: true

- name: Pin the namespace of a running process and attach it
  podnet.cni.container_netns:
    container_id: db1
    pid: "{{ db_pid }}"
    networks: [backend]

- name: Remove it again
  podnet.cni.container_netns:
    container_id: web1
    state: absent

- name: Many containers in one task, at most 8 at a time
  podnet.cni.container_netns:
    containers:
      - container_id: web1
        networks: [frontend]
        port_mappings: [{host_port: 8080, container_port: 80, host_ip: 127.0.0.1}]
      - container_id: web2
        networks: [frontend]
        port_mappings: ["127.0.0.1:8081:80"]
      - container_id: old1
        state: absent
    workers: 8
  register: converged

- name: The address each container got
  ansible.builtin.debug:
    msg: "{{ converged.containers | dict2items | map(attribute='value.network_settings.IPAddress') }}"

- name: A pod in one task - the owner is made first, whatever the order of the list
  podnet.cni.container_netns:
    containers:
      - container_id: pod1-app
        network_mode: "container:pod1-infra"
      - container_id: pod1-infra
        networks: [frontend]
        port_mappings: [{host_port: 8082, container_port: 80}]

- name: The pod removed in one task (the joiner goes first; no force needed)
  podnet.cni.container_netns:
    containers:
      - container_id: pod1-infra
      - container_id: pod1-app
    state: absent
"""

RETURN = r"""
netns:
  description: Path of the container's network namespace (null when absent).
  returned: when I(containers) is not used
  type: str
  sample: /run/netns/podnet-web1
network_status:
  description: The CNI result of each attached network, by network name.
  returned: when I(containers) is not used
  type: dict
  sample: {"frontend": {"cniVersion": "1.0.0", "interfaces": [], "ips": [{"address": "10.89.0.2/24"}]}}
network_settings:
  description: The networking part of C(podman inspect) (NetworkSettings) for the container.
  returned: when I(containers) is not used
  type: dict
  sample:
    IPAddress: 10.89.0.2
    IPPrefixLen: 24
    Gateway: 10.89.0.1
    MacAddress: 0a:58:0a:59:00:02
    Networks: {"frontend": {"IPAddress": "10.89.0.2", "Aliases": []}}
    Ports: {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]}
    SandboxKey: /run/netns/podnet-web1
actions:
  description:
    - The steps planned (check mode) or taken. With I(containers), every container's steps,
      each with its C(container_id).
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create_netns", "netns": "/run/netns/podnet-web1"}, {"action": "attach", "network": "frontend", "interface": "eth0"}]
containers:
  description:
    - With I(containers), the result of every container by id - what the single form
      returns (C(changed), C(actions), C(netns), C(network_status), C(network_settings),
      C(diff) in diff mode) plus C(state), C(failed), and C(msg) (with the failing
      C(plugin), C(command), C(rollback_errors) when known) when it failed.
  returned: when I(containers) is used
  type: dict
  sample:
    web1:
      changed: true
      failed: false
      state: present
      actions: [{"action": "create_netns", "netns": "/run/netns/podnet-web1"}, {"action": "attach", "network": "frontend", "interface": "eth0"}]
      netns: /run/netns/podnet-web1
      network_status: {"frontend": {"cniVersion": "1.0.0", "ips": [{"address": "10.89.0.2/24"}]}}
      network_settings: {"IPAddress": "10.89.0.2", "SandboxKey": "/run/netns/podnet-web1"}
failed_containers:
  description: With I(containers), how many containers failed while running (the task fails when it is not 0).
  returned: when I(containers) is used
  type: int
  sample: 0
diff:
  description:
    - In diff mode, before and after - for the single form under the key C(container),
      with I(containers) under each container's id.
  returned: when diff mode is on
  type: dict
  sample:
    before: {"web1": {"netns": null, "networks": {}}}
    after: {"web1": {"netns": "/run/netns/podnet-web1", "networks": {"frontend": {"interface": "eth0"}}}}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import (
    CHECK_MODE_PENDING_SPEC, ENTRY_STATE_SPEC, PORT_MAPPINGS_SPEC, STATE_SPEC, WORKERS_SPEC,
    run, single_or_batch)
from ansible_collections.podnet.cni.plugins.module_utils._constants import DEFAULT_NETWORK_MODE

# the per-container options: the single form's, and each entry's of containers
CONTAINER_OPTIONS = {
    "container_id": {"type": "str"},
    "name": {"type": "str"},
    "netns": {"type": "str"},
    "pid": {"type": "int"},
    "slirp4netns_options": {"type": "dict", "options": {
        "enable_sandbox": {"type": "bool"}, "enable_seccomp": {"type": "bool"},
        "mtu": {"type": "int"}, "cidr": {"type": "str"}, "enable_ipv6": {"type": "bool"},
        "outbound_addr": {"type": "str"}, "allow_host_loopback": {"type": "bool"}}},
    "network_mode": {"type": "str", "default": DEFAULT_NETWORK_MODE},
    "force": {"type": "bool", "default": False},
    "networks": {"type": "list", "elements": "raw", "default": []},
    "purge_networks": {"type": "bool", "default": False},
    "port_mappings": PORT_MAPPINGS_SPEC,
    "static_ip": {"type": "str"},
    "static_mac": {"type": "str"},
}


def main():
    module = AnsibleModule(**single_or_batch(
        "containers", CONTAINER_OPTIONS,
        entry={"state": ENTRY_STATE_SPEC,
               "container_id": {"type": "str", "required": True, "aliases": ["id"]}},
        state=STATE_SPEC, workers=WORKERS_SPEC, **CHECK_MODE_PENDING_SPEC))
    from ansible_collections.podnet.cni.plugins.module_utils._container_batch import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
