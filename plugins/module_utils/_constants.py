# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Option choices and defaults that the modules' argument specs and the code share, kept
once: a spec imports them instead of repeating the literal (the DOCUMENTATION states the
same values; ansible-test's validate-modules holds the two in agreement)."""
from __future__ import annotations

STATES = ("present", "absent")
DEFAULT_STATE = "present"

# cni_network
DRIVERS = ("bridge", "macvlan", "ipvlan")
DEFAULT_DRIVER = "bridge"
# the mode option per driver (macvlan's, ipvlan's); the spec's choices are all of them
DRIVER_MODES = {"macvlan": ("bridge", "vepa", "private", "passthru"), "ipvlan": ("l2", "l3", "l3s")}
MODES = tuple(m for modes in DRIVER_MODES.values() for m in modes)
CNI_VERSIONS = ("0.4.0", "1.0.0")
DEFAULT_CNI_VERSION = "0.4.0"          # what podman v3 writes
DEFAULT_DNS_DOMAIN = "dns.podman"      # podman's default dnsname domain

# container_netns
NETWORK_MODES = ("bridge", "none", "slirp4netns", "host", "container:<id>", "ns:<path>")
DEFAULT_NETWORK_MODE = "bridge"

# every module: how long one plugin may run (plugin_timeout), in seconds
PLUGIN_TIMEOUT = 60.0
# how long a run waits for a lock (container, network, host ports, rootless), in seconds
LOCK_TIMEOUT = 120.0
# batches (cni_attachment, container_netns) and container_net_reload's CHECKs: threads
DEFAULT_WORKERS = 8
MAX_WORKERS = 64

# rootless_cni_ns, network_mode slirp4netns: slirp4netns's MTU (podman's default)
SLIRP_MTU = 65520
