# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""_netns against the real kernel: create, pin, stale detection, remove, list, enter, lo."""
from __future__ import annotations

import os
import socket
import subprocess

import pytest

from ansible_collections.podnet.cni.plugins.module_utils import _netns
from ansible_collections.podnet.cni.plugins.module_utils._errors import NetnsError, ValidationError


def _lo_flags():
    import fcntl
    import struct
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        return struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), _netns.SIOCGIFFLAGS, req))[1]


def test_create_lo_remove(core):
    path = os.path.join("/run/netns", core.name("ns"))
    core.cleanups.append(lambda: _netns.remove(path))
    ours = os.stat("/proc/self/ns/net").st_ino
    _netns.create(path)
    assert _netns.status(path) == "mounted"
    assert _netns.is_netns(path)
    assert not _netns.same_netns(path, "/proc/self/ns/net")
    # a fresh namespace has only a loopback, down
    assert _netns.link_names(path) == ["lo"]
    assert not _netns.run_in_netns(path, _lo_flags) & _netns.IFF_UP
    assert _netns.bring_lo_up(path) is True
    assert _netns.run_in_netns(path, _lo_flags) & _netns.IFF_UP
    assert _netns.bring_lo_up(path) is False          # already up
    # `ip` sees it like one of its own
    assert os.path.basename(path) in subprocess.run(
        ["ip", "netns", "list"], stdout=subprocess.PIPE, check=False).stdout.decode()
    entries = {e["name"]: e for e in _netns.list_netns("/run/netns")}
    assert entries[os.path.basename(path)] == {"name": os.path.basename(path), "path": path,
                                               "status": "mounted"}
    assert _netns.link_exists(path, "lo") is True
    assert _netns.link_exists(path, "eth0") is False
    assert _netns.link_exists(path + "-missing", "eth0") is True   # in doubt: yes
    # the caller's own namespace never changed
    assert os.stat("/proc/self/ns/net").st_ino == ours
    with pytest.raises(NetnsError, match="cannot create netns %s" % path):
        _netns.create(path)
    assert _netns.remove(path) is True
    assert _netns.status(path) == "absent"
    assert _netns.remove(path) is False


def test_pin_a_process_namespace(core):
    holder = os.path.join("/run/netns", core.name("holder"))
    pinned = os.path.join("/run/netns", core.name("pin"))
    core.cleanups.append(lambda: _netns.remove(holder))
    core.cleanups.append(lambda: _netns.remove(pinned))
    _netns.create(holder)
    proc = core.spawn(["ip", "netns", "exec", os.path.basename(holder), "sleep", "300"])
    # `ip netns exec` execs sleep in the same pid; wait until it is inside
    for dummy in range(100):
        if _netns.same_netns("/proc/%d/ns/net" % proc.pid, holder):
            break
        import time
        time.sleep(0.02)
    _netns.pin(proc.pid, pinned)
    assert _netns.status(pinned) == "mounted"
    assert _netns.same_netns(pinned, "/proc/%d/ns/net" % proc.pid)
    assert _netns.same_netns(pinned, holder)
    proc.kill()
    proc.wait()
    # the pin keeps the namespace after the process is gone
    assert _netns.status(pinned) == "mounted"
    assert _netns.link_names(pinned) == ["lo"]
    assert _netns.remove(pinned) is True


def test_pin_of_a_missing_process(core):
    path = os.path.join("/run/netns", core.name("nopid"))
    with pytest.raises(NetnsError, match="no such process"):
        _netns.pin(2 ** 22 + 7, path)
    assert not os.path.lexists(path)


def test_stale_file_detected_and_removed(tmp_path):
    run_dir = str(tmp_path)
    stale = os.path.join(run_dir, "pnf-stale")
    with open(stale, "w"):
        pass
    assert _netns.status(stale) == "stale"
    assert not _netns.is_netns(stale)
    assert _netns.list_netns(run_dir) == [{"name": "pnf-stale", "path": stale, "status": "stale"}]
    with pytest.raises(NetnsError, match="cannot enter netns"):
        _netns.run_in_netns(stale, lambda: 1)
    assert _netns.remove(stale) is True
    assert _netns.list_netns(run_dir) == []
    assert _netns.list_netns(os.path.join(run_dir, "missing")) == []


def test_run_in_netns_returns_and_raises(core):
    path = os.path.join("/run/netns", core.name("run"))
    core.cleanups.append(lambda: _netns.remove(path))
    _netns.create(path)
    inode = _netns.run_in_netns(path, lambda: os.stat("/proc/self/ns/net").st_ino)
    assert inode == os.stat(path).st_ino
    assert inode != os.stat("/proc/self/ns/net").st_ino

    def boom():
        raise ValueError("inside")
    with pytest.raises(ValueError, match="inside"):
        _netns.run_in_netns(path, boom)
    with pytest.raises(NetnsError, match="cannot enter netns"):
        _netns.run_in_netns(path + "-missing", lambda: 1)


@pytest.mark.parametrize("value,expected", [
    ("pnf-x", "/run/netns/pnf-x"),
    ("/run/netns/pnf-x", "/run/netns/pnf-x"),
    ("/var/run/netns/pnf-x", "/run/netns/pnf-x"),   # /var/run -> /run is resolved
])
def test_resolve(value, expected):
    assert _netns.resolve(value) == expected


@pytest.mark.parametrize("value", ["..", ".", "../etc", "a/../../etc", "/run/netns/../x",
                                   "run/netns/x", "/run/netns//x", "", "-x", "a b"])
def test_resolve_bad(value):
    with pytest.raises(ValidationError) as info:
        _netns.resolve(value)
    assert repr(value) in str(info.value)


def test_resolve_refuses_a_symlink(tmp_path):
    link = tmp_path / "link"
    link.symlink_to("/proc/self/ns/net")
    with pytest.raises(ValidationError, match="symlink"):
        _netns.resolve(str(link))
