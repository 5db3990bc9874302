# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Security scan of the code: no shell, no string commands, anywhere.

Python files (plugins/, tests helpers, bench/) are parsed with ``ast``, so text that
merely mentions ``shell=True`` (like this file) is not flagged. YAML task files
(roles/, playbooks/, molecule/, integration targets) must not use the shell or raw
modules, nor ``command`` with a free-form string: argv lists only.
"""
from __future__ import annotations

import ast
import os
from typing import List

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY_DIRS = ("plugins", "roles", "tests", "bench", "playbooks", "molecule", "scripts", ".ci")
YAML_DIRS = ("roles", "playbooks", "molecule", "tests/integration")
SKIP_PARTS = {".venv", ".build", "__pycache__", "output", ".git"}

FORBIDDEN_CALLS = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
                   "asyncio.create_subprocess_shell", "os.popen2", "os.popen3", "commands.getoutput",
                   "pty.spawn"}
EXEC_CALLS = {"run", "call", "check_call", "check_output", "Popen", "run_command", "create_subprocess_exec",
              "spawn", "execv", "execvp", "execve", "execvpe"}
SHELL_MODULES = {"shell", "ansible.builtin.shell", "ansible.legacy.shell", "raw", "ansible.builtin.raw",
                 "ansible.legacy.raw"}
SHELLS = {"sh", "bash", "dash", "zsh", "ash"}
COMMAND_MODULES = {"command", "ansible.builtin.command", "ansible.legacy.command"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return "%s.%s" % (base, node.attr) if base else node.attr
    return ""


def _is_stringish(node: ast.AST) -> bool:
    """A str literal, an f-string, '...' % x, '...'.format(), or a + of those."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _is_stringish(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join"):
        return _is_stringish(node.func.value)
    return False


def scan_python_source(source: str, filename: str = "<string>") -> List[str]:
    """Every shell use or string command in source, as 'file:line: what'."""
    problems = []
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = "%s:%d" % (filename, node.lineno)
        for kw in node.keywords:
            if kw.arg in ("shell", "use_unsafe_shell"):
                if not (isinstance(kw.value, ast.Constant) and kw.value.value in (False, None)):
                    problems.append("%s: %s=%s" % (where, kw.arg, ast.unparse(kw.value)))
        if name in FORBIDDEN_CALLS or name.split(".")[-1] in ("system", "popen") and name.startswith("os"):
            problems.append("%s: call to %s" % (where, name))
            continue
        if name.split(".")[-1] in EXEC_CALLS and (name.startswith(("subprocess", "os", "asyncio"))
                                                  or name.endswith("run_command")):
            cmd = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg in ("args",)), None)
            if cmd is not None and _is_stringish(cmd):
                problems.append("%s: %s with a string command %s" % (where, name, ast.unparse(cmd)[:80]))
        if name.split(".")[-1] in EXEC_CALLS or name in ("sh", "run"):
            cmd = node.args[0] if node.args else None
            if isinstance(cmd, ast.List) and len(cmd.elts) >= 2 and all(
                    isinstance(e, ast.Constant) for e in cmd.elts[:2]) \
                    and os.path.basename(str(cmd.elts[0].value)) in SHELLS and cmd.elts[1].value == "-c":
                problems.append("%s: %s runs a shell with -c" % (where, name))
    return problems


TASK_LISTS = ("block", "rescue", "always", "tasks", "pre_tasks", "post_tasks", "handlers")


def _walk_yaml(obj, path: str, problems: List[str]) -> None:
    """Task lists only: a key is a module where it sits on a task, not inside a module's
    options (``ansible.builtin.user: {shell: /bin/sh}`` is fine)."""
    if isinstance(obj, dict):
        for key in TASK_LISTS:
            if isinstance(obj.get(key), list):
                _walk_yaml(obj[key], path, problems)
        return
    if not isinstance(obj, list):
        return
    for task in obj:
        if not isinstance(task, dict):
            continue
        for key, value in task.items():
            if key in SHELL_MODULES:
                problems.append("%s: uses the %s module" % (path, key))
            elif key in COMMAND_MODULES and (isinstance(value, str)
                                             or (isinstance(value, dict) and "cmd" in value)):
                problems.append("%s: %s with a free-form string (use argv)" % (path, key))
            elif isinstance(value, dict) and value.get("use_unsafe_shell"):
                problems.append("%s: use_unsafe_shell" % path)
        _walk_yaml(task, path, problems)


def scan_yaml_source(source: str, filename: str = "<string>") -> List[str]:
    problems: List[str] = []
    try:
        docs = list(yaml.safe_load_all(source))
    except yaml.YAMLError:
        return problems  # not YAML the scanner can read (e.g. a Jinja template)
    for doc in docs:
        _walk_yaml(doc, filename, problems)
    return problems


