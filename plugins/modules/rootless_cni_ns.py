#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: rootless_cni_ns
short_description: The rootless CNI network namespace of an unprivileged user
version_added: 0.1.0
description:
  - Manages what podman v3 gives a rootless user for CNI networks, for the user the module
    runs as (C(become_user), or a plain login).
  - A holder process owns the user's user namespace (the full sub-id range of
    C(/etc/subuid) and C(/etc/subgid) through C(newuidmap)/C(newgidmap) when configured,
    else only the user mapped to root) and a mount namespace; its identity is recorded in
    C($XDG_RUNTIME_DIR/podnet/pause.pid). Every module of this collection run rootless joins it.
  - The rootless CNI network namespace C($XDG_RUNTIME_DIR/netns/rootless-cni-ns) holds the CNI
    bridges; slirp4netns connects it to the host's network in user mode, and forwards the
    containers' host ports through its API socket.
  - C(resolv.conf) of the namespace lists the slirp4netns DNS forwarder (network + 3) first,
    then the host's nameservers (localhost resolvers filtered out), search domains and options.
  - I(state=present) repairs what died; a killed slirp4netns or holder is restarted (a change),
    and the forwarded ports of existing attachments are added again.
  - I(state=present) also declares the options (I(path), I(mtu), I(cidr), I(enable_ipv6),
    I(disable_host_loopback), I(outbound_addr), I(enable_sandbox), I(enable_seccomp)). They are
    saved in C($XDG_RUNTIME_DIR/podnet/rootless-options.json) (0600, checked when read; a file
    that is not what this module wrote stops the other modules with its name) and every later
    rebuild uses them, also the one another module does on demand after the last container
    left. The same options again are no change. I(state=absent) keeps them.
  - I(state=absent) stops slirp4netns, removes the namespace and the private directory, and
    stops the holder unless other namespaces of the user still live in it. It refuses while
    CNI attachments exist unless I(force).
  - The holder is the init of a pid namespace of its own; slirp4netns runs in it, so the
    holder reaps it when it exits (no defunct slirp4netns stays behind).
  - The state files (C(pause.pid), C(slirp4netns.json), C(attachments.json)) are checked when
    read. A corrupt, wrong-typed, foreign (another owner, a symlink, not a regular file) one
    stops the task with its name and changes nothing; a holder of this runtime directory
    that runs while the pid file does not name it is never doubled. A holder counts when it
    runs in the module's pid namespace or is the init of one made from it, a slirp4netns when
    it runs in the module's pid namespace or the holder's; the holder and slirp4netns of a
    user with the same uid inside a container on the same host are not this user's.
  - C(XDG_RUNTIME_DIR) (default C(/run/user/UID), as it is unset under become) must exist,
    belong to the user and have mode 0700. C(/dev/net/tun) must be usable by the user (mode 0666).
  - Other modules build the namespace on demand and remove it again, as podman does, once the
    last attachment is gone; this module sets its options and checks or repairs it explicitly.
author: podnet.cni contributors (@podnet)
extends_documentation_fragment:
  - podnet.cni.common
  - podnet.cni.common.state
