#!/usr/bin/env bash
# The rootless prerequisites of `make test`, checked before any test runs (`make test-deps`,
# the first step of every test target, ends here) and said plainly when one is missing.
#
#   scripts/check-prereqs.sh [PYTHON]      PYTHON: default /usr/bin/python3, what the tests use
#
# The rootless tests, the rootless_cni_ns integration target and `molecule test -s rootless`
# run modules as an unprivileged user made for the run. That user may not reach this
# checkout (/root is 0700 on Debian, so is a `mktemp -d` directory), so it never runs the
# checkout's .venv: it runs the distribution's python, Ansible ships it the module code
# (AnsiballZ files in a directory of its own under /var/tmp, granted to the user with
# setfacl, or chown as root: become su never pipelines), and the direct runs use a copy of
# the collection in /tmp. What that needs is checked here with the user `nobody`.
set -euo pipefail

python="${1:-/usr/bin/python3}"
problems=()

for tool in newuidmap newgidmap slirp4netns runuser setfacl; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    problems+=("$tool is missing (uidmap, slirp4netns, util-linux, acl: scripts/install-deps.sh installs them)")
  fi
done
if [ ! -c /dev/net/tun ]; then
  problems+=("/dev/net/tun is missing: slirp4netns needs the tun device (modprobe tun; in a container: --device /dev/net/tun)")
fi

probe_user=nobody
checked="newuidmap, slirp4netns, setfacl and /dev/net/tun are there"
if [ ! -x "$python" ]; then
  problems+=("$python is missing or not executable: the unprivileged test user runs it (apt-get install python3)")
elif [ "$(id -u)" != 0 ]; then
  echo "check-prereqs: not root: whether an unprivileged user can run $python is checked when root runs the tests" >&2
elif ! id -u "$probe_user" >/dev/null 2>&1; then
  echo "check-prereqs: no user '$probe_user' to check $python with; skipped" >&2
elif ! out="$(cd / && runuser -u "$probe_user" -- "$python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' 2>&1)"; then
  problems+=("an unprivileged user cannot run $python (Python >= 3.9 wanted; is a directory on its path closed to other users?): ${out:-no output}")
else
  # what Ansible does when it becomes an unprivileged user: a 0700 directory of its own
  # in /var/tmp, the files granted to the user (setfacl here), run by the user's python
  tmp="$(mktemp -d /var/tmp/podnet-prereqs.XXXXXX)"
  trap 'rm -rf "$tmp"' EXIT
  printf 'import ctypes, json, fcntl\nimport pyroute2\n' > "$tmp/probe.py"
  checked="an unprivileged user runs $python (with pyroute2) from Ansible's temporary files; $checked"
  if ! out="$(setfacl -m "u:$probe_user:r-x" "$tmp" "$tmp/probe.py" 2>&1)"; then
    problems+=("setfacl cannot grant a user access to files in /var/tmp (Ansible's become to an unprivileged user needs that, or chown as root): $out")
  elif ! out="$(cd / && runuser -u "$probe_user" -- "$python" "$tmp/probe.py" 2>&1)"; then
    case "$out" in
      *pyroute2*) problems+=("$python cannot import pyroute2, the modules' netlink statistics (apt-get install python3-pyroute2): ${out##*$'\n'}") ;;
      *) problems+=("an unprivileged user cannot run a module file from /var/tmp with $python: $out") ;;
    esac
  fi
fi

if [ "${#problems[@]}" -gt 0 ]; then
  echo "check-prereqs: the rootless tests cannot run here:" >&2
  printf '  - %s\n' "${problems[@]}" >&2
  exit 1
fi
echo "check-prereqs: $checked"
