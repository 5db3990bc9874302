# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an unprivileged test user runs, wherever the checkout lives.

The checkout may sit where other users cannot go: /root is 0700 on Debian, and so is a
``mktemp -d`` directory. So nothing the user runs comes from the checkout:

- the interpreter is the distribution's (``USER_PYTHON``; Debian's python3-pyroute2 gives
  it netlink statistics, scripts/install-deps.sh installs it and scripts/check-prereqs.sh
  checks that an unprivileged user can run it);
- through Ansible, the module code reaches the user as on a real host (AnsiballZ in the
  system temporary directory, made readable for the user with setfacl: su never pipelines);
- run directly (no Ansible), it comes from a ``UserTree``: a copy of the collection's
  plugins and of ansible's module_utils in a temporary directory the user can traverse,
  made once per test session and removed afterwards.
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from typing import Dict, List

USER_PYTHON = "/usr/bin/python3"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# what `import ansible.module_utils.basic` needs of ansible-core, nothing of the controller
_ANSIBLE_PARTS = ("__init__.py", "release.py", "_vendor", "module_utils")


def _copy(src: str, dst: str) -> None:
    if os.path.isdir(src):
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copyfile(src, dst)


class UserTree:
    """``<tmp>/ansible_collections/podnet/cni/plugins`` (from the checkout's plugins/) and
    ``<tmp>/ansible`` (from the ansible-core this test runs with), readable by everyone."""

    def __init__(self, repo: str = REPO) -> None:
        self.path = tempfile.mkdtemp(prefix="podnet-user-tree-", dir="/tmp")
        try:
            _copy(os.path.join(repo, "plugins"),
                  os.path.join(self.path, "ansible_collections", "podnet", "cni", "plugins"))
            import ansible  # the ansible-core this test runs with (the user gets its module_utils)
            src = os.path.dirname(os.path.abspath(ansible.__file__))
            os.mkdir(os.path.join(self.path, "ansible"))
            for part in _ANSIBLE_PARTS:
                _copy(os.path.join(src, part), os.path.join(self.path, "ansible", part))
            self._open_up()
        except BaseException:
            self.remove()
            raise

    def _open_up(self) -> None:
        """Directories 0755, files 0644 (0755 when executable): a checkout made with umask
        077 must not leave the copy unreadable."""
        for dirpath, dirnames, filenames in os.walk(self.path):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                path = os.path.join(dirpath, name)
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode):
                    os.chmod(path, 0o755 if mode & 0o100 else 0o644)

    def env(self) -> Dict[str, str]:
        return {"PYTHONPATH": self.path}

    def module_argv(self, module: str, args_path: str) -> List[str]:
        """The module run by the user's interpreter with an args file (PYTHONPATH from env())."""
        return [USER_PYTHON, "-m", "ansible_collections.podnet.cni.plugins.modules." + module, args_path]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
