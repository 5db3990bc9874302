#!/usr/bin/env bash
# The ansible-core matrix (`make matrix`, part of `make test`): ansible-test sanity and the
# unit tests on the oldest and the newest ansible-core the collection supports (2.17 to 2.21,
# requirements.txt and meta/runtime.yml), and the demo playbook on the newest.
#
#   tests/matrix/run.sh LEG...            LEG: 2.17, 2.19 or 2.21; runs every leg, fails if any failed
#   MATRIX_SANITY_ARGS="--test pylint" tests/matrix/run.sh LEG...   ansible-test sanity options
#   tests/matrix/run.sh --prepare LEG...  only builds what the legs need (venvs, root fs): no
#                                         test runs, so it needs no test lock
#
# 2.17  Python 3.11 (Debian 12's /usr/bin/python3), a venv of its own (requirements-2.17.txt).
# 2.19  the dev venv .venv (requirements-test.txt pins 2.19): `make sanity` and the unit tests
#       of `make unit-functional` are this leg, so `make test` does not run it twice.
# 2.21  ansible-core 2.20 and later need Python >= 3.12: Python 3.13 in a Debian 13 (trixie)
#       root file system built by tests/tools/debian_rootfs.sh (mmdebstrap from Debian's
#       archive, no image registry) with the leg's venv in /opt/pnv/venv, run with
#       `podman run --privileged --rootfs DIR:O` (the :O overlay keeps the cached root fs
#       pristine; podman runs with a private configuration and storage in a temporary dir, as
#       PEERS.md says: CNI backend, runc, cgroupfs). Sanity and unit tests run with the host's
#       network (ansible-test's sanity venvs come from PyPI the first time); the demo playbook
#       (playbooks/demo.yml, as `make demo` runs it: the built artifact, installed) runs with
#       `--network none`, a private network namespace: its bridge, subnet, host port and
#       iptables rules never meet the host's or another test's.
#
# What is cached, outside the checkout (CI's throwaway copy of it, .ci/run, reuses it):
# PODNET_MATRIX_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/podnet-cni/matrix, holds
#   venv-2.17-KEY         the 2.17 venv
#   rootfs-trixie-KEY     the root fs with its venv
#   ansible-home-trixie   the root fs's ~/.ansible (ansible-test's sanity venvs; the host's are
#                         in ~/.ansible/test as for `make sanity`)
# KEY hashes what the thing is built from (requirement files, package list, the root fs
# script), so a changed pin builds a new one; builds hold the cache's lock file. Old keys are
# not pruned: remove the directory to reclaim the space (~400 MB).
# Root only (mmdebstrap, podman --privileged); `make test-deps` installs both.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
cache="${PODNET_MATRIX_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/podnet-cni/matrix}"
# the 2.21 leg's root fs: Python with venv/ensurepip, and what the demo runs on a host
ROOTFS_RELEASE=trixie
ROOTFS_PACKAGES=(python3 python3-venv containernetworking-plugins iptables iproute2 busybox-static procps)
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

log() { echo "== matrix: $*"; }
die() { echo "matrix: $*" >&2; exit 2; }
key() { cat "$@" | sha256sum | cut -c1-12; }

prepare=0
if [ "${1:-}" = --prepare ]; then
  prepare=1
  shift
fi
[ $# -gt 0 ] || die "usage: $0 [--prepare] LEG... (2.17, 2.19, 2.21)"
for leg in "$@"; do
  case "$leg" in 2.17|2.19|2.21) ;; *) die "unknown leg '$leg' (2.17, 2.19, 2.21)" ;; esac
done
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap, podman --privileged)"
mkdir -p "$cache"
chmod 0700 "$cache"

tmp="$(mktemp -d /tmp/pnv-matrix.XXXXXX)"
containers=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  local c
  for c in "${containers[@]}"; do
    pod rm -f "$c" >/dev/null 2>&1 || true
  done
  # nothing of podman's may stay mounted under the temporary dir before it goes (no match:
  # grep fails, and errexit would end the trap before the rm)
  findmnt -rn -o TARGET | { grep -F "$tmp/" || true; } | sort -r |
    while read -r m; do umount -l "$m" || true; done
  rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

