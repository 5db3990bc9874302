# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # the options of one network of cni_network: the single form's (DOCUMENTATION) and
    # each entry's of networks (BATCH), as the module's argument spec uses its
    # NETWORK_OPTIONS both ways
    DOCUMENTATION = r"""
options:
  name:
    description:
      - The network name, C([a-zA-Z0-9][a-zA-Z0-9_.-]*); the file is C(<name>.conflist).
      - Required unless I(networks) is used.
    type: str
    version_added: 0.1.0
  driver:
    description:
      - The main plugin.
    type: str
    choices: [bridge, macvlan, ipvlan]
    default: bridge
    version_added: 0.1.0
  bridge:
    description:
      - The bridge device (C(bridge) driver), 15 characters at most.
      - When omitted, an existing network keeps its bridge; a new one gets C(cni-<name>) when
        that fits in 15 characters, else C(cni-) and the first 11 hex digits of the SHA-256 of
        the name. Deterministic, unlike podman's first free C(cni-podmanN).
    type: str
    version_added: 0.1.0
  parent:
    description:
      - The host interface (C(master)) of a macvlan or ipvlan network; it must exist.
      - When omitted, an existing network keeps its parent; a new one takes the interface of
        the host's IPv4 default route, as podman does.
    type: str
    version_added: 0.1.0
  mode:
    description:
      - macvlan mode (C(bridge), C(vepa), C(private), C(passthru)) or ipvlan mode (C(l2),
        C(l3), C(l3s)); the plugin's default when omitted. A mode of the other driver is
        refused.
    type: str
    choices: [bridge, vepa, private, passthru, l2, l3, l3s]
    version_added: 0.1.0
  subnets:
    description:
      - The address ranges of the C(host-local) IPAM, IPv4 and IPv6; one range set each.
      - When omitted, an existing network keeps its subnets; a new bridge network gets the
        first C(10.89.N.0/24) that no other network and no host route uses (podman's rule);
        a new macvlan/ipvlan network uses C(dhcp) IPAM (the C(dhcp) daemon must run).
      - A subnet written with host bits set is normalised to its network address.
    type: list
    elements: dict
    version_added: 0.1.0
    suboptions:
      subnet:
        description: The subnet in CIDR notation.
        type: str
        required: true
        version_added: 0.1.0
      gateway:
        description: The gateway; default the first host of the subnet.
        type: str
        version_added: 0.1.0
      range_start:
        description: First address handed out (inside the subnet).
        type: str
        version_added: 0.1.0
      range_end:
        description: Last address handed out (inside the subnet).
        type: str
        version_added: 0.1.0
      ip_range:
        description:
          - The addresses handed out as a CIDR inside the subnet, as podman's C(--ip-range); it
            becomes host-local's C(rangeStart)/C(rangeEnd) (so the network's file and return
            values show I(range_start)/I(range_end)).
          - Every address of the CIDR but the subnet's network address and, IPv4, its
            broadcast address (podman writes the CIDR's first address plus one to its last,
            which includes the broadcast address when the range ends the subnet); host-local
            skips the gateway by itself.
          - Mutually exclusive with I(range_start) and I(range_end).
        type: str
        version_added: 0.1.0
  routes:
    description:
      - Extra routes for the containers, C({dst, gw}); C(gw) defaults to the subnet's gateway.
    type: list
    elements: dict
    default: []
    version_added: 0.1.0
    suboptions:
      dst:
        description: Destination in CIDR notation.
        type: str
        required: true
        version_added: 0.1.0
      gw:
        description: Next hop.
        type: str
        version_added: 0.1.0
  internal:
    description:
      - No masquerade, no default route and no gateway address on the bridge
        (C(isGateway=false), C(ipMasq=false)), as podman's C(--internal).
    type: bool
    default: false
    version_added: 0.1.0
  mtu:
    description: MTU of the container interfaces (68 to 65535); the plugin's default when omitted.
    type: int
    version_added: 0.1.0
  vlan:
    description: VLAN id (1 to 4094) of the bridge ports (C(bridge) driver).
    type: int
    version_added: 0.1.0
  dns_enabled:
    description:
      - Add the C(dnsname) plugin (container names and aliases resolved by dnsmasq).
      - Fails when the plugin is not in I(cni_plugin_dirs) (Debian/Ubuntu package
        C(golang-github-containernetworking-plugin-dnsname), Fedora C(podman-plugins)).
      - Not with I(internal).
    type: bool
    default: false
    version_added: 0.1.0
  dns_domain:
    description: The dnsname plugin's C(domainName).
    type: str
    default: dns.podman
    version_added: 0.1.0
  isolate:
    description:
      - Containers of this network cannot reach other bridge networks' containers
        (the firewall plugin's C(ingressPolicy=same-bridge), podman's C(isolate) option).
    type: bool
    default: false
    version_added: 0.1.0
  hairpin:
    description: The bridge plugin's C(hairpinMode) (a container reaches itself through a host port).
    type: bool
    default: true
    version_added: 0.1.0
  cni_version:
    description: The conflist's C(cniVersion); C(0.4.0) is what podman v3 writes.
    type: str
    choices: ["0.4.0", "1.0.0"]
    default: "0.4.0"
    version_added: 0.1.0
"""

    # BATCH: written by scripts/render-batch-fragments.py from DOCUMENTATION, do not edit
    BATCH = r"""
{
 "options": {
  "networks": {
   "suboptions": {
    "name": {
     "description": "As I(name).",
     "type": "str",
     "version_added": "0.2.0",
     "required": true
    },
    "driver": {
     "description": "As I(driver).",
     "type": "str",
     "choices": [
      "bridge",
      "macvlan",
      "ipvlan"
     ],
     "default": "bridge",
     "version_added": "0.2.0"
    },
    "bridge": {
     "description": "As I(bridge).",
     "type": "str",
     "version_added": "0.2.0"
    },
    "parent": {
     "description": "As I(parent).",
     "type": "str",
     "version_added": "0.2.0"
    },
    "mode": {
     "description": "As I(mode).",
     "type": "str",
     "choices": [
      "bridge",
      "vepa",
      "private",
      "passthru",
      "l2",
      "l3",
      "l3s"
     ],
     "version_added": "0.2.0"
    },
    "subnets": {
     "description": "As I(subnets).",
     "type": "list",
     "elements": "dict",
     "suboptions": {
      "subnet": {
       "description": "As I(subnets.subnet).",
       "type": "str",
       "required": true,
       "version_added": "0.2.0"
      },
      "gateway": {
       "description": "As I(subnets.gateway).",
       "type": "str",
       "version_added": "0.2.0"
      },
      "range_start": {
       "description": "As I(subnets.range_start).",
       "type": "str",
       "version_added": "0.2.0"
      },
      "range_end": {
       "description": "As I(subnets.range_end).",
       "type": "str",
       "version_added": "0.2.0"
      },
      "ip_range": {
       "description": "As I(subnets.ip_range).",
       "type": "str",
       "version_added": "0.2.0"
      }
     },
     "version_added": "0.2.0"
    },
    "routes": {
     "description": "As I(routes).",
     "type": "list",
     "elements": "dict",
     "default": [],
     "suboptions": {
      "dst": {
       "description": "As I(routes.dst).",
       "type": "str",
       "required": true,
       "version_added": "0.2.0"
      },
      "gw": {
       "description": "As I(routes.gw).",
       "type": "str",
       "version_added": "0.2.0"
      }
     },
     "version_added": "0.2.0"
    },
    "internal": {
     "description": "As I(internal).",
     "type": "bool",
     "default": false,
     "version_added": "0.2.0"
    },
    "mtu": {
     "description": "As I(mtu).",
     "type": "int",
     "version_added": "0.2.0"
    },
    "vlan": {
     "description": "As I(vlan).",
     "type": "int",
     "version_added": "0.2.0"
    },
    "dns_enabled": {
     "description": "As I(dns_enabled).",
     "type": "bool",
     "default": false,
     "version_added": "0.2.0"
    },
    "dns_domain": {
     "description": "As I(dns_domain).",
     "type": "str",
     "default": "dns.podman",
     "version_added": "0.2.0"
    },
    "isolate": {
     "description": "As I(isolate).",
     "type": "bool",
     "default": false,
     "version_added": "0.2.0"
    },
    "hairpin": {
     "description": "As I(hairpin).",
     "type": "bool",
     "default": true,
     "version_added": "0.2.0"
    },
    "cni_version": {
     "description": "As I(cni_version).",
     "type": "str",
     "choices": [
      "0.4.0",
      "1.0.0"
     ],
     "default": "0.4.0",
     "version_added": "0.2.0"
    },
    "state": {
     "version_added": "0.2.0",
     "description": "As I(state); default the task's I(state).",
     "type": "str",
     "choices": [
      "present",
      "absent"
     ]
    },
    "force": {
     "version_added": "0.2.0",
     "description": "As I(force); default the task's I(force).",
     "type": "bool"
    },
    "cni_config_dir": {
     "version_added": "0.2.0",
     "description": "Where this network's file goes; default the task's I(cni_config_dir).",
     "type": "path"
    }
   }
  }
 }
}
"""
    # end of BATCH
