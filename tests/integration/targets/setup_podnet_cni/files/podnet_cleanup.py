#!/usr/bin/env python
# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Safety net of the integration targets: remove what one test run may have left behind.

Usage: podnet_cleanup.py PREFIX [NEEDLE...]

Only objects whose name starts with PREFIX (named netns, links) and iptables rules whose
text contains PREFIX or a NEEDLE (e.g. "10.221.37." for the run's subnet: the firewall
plugin's rules carry only addresses) are removed; then CNI chains that only those rules
jumped to. CNI's shared top-level chains stay. Prints one line per object removed.
"""
from __future__ import annotations

import shlex
import subprocess
import sys

SHARED_CHAINS = ("CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SETMARK", "CNI-HOSTPORT-MASQ",
                 "CNI-FORWARD", "CNI-ADMIN")


def out(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
    return proc.stdout.decode() if proc.returncode == 0 else ""


def quiet(argv):
    return subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                          check=False).returncode == 0


def clean_netns(prefix):
    for line in out(["ip", "netns", "list"]).splitlines():
        name = line.split()[0] if line.strip() else ""
        if name.startswith(prefix) and quiet(["ip", "netns", "delete", name]):
            print("netns %s" % name)


def clean_links(prefix):
    for line in out(["ip", "-o", "link", "show"]).splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@")[0]
        if name.startswith(prefix) and quiet(["ip", "link", "delete", name]):
            print("link %s" % name)


def clean_iptables(needles):
    table = None
    rules = []
    for line in out(["iptables-save"]).splitlines():
        if line.startswith("*"):
            table = line[1:]
        elif line.startswith("-A ") and any(n in line for n in needles):
            rules.append((table, shlex.split(line)))
    chains = set()
    for table, args in rules:
        if "-j" in args:
            target = args[args.index("-j") + 1]
            if target.startswith("CNI-") and target not in SHARED_CHAINS:
                chains.add((table, target))
        if quiet(["iptables", "-t", table, "-D"] + args[1:]):
            print("iptables -t %s %s" % (table, " ".join(args)))
    for table, chain in sorted(chains):
        if quiet(["iptables", "-t", table, "-F", chain]) and quiet(["iptables", "-t", table, "-X", chain]):
            print("iptables chain %s/%s" % (table, chain))


def main():
    if len(sys.argv) < 2 or len(sys.argv[1]) < 4:
        sys.exit("usage: podnet_cleanup.py PREFIX [NEEDLE...] (a prefix of at least 4 chars)")
    prefix = sys.argv[1]
    clean_netns(prefix)
    clean_iptables([prefix] + [n for n in sys.argv[2:] if n])
    clean_links(prefix)


if __name__ == "__main__":
    main()
