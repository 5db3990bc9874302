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
  - Port mappings, I(static_ip) and I(static_mac) apply to the first network, as podman does;
    a network entry may carry its own I(ips), I(mac) and I(aliases).
  - Every attachment is recorded in the libcni cache, so cnitool, podman and CRI-O see it and
    a later detach uses the configuration it was made with.
  - With I(state=absent) every network is detached (DEL with the cached configuration) and a
    namespace this module created is removed. A namespace pinned from I(pid) or one that
    existed before is left in place.
  - A failure half-way rolls back what this run attached; no veth, IP reservation,
    iptables chain or cache entry is left behind. Only what this run added is undone, and
    an interface that exists already without a usable cache entry is never added over.
  - Nothing on disk is trusted. A cache entry, intent, record or slirp4netns state file
    that may describe this container and cannot be used (truncated, wrong-typed, another
    tool's, a symlink, another user's, ...) fails the module before anything changes, in
    check mode too, naming the file, the reason and what to do (see
    C(docs/state-and-trust.md)). Such files of other containers only cause a warning.
author: podnet.cni contributors (@podnet)
extends_documentation_fragment:
  - podnet.cni.common
  - podnet.cni.common.attributes
options:
  container_id:
    description:
      - The container id (the libcni container id); C([A-Za-z0-9][A-Za-z0-9_.-]*), at most
        250 characters, and short enough that C(<network>-<id>-<interface>.json) fits in a
        file name (255).
    type: str
    required: true
  name:
    description:
      - The container name passed to plugins as C(K8S_POD_NAME). Default the id.
    type: str
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
  pid:
    description:
      - Pin the network namespace of this running process (C(/proc/PID/ns/net)) instead of
        creating a fresh one. The process must exist (check mode refuses it too), and its
        namespace must not be the module's own or the host's.
      - Rootless, the process must be the user's (its sub-ids included) and run in the
        rootless user namespace (a container's process); another user's pid is refused
        naming its owner, the user's own process in the host's namespace as the host's.
    type: int
  network_mode:
    description:
      - C(bridge) attaches the CNI I(networks); C(none) gives the container only a loopback;
        C(slirp4netns) (rootless) connects the namespace through its own slirp4netns.
    type: str
    choices: [bridge, none, slirp4netns]
    default: bridge
  slirp4netns_options:
    description:
      - With I(network_mode=slirp4netns), how the container's slirp4netns is hardened. Each
        option, when unset, is on when this slirp4netns supports it (podman's default).
        Changing one restarts the container's slirp4netns.
    type: dict
    suboptions:
      enable_sandbox:
        description: C(--enable-sandbox) (a mount namespace of its own, capabilities dropped).
        type: bool
      enable_seccomp:
        description: C(--enable-seccomp) (a seccomp filter on its syscalls).
        type: bool
  networks:
    description:
      - The CNI networks, in order; names, or dicts with C(name), C(interface), C(ips),
        C(mac) and C(aliases).
      - A MAC address needs the C(tuning) plugin in the network's chain.
      - Aliases reach the dnsname plugin as its C(aliases) capability (a map keyed by
        network name).
    type: list
    elements: raw
    default: []
  port_mappings:
    description:
      - Host ports forwarded to the container on its first network (the C(portmap) plugin).
    type: list
    elements: dict
    default: []
    suboptions:
      host_port:
        description: Port on the host. Default the container port.
        type: int
      container_port:
        description: Port in the container.
        type: int
        required: true
      protocol:
        description: C(tcp), C(udp) or C(sctp).
        type: str
        default: tcp
      host_ip:
        description: Host address to bind; empty for all.
        type: str
      range:
        description: Number of consecutive ports mapped from these start ports.
        type: int
        default: 1
  static_ip:
    description: Static IP on the first network (C(IP=) in C(CNI_ARGS), as podman's C(--ip)).
    type: str
  static_mac:
    description: Static MAC on the first network (C(MAC=), as podman's C(--mac-address)).
    type: str
  state:
    description: Whether the container's namespace and networks should exist.
    type: str
    choices: [present, absent]
    default: present
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

- name: Pin the namespace of a running process and attach it
  podnet.cni.container_netns:
    container_id: db1
    pid: "{{ db_pid }}"
    networks: [backend]

- name: Remove it again
  podnet.cni.container_netns:
    container_id: web1
    state: absent
"""

RETURN = r"""
netns:
  description: Path of the container's network namespace (null when absent).
  returned: always
  type: str
  sample: /run/netns/podnet-web1
network_status:
  description: The CNI result of each attached network, by network name.
  returned: always
  type: dict
  sample: {"frontend": {"cniVersion": "1.0.0", "interfaces": [], "ips": [{"address": "10.89.0.2/24"}]}}
network_settings:
  description: The networking part of C(podman inspect) (NetworkSettings) for the container.
  returned: always
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
  description: The steps planned (check mode) or taken.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "create_netns", "netns": "/run/netns/podnet-web1"}, {"action": "attach", "network": "frontend", "interface": "eth0"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import (
    PORT_MAPPING_OPTIONS, argument_spec, build_context, run_module)


def _run(module):
    from ansible_collections.podnet.cni.plugins.module_utils import _container

    ctx = build_context(module.params)
    p = module.params
    req = _container.ContainerRequest(
        ctx, p["container_id"], p["name"], p["netns"], p["pid"], p["network_mode"], p["networks"],
        p["port_mappings"], p["static_ip"], p["static_mac"], p["state"],
        slirp4netns_options=p["slirp4netns_options"])
    with ctx.session(check_mode=module.check_mode):
        if module.check_mode:
            plan = _container.plan(ctx, req)
            entries = _container.current_entries(ctx, req)
            exists = _container.container_exists(ctx, req)
        else:
            with ctx.container_lock(req.container_id):
                plan = _container.plan(ctx, req)
                outcome = _container.execute(ctx, req, plan) if plan.changed else {"warnings": []}
                ctx.warnings.extend(outcome["warnings"])
                entries = _container.current_entries(ctx, req)
                exists = _container.container_exists(ctx, req)
    result = {"changed": plan.changed, "actions": plan.actions, "warnings": ctx.warnings}
    result.update(_container.report(req, entries, exists and req.state == "present"))
    if module._diff:
        result["diff"] = plan.diff.get_before_after()
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            container_id={"type": "str", "required": True},
            name={"type": "str"},
            netns={"type": "str"},
            pid={"type": "int"},
            slirp4netns_options={"type": "dict", "options": {
                "enable_sandbox": {"type": "bool"}, "enable_seccomp": {"type": "bool"}}},
            network_mode={"type": "str", "choices": ["bridge", "none", "slirp4netns"],
                          "default": "bridge"},
            networks={"type": "list", "elements": "raw", "default": []},
            port_mappings={"type": "list", "elements": "dict", "default": [],
                           "options": PORT_MAPPING_OPTIONS},
            static_ip={"type": "str"},
            static_mac={"type": "str"},
            state={"type": "str", "choices": ["present", "absent"], "default": "present"},
        ),
        supports_check_mode=True,
    )
    run_module(module, _run)


if __name__ == "__main__":
    main()