results=()
status=0
# step LEG WHAT CMD...: run, time, remember the outcome; a failed step does not stop the others
step() {
  local leg=$1 what=$2 t0 rc=0
  shift 2
  log "$leg $what"
  t0=$(date +%s)
  "$@" || rc=$?
  results+=("$(printf '%-5s %-7s %s in %ss' "$leg" "$what" "$([ $rc = 0 ] && echo passed || echo "FAILED ($rc)")" \
               "$(( $(date +%s) - t0 ))")")
  [ $rc = 0 ] || status=1
}

# ---------------------------------------------------------------- host legs (Python 3.11)
usable_venv() {  # built completely, and still runs (a venv moved elsewhere keeps dead shebangs)
  [ -e "$1/.ready" ] && "$1/bin/ansible-test" --version >/dev/null 2>&1
}

host_venv() {  # host_venv LEG DIR: the venv, built if missing or unusable (Debian's python3, not a shim)
  local req="tests/matrix/requirements-$1.txt" dir=$2
  usable_venv "$dir" && return 0
  (
    flock 9 || exit 1
    usable_venv "$dir" && exit 0
    rm -rf "$dir" &&
      /usr/bin/python3 -m venv "$dir" &&
      "$dir/bin/pip" install -q --disable-pip-version-check -r "$req" &&
      touch "$dir/.ready"
  ) 9>"$cache/.lock"
}

# shellcheck disable=SC2317  # run by step
host_unit() {  # the collection imports from .build (make test-deps made it)
  PYTHONPATH="$repo/.build" "$1/bin/python" -m pytest -p no:cacheprovider tests/unit -q
}

host_leg() {
  local leg=$1 venv t0
  if [ "$leg" = 2.19 ]; then
    venv="$repo/.venv"
    [ -x "$venv/bin/python" ] || die "no .venv: run 'make test-deps' first"
  else
    t0=$(date +%s)
    venv="$cache/venv-$leg-$(key requirements.txt "tests/matrix/requirements-$leg.txt")"
    if ! host_venv "$leg" "$venv"; then
      results+=("$leg  venv    FAILED"); status=1; return
    fi
    log "$leg venv $venv ready in $(( $(date +%s) - t0 ))s"
  fi
  [ "$prepare" = 0 ] || return 0
  # shellcheck disable=SC2086  # MATRIX_SANITY_ARGS: options, split on purpose
  step "$leg" sanity env PODNET_VENV="$venv" PODNET_TEST_OUTPUT=none tests/run-ansible-test.sh sanity \
    ${MATRIX_SANITY_ARGS:-}
  step "$leg" unit host_unit "$venv"
}

# ---------------------------------------------------------------- 2.21: Debian 13 root fs
pod() {  # podman with the private configuration and storage under $tmp/podman
  CONTAINERS_CONF="$tmp/podman/containers.conf" CONTAINERS_STORAGE_CONF="$tmp/podman/storage.conf" \
    podman "$@"
}

podman_config() {
  local p="$tmp/podman" sub
  [ -e "$p/containers.conf" ] && return 0
  for sub in net.d tmp run storage volumes static; do mkdir -p "$p/$sub"; done
  cat > "$p/containers.conf" <<EOF
# podnet.cni matrix: podman as PEERS.md runs it here, every path in $p
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["/usr/lib/cni"]
network_config_dir = "$p/net.d"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$p/tmp"
volume_path = "$p/volumes"
static_dir = "$p/static"
EOF
  cat > "$p/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$p/run"
graphroot = "$p/storage"
EOF
}

# in_rootfs ROOTFS[:O] NETWORK NAME CMD...: run CMD as root in the root fs, the collection
# tree ($tmp/src/ansible_collections/podnet/cni) as the working directory
in_rootfs() {
  local rootfs=$1 network=$2 name="pnv-$$-$3"
  shift 3
  podman_config
  containers+=("$name")
  pod run --rm --name "$name" --privileged --network "$network" \
    --env HOME=/root --env LANG=C.UTF-8 --env PATH=/opt/pnv/venv/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env ANSIBLE_NOCOLOR=1 --env ANSIBLE_FORCE_COLOR=0 \
    --volume "$tmp/src:/pnv/src" --volume "$cache/ansible-home-$ROOTFS_RELEASE:/root/.ansible" \
    --workdir /pnv/src/ansible_collections/podnet/cni \
    --rootfs "$rootfs" "$@"
}

