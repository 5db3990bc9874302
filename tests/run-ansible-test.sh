#!/usr/bin/env bash
# Run ansible-test on this collection without docker and without moving the repo.
#
#   tests/run-ansible-test.sh sanity [extra ansible-test args...]
#   tests/run-ansible-test.sh integration [target...] [extra ansible-test args...]
#
# ansible-test insists on running from .../ansible_collections/<ns>/<name>, so we copy the
# tracked and untracked-but-not-ignored files (what `git ls-files -co --exclude-standard`
# lists: work in progress is checked too, .venv/.build/caches are not) into a fresh temporary
# tree and run the venv's ansible-test there; outside a git checkout (the ansible-core
# matrix's copy inside a root file system, tests/matrix/run.sh) every file but .venv*, .build
# and tests/output. Results (tests/output) are copied back to tests/output/ of the repo
# (git-ignored) for inspection, or to $PODNET_TEST_OUTPUT (`none`: not kept).
#
# PODNET_VENV: the venv whose ansible-test runs (default .venv; the matrix gives its own).
#
# sanity: `--venv --requirements`: ansible-test delegates to a virtualenv of its own in the
#   temporary tree (`--local --requirements` would pip-install its pins into our .venv),
#   and every sanity test gets its own pinned virtualenv (cached in ~/.ansible/test/venv,
#   so only the first run downloads from PyPI). ansible-test
#   bootstraps pip in those venvs with a get-pip script it downloads from a host that is
#   unreachable here; it uses ~/.ansible/test/cache/get_pip_<version>.py when present, so we
#   put a small stand-in there that runs `ensurepip` and then pip-installs the requested pip.
# integration: `--local` with the venv's python (ansible-test runs the targets with the
#   interpreter it runs under, and writes it into the inventory as ansible_python_interpreter):
#   the targets need real root (netns, veths, bridges, iptables), which the docker and remote
#   environments cannot give on this machine. How the aliases are honoured locally:
#   needs/root runs because we ARE root (checked below; --allow-root would only fake it for
#   a non-root user), destructive needs --allow-destructive (we pass it: targets change the
#   host, under their own prefix, and clean up), needs/privileged only matters under docker.
set -euo pipefail

cmd="${1:-}"
case "$cmd" in
  sanity|integration) shift ;;
  *) echo "usage: $0 sanity|integration [ansible-test args...]" >&2; exit 2 ;;
esac

repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${PODNET_VENV:-$repo/.venv}"
python="$venv/bin/python"
if [ ! -x "$python" ]; then
  echo "no venv at $venv: run 'make test-deps' first" >&2
  exit 1
fi
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# The stand-in for the get-pip bootstrap script, named after the pip version this
# ansible-test pins (24.2 for ansible-core 2.19): it is run as `python get_pip_X.py
# --disable-pip-version-check pip==X [--no-setuptools] [--no-wheel]` inside a fresh venv.
pip_version="$("$python" - <<'EOF'
from ansible_test._internal.python_requirements import get_venv_packages
from ansible_test._internal.host_configs import NativePythonConfig
print(get_venv_packages(NativePythonConfig(version=None, path=None))["pip"])
EOF
)"
cache="$HOME/.ansible/test/cache"
get_pip="$cache/get_pip_${pip_version//./_}.py"
mkdir -p "$cache"
cat > "$get_pip.tmp" <<'EOF'
"""Stand-in for get-pip.py (written by podnet.cni tests/run-ansible-test.sh): the real one
is downloaded from a host that is unreachable here. Bootstraps pip from the interpreter's
own wheel (ensurepip), then installs the packages asked for (e.g. pip==24.2) from PyPI."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"],
                      stdout=subprocess.DEVNULL)
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
EOF
mv "$get_pip.tmp" "$get_pip"

# the temporary collection tree
work="$(mktemp -d /tmp/podnet-ansible-test.XXXXXX)"
trap 'rm -rf "$work"' EXIT
coll="$work/ansible_collections/podnet/cni"
mkdir -p "$coll"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -co --exclude-standard -z |
    while IFS= read -r -d '' f; do [ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf -) | tar -C "$coll" -xf -
else
  tar -C "$repo" --exclude='./.venv*' --exclude=./.build --exclude=./tests/output -cf - . |
    tar -C "$coll" -xf -
fi

export PATH="$venv/bin:$PATH"
# the copy, not the repo's .build symlink, is what ansible must load
unset PYTHONPATH ANSIBLE_COLLECTIONS_PATH ANSIBLE_COLLECTIONS_PATHS
export ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0

status=0
cd "$coll"
start=$(date +%s)
case "$cmd" in
  sanity)
    "$venv/bin/ansible-test" sanity --venv --requirements --python "$pyver" --color no "$@" || status=$?
    ;;
  integration)
    if [ "$(id -u)" != 0 ]; then
      echo "integration targets need root (network namespaces, veths, iptables)" >&2
      exit 1
    fi
    "$venv/bin/ansible-test" integration --local --python "$pyver" --allow-destructive \
      --color no "$@" || status=$?
    ;;
esac
echo "ansible-test $cmd: exit $status in $(( $(date +%s) - start ))s"

output="${PODNET_TEST_OUTPUT:-$repo/tests/output}"
if [ -d "$coll/tests/output" ] && [ "$output" != none ]; then
  rm -rf "$output"
  cp -a "$coll/tests/output" "$output"
fi
exit "$status"
