#!/usr/bin/env bash
# Install the peers `make bench` compares with: Debian's podman (used with the CNI
# backend through a private containers.conf written by the benchmark, never /etc's),
# runc (crun 1.8 refuses this kind of host's hybrid cgroups), busybox-static (the
# rootfs of the benchmark's containers: no image needed) and cnitool (built from
# Debian's source package by tests/tools/build_cnitool.sh); for the fleet benchmark,
# catatonit (the hosts' PID 1), mmdebstrap (their root fs) and openssh-client.
# Idempotent; prints nothing but errors when everything is there. Root only.
set -euo pipefail
[[ $(id -u) -eq 0 ]] || { echo "install_podman.sh: must run as root" >&2; exit 1; }
need=()
for p in podman runc busybox-static containernetworking-plugins iptables \
         catatonit mmdebstrap openssh-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if (( ${#need[@]} )); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || {
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  }
fi
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD="$HERE/../../tests/tools/build_cnitool.sh"
if [[ -x "$BUILD" ]]; then
  "$BUILD" >/dev/null || echo "install_podman.sh: cnitool could not be built (cnitool rows skipped)" >&2
fi
