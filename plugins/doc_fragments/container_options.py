# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # the options of one container of container_netns: the single form's (DOCUMENTATION)
    # and each entry's of containers (BATCH), as the module's argument spec uses its
    # CONTAINER_OPTIONS both ways
    DOCUMENTATION = r"""
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
"""

    # BATCH: written by scripts/render-batch-fragments.py from DOCUMENTATION, do not edit
    BATCH = r"""
{
 "options": {
  "containers": {
   "suboptions": {
    "container_id": {
     "description": "The container id, as I(container_id).",
     "type": "str",
     "version_added": "0.2.0",
     "required": true,
     "aliases": [
      "id"
     ]
    },
    "name": {
     "description": "As I(name).",
     "type": "str",
     "version_added": "0.2.0"
    },
    "netns": {
     "description": "As I(netns).",
     "type": "str",
     "version_added": "0.2.0"
    },
    "pid": {
     "description": "As I(pid).",
     "type": "int",
     "version_added": "0.2.0"
    },
    "network_mode": {
     "description": "As I(network_mode).",
     "type": "str",
     "default": "bridge",
     "version_added": "0.2.0"
    },
    "force": {
     "description": "As I(force).",
     "type": "bool",
     "default": false,
     "version_added": "0.2.0"
    },
    "slirp4netns_options": {
     "description": "As I(slirp4netns_options).",
     "type": "dict",
     "suboptions": {
      "enable_sandbox": {
       "description": "As I(slirp4netns_options.enable_sandbox).",
       "type": "bool",
       "version_added": "0.2.0"
      },
      "enable_seccomp": {
       "description": "As I(slirp4netns_options.enable_seccomp).",
       "type": "bool",
       "version_added": "0.2.0"
      },
      "mtu": {
       "description": "As I(slirp4netns_options.mtu).",
       "type": "int",
       "version_added": "0.2.0"
      },
      "cidr": {
       "description": "As I(slirp4netns_options.cidr).",
       "type": "str",
       "version_added": "0.2.0"
      },
      "enable_ipv6": {
       "description": "As I(slirp4netns_options.enable_ipv6).",
       "type": "bool",
       "version_added": "0.2.0"
      },
      "outbound_addr": {
       "description": "As I(slirp4netns_options.outbound_addr).",
       "type": "str",
       "version_added": "0.2.0"
      },
      "allow_host_loopback": {
       "description": "As I(slirp4netns_options.allow_host_loopback).",
       "type": "bool",
       "version_added": "0.2.0"
      }
     },
     "version_added": "0.2.0"
    },
    "networks": {
     "description": "As I(networks) (names, or dicts with the same keys).",
     "type": "list",
     "elements": "raw",
     "default": [],
     "version_added": "0.2.0"
    },
    "purge_networks": {
     "description": "As I(purge_networks).",
     "type": "bool",
     "default": false,
     "version_added": "0.2.0"
    },
    "static_ip": {
     "description": "As I(static_ip).",
     "type": "str",
     "version_added": "0.2.0"
    },
    "static_mac": {
     "description": "As I(static_mac).",
     "type": "str",
     "version_added": "0.2.0"
    },
    "port_mappings": {
     "description": "As I(port_mappings) (dicts with the same keys, or strings like C(8080:80)).",
     "type": "list",
     "elements": "raw",
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
    }
   }
  }
 }
}
"""
    # end of BATCH
