#!/usr/bin/env bash
# One step of the ansible-core matrix's 2.21 leg, inside the Debian 13 root fs (tests/matrix/run.sh
# starts it there with the collection tree as the working directory and the leg's venv first
# in PATH):
#   sanity [ARGS]  ansible-test sanity on Python 3.13 (tests/run-ansible-test.sh with the leg's
#                  venv), ARGS passed on (e.g. --test pylint)
#   unit    the unit tests
#   demo    what `make demo` does: build the artifact, install it, run playbooks/demo.yml
#           (its inventory names the interpreter: ansible_playbook_python, the venv's)
set -euo pipefail
venv=/opt/pnv/venv
src="$(pwd)"
case "${1:-}" in
  sanity)
    shift
    PODNET_VENV="$venv" PODNET_TEST_OUTPUT=none exec tests/run-ansible-test.sh sanity "$@"
    ;;
  unit)
    # the collection imports as ansible_collections.podnet.cni from the tree's parent dirs
    PYTHONPATH="${src%/ansible_collections/podnet/cni}" exec "$venv/bin/python" -m pytest \
      -p no:cacheprovider tests/unit -q
    ;;
  demo)
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    "$venv/bin/ansible-galaxy" collection build --output-path "$work/dist" . >/dev/null
    "$venv/bin/ansible-galaxy" collection install -p "$work/collections" "$work"/dist/podnet-cni-*.tar.gz >/dev/null
    ANSIBLE_COLLECTIONS_PATH="$work/collections" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false \
      "$venv/bin/ansible-playbook" -i playbooks/inventory.ini playbooks/demo.yml
    ;;
  *)
    echo "usage: $0 sanity|unit|demo" >&2
    exit 2
    ;;
esac
