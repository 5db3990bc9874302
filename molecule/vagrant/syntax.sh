#!/usr/bin/env bash
# `molecule syntax -s vagrant` without Vagrant: the vagrant driver refuses every command,
# even `syntax`, when no `vagrant` executable is on PATH. This puts a stub first on PATH that
# fails if anything actually calls it, so only the syntax check (ansible-playbook
# --syntax-check of converge.yml, with the scenario's inventory) runs. Real runs: docs/molecule.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
stub="$(mktemp -d)"
trap 'rm -rf "$stub"' EXIT
printf '#!/bin/sh\necho "vagrant is not installed: this stub only lets molecule syntax run" >&2\nexit 1\n' > "$stub/vagrant"
chmod 0755 "$stub/vagrant"
if command -v vagrant >/dev/null 2>&1; then
  exec molecule syntax -s vagrant
fi
PATH="$stub:$PATH" molecule syntax -s vagrant
