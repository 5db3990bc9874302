#!/usr/bin/env bash
# Build a minimal Debian root file system from Debian's packages with mmdebstrap: no image
# registry, nothing but Debian's archive. `podman run --rootfs DIR:O` starts it as a
# container (the :O overlay keeps DIR pristine, so one DIR serves several containers).
#
# Usage: debian_rootfs.sh DIR RELEASE [EXTRA_PACKAGE...]
#   DIR      created by the build; must not exist or be empty
#   RELEASE  a Debian suite: bookworm (12, Python 3.11), trixie (13, Python 3.13), ...
#   EXTRA    packages installed on top of the base set
# The base set is openssh-server, python3 and sudo (what a freshly provisioned host that
# Ansible manages over SSH has); apt is there to install more. Environment:
#   DEBIAN_ROOTFS_MIRROR  the archive (default http://deb.debian.org/debian)
#   DEBIAN_ROOTFS_BASE    replaces the base set (a comma-separated list; may be empty)
#   DEBIAN_ROOTFS_CA      a CA bundle copied to DIR/etc/ssl/certs/ca-certificates.crt, for
#                         HTTPS (pip) from inside (set it to this machine's bundle when the
#                         network verifies against a local CA)
#
# What differs from a plain debootstrap, and why:
# - dpkg's force-unsafe-io (no fsync: a throwaway test root fs builds ~2x faster) and
#   path-exclude of /usr/share/{doc,man,info,locale}: both stay in the root fs's
#   /etc/dpkg/dpkg.cfg.d, so packages installed later are unpacked the same way;
# - no SSH host keys: each container generates its own at first start (`ssh-keygen -A`),
#   as cloud images do, so two hosts from one DIR never share a host key;
# - no package lists and an empty apt cache (mmdebstrap's default): `apt-get update` first.
# Prints DIR on success; needs root (mmdebstrap's root mode) and the mmdebstrap package.
set -euo pipefail

die() { echo "debian_rootfs: $*" >&2; exit 1; }
[[ $# -ge 2 ]] || die "usage: debian_rootfs.sh DIR RELEASE [EXTRA_PACKAGE...]"
DIR=$1
RELEASE=$2
shift 2
[[ $RELEASE =~ ^[a-z]+$ ]] || die "RELEASE must be a Debian suite name (bookworm, trixie, ...), not '$RELEASE'"
for p in "$@"; do
  [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || die "not a Debian package name: '$p'"
done
[[ $(id -u) -eq 0 ]] || die "must run as root (mmdebstrap's root mode)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
if [[ -e $DIR ]] && [[ -n $(find "$DIR" -mindepth 1 -maxdepth 1 -print -quit) ]]; then
  die "$DIR exists and is not empty"
fi
MIRROR=${DEBIAN_ROOTFS_MIRROR:-http://deb.debian.org/debian}
BASE=${DEBIAN_ROOTFS_BASE-openssh-server,python3,sudo}
include=$BASE
for p in "$@"; do include+=${include:+,}$p; done

# the hooks are shell snippets mmdebstrap runs with the root fs as $1: single quotes on purpose
# shellcheck disable=SC2016
args=(--variant=apt --format=directory --quiet
      --dpkgopt=force-unsafe-io
      --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*')
for d in doc man info locale; do
  args+=("--dpkgopt=path-exclude=/usr/share/$d/*")
done
[[ -n $include ]] && args+=("--include=$include")
if [[ -n ${DEBIAN_ROOTFS_CA:-} ]]; then
  [[ -f $DEBIAN_ROOTFS_CA ]] || die "DEBIAN_ROOTFS_CA: no such file: $DEBIAN_ROOTFS_CA"
  export DEBIAN_ROOTFS_CA
  # shellcheck disable=SC2016
  args+=('--customize-hook=mkdir -p "$1"/etc/ssl/certs && cp "$DEBIAN_ROOTFS_CA" "$1"/etc/ssl/certs/ca-certificates.crt')
fi

if ! mmdebstrap "${args[@]}" "$RELEASE" "$DIR" "$MIRROR" >&2; then
  rm -rf --one-file-system "$DIR"
  die "mmdebstrap failed for $RELEASE (packages: $include)"
fi
echo "$DIR"