options:
  state:
    description: Whether the rootless CNI namespace should exist.
  force:
    description:
      - With I(state=absent), tear everything down even though CNI attachments exist - the
        rootless CNI namespace, every slirp4netns of the user's namespaces, and the holder with
        every namespace in it (the containers' interfaces go with them).
      - The libcni cache entries and the IP reservations of the attachments remain (in the
        rootless directory's C(var/lib/cni)). C(container_netns) I(state=present) builds such
        a container again, I(state=absent) (or C(cni_attachment) I(state=absent)) releases it.
    type: bool
    default: false
    version_added: 0.1.0
  path:
    description: The slirp4netns executable. Default the first C(slirp4netns) on C(PATH).
    type: path
    version_added: 0.1.0
  mtu:
    description: MTU of the slirp4netns tap device.
    type: int
    default: 65520
    version_added: 0.1.0
  cidr:
    description:
      - The slirp4netns network (IPv4, /25 or shorter). Default C(10.0.2.0/24), with the gateway .2,
        DNS .3, the namespace .100.
    type: str
    version_added: 0.1.0
  enable_ipv6:
    description: Enable slirp4netns' IPv6 (experimental in slirp4netns).
    type: bool
    default: false
    version_added: 0.1.0
  disable_host_loopback:
    description: Prohibit connecting to the host's 127.0.0.1 from the namespace.
    type: bool
    default: true
    version_added: 0.1.0
  outbound_addr:
    description: IPv4 address slirp4netns binds outbound connections to.
    type: str
    version_added: 0.1.0
  enable_sandbox:
    description:
      - Run slirp4netns in its own sandbox (C(--enable-sandbox)) - a mount namespace of its
        own with only what it needs, capabilities dropped.
      - Default (unset) on when this slirp4netns supports it, as podman does; C(false)
        turns it off, C(true) fails when it is not supported.
    type: bool
    version_added: 0.1.0
  enable_seccomp:
    description:
      - Limit slirp4netns' syscalls with seccomp (C(--enable-seccomp)).
      - Default (unset) on when this slirp4netns supports it, as podman does; C(false)
        turns it off, C(true) fails when it is not supported.
    type: bool
    version_added: 0.1.0
notes:
  - Changing an option restarts slirp4netns; forwarded ports are added again.
  - A namespace built on demand by another module keeps a running slirp4netns as it is; only
    this module restarts it for other options.
  - Host ports of rootless attachments are forwarded by slirp4netns to the namespace's
    address (network + 100), where the C(portmap) plugin DNATs them to the container.
    slirp4netns forwards IPv4 TCP and UDP only.
requirements:
  - A Linux managed host (network namespaces) with Python 3.9 or later.
  - slirp4netns >= 0.4 (with C(--netns-type), C(--api-socket), C(--ready-fd)); the sandbox and
    seccomp options where it supports them.
  - uidmap (C(newuidmap), C(newgidmap)) for the full sub-id range.
  - An unprivileged user (the module runs as that user) with a subordinate uid and gid range
    (C(/etc/subuid), C(/etc/subgid)), a usable C(/dev/net/tun) and its runtime directory
    C(/run/user/UID) - the M(podnet.cni.cni_host) role (C(cni_host_rootless_users)) prepares them.
  - The CNI plugins and iptables or nftables, for the attachments made in the namespace.
seealso:
  - module: podnet.cni.container_netns
"""

EXAMPLES = r"""
- name: The rootless CNI namespace of the app user (every rebuild keeps these options)
  become: true
  become_user: app
  podnet.cni.rootless_cni_ns:
    cidr: 10.41.0.0/24
    mtu: 1500

- name: Without the seccomp filter (sandbox and seccomp are on by default when supported)
  become: true
  become_user: app
  podnet.cni.rootless_cni_ns:
    cidr: 10.41.0.0/24
    enable_seccomp: false

- name: Tear it all down although containers are attached (they detach or come back later)
  become: true
  become_user: app
  podnet.cni.rootless_cni_ns:
    state: absent
    force: true

- name: Remove it (refused while containers are attached, unless forced)
  become: true
  become_user: app
  podnet.cni.rootless_cni_ns:
    state: absent
"""

RETURN = r"""
netns:
  description: Path of the rootless CNI network namespace (null when absent).
  returned: always
  type: str
  sample: /run/user/1000/netns/rootless-cni-ns
slirp4netns_pid:
  description: Pid of the slirp4netns serving the namespace (null when absent or in check mode before it starts).
  returned: always
  type: int
  sample: 4242
dns:
  description: The slirp4netns DNS forwarder (network + 3).
  returned: always
  type: str
  sample: 10.0.2.3
addresses:
  description: The slirp4netns network, its gateway, DNS and the namespace's own address.
  returned: always
  type: dict
  sample: {"cidr": "10.0.2.0/24", "gateway": "10.0.2.2", "dns": "10.0.2.3", "guest": "10.0.2.100"}
resolv_conf:
  description: Path of the namespace's resolv.conf (null when absent).
  returned: always
  type: str
  sample: /run/user/1000/podnet/rootless-cni/resolv.conf
features:
  description: The options this slirp4netns supports (from C(--help)).
  returned: always
  type: dict
  sample: {"api_socket": true, "cidr": true, "ipv6": true, "netns_type": true, "sandbox": true, "seccomp": true}
options:
  description: The options declared (and saved) by this task; null with I(state=absent).
  returned: always
  type: dict
  sample: {"path": null, "mtu": 65520, "cidr": "10.41.0.0/24", "enable_ipv6": false,
           "disable_host_loopback": true, "outbound_addr": null, "enable_sandbox": null,
           "enable_seccomp": false}
attachments:
  description: Number of CNI attachments in the namespace.
  returned: always
  type: int
  sample: 0
actions:
  description: The steps planned (check mode) or taken.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "start_holder"}, {"action": "start_slirp4netns", "pid": 4242},
           {"action": "save_options", "path": "/run/user/1000/podnet/rootless-options.json"}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.podnet.cni.plugins.module_utils._common import (
    STATE_SPEC, argument_spec, run)
from ansible_collections.podnet.cni.plugins.module_utils._constants import SLIRP_MTU


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            state=STATE_SPEC,
            force={"type": "bool", "default": False},
            path={"type": "path"},
            mtu={"type": "int", "default": SLIRP_MTU},
            cidr={"type": "str"},
            enable_ipv6={"type": "bool", "default": False},
            disable_host_loopback={"type": "bool", "default": True},
            outbound_addr={"type": "str"},
            enable_sandbox={"type": "bool"},
            enable_seccomp={"type": "bool"},
        ),
        supports_check_mode=True,
    )
    from ansible_collections.podnet.cni.plugins.module_utils._rootless_ns import LOGIC
    run(module, LOGIC)


if __name__ == "__main__":
    main()
