# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations


class ModuleDocFragment:
    # the port_mappings option of container_netns and cni_attachment (one doc, one parser:
    # module_utils/_validate.py port_mappings); the batch forms' entries refer to it
    DOCUMENTATION = r"""
options:
  port_mappings:
    description:
      - Host ports forwarded to the container by the C(portmap) plugin (its C(portMappings)
        capability; the network's chain needs C(portmap)). M(podnet.cni.container_netns) maps
        them on the container's first network (with I(network_mode=slirp4netns), by the
        container's slirp4netns), M(podnet.cni.cni_attachment) on I(network).
      - Each entry is a dict with the keys below, or a string as podman's and docker's
        C(--publish) take it, C([[HOST_IP:]HOST_PORT:]CONTAINER_PORT[/PROTOCOL]) - for example
        C(8080:80), C(127.0.0.1:8080:80/tcp), C(8080-8082:80-82) (ranges of the same length),
        C([::1]:8080:80) (an IPv6 host address in brackets), C(53:53/udp), C(53:53/tcp,udp)
        (one mapping per protocol). A string and the dict it stands for are the same mapping.
      - In a string, C(0.0.0.0) as the host address means every address (as podman takes it,
        the same as leaving it out); the protocol defaults to C(tcp).
      - A container port alone (C(80), C(127.0.0.1::80)) is refused - podman and docker publish
        it on a random host port, which would change on every run; give the host port
        (C(80:80)).
      - A bad entry fails the task before anything changes, naming the option and the entry;
        an unknown key lists the valid keys. A host port mapped twice, or already mapped by
        another container, is an error too.
      - Omitted, M(podnet.cni.container_netns) maps none and M(podnet.cni.cni_attachment) keeps
        the mappings of an existing attachment (an empty list asks for none).
    type: list
    elements: raw
    version_added: 0.1.0
    suboptions:
      host_port:
        description: Port on the host (the first of the range). Default the container port.
        type: int
        version_added: 0.1.0
      container_port:
        description: Port in the container (the first of the range).
        type: int
        required: true
        version_added: 0.1.0
      protocol:
        description: The protocol.
        type: str
        choices: [tcp, udp, sctp]
        default: tcp
        version_added: 0.1.0
      host_ip:
        description: Host address to bind (IPv4 or IPv6); empty for all.
        type: str
        version_added: 0.1.0
      range:
        description:
          - Number of consecutive ports mapped from these start ports (C(host_port+N) to
            C(container_port+N)); a string writes it as C(8080-8082:80-82).
        type: int
        default: 1
        version_added: 0.1.0
"""
