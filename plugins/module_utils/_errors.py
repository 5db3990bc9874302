# -*- coding: utf-8 -*-
# Copyright: podnet.cni contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors of podnet.cni.

module_utils raise these; a module's ``main()`` turns one into a single
``fail_json(msg=str(err), **err.details)``.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple


def _restore(cls: type, state: Dict[str, Any], args: tuple) -> "PodnetError":
    err = cls.__new__(cls)
    Exception.__init__(err, *args)
    err.__dict__.update(state)
    return err


class PodnetError(Exception):
    """Base of every error this collection raises on purpose."""

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details: Dict[str, Any] = details

    def __str__(self) -> str:
        return self.msg

    def __reduce__(self) -> tuple:
        # errors cross the pipe from forked children (netns, rootless) by pickle;
        # the subclasses' keyword-only constructors would not survive the default.
        return (_restore, (self.__class__, dict(self.__dict__), self.args))


class ValidationError(PodnetError):
    """Bad input: raised before anything on the host is changed."""


class ConfigError(PodnetError):
    """A CNI configuration that cannot be loaded or used."""


class NetnsError(PodnetError):
    """A network namespace operation failed."""


class LockError(PodnetError):
    """A lock could not be taken in time."""


class StateError(PodnetError):
    """A state or cache file is unsafe or unreadable."""


class RootlessError(PodnetError):
    """The rootless holder, netns or slirp4netns failed."""


class CniPluginError(PodnetError):
    """A CNI plugin failed; keeps the plugin's own error JSON."""

    def __init__(self, msg: str, code: int = 0, plugin: str = "", command: str = "",
                 network: str = "", details: Optional[str] = None, stderr: str = "") -> None:
        text = msg
        if details:
            text = "%s: %s" % (msg, details)
        prefix = "CNI plugin %s failed on %s" % (plugin or "?", command or "?")
        if network:
            prefix += " for network %s" % network
        super().__init__("%s (code %s): %s" % (prefix, code, text),
                         cni_code=code, cni_msg=msg, cni_details=details or "",
                         plugin=plugin, command=command, network=network,
                         stderr=stderr)
        self.code = code
        self.cni_msg = msg
        self.cni_details = details or ""
        self.plugin = plugin
        self.command = command
        self.network = network
        self.stderr = stderr


def batch_invalid(noun: str, problems: Sequence[str], total: int,
                  invalid: Optional[int] = None) -> ValidationError:
    """One error naming every problem of a batch (raised before anything changes);
    ``invalid``: how many entries they concern (default one each)."""
    if len(problems) == 1 and total == 1:
        return ValidationError(problems[0])
    return ValidationError("%d of %d %s are invalid, nothing was changed: %s"
                           % (len(problems) if invalid is None else invalid, total, noun,
                              "; ".join(problems)),
                           problems=list(problems))


def batch_failed_msg(noun: str, failed: Sequence[Tuple[str, str]], total: int) -> str:
    """The msg of a batch whose entries (label, why) failed while running."""
    return "%d of %d %s failed (each rolled back): %s" % (
        len(failed), total, noun, "; ".join("%s: %s" % f for f in failed))
