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
  - podnet.cni.common.attributes
  - podnet.cni.common.check_mode_pending
  - podnet.cni.common.requirements
  - podnet.cni.port_mappings
options:
  container_id:
    description:
      - The container id (the libcni container id); C([A-Za-z0-9][A-Za-z0-9_.-]*), at most
        250 characters, and short enough that C(<network>-<id>-<interface>.json) fits in a
        file name (255).
      - Required unless I(containers) is used.
    type: str
    version_added: 0.1.0
  name:
    description:
      - The container name passed to plugins as C(K8S_POD_NAME). Default the id.
    type: str
    version_added: 0.1.0
  netns:
    description:
      - The namespace, as a name in the netns directory (C(/run/netns), rootless
        C($XDG_RUNTIME_DIR/netns)) or an absolute path.
      - A namespace is only created in the netns directory; a path elsewhere must be a live
        namespace. C(/proc/PID/ns/net) names a running process's namespace, which is used
        as it is and never created, unmounted or removed.
      - A file there that is not a namespace is never used, truncated or removed, except an
        empty file of ours under this name (a mount point a killed run left), which becomes
        the namespace. See C(docs/safety.md).
      - The module's own and the host's network namespace (PID 1's), and rootless the
        rootless CNI netns, are refused.
      - Default C(podnet-<container_id>) for ids of up to 64 characters, else
        C(podnet-<first 64 characters>.<hash>) (never the same for two ids); with
        I(state=absent), the namespace recorded for the container when it has a record.
    type: str
    version_added: 0.1.0
  pid:
    description:
      - Pin the network namespace of this running process (C(/proc/PID/ns/net)) instead of
        creating a fresh one. The process must exist (check mode refuses it too), and its
        namespace must not be the module's own or the host's.
      - Rootless, the process must be the user's (its sub-ids included) and run in the
        rootless user namespace (a container's process); another user's pid is refused
        naming its owner, the user's own process in the host's namespace as the host's.
    type: int
    version_added: 0.1.0
  network_mode:
    description:
      - C(bridge) attaches the CNI I(networks); C(none) gives the container only a loopback;
        C(slirp4netns) (rootless) connects the namespace through its own slirp4netns.
      - C(container:<id>) joins the network namespace of container C(<id>) (podman's
        C(--network container:<id>), a pod's shared namespace). C(<id>) must be present, one
        of ours with a namespace of its own, or another tool's whose live namespace the
        libcni cache names; with I(containers), it may also be another entry of the same
        task that makes it present (see I(containers)). No CNI call is made for the joiner;
        its record names the owner (C(joins)); it reports the owner's namespace and
        C(network_settings). Removing the joiner never touches the owner; removing the owner
        while joiners exist fails unless I(force).
      - C(slirp4netns) reports its I(port_mappings) in C(network_settings.Ports) (podman's
        inspect shape, as the CNI port mappings of C(bridge)); C(podnet.cni.container_netns_info)
        reports them too, and the statistics of its C(tap0) device as C(network_io).
      - C(ns:<path>) uses the existing namespace at C(<path>) as it is (podman's C(ns:)
        mode); no CNI call, nothing is created, unmounted or removed, and I(state=absent) forgets
        the record only. The host's namespace is refused, as everywhere.
      - C(host) gives the container no namespace of its own (podman's C(--network host)); the
        record says so, and I(port_mappings) are refused (the process binds host ports itself).
      - With C(container:<id>), C(ns:<path>) and C(host), I(networks), I(pid), I(netns) and
        I(port_mappings) cannot be given. A container that has a namespace or attachments of
        its own is not switched to one of them; remove it first (I(state=absent)).
    type: str
    default: bridge
    version_added: 0.1.0
  force:
    description:
      - With I(state=absent), remove a container whose namespace other containers joined
        (C(network_mode=container:<id>)); their records are removed too. Without it that
        removal fails, naming the joiners, before anything changes. A batch that removes the
        joiners too needs no I(force).
    type: bool
    default: false
    version_added: 0.2.0
  slirp4netns_options:
    description:
      - With I(network_mode=slirp4netns), the options of the container's own slirp4netns
        (podman's C(--network slirp4netns:OPTIONS)). Changing one restarts the container's
        slirp4netns.
    type: dict
    version_added: 0.2.0
    suboptions:
      enable_sandbox:
        description:
          - C(--enable-sandbox) (a mount namespace of its own, capabilities dropped); unset, on
            when this slirp4netns supports it (podman's default).
        type: bool
        version_added: 0.2.0
      enable_seccomp:
        description:
          - C(--enable-seccomp) (a seccomp filter on its syscalls); unset, on when this
            slirp4netns supports it (podman's default).
        type: bool
        version_added: 0.2.0
      mtu:
        description: C(--mtu), 1280 to 65521. Default 65520 (podman's).
        type: int
        version_added: 0.2.0
      cidr:
        description:
          - C(--cidr), the IPv4 network of the tap device (a /24 or larger). Default
            C(10.0.2.0/24). The container gets the address .100 of it.
        type: str
        version_added: 0.2.0
      enable_ipv6:
        description: C(--enable-ipv6). Default false.
        type: bool
        version_added: 0.2.0
      outbound_addr:
        description: C(--outbound-addr), the host's IPv4 address outgoing traffic leaves from.
        type: str
        version_added: 0.2.0
      allow_host_loopback:
        description:
          - Let the container reach the host's loopback through the gateway (without
            C(--disable-host-loopback)). Default false, as podman.
        type: bool
        version_added: 0.2.0
  networks:
    description:
      - The CNI networks, in order; each a network name (a string), or a dict with the keys
        below (C(name) required). An unknown key fails the task, listing the valid keys.
      - A MAC address needs the C(tuning) plugin in the network's chain.
      - Aliases reach the dnsname plugin as its C(aliases) capability (a map keyed by
        network name).
    type: list
    elements: raw
    default: []
    version_added: 0.1.0
    suboptions:
      name:
        description: The CNI network name (from I(cni_config_dir)).
        type: str
        required: true
        version_added: 0.1.0
      interface:
        description:
          - The interface name in the container (at most 15 characters, no C(/), C(:) or
            whitespace).
          - Default the interface this network already has in the container, else C(eth<index>)
            when free, else the lowest free C(ethN).
        type: str
        version_added: 0.1.0
      ips:
        description:
          - Static addresses on this network, at most one IPv4 and one IPv6 (a single string
            is one address). On the first network the default is I(static_ip).
        type: list
        elements: str
        version_added: 0.1.0
      mac:
        description: Static MAC on this network (needs C(tuning)). On the first network the default is I(static_mac).
        type: str
        version_added: 0.1.0
      aliases:
        description: DNS names of the container on this network (the dnsname plugin's C(aliases)).
        type: list
        elements: str
        version_added: 0.1.0
  purge_networks:
    description:
      - Detach every network not in I(networks), whoever attached it (M(podnet.cni.cni_attachment),
        cnitool, podman). By default only the networks this module attached itself and that
        left the list are detached; the record says per network who attached it.
      - Docker's C(docker_container) option of the same name.
    type: bool
    default: false
    version_added: 0.2.0
  static_ip:
    description: Static IP on the first network (C(IP=) in C(CNI_ARGS), as podman's C(--ip)).
    type: str
    version_added: 0.1.0
  static_mac:
    description: Static MAC on the first network (C(MAC=), as podman's C(--mac-address)).
    type: str
    version_added: 0.1.0
  state:
    description:
      - Whether the container's namespace and networks should exist.
      - With I(containers), the state of the entries that do not give their own.
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
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
    suboptions:
      container_id:
        description: The container id, as I(container_id).
        type: str
        required: true
        aliases: [id]
        version_added: 0.2.0
      name:
        description: As I(name).
        type: str
        version_added: 0.2.0
      netns:
        description: As I(netns).
        type: str
        version_added: 0.2.0
      pid:
        description: As I(pid).
        type: int
        version_added: 0.2.0
      slirp4netns_options:
        description: As I(slirp4netns_options).
        type: dict
        version_added: 0.2.0
        suboptions:
          enable_sandbox:
            description: As I(slirp4netns_options.enable_sandbox).
            type: bool
            version_added: 0.2.0
          enable_seccomp:
            description: As I(slirp4netns_options.enable_seccomp).
            type: bool
            version_added: 0.2.0
          mtu:
            description: As I(slirp4netns_options.mtu).
            type: int
            version_added: 0.2.0
          cidr:
            description: As I(slirp4netns_options.cidr).
            type: str
            version_added: 0.2.0
          enable_ipv6:
            description: As I(slirp4netns_options.enable_ipv6).
            type: bool
            version_added: 0.2.0
          outbound_addr:
            description: As I(slirp4netns_options.outbound_addr).
            type: str
            version_added: 0.2.0
          allow_host_loopback:
            description: As I(slirp4netns_options.allow_host_loopback).
            type: bool
            version_added: 0.2.0
      network_mode:
        description: As I(network_mode).
        type: str
        default: bridge
        version_added: 0.2.0
      networks:
        description: As I(networks) (names, or dicts with the same keys).
        type: list
        elements: raw
        default: []
        version_added: 0.2.0
      purge_networks:
        description: As I(purge_networks).
        type: bool
        default: false
        version_added: 0.2.0
      force:
        description: As I(force).
        type: bool
        default: false
        version_added: 0.2.0
      port_mappings:
        description: As I(port_mappings) (dicts with the same keys, or strings like C(8080:80)).
        type: list
        elements: raw
        version_added: 0.2.0
      static_ip:
        description: As I(static_ip).
        type: str
        version_added: 0.2.0
      static_mac:
        description: As I(static_mac).
        type: str
        version_added: 0.2.0
      state:
        description: As I(state); default the task's I(state).
        type: str
        choices: [present, absent]
        version_added: 0.2.0
  workers:
    description:
      - With I(containers), how many containers are changed at the same time (threads; the
        plugins are processes). Rootless batches run one container after the other.
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
    CHECK_MODE_PENDING_SPEC, PORT_MAPPINGS_SPEC, argument_spec, run)
from ansible_collections.podnet.cni.plugins.module_utils._constants import (
    DEFAULT_NETWORK_MODE, DEFAULT_WORKERS, STATES)

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
    entry = dict(CONTAINER_OPTIONS)
    entry["container_id"] = {"type": "str", "required": True, "aliases": ["id"]}
    entry["state"] = {"type": "str", "choices": list(STATES)}
    module = AnsibleModule(
        argument_spec=argument_spec(
            **CHECK_MODE_PENDING_SPEC,
            state={"type": "str", "choices": list(STATES), "default": "present"},
            containers={"type": "list", "elements": "dict", "options": entry},
            workers={"type": "int", "default": DEFAULT_WORKERS},
            **CONTAINER_OPTIONS
        ),
        mutually_exclusive=[("containers", k) for k in CONTAINER_OPTIONS],
        supports_check_mode=True,
    )
    from ansible_collections.podnet.cni.plugins.module_utils._container_batch import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
