# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # the options every module takes and the attributes every module has (a module states
    # where its support differs: container_netns_info, container_net_reload)
    DOCUMENTATION = r"""
options:
  cni_config_dir:
    description:
      - Directory of the CNI network configurations (C(.conflist), C(.conf), C(.json)).
      - Files are read in sorted order; the first file defining a network name wins,
        invalid files are skipped with a warning (libcni/ocicni rules).
      - Default C(/etc/cni/net.d) as root; rootless C($XDG_CONFIG_HOME/cni/net.d), else
        C(~/.config/cni/net.d) of the user (podman's rootless default; the home directory
        comes from the password database, as C(HOME) may still be another user's under become).
    type: path
    version_added: 0.1.0
  cni_plugin_dirs:
    description:
      - Directories searched, in order, for CNI plugin binaries.
      - Default C(/usr/lib/cni) (Debian, Ubuntu), C(/usr/libexec/cni) (Fedora, RHEL),
        C(/usr/local/libexec/cni), C(/usr/local/lib/cni), C(/opt/cni/bin) (upstream tarball).
    type: list
    elements: path
    version_added: 0.1.0
  cni_cache_dir:
    description:
      - The libcni cache directory, shared with cnitool, podman's CNI backend and CRI-O.
      - Default C(/var/lib/cni) as root; rootless C($XDG_RUNTIME_DIR/podnet/rootless-cni/var/lib/cni),
        which the plugins see as C(/var/lib/cni) inside the rootless namespace (podman's rootless layout).
      - A file in it that is not a usable entry (corrupt, wrong-typed, another tool's, a symlink,
        another user's, over 4 MiB) is reported and never acted upon (C(docs/state-and-trust.md)).
    type: path
    version_added: 0.1.0
  state_dir:
    description:
      - Where the per-container records and locks live (a tmpfs; records have the lifetime
        of the namespaces).
      - Default C(/run/podnet) as root, C($XDG_RUNTIME_DIR/podnet) rootless (C(/run/user/UID)
        when C(XDG_RUNTIME_DIR) is unset, as under become).
    type: path
    version_added: 0.1.0
  rootless:
    description:
      - Run in the user's rootless CNI namespace instead of the host's network namespace.
      - Default true when the module does not run as uid 0.
    type: bool
    version_added: 0.1.0
  plugin_timeout:
    description:
      - Seconds one CNI plugin may run before it is killed and the operation rolled back;
        more than 0.
      - A plugin never outlives the module (it is killed with it); 64 KiB of its error
        output are kept.
    type: float
    default: 60.0
    version_added: 0.1.0
attributes:
  action:
    description: Indicates this has a corresponding action plugin so some parts of the options can be executed on the controller.
    support: none
    details:
      - The collection's action plugin runs the module as Ansible's own C(normal) action does, with Python's
        cyclic garbage collector off in the controller's worker for the task (the worker builds the
        module's payload about twice as fast); no option is executed on the controller.
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description: When run twice in a row outside check mode with the same arguments, the second run reports no changes.
    support: full
  platform:
    description: Target OS/families that can be operated against (Linux - network namespaces).
    support: full
    platforms: Linux
"""

    # the state option's type, choices and default (module_utils/_common.py STATE_SPEC);
    # each module says what present means (its own description of state)
    STATE = r"""
options:
  state:
    type: str
    choices: [present, absent]
    default: present
    version_added: 0.1.0
"""

    # what the modules that attach containers need on the managed host (ansible-doc wants
    # options or attributes in every fragment: none here)
    REQUIREMENTS = r"""
options: {}
requirements:
  - A Linux managed host (network namespaces) with Python 3.9 or later.
  - The CNI plugins the networks' chains name (C(containernetworking-plugins), C(cni-plugins) on
    openSUSE) in I(cni_plugin_dirs).
  - iptables (or iptables-nft) or nftables, which the C(bridge), C(portmap) and C(firewall)
    plugins drive.
  - root; or, rootless, an unprivileged user with a subordinate uid and gid range (C(/etc/subuid),
    C(/etc/subgid)), C(newuidmap) and C(newgidmap) (package C(uidmap)), C(slirp4netns), a usable
    C(/dev/net/tun) and its runtime directory C(/run/user/UID) - the M(podnet.cni.cni_host)
    role (C(cni_host_rootless_users)) prepares all of it.
"""

    CHECK_MODE_PENDING = r"""
options:
  check_mode_pending:
    description:
      - Check mode only; ignored in a real run. What tasks earlier in the same check run
        would have created and did not, because they ran in check mode too. What this task
        finds missing and is listed here is predicted, with a warning saying so, instead of
        failing; what is missing and not listed fails as it does in a real run.
      - The roles pass it in check mode (C(cni_host) sets C(cni_host_check_mode_pending),
        C(container_network) passes it on), so C(ansible-playbook --check) of a play that
        prepares a host and declares its containers completes on a host that has nothing yet.
      - See C(docs/check-mode.md).
    type: dict
    version_added: 0.2.0
    suboptions:
      plugins:
        description:
          - A package task would install the CNI plugins - a plugin missing from
            I(cni_plugin_dirs) is predicted present.
        type: bool
        default: false
        version_added: 0.2.0
      networks:
        description:
          - Registered results of C(podnet.cni.cni_network) tasks (the single form's result,
            a batch result, or items of its C(networks)). Each network is predicted as the
            task would write it, in the directory it would write it to; a network such a task
            would remove is unknown.
        type: list
        elements: dict
        default: []
        version_added: 0.2.0
      netns:
        description:
          - Namespaces (names or paths) a C(podnet.cni.container_netns) task would create
            (its C(netns) return value) - C(cni_attachment) predicts an attach to them.
        type: list
        elements: str
        default: []
        version_added: 0.2.0
      dirs:
        description:
          - Directories a task would create - a rootless user's runtime directory
            (C(/run/user/UID)) that C(cni_host) would make.
        type: list
        elements: path
        default: []
        version_added: 0.2.0
"""
