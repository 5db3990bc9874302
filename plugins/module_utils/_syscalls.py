# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Thin ctypes wrappers for the Linux syscalls Python < 3.12 lacks.

setns/unshare/mount/umount2/statfs: each raises OSError with errno on failure.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from typing import Optional

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20

MNT_DETACH = 0x2

NSFS_MAGIC = 0x6E736673

_libc: Optional[ctypes.CDLL] = None


def libc() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return _libc


def _check(ret: int, what: str, path: Optional[str] = None) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        if path is None:
            raise OSError(err, "%s: %s" % (what, os.strerror(err)))
        raise OSError(err, "%s: %s" % (what, os.strerror(err)), path)


def setns(fd: int, nstype: int = 0) -> None:
    _check(libc().setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), "unshare")


def mount(source: Optional[str], target: str, fstype: Optional[str], flags: int,
          data: Optional[str] = None) -> None:
    enc = os.fsencode
    _check(libc().mount(enc(source) if source else None, enc(target),
                        enc(fstype) if fstype else None, ctypes.c_ulong(flags),
                        enc(data) if data else None), "mount", target)


def private_mount_ns() -> None:
    """Give this process a mount namespace of its own, every mount in it private: what is
    mounted or unmounted here (slirp4netns's sandbox remounting /, the CNI mount recipe)
    never reaches the namespace it came from (the holder's netns mounts stay)."""
    unshare(CLONE_NEWNS)
    mount("", "/", None, MS_PRIVATE | MS_REC)


def umount2(target: str, flags: int = 0) -> None:
    _check(libc().umount2(os.fsencode(target), flags), "umount", target)


PR_SET_PDEATHSIG = 1


def set_parent_death_signal(sig: int) -> None:
    """prctl(PR_SET_PDEATHSIG): sig is sent to this process when the thread that forked
    it dies."""
    _check(libc().prctl(PR_SET_PDEATHSIG, ctypes.c_ulong(sig), 0, 0, 0), "prctl")


def fs_type(path: str) -> int:
    """f_type of statfs(path): which filesystem a path lives on."""
    buf = ctypes.create_string_buffer(256)
    _check(libc().statfs(os.fsencode(path), buf), "statfs", path)
    # f_type is the first field, a C long (__fsword_t) on every Linux ABI we run on
    return ctypes.c_long.from_buffer(buf).value & 0xFFFFFFFF
