#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: cni_network
short_description: A CNI network definition (conflist), shaped like podman network create
version_added: 0.1.0
description:
  - Writes or removes C(<cni_config_dir>/<name>.conflist) the way C(podman network create)
    (v3, CNI backend) shapes it, after validating it against the host.
  - C(bridge) networks get the chain C(bridge) (with C(host-local) IPAM), C(portmap),
    C(firewall) and C(tuning), plus C(dnsname) with I(dns_enabled). C(macvlan) and C(ipvlan)
    networks get their one plugin, with C(host-local) IPAM when I(subnets) are given and
    C(dhcp) otherwise.
  - The main plugin declares the C(ips) capability when its IPAM is C(host-local), as podman
    v3.3+ does, so several static addresses (IPv4 and IPv6) reach C(host-local); a single
    C(IP=) in C(CNI_ARGS) could carry only one. A static MAC reaches the C(tuning) plugin as
    C(MAC=) in C(CNI_ARGS), as podman v3 passes it, so C(mac) is not declared.
  - Each subnet gets a default route (C(0.0.0.0/0), C(::/0)) unless I(internal) or the
    user's I(routes) already hold one for that IP version.
  - Everything is validated before the file is written, namely the name, every subnet, gateway and
    range, overlap with every subnet of the other networks in I(cni_config_dir) (an error
    naming both networks), interface names (15 characters at most), a bridge name used by
    another network, the I(parent) interface of macvlan/ipvlan, and the plugin binaries in
    I(cni_plugin_dirs).
  - An unchanged definition (the same JSON) rewrites nothing. Changing or removing a network
    that has attachments in the libcni cache (I(cni_cache_dir)) fails unless I(force); with
    I(force) the attachments stay and detach later with the configuration cached when they
    were made.
  - With I(state=absent) the file is removed and, for a bridge network, the bridge device
    too when no other network names it and no interface is attached to it, as
    C(podman network rm) does.
  - As root, a file under a directory that belongs to another user (a rootless user's
    C(~/.config/cni/net.d) under the user's home) is written and removed as that user (the
    innermost such owner of the directories above it). The directories made and the file
    belong to the user, so no root-owned directory is left in a home; a symlink the user
    planted there cannot send root's write anywhere the user could not write, and a
    directory root made there earlier is refused. The task then fails, naming the path.
