# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # the options of one attachment of cni_attachment: the single form's (DOCUMENTATION)
    # and each entry's of attachments (BATCH), as the module's argument spec uses its
    # ENTRY_OPTIONS both ways
    DOCUMENTATION = r"""
options:
  container_id:
    description:
      - The container id (the libcni container id). Required unless I(attachments) is used.
      - For an attachment made by C(cnitool) it is C(cnitool-) followed by the first 20 hex
        digits of the sha512 of the netns path.
    type: str
    version_added: 0.1.0
  name:
    description:
      - The container name passed to the plugins as C(K8S_POD_NAME). Default the name in the
        container's record, else the id.
    type: str
    version_added: 0.1.0
  netns:
    description:
      - The container's network namespace, as a name in the netns directory or an absolute
        path of a live namespace. C(/proc/PID/ns/net) works while that process lives (the
        cache keeps the path, as cnitool does; pin it with M(podnet.cni.container_netns)
        I(pid) for an attachment that outlives the process).
      - The module's own and the host's network namespace (PID 1's), and rootless the
        rootless CNI netns, are refused; an attachment another tool recorded in one of them
        is detached without touching it (DEL with no netns). See C(docs/safety.md).
      - Default the one in the container's record, else the one in its cache entries, else
        C(podnet-<container_id>). It must exist for I(state=present).
    type: str
    version_added: 0.1.0
  network:
    description: The CNI network name (from I(cni_config_dir)). Required unless I(attachments) is used.
    type: str
    version_added: 0.1.0
  interface:
    description:
      - The interface name inside the container.
      - Default the interface this network already has in the container, else the lowest
        C(ethN) the container does not use yet.
      - Naming another interface for a network the container is already attached to moves
        the attachment (DEL, ADD under the new name, same addresses).
      - With I(state=absent) and no I(interface), every attachment of the container to the
        network is removed.
    type: str
    version_added: 0.1.0
  ips:
    description:
      - Static addresses, at most one IPv4 and one IPv6. Passed as the C(ips) capability when a
        plugin of the chain declares it, else as C(IP=) in C(CNI_ARGS) (one address) or
        C(args.cni.ips) (two addresses, host-local reads them).
      - Each must lie in a range of the network's host-local IPAM and be free.
    type: list
    elements: str
    version_added: 0.1.0
  mac:
    description:
      - Static MAC address (C(MAC=) in C(CNI_ARGS), and the C(mac) capability when declared).
      - Needs the C(tuning) plugin in the network's chain (the bridge plugin ignores C(MAC=));
        the task fails before changing anything otherwise.
    type: str
    version_added: 0.1.0
  aliases:
    description:
      - DNS names of the container on this network, passed as the C(aliases) capability
        (a map from network name to names) that the dnsname plugin reads.
    type: list
    elements: str
    version_added: 0.1.0
  cni_args:
    description:
      - Extra C(CNI_ARGS) as a dict (or a list of C([key, value]) pairs). C(IgnoreUnknown=1) and
        the C(K8S_POD_*) arguments are always passed, as podman does.
    type: raw
    version_added: 0.1.0
  capability_args:
    description:
      - Extra capability arguments (C(runtimeConfig)), e.g. C(bandwidth); passed to the plugins
        declaring them.
    type: dict
    version_added: 0.1.0
"""

    # BATCH: written by scripts/render-batch-fragments.py from DOCUMENTATION, do not edit
    BATCH = r"""
{
 "options": {
  "attachments": {
   "suboptions": {
    "container_id": {
     "description": "As I(container_id).",
     "type": "str",
     "version_added": "0.1.0",
     "required": true
    },
    "name": {
     "description": "As I(name).",
     "type": "str",
     "version_added": "0.1.0"
    },
    "netns": {
     "description": "As I(netns).",
     "type": "str",
     "version_added": "0.1.0"
    },
    "network": {
     "description": "As I(network).",
     "type": "str",
     "version_added": "0.1.0",
     "required": true
    },
    "interface": {
     "description": "As I(interface).",
     "type": "str",
     "version_added": "0.1.0"
    },
    "ips": {
     "description": "As I(ips).",
     "type": "list",
     "elements": "str",
     "version_added": "0.1.0"
    },
    "mac": {
     "description": "As I(mac).",
     "type": "str",
     "version_added": "0.1.0"
    },
    "aliases": {
     "description": "As I(aliases).",
     "type": "list",
     "elements": "str",
     "version_added": "0.1.0"
    },
    "cni_args": {
     "description": "As I(cni_args).",
     "type": "raw",
     "version_added": "0.1.0"
    },
    "capability_args": {
     "description": "As I(capability_args).",
     "type": "dict",
     "version_added": "0.1.0"
    },
    "port_mappings": {
     "description": "As I(port_mappings) (dicts with the same keys, or strings like C(8080:80)).",
     "type": "list",
     "elements": "raw",
     "version_added": "0.1.0"
    },
    "verify": {
     "version_added": "0.1.0",
     "description": "As I(verify); default the task's I(verify).",
     "type": "bool"
    },
    "state": {
     "version_added": "0.1.0",
     "description": "As I(state); default the task's I(state).",
     "type": "str",
     "choices": [
      "present",
      "absent"
     ]
    }
   }
  }
 }
}
"""
    # end of BATCH