def _files(dirs, exts):
    for d in dirs:
        top = os.path.join(ROOT, d)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [n for n in dirnames if n not in SKIP_PARTS]
            for f in filenames:
                if f.endswith(exts):
                    yield os.path.join(dirpath, f)


def _python_files():
    yield from _files(PY_DIRS, (".py",))
    for path in _files(("scripts", ".ci", "bench", "tests"), ("",)):
        if "." not in os.path.basename(path):
            try:
                with open(path, "rb") as f:
                    first = f.readline()
            except OSError:
                continue
            if first.startswith(b"#!") and b"python" in first:
                yield path


# --- the scanner itself, on known snippets ---

BAD_PY = [
    "import subprocess\nsubprocess.run('ls -l', shell=True)\n",
    "import subprocess\nsubprocess.run(['ls'], shell=True)\n",
    "import subprocess\nsubprocess.Popen(cmd, shell=flag)\n",
    "import os\nos.system('ip link')\n",
    "import os\nos.popen('ip link').read()\n",
    "import subprocess\nsubprocess.check_output('ip -j link')\n",
    "import subprocess\nsubprocess.run(f'ip netns add {name}')\n",
    "import subprocess\nsubprocess.call('ip netns del %s' % name)\n",
    "import subprocess\nsubprocess.run(args='iptables -S')\n",
    "module.run_command('iptables -S', use_unsafe_shell=True)\n",
    "module.run_command('iptables -t nat -S')\n",
    "import subprocess\nsubprocess.getoutput('id')\n",
    "import asyncio\nasyncio.create_subprocess_shell('id')\n",
    "import subprocess\nsubprocess.run(['/bin/sh', '-c', cmd])\n",
    "sh(['bash', '-c', 'ip link | grep x'])\n",
]
GOOD_PY = [
    "import subprocess\nsubprocess.run(['ip', 'link'], check=True)\n",
    "import subprocess\nsubprocess.run(['ls'], shell=False)\n",
    "module.run_command(['iptables', '-S'])\n",
    "text = 'never use shell=True or os.system'\n",
    "import subprocess\nsubprocess.Popen(argv, stdin=subprocess.PIPE)\n",
]
BAD_YAML = [
    "- name: x\n  ansible.builtin.shell: ip link\n",
    "- name: x\n  shell: echo hi\n",
    "- name: x\n  raw: id\n",
    "- name: x\n  ansible.builtin.command: ip netns add x\n",
    "- name: x\n  ansible.builtin.command:\n    cmd: ip netns add x\n",
    "- block:\n    - ansible.builtin.shell: id\n",
    "- hosts: all\n  tasks:\n    - block:\n        - raw: id\n",
]
GOOD_YAML = [
    "- name: x\n  ansible.builtin.user:\n    name: u\n    shell: /bin/sh\n",
    "- hosts: all\n  tasks:\n    - ansible.builtin.user:\n        name: u\n        shell: /bin/sh\n",
    "- name: x\n  ansible.builtin.command:\n    argv: [ip, netns, add, x]\n",
    "- name: x\n  podnet.cni.container_netns:\n    container_id: a\n",
]


@pytest.mark.parametrize("source", BAD_PY)
def test_scanner_flags_bad_python(source):
    assert scan_python_source(source), source


@pytest.mark.parametrize("source", GOOD_PY)
def test_scanner_accepts_argv_python(source):
    assert scan_python_source(source) == []


@pytest.mark.parametrize("source", BAD_YAML)
def test_scanner_flags_bad_yaml(source):
    assert scan_yaml_source(source), source


@pytest.mark.parametrize("source", GOOD_YAML)
def test_scanner_accepts_argv_yaml(source):
    assert scan_yaml_source(source) == []


# --- the repository ---

def test_no_shell_or_string_commands_in_python():
    problems = []
    files = list(_python_files())
    assert any(p.endswith(os.path.join("modules", "container_netns.py")) for p in files)
    for path in files:
        with open(path, encoding="utf-8") as f:
            source = f.read()
        try:
            problems += scan_python_source(source, os.path.relpath(path, ROOT))
        except SyntaxError as exc:
            problems.append("%s: cannot parse: %s" % (os.path.relpath(path, ROOT), exc))
    assert problems == [], "shell or string commands found:\n" + "\n".join(problems)


def test_no_shell_or_string_commands_in_yaml_tasks():
    problems = []
    for path in _files(YAML_DIRS, (".yml", ".yaml")):
        with open(path, encoding="utf-8") as f:
            problems += scan_yaml_source(f.read(), os.path.relpath(path, ROOT))
    assert problems == [], "shell modules or free-form commands found:\n" + "\n".join(problems)
