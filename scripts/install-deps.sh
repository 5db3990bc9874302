#!/usr/bin/env bash
# Install what `make demo` and `make test` need on Debian/Ubuntu, as root:
# the distribution's CNI plugins, iptables/nftables, slirp4netns, uidmap, a Python venv.
# Idempotent and quick when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(containernetworking-plugins iptables nftables slirp4netns uidmap iproute2
              python3-venv python3-pip busybox-static procps kmod acl sudo git)
if [ "${PODNET_WITH_TEST_DEPS:-0}" = 1 ]; then
  # dnsname needs only dnsmasq's binary (dnsmasq-base), not the system service
  APT_PACKAGES+=(dnsmasq-base golang-github-containernetworking-plugin-dnsname)
  # the firewalld reload tests run a real firewalld on a private dbus-daemon
  APT_PACKAGES+=(dbus-daemon dbus-bin python3-dbus python3-gi)
  APT_PACKAGES+=(shellcheck)  # ansible-test sanity runs its shellcheck test only when installed
  # the rootless tests' unprivileged user runs the distribution's python (it may not reach
  # this checkout's .venv): pyroute2 gives it netlink statistics, as on a managed host
  APT_PACKAGES+=(python3-pyroute2)
  # podman (CNI backend) with runc (crun 1.8 refuses this kind of host's hybrid cgroups):
  # the interop tests (tests/functional/trust/test_podman_interop.py) run it beside us, and
  # molecule's fleet scenario runs its managed hosts with it (catatonit as PID 1) from Debian
  # root file systems built by mmdebstrap, reached over SSH; the ansible-core matrix
  # (tests/matrix/run.sh) runs its 2.21 leg the same way, in a Debian 13 root fs
  APT_PACKAGES+=(podman runc catatonit mmdebstrap openssh-client)
fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing packages (run as root to install): ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# the venv: Debian's python3 (not a pyenv shim), keyed on the requirement files
VENV=.venv
stamp="$VENV/.requirements.sha"
want="$(cat requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements-test.txt
  echo "$want" > "$stamp"
fi

# the collection tree ansible and pytest import from: .build/ansible_collections/podnet/cni
mkdir -p .build/ansible_collections/podnet
ln -sfn ../../.. .build/ansible_collections/podnet/cni
