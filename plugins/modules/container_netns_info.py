#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: container_netns_info
short_description: Inspect containers' network namespaces, CNI attachments and interface statistics
version_added: 0.1.0
description:
  - Reports, for one container or for every known one, its network namespace, its CNI
    attachments, the networking part of C(podman inspect) (C(NetworkSettings)) and the
    statistics of its interfaces.
  - A container is known when it has a record (made by C(podnet.cni.container_netns) or
    C(podnet.cni.cni_attachment)) or an entry in the libcni cache, so attachments made by
    C(cnitool), podman's CNI backend or CRI-O are reported too (C(origin) says who most
    likely made each one). The namespace of a C(cnitool) attachment, which libcni 1.1 does
    not cache, is found from its container id (a hash of the netns path).
  - Interface statistics (rx/tx bytes, packets, errors, drops) are read with netlink inside
    the container's namespace, as podman's C(getContainerNetIO) does; without pyroute2 they
    come from C(/proc/net/dev) of the namespace, with a warning. C(network_io) sums the
    container's CNI interfaces, or with network_mode C(slirp4netns) its C(tap0) device (as
    podman 4 does); a C(container:<id>) joiner reports its owner's.
  - With network_mode C(slirp4netns), C(network_settings.Ports) shows the port mappings its
    slirp4netns forwards, in the shape the CNI port mappings of a C(bridge) container have.
  - Files that cannot be used (a corrupt or wrong-typed cache entry, intent or record, a
    symlink, another user's file) are reported in C(unreadable) and as warnings, and under
    each container they may belong to; they are never skipped silently. See
    C(docs/state-and-trust.md).
  - libcni 1.1 entries (podman 4's CNI backend, cnitool) cache no netns; it is taken from
    the sandbox of their result.
  - Read-only; never changes anything.
author: podnet.cni contributors (@podnet)
requirements:
  - A Linux managed host (network namespaces) with Python 3.9 or later.
  - Read access to the state and cache directories (root, or the user itself rootless, with the
    rootless setup of M(podnet.cni.container_netns)).
  - C(pyroute2) for the interface counters through netlink (else they are read from
    C(/proc/net/dev) inside the namespace, without MAC, MTU or addresses).
extends_documentation_fragment:
  - podnet.cni.common
options:
  container_id:
    description:
      - The container to inspect. Omit for every known container.
      - An unknown id gives an empty C(containers) (not a failure).
    type: str
    version_added: 0.1.0
  statistics:
    description: Read the interfaces and their statistics inside each namespace.
    type: bool
    default: true
    version_added: 0.1.0
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    details: Nothing changes, so there is no diff.
  idempotent:
    support: full
    details: Always C(changed=false).
seealso:
  - module: podnet.cni.container_netns
  - module: podnet.cni.cni_attachment
"""

EXAMPLES = r"""
- name: Inspect one container
  podnet.cni.container_netns_info:
    container_id: web1
  register: info

- name: Show its address on the backend network and the bytes it received
  ansible.builtin.debug:
    msg: >-
      {{ info.containers.web1.network_settings.Networks.backend.IPAddress }}
      {{ info.containers.web1.interfaces.eth1.stats.rx_bytes }}

- name: Every container on the host, including cnitool's and podman's attachments
  podnet.cni.container_netns_info:
    statistics: false
  register: all_containers
"""

RETURN = r"""
containers:
  description: The containers found, by container id.
  returned: always
  type: dict
  contains:
    container_id:
      description: The container id.
      type: str
    name:
      description: The container name (record, else C(K8S_POD_NAME) of its cache entries).
      type: str
    netns:
      description: Path of the network namespace (null when unknown).
      type: str
    netns_status:
      description: C(mounted), C(stale) (a file, not a namespace), C(absent) or C(unknown).
      type: str
    netns_origin:
      description:
        - C(created), C(pinned) or C(existing) (from the record; null without one); C(shared)
          for network_mode C(host), C(container:<id>) and C(ns:<path>).
      type: str
    network_mode:
      description: The network mode of the record (null without one).
      type: str
    joins:
      description:
        - With network_mode C(container:<id>), the container whose namespace it shares;
          C(netns), C(network_settings) and the interfaces are then that container's (as
          podman's inspect shows them). Null otherwise.
      type: str
    recorded:
      description: Whether this collection holds a record for the container.
      type: bool
    attachments:
      description:
        - One item per attachment with C(network), C(interface), C(ips), C(mac), C(aliases),
          C(port_mappings), C(cached) (a libcni cache entry exists), C(in_record),
          C(origin) (C(podnet), C(cnitool), C(podman) or C(other)), C(netns), C(cni_args),
          C(capability_args) and C(result) (the cached CNI result).
      type: list
      elements: dict
    network_settings:
      description:
        - C(podman inspect)'s NetworkSettings (empty when the namespace is not mounted).
          C(Ports) holds the CNI port mappings, or with network_mode C(slirp4netns) the ones
          its slirp4netns forwards.
      type: dict
    interfaces:
      description:
        - Interfaces inside the namespace by name, each with C(mac), C(mtu), C(state), C(up),
          C(addresses) and C(stats) (C(rx_bytes), C(tx_bytes), C(rx_packets), C(tx_packets),
          C(rx_errors), C(tx_errors), C(rx_dropped), C(tx_dropped)).
      type: dict
    network_io:
      description:
        - The statistics summed over the container's CNI interfaces, or with network_mode
          C(slirp4netns) those of its C(tap0) device (null without statistics).
      type: dict
    stats_error:
      description: Why the statistics could not be read.
      type: str
      returned: when reading them failed
    unreadable:
      description:
        - The state files that may be this container's and cannot be used, each with
          C(path), C(kind) (C(cache), C(intent) or C(record)) and C(reason). Any module
          that would change the container fails naming them until they are fixed.
      type: list
      elements: dict
  sample:
    web1:
      container_id: web1
      name: web1
      netns: /run/netns/podnet-web1
      netns_status: mounted
      netns_origin: created
      network_mode: bridge
      joins: null
      recorded: true
      attachments:
        - {network: frontend, interface: eth0, ips: [10.89.0.2], mac: "0a:58:0a:59:00:02", aliases: [],
           port_mappings: [], cached: true, in_record: true, origin: podnet}
      network_settings: {IPAddress: 10.89.0.2, IPPrefixLen: 24, Networks: {}}
      interfaces:
        eth0: {mac: "0a:58:0a:59:00:02", mtu: 1500, state: UP, up: true, addresses: [10.89.0.2/24],
               stats: {rx_bytes: 1234, tx_bytes: 567, rx_packets: 10, tx_packets: 6, rx_errors: 0,
                       tx_errors: 0, rx_dropped: 0, tx_dropped: 0}}
      network_io: {rx_bytes: 1234, tx_bytes: 567, rx_packets: 10, tx_packets: 6, rx_errors: 0,
                   tx_errors: 0, rx_dropped: 0, tx_dropped: 0}
      unreadable: []
unreadable:
  description:
    - Every state file that cannot be used (of the container asked for, or of all), each with
      C(path), C(kind) (C(cache), C(intent) or C(record)) and C(reason).
  returned: always
  type: list
  elements: dict
  sample:
    - {path: /var/lib/cni/results/frontend-web2-eth0, kind: cache,
       reason: "result: ips[0].address is not an address/prefix: 'not-an-ip/24'"}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import argument_spec, run


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            container_id={"type": "str"},
            statistics={"type": "bool", "default": True},
        ),
        supports_check_mode=True,
    )
    from ansible_collections.podnet.cni.plugins.module_utils._inspect import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