rootfs_dir() {
  printf '%s\n' "${ROOTFS_PACKAGES[@]}" > "$tmp/packages"
  echo "$cache/rootfs-$ROOTFS_RELEASE-$(key tests/tools/debian_rootfs.sh requirements.txt \
        tests/matrix/requirements-2.21.txt "$tmp/packages")"
}

# build_rootfs DIR: the root fs, pip's CA and config, the leg's venv; DIR appears only when
# all of it is there (each command checked: `set -e` does not hold in a function called
# from `||`)
build_rootfs() {
  local dir=$1 new="$1.new" ca=() try
  [ -f "$CA_BUNDLE" ] && ca=(DEBIAN_ROOTFS_CA="$CA_BUNDLE")
  # retries: the archive (through this machine's proxy) fails a download now and then ("apt
  # download failed": 3 of 8 builds on one afternoon here, the same build passing right after)
  for try in 1 2 3 4; do
    rm -rf --one-file-system "$new"
    env DEBIAN_ROOTFS_BASE= "${ca[@]}" tests/tools/debian_rootfs.sh "$new" "$ROOTFS_RELEASE" \
      "${ROOTFS_PACKAGES[@]}" >/dev/null && break
    [ "$try" = 4 ] && return 1
    echo "matrix: building the root fs again in $(( try * 20 ))s" >&2
    sleep $(( try * 20 ))
  done
  # pip verifies PyPI against the system bundle (the one copied in), as on the host
  printf '[global]\ncert = %s\ndisable-pip-version-check = true\n' "$CA_BUNDLE" > "$new/etc/pip.conf" &&
    mkdir -p "$new/opt/pnv/req/tests/matrix" &&
    cp requirements.txt "$new/opt/pnv/req/" &&
    cp tests/matrix/requirements-2.21.txt "$new/opt/pnv/req/tests/matrix/" || return 1
  # the venv is made inside (Python 3.13); without :O, so it stays in the root fs
  in_rootfs "$new" host venv /bin/sh -c \
    '/usr/bin/python3 -m venv /opt/pnv/venv &&
     /opt/pnv/venv/bin/pip install -q -r /opt/pnv/req/tests/matrix/requirements-2.21.txt' || return 1
  touch "$new/.pnv-ready" && mv "$new" "$dir"
}

rootfs_leg() {
  local dir t0
  mkdir -p "$cache/ansible-home-$ROOTFS_RELEASE" "$tmp/src/ansible_collections/podnet/cni"
  # the collection tree as ansible-test and the demo see it: the files git knows
  git ls-files -co --exclude-standard -z |
    while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -C "$tmp/src/ansible_collections/podnet/cni" -xf -
  dir="$(rootfs_dir)"
  t0=$(date +%s)
  if [ ! -e "$dir/.pnv-ready" ]; then
    (
      flock 9
      [ -e "$dir/.pnv-ready" ] || build_rootfs "$dir"
    ) 9>"$cache/.lock" || { results+=("2.21  rootfs  FAILED"); status=1; return; }
  fi
  log "2.21 Debian 13 root fs $dir ready in $(( $(date +%s) - t0 ))s"
  [ "$prepare" = 0 ] || return 0
  # shellcheck disable=SC2086  # MATRIX_SANITY_ARGS: options, split on purpose
  step 2.21 sanity in_rootfs "$dir:O" host sanity tests/matrix/in-rootfs.sh sanity ${MATRIX_SANITY_ARGS:-}
  step 2.21 unit in_rootfs "$dir:O" host unit tests/matrix/in-rootfs.sh unit
  step 2.21 demo in_rootfs "$dir:O" none demo tests/matrix/in-rootfs.sh demo
}

start=$(date +%s)
for leg in "$@"; do
  case "$leg" in
    2.17|2.19) host_leg "$leg" ;;
    2.21) rootfs_leg ;;
  esac
done
log "summary ($(( $(date +%s) - start ))s)"
[ "${#results[@]}" = 0 ] || printf '  %s\n' "${results[@]}"
exit "$status"