author: podnet.cni contributors (@podnet)
requirements:
  - A Linux managed host (network namespaces) with Python 3.9 or later.
  - The CNI plugins the network's chain uses (C(bridge) or C(macvlan)/C(ipvlan), C(host-local),
    C(portmap), C(firewall), C(tuning), C(dnsname) with I(dns_enabled)) in I(cni_plugin_dirs), where
    the containers are attached.
  - root to write C(/etc/cni/net.d); rootless, a directory the user can write (the default is the
    user's own C(~/.config/cni/net.d)).
extends_documentation_fragment:
  - podnet.cni.common
  - podnet.cni.common.state
  - podnet.cni.common.check_mode_pending
  - podnet.cni.network_options
  - podnet.cni.network_options.batch
options:
  state:
    description:
      - Whether the network definition should exist.
      - With I(networks), the state of the entries that do not give their own.
  force:
    description:
      - Change or remove the network even when containers are attached to it (their
        attachments are not touched), and overwrite a C(<name>.conflist) that defines
        another network name.
      - With I(networks), the default of the entries that do not give their own.
    type: bool
    default: false
    version_added: 0.1.0
  networks:
    description:
      - Many network definitions in one task (the batch form). Each entry takes the options
        above (I(name) required) and may name its own I(cni_config_dir); the other common
        options are given once for the task. Mutually exclusive with the single form's options.
      - The entries are planned in order, each against the config dir with the earlier
        entries already applied (overlapping subnets or a bridge used twice within the batch
        are refused like those of existing networks; a free subnet is picked for each). Bad
        input, a name listed twice, or an entry that cannot be planned fails the task before
        any file is written, naming each problem. A write that fails is reported for its
        network and the task fails naming it; the others are done. Since each entry is
        planned as if the ones before it were done, the entries after a failed one are
        planned again against what is on disk, and one that cannot be is not applied (its
        C(msg) says why).
    type: list
    elements: dict
    version_added: 0.2.0
    # suboptions: the single form's options (doc fragment podnet.cni.network_options.batch)
notes:
  - Rootless, the bridge and parent devices live in the user's rootless CNI namespace, so they
    are not checked against the host's links, and no bridge is deleted on removal.
  - Only the conflist (and an unused bridge device on removal) is managed; host-local
    reservations in C(/var/lib/cni/networks/<name>) are released by detaching containers.
seealso:
  - module: podnet.cni.container_netns
  - module: podnet.cni.cni_attachment
"""

EXAMPLES = r"""
- name: A dual-stack bridge network
  podnet.cni.cni_network:
    name: frontend
    subnets:
      - subnet: 10.89.1.0/24
        range_start: 10.89.1.100
        range_end: 10.89.1.199
      - subnet: fd00:89:1::/64

- name: Addresses from a part of the subnet, as podman network create --ip-range
  podnet.cni.cni_network:
    name: jobs
    subnets:
      - subnet: 10.89.3.0/24
        ip_range: 10.89.3.128/25      # containers get 10.89.3.128 to 10.89.3.254

- name: An internal network (no way out, no masquerade)
  podnet.cni.cni_network:
    name: backend
    internal: true
    subnets:
      - subnet: 10.89.2.0/24

- name: A macvlan network on eth1
  podnet.cni.cni_network:
    name: lan
    driver: macvlan
    parent: eth1
    subnets:
      - subnet: 192.168.10.0/24
        gateway: 192.168.10.254
        range_start: 192.168.10.200
        range_end: 192.168.10.220

- name: Remove a network even though containers still use it
  podnet.cni.cni_network:
    name: frontend
    state: absent
    force: true

- name: Several networks in one task (each checked against the ones before it)
  podnet.cni.cni_network:
    networks:
      - name: frontend
        subnets: [{subnet: 10.89.1.0/24}]
      - name: backend
        internal: true
      - name: old
        state: absent
"""

RETURN = r"""
config_path:
  description: The conflist file.
  returned: when I(networks) is not used
  type: str
  sample: /etc/cni/net.d/frontend.conflist
conflist:
  description: The network definition as written (null when absent).
  returned: when I(networks) is not used
  type: dict
  sample: {"cniVersion": "0.4.0", "name": "frontend", "plugins": [{"type": "bridge", "bridge": "cni-frontend"}]}
network:
  description: The resolved options of the network (null when absent).
  returned: when I(networks) is not used
  type: dict
  contains:
    driver:
      description: The main plugin.
      type: str
    bridge:
      description: The bridge device (bridge driver).
      type: str
    parent:
      description: The parent interface (macvlan, ipvlan).
      type: str
    subnets:
      description: The host-local ranges with their gateways.
      type: list
      elements: dict
    plugins:
      description: The plugin types of the chain, in order.
      type: list
      elements: str
  sample:
    driver: bridge
    bridge: cni-frontend
    parent: null
    plugins: [bridge, portmap, firewall, tuning]
    subnets: [{"subnet": "10.89.1.0/24", "gateway": "10.89.1.1", "range_start": null, "range_end": null}]
in_use:
  description:
    - The attachments of the network in the libcni cache (looked up when the file changes).
    - A cache file of the network that cannot be used (corrupt, foreign, ...) counts as an
      attachment too (it may be one), with C(container_id) and C(interface) null and the file
      and the reason in C(unreadable).
  returned: when I(networks) is not used
  type: list
  elements: dict
  sample: [{"container_id": "web1", "interface": "eth0"}]
actions:
  description: What was done (or, in check mode, would be done); with I(networks), for every network.
  returned: always
  type: list
  elements: str
  sample: ["written /etc/cni/net.d/frontend.conflist"]
networks:
  description:
    - With I(networks), the result of every network by name - what the single form returns
      (C(changed), C(config_path), C(conflist), C(network), C(in_use), C(actions), C(diff) in
      diff mode) plus C(failed), and C(msg) when writing it failed.
  returned: when I(networks) is used
  type: dict
  sample:
    frontend:
      changed: true
      failed: false
      config_path: /etc/cni/net.d/frontend.conflist
      conflist: {"cniVersion": "0.4.0", "name": "frontend", "plugins": []}
      network: {"driver": "bridge", "bridge": "cni-frontend"}
      in_use: []
      actions: ["written /etc/cni/net.d/frontend.conflist"]
failed_networks:
  description: With I(networks), how many networks failed to be written or removed (the task fails when it is not 0).
  returned: when I(networks) is used
  type: int
  sample: 0
diff:
  description:
    - In diff mode, the file before and after; with I(networks), a list of them, one per network.
  returned: when diff mode is on
  type: raw
  sample:
    before: {}
    after: {"cniVersion": "0.4.0", "name": "frontend"}
    before_header: /etc/cni/net.d/frontend.conflist
    after_header: /etc/cni/net.d/frontend.conflist
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import (
    CHECK_MODE_PENDING_SPEC, ENTRY_STATE_SPEC, STATE_SPEC, run, single_or_batch)
from ansible_collections.podnet.cni.plugins.module_utils._constants import (
    CNI_VERSIONS, DEFAULT_CNI_VERSION, DEFAULT_DNS_DOMAIN, DEFAULT_DRIVER, DRIVERS, MODES)

# the options of one network: the single form's, and each entry's of networks
NETWORK_OPTIONS = {
    "name": {"type": "str"},
    "driver": {"type": "str", "choices": list(DRIVERS), "default": DEFAULT_DRIVER},
    "bridge": {"type": "str"},
    "parent": {"type": "str"},
    # macvlan's and ipvlan's modes (module_utils/_cni/netconf.py checks them per driver)
    "mode": {"type": "str", "choices": list(MODES)},
    "subnets": {"type": "list", "elements": "dict", "options": {
        "subnet": {"type": "str", "required": True},
        "gateway": {"type": "str"},
        "range_start": {"type": "str"},
        "range_end": {"type": "str"},
        "ip_range": {"type": "str"},
    }, "mutually_exclusive": [["ip_range", "range_start"], ["ip_range", "range_end"]]},
    "routes": {"type": "list", "elements": "dict", "default": [], "options": {
        "dst": {"type": "str", "required": True},
        "gw": {"type": "str"},
    }},
    "internal": {"type": "bool", "default": False},
    "mtu": {"type": "int"},
    "vlan": {"type": "int"},
    "dns_enabled": {"type": "bool", "default": False},
    "dns_domain": {"type": "str", "default": DEFAULT_DNS_DOMAIN},
    "isolate": {"type": "bool", "default": False},
    "hairpin": {"type": "bool", "default": True},
    "cni_version": {"type": "str", "choices": list(CNI_VERSIONS), "default": DEFAULT_CNI_VERSION},
}


def main():
    module = AnsibleModule(**single_or_batch(
        "networks", NETWORK_OPTIONS,
        entry={"name": {"type": "str", "required": True}, "state": ENTRY_STATE_SPEC,
               "force": {"type": "bool"}, "cni_config_dir": {"type": "path"}},
        state=STATE_SPEC, force={"type": "bool", "default": False}, **CHECK_MODE_PENDING_SPEC))
    from ansible_collections.podnet.cni.plugins.module_utils._network_batch import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
