#!/usr/bin/env bash
# Build cnitool (libcni's reference CLI) from Debian's source package
# golang-github-appc-cni, with Debian's Go toolchain and Go libraries only.
#
# Debian's binary package golang-github-appc-cni-dev does not ship cnitool/, so:
#   1. a private apt config (its own sources.list with a deb-src line and its own
#      lists dir) so /etc/apt is left alone;
#   2. apt-get source --download-only golang-github-appc-cni; dpkg-source -x;
#   3. GOPATH build (GO111MODULE=off, no network) against /usr/share/gocode.
#
# Usage: build_cnitool.sh [OUTPUT_DIR]   (default /var/cache/podnet-test/cnitool)
# Prints the path of the binary on stdout. A binary already present is reused.
# Exit 0 on success; 1 on a build failure; the reason goes to stderr.
set -euo pipefail

OUT_DIR=${1:-${PODNET_CNITOOL_DIR:-/var/cache/podnet-test/cnitool}}
BIN="$OUT_DIR/cnitool"

usable() {  # cnitool without arguments prints its usage (and exits 1)
    local out
    out=$("$1" 2>&1 || true)
    [[ $out == *"cnitool add"* ]]
}
if [[ -x "$BIN" ]] && usable "$BIN"; then
    echo "$BIN"
    exit 0
fi

die() { echo "build_cnitool: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "must run as root (installs golang-go and golang-github-appc-cni-dev)"
command -v apt-get >/dev/null || die "not a Debian-like system: no apt-get"

mkdir -p "$OUT_DIR"
chmod 0755 "$OUT_DIR"
# one build at a time (several test sessions may ask for it)
exec 8>"$OUT_DIR/.build.lock"
flock 8
if [[ -x "$BIN" ]] && usable "$BIN"; then echo "$BIN"; exit 0; fi

WORK=$(mktemp -d /tmp/podnet-cnitool.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# Build dependencies from the binary archive.
need=()
dpkg -s golang-go >/dev/null 2>&1 || need+=(golang-go)
dpkg -s golang-github-appc-cni-dev >/dev/null 2>&1 || need+=(golang-github-appc-cni-dev)
dpkg -s dpkg-dev >/dev/null 2>&1 || need+=(dpkg-dev)
if (( ${#need[@]} )); then
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2; then
        apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >&2 \
            || die "cannot install ${need[*]}"
    fi
fi

# Private apt configuration: the host's deb lines turned into deb-src lines.
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
mirror="http://deb.debian.org/debian"
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/cache/archives/partial" "$WORK/src"
echo "deb-src $mirror $codename main" > "$WORK/apt/sources.list"
APT_OPTS=(-o "Dir::Etc::SourceList=$WORK/apt/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
          -o "Dir::State::Lists=$WORK/apt/lists" -o "Dir::Cache=$WORK/apt/cache"
          -o "Debug::NoLocking=1")
apt-get "${APT_OPTS[@]}" update -q >&2 || die "apt-get update of the deb-src list failed"
( cd "$WORK/src" && apt-get "${APT_OPTS[@]}" source --download-only golang-github-appc-cni >&2 ) \
    || die "apt-get source --download-only golang-github-appc-cni failed"
dsc=$(find "$WORK/src" -maxdepth 1 -name 'golang-github-appc-cni_*.dsc' | sort | head -n1)
[[ -n "$dsc" ]] || die "no .dsc downloaded"
( cd "$WORK/src" && dpkg-source --no-check -x "$dsc" tree >&2 ) || die "dpkg-source -x failed"
[[ -f "$WORK/src/tree/cnitool/cnitool.go" ]] || die "the source package has no cnitool/cnitool.go"

GOPATH_DIR="$WORK/gopath"
PKG="$GOPATH_DIR/src/podnet.local/cnitool"
mkdir -p "$PKG"
cp "$WORK/src/tree/cnitool/"*.go "$PKG/"
( cd "$PKG" && env GO111MODULE=off GOPATH="$GOPATH_DIR:/usr/share/gocode" GOPROXY=off \
      CGO_ENABLED=0 GOCACHE="$WORK/gocache" HOME="$WORK" \
      go build -o "$WORK/cnitool" . >&2 ) || die "go build of cnitool failed"
usable "$WORK/cnitool" || die "the built cnitool does not run"
install -m 0755 "$WORK/cnitool" "$BIN.tmp"
mv -f "$BIN.tmp" "$BIN"
echo "$BIN"
